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
//! | [`dashboard`] | its part of the platform dashboard (sessions, rooms, disconnect), on the metrics port |

pub mod config;
pub mod dashboard;
pub mod hooks;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The protocol (`package socketgtw`), compiled in `socketio-cluster` (the push side calls it).
pub use socketio_cluster::pb;
