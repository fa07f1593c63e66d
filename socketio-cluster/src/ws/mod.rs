//! A long-connection frontend that routes by protocol id (issue #21): clients hold one
//! WebSocket and send [`frame::Frame`]s; each request goes to an instance of the logic service
//! that registered its protocol id ([`routes`]: a static table or etcd), balanced round-robin,
//! and the answer comes back with the request's sequence. The frontend's connections
//! ([`hub`]) are reached by user, session, room or all, here or on every frontend of the
//! registry through the `Gate` API ([`gate`]), whose per-node results are gathered as the
//! Socket.IO cluster's are ([`crate::fanout`]).
//!
//! | module | holds |
//! |---|---|
//! | [`frame`] | the wire format: a 16-byte header (magic, version, flags, protocol id, sequence, length) and a protobuf or JSON payload; typed errors |
//! | [`hub`] | this frontend's connections by session, user and room, with bounded queues |
//! | [`routes`] | protocol id -> service -> instances (round-robin, a retry on the next when one cannot be reached), from configuration or etcd |
//! | [`gate`] | the WebSocket endpoint and the `wsgate.v1.Gate` gRPC API |
//! | [`push`] | pushes taken from a queue (Kafka, NATS): the JSON message and its `PushReq` |
//! | [`client`] | a client: requests matched to replies by sequence, pushes in order |

pub mod client;
pub mod frame;
pub mod gate;
pub mod hub;
pub mod push;
pub mod routes;
