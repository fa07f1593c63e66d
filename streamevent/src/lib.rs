//! # streamevent
//!
//! The data plane every acquisition path of the platform feeds:
//!
//! | module | what it holds |
//! |---|---|
//! | [`pb`] | the `streamevent.StreamEvent` gRPC protocol, generated at build time from `proto/` (protox, no system protoc) |
//! | [`msg`] | the IEC 104 point message (`MsgBody`) with serde, JSON byte-compatible with the Go platform |
//! | [`compact`] | sans-IO compactor: chunks by size or age; `batch`, `last-value` and `deadband` modes; redelivery-safe chunk ids |
//! | [`store`] | the point-mapping table on SQLite, PostgreSQL or MySQL/MariaDB (sqlx), with a TTL cache |
//! | [`sink`] | a sink trait and SQL sinks of `raw_point_data` with batched inserts |
//! | [`ingest`] | what PushChunkAsdu does with a chunk: raw rows for the points whose mapping allows it |
//! | [`error`] | the crate's error type and its upstream error-code mapping |
//!
//! Station identity: one convention for every service — `metaData.stationId` when set, else the
//! host with dots replaced by underscores, `_`, and the port (`127_0_0_1_2404`). The Go
//! ieccaller used `host:port` where streamevent used the underscore form; here both use
//! [`msg::station_id`].

pub mod compact;
pub mod error;
pub mod ingest;
pub mod msg;
pub mod sink;
pub mod store;

/// The generated protocol (`package streamevent`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("streamevent");

    /// Encoded descriptor set of `proto/streamevent.proto`, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/streamevent_descriptor.bin"));
}

pub use error::Error;
