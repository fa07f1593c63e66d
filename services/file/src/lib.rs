//! # file (service)
//!
//! `file.FileRpc` on 21003 (spec §13). Built so far: the upstream proto field for field (the wire
//! conformance test), the upstream configuration keys, the `oss` table (SQLite by default,
//! PostgreSQL or MySQL by URL; one template per `(tenant_id, oss_code)`; lookups cached and the
//! cache dropped on change) with `Ping` and its CRUD RPCs, the object-key scheme, and on the
//! template's S3-compatible storage every storage RPC: buckets, stat, sign, uploads (streamed in
//! parts, resumable), relay, removal and video frame capture; EXIF metadata and thumbnails of
//! images. Issue #18's remaining work: the second S3 server of the tests and the bench.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`store`] | the `oss` table |
//! | [`keys`] | object keys and tenant buckets |
//! | [`images`] | EXIF metadata and thumbnails |
//! | [`s3`] | the storage of a template (AWS SDK) |
//! | [`convert`] | protobuf <-> rows, codes |
//! | [`rpc`] | the RPCs |
//! | [`run`](mod@run) | wiring |

pub mod config;
pub mod convert;
pub mod images;
pub mod keys;
pub mod rpc;
pub mod run;
pub mod s3;
pub mod store;

pub use config::{Config, DEFAULTS};
pub use run::run;

/// The generated protocol (`package file`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("file");

    /// Encoded descriptor set, for gRPC reflection and the wire conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor.bin"));
}
