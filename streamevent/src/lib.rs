//! # streamevent
//!
//! The data plane every acquisition path of the platform feeds:
//!
//! | module | what it holds |
//! |---|---|
//! | [`pb`] | the `streamevent.StreamEvent` gRPC protocol, generated at build time from `proto/` (protox, no system protoc) |
//! | [`msg`] | the IEC 104 point message (`MsgBody`) with serde, JSON byte-compatible with the Go platform |
//! | [`id`] | the identities: [`id::StationId`], [`id::PointKey`], [`id::ChunkId`] (unique across runs, instances and re-created topics) |
//! | [`point`] | the typed point ([`point::PointMsg`]) carried from the master to the sink unserialised; JSON and protobuf made once where it leaves the process |
//! | [`compact`] | sans-IO compactor over JSON messages or typed points: chunks by size or age; `batch`, `last-value` and `deadband` modes |
//! | [`store`] | the point-mapping table on SQLite, PostgreSQL or MySQL/MariaDB (sqlx), with a TTL cache |
//! | [`sink`] | chunks stored once: the chunk row and its point rows in one transaction (`raw_point_data`, `telemetry_data`, `tele_signal_data`) |
//! | [`ingest`] | what a chunk becomes in the tables: raw rows where the mapping allows, typed rows routed by `td_table_type` |
//! | `kafka` | (feature `kafka`) the Kafka channel ([`channel::Transport`]) and source: consumer group -> compactor -> streamevent, offsets committed after the acknowledgement |
//! | [`channel`] | where points go after the push decision: [`channel::Fanout`] over [`channel::Transport`]s (in-process [`channel::MemoryBus`], streamevent over gRPC), at-least-once with bounded queues |
//! | `caller` | (feature `caller`) the IEC 104 acquisition side: masters per station, the push decision, schedules, cluster mode, the MQTT channel and the `ieccaller.IecCaller` gRPC API |
//! | `server` | (feature `server`) the `streamevent.StreamEvent` gRPC API over a database |
//! | [`errcode`] | the upstream business error codes (spec §0.2) as gRPC statuses |
//! | [`pipeline`] | the compaction loop and one chunk delivery policy (at-least-once, capped retry backoff, bounded in-flight, metrics) |
//! | [`error`] | the crate's error type and its upstream error-code mapping |
//!
//! Station identity: one convention for every service — `metaData.stationId` when set, else the
//! host with dots replaced by underscores, `_`, and the port (`127_0_0_1_2404`). The Go
//! ieccaller used `host:port` where streamevent used the underscore form; here both use
//! [`id::StationId`].

#[cfg(feature = "caller")]
pub mod caller;
pub mod channel;
pub mod compact;
pub mod envelope;
pub mod errcode;
pub mod error;
pub mod id;
pub mod ingest;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod msg;
pub mod pipeline;
pub mod point;
#[cfg(feature = "server")]
pub mod server;
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
