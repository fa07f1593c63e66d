//! # podengine (service)
//!
//! `podengine.PodEngine` on 21010 (spec §12), on [`podengine_core`]: real pods (an infra
//! container holding the network, every container of the spec joining it) on the local engine
//! and the remote `DockerConfig` nodes, Docker or Podman. Every RPC of the upstream proto with
//! its validate rules (101103) and codes (unknown node or pod 102102, a name in use 102103, an
//! engine that fails or does not answer 106101); `PodPb` with conditions and container states,
//! `ListPods` with its filters and paging, stats of every container of a pod at once.
//!
//! It starts with no engine running and says so through gRPC health (`podengine.PodEngine`
//! NOT_SERVING until the local engine answers; `podengine.node.<name>` per node).
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`nodes`] | the engines by node name, connected lazily, and their health |
//! | [`convert`] | protobuf <-> [`podengine_core`] types, times and errors |
//! | [`rpc`] | the RPCs |
//! | [`run`](mod@run) | wiring |
//! | [`dashboard`] | its part of the platform dashboard (nodes, pods, a pod's stats), on the metrics port |

pub mod config;
pub mod convert;
pub mod dashboard;
pub mod nodes;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocol (`package podengine`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("podengine");

    /// Encoded descriptor set (imports included), for gRPC reflection, the validator and the
    /// wire conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/podengine_descriptor.bin"));
}
