//! # bridgekafka (service)
//!
//! `bridgekafka.BridgeKafka` on 21013 (spec §11): `Publish` one record to one of the configured
//! topics (an unknown topic is refused before anything is sent), and `KafkaConsumeConfig`
//! consumers forwarding records to streamevent's `ReceiveKafkaMessage` in batches (upstream: one
//! call per record), offsets committed only after streamevent took a batch, with ids stable per
//! record so that a redelivery is harmless.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`rpc`] | `Publish` |
//! | [`consume`] | the consumers |
//! | [`run`](mod@run) | wiring |

pub mod config;
pub mod consume;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocol (`package bridgekafka`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("bridgekafka");

    /// Encoded descriptor set, for gRPC reflection and the wire conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bridgekafka_descriptor.bin"));
}
