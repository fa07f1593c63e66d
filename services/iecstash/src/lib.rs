//! # iecstash
//!
//! A Kafka consumer group that feeds streamevent: messages go through the
//! [`streamevent::compact`] compactor, and each closed chunk is sent with `PushChunkAsdu` under
//! its chunk id. Offsets are committed only after streamevent acknowledged the chunk (the Go
//! version commits first and loses the batch on failure); a chunk redelivered after a crash
//! carries the same id and streamevent drops it. While streamevent is slow or down the consumer
//! stops reading (back-pressure) and retries the chunk with capped backoff.
//!
//! ## Layout
//! [`config`] (the upstream keys and ours), [`rpc`] (Ping), [`run`](mod@run) (wiring); the consumer and
//! the compactor live in the `streamevent` library.

pub mod config;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocol (`package iecmock`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("iecmock");

    /// Encoded descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/iecstash_descriptor.bin"));
}
