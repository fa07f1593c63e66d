//! # bridgemqtt (service)
//!
//! `bridgemqtt.BridgeMqtt` on 25005 (spec §11): `Publish` and `PublishWithTrace` (the trace
//! envelope of §2.6), and the `SubscribeTopics` subscriptions (made again at every connection)
//! forwarded to streamevent's `ReceiveMQTTMessage` in batches (upstream: one call per message) and
//! to socketpush's `BroadcastRoom`, QoS 1/2 messages acknowledged to the broker only after
//! streamevent took them.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`rpc`] | the publish handlers |
//! | [`forward`] | the subscription connection and the forwarder |
//! | [`outbox`] | the disk queue of publishes and the publish connection |
//! | [`run`](mod@run) | wiring |

pub mod config;
pub mod forward;
pub mod outbox;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocols: `package bridgemqtt` (served) and socketpush's client.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("bridgemqtt");

    /// Encoded descriptor set, for gRPC reflection and the wire conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bridgemqtt_descriptor.bin"));

    /// socketpush's client (`BroadcastRoom`).
    pub mod socketpush {
        tonic::include_proto!("socketpush");
    }
}
