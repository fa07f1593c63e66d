//! # socketpush (service)
//!
//! The push API of the Socket.IO cluster (spec §7.5) on [`socketio_cluster::cluster`]:
//! `GenToken` / `VerifyToken` (HS256, upstream's claims, 104101 for a bad token), and the room,
//! broadcast, session, meta-session and kick RPCs sent to the `socketgtw` nodes of
//! `SocketGtwConf`, each call answered within `PushDeadline` (250 ms) with the sessions reached
//! (`x-delivered`) and the nodes that failed or stayed silent (`x-failed-nodes`); upstream fires
//! and forgets and reports nothing. `SocketGtwStat` asks every node.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`rpc`] | the `SocketPush` handlers |
//! | [`run`](mod@run) | wiring |
//! | [`dashboard`] | its part of the platform dashboard (gateways, sessions, rooms), on the metrics port |

pub mod config;
pub mod dashboard;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocol (`package socketpush`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("socketpush");

    /// Encoded descriptor set, for gRPC reflection and the wire conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/socketpush_descriptor.bin"));
}
