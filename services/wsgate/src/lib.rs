//! # wsgate (service)
//!
//! The long-connection frontend of issue #21 on [`socketio_cluster::ws`]: clients hold one
//! WebSocket and send frames (a 16-byte header with protocol id and sequence, then a protobuf or
//! JSON payload); each request goes to an instance of the logic service that registered its
//! protocol id (etcd, or the static `Apps` table), round-robin, and the answer comes back with
//! the request's sequence. `wsgate.v1.Gate` on `ListenOn` pushes to users, rooms or everyone,
//! joins and leaves rooms, kicks and counts, here or on every frontend.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`dashboard`] | its part of the platform dashboard (connections, routes), on the metrics port |
//! | [`push`] | the Kafka and NATS push consumers |
//! | [`run`](mod@run) | wiring: the routing table's source, the WebSocket and gRPC servers |

pub mod config;
pub mod dashboard;
pub mod push;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;
