//! # bridgedump (service)
//!
//! `bridgedump.BridgeDumpRpc` on 25003 (spec §8.1) over the [`bridgedump`] crate: `Ping`, and
//! `CableWorkList`, `CableFault`, `CableFaultWave`, each request written as one envelope file
//! under `DumpPath/<sub-directory>` (byte-exact, atomic, one file per request, never appended),
//! answered `code 200, msg 成功` once the file is durable; a write failure is a gRPC error, as
//! upstream. The trace id of the file name and envelope is the caller's W3C `traceparent` (empty
//! without one, the name then unique all the same).
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`rpc`] | the handlers |
//! | [`replay`] | `bridgedump replay`: written files' requests sent again |
//! | [`run`](mod@run) | wiring: the server and the retention sweep |

pub mod config;
pub mod replay;
pub mod rpc;
pub mod run;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocol (`package bridgedump`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("bridgedump");

    /// Encoded descriptor set, for gRPC reflection, the wire conformance test and the bodies.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bridgedump_descriptor.bin"));
}
