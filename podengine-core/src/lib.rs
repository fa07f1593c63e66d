//! # podengine-core
//!
//! Pods on Docker and Podman engines through [bollard]: the pieces of the platform's `podengine`
//! service (spec §12) that do not depend on gRPC.
//!
//! - [`engine`]: an engine (the local socket or a remote `tcp://` host) with its API version
//!   negotiated, so Debian's dockerd (API 1.41) and podman 4.3's Docker-compatible socket both
//!   answer; images with their references, digests and sizes.
//! - [`pod`]: pods (an infra container holding the network, members joining it; labels rebuild a
//!   pod from the engine alone), created with rollback, started, stopped (or killed), restarted,
//!   deleted, inspected and listed.
//! - [`events`]: container start/stop/die/oom events as a stream that reconnects after the
//!   engine restarts, missing and repeating nothing.
//! - [`quantity`]: the upstream resource quantities (`memory: 512m`, `cpu: 0.5`, `cpuRequest`).
//! - [`stats`]: a container's stats with the docker CLI's formulas, and their displays.
//!
//! ```no_run
//! # async fn f() -> Result<(), podengine_core::engine::EngineError> {
//! let engine = podengine_core::engine::Engine::connect("unix:///var/run/docker.sock").await?;
//! for image in engine.images().await? {
//!     println!("{} {:?} {} bytes", image.id, image.references, image.size);
//! }
//! # Ok(()) }
//! ```

pub mod engine;
pub mod events;
pub mod pod;
pub mod quantity;
pub mod stats;
