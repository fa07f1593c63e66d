//! # socketgtw (service)
//!
//! The Socket.IO gateway of spec §7 on [`socketio_cluster::gateway`]: Engine.IO v4 / Socket.IO v5
//! over WebSocket *and* HTTP long-polling on `Http.Port` (11003; upstream routes only `GET`, so
//! its polling clients fail), the handshake tokens of `JwtAuth`, the reserved events, and
//! `socketgtw.SocketGtw` on `ListenOn` (25001) acting on this node's sessions, with the number of
//! sessions each action reached in the `x-delivered` response header.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`hooks`] | the gateway's platform hooks over streamevent's `UpSocketMessage` |
//! | [`rpc`] | the `SocketGtw` handlers |
//! | [`run`](mod@run) | wiring: the HTTP and gRPC servers |

pub mod config;
pub mod hooks;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocol (`package socketgtw`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("socketgtw");

    /// Encoded descriptor set, for gRPC reflection and the wire conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/socketgtw_descriptor.bin"));
}
