//! # gtw
//!
//! The platform's BFF HTTP gateway (spec §15), a drop-in for the Go `gtw` with its YAML file
//! and routes:
//!
//! | Prefix | Routes |
//! |---|---|
//! | `/app/common/v1` | `POST getRegionList` (zero.rpc: "not configured"), `POST mfs/uploadFile` (multipart, kept under `NfsRootPath`) |
//! | `/file/v1/oss/endpoint` | `POST putFile`, `putStreamFile` (multipart, streamed to `file.FileRpc/PutStreamFile`), `signUrl`, `statFile` (JSON) |
//! | `/gtw/v1` | `POST forward`, `GET mfs/downloadFile?path=`, `GET ping` |
//! | `/gtw/v1/pay` | `POST wechat/paidNotify`, `wechat/refundedNotify` ("not configured") |
//! | `/app/user/v1` | `POST login`, `miniProgramLogin` / `sendSMSVerifyCode` ("not configured"); with a token: `GET getCurrentUser`, `POST editCurrentUser` |
//! | `/swagger/:fileName` | files of `SwaggerPath` |
//!
//! Users live in the `users` table with argon2id password hashes; `login` issues HS256 tokens
//! whose claims (`user-id`, `user-name`, `dept-code`, `role`) go on to file.rpc as the identity
//! metadata of spec §0.3. Every route runs inside the platform edge (`zero-edge`: tokens, RBAC,
//! rate limits, CORS, panic recovery, request ids, trace context, metrics, the
//! `{"code","message"}` error body).
//!
//! Layout: [`config`], [`users`] (the table and passwords), [`files`] (local uploads and
//! downloads, the file.rpc routes), [`http`] (the routes), [`mod@run`].

pub mod config;
pub mod files;
pub mod http;
pub mod run;
pub mod users;

pub use config::Config;
pub use run::run;

/// The messages of `file.FileRpc` (compiled from the file service's proto).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/file.rs"));
    /// Its descriptor set.
    pub const DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor.bin"));
}
