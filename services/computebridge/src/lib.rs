//! # computebridge (service)
//!
//! The compute bridge (issue #23) on [`trigger_core::compute`]: tasks queued on NATS JetStream,
//! RabbitMQ or Kafka handed to numerical workers connected over WebSocket (MsgPack frames, float64 bodies,
//! zstd above a threshold), each acknowledged to its broker only after its result was published;
//! a worker lost or past its deadline gives its tasks to others (with backoff), a task out of
//! attempts goes to the dead letters; a worker gets at most its declared concurrency and the
//! consumer pauses while every worker is busy.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`broker`] | NATS JetStream and RabbitMQ: consumers with back-pressure, confirmed publishes |
//! | [`kafka`] | Kafka: a consumer group storing offsets only below the first task not done, results produced with acks=all |
//! | [`outlet`] | results and dead letters to the broker, results to streamevent |
//! | [`ws`] | the workers' WebSocket endpoint |
//! | [`rpc`] | `compute.v1.Bridge` (its state) |
//! | [`dashboard`] | its panel on the platform dashboard |
//! | [`run`](mod@run) | wiring |

pub mod broker;
pub mod config;
pub mod dashboard;
pub mod kafka;
pub mod outlet;
pub mod rpc;
pub mod run;
pub mod ws;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// `compute.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("compute.v1");
    /// The descriptor set (gRPC reflection).
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/compute_descriptor.bin"));
}
