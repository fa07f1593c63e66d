//! The configuration: the upstream `etc/gtw.yaml` keys (`Host`, `Port`, `Timeout`, `MaxBytes`,
//! `ZeroRpcConf`, `FileRpcConf`, `JwtAuth`, `NfsRootPath`, `DownloadUrl`, `SwaggerPath`) and ours
//! (`DB`, `Bootstrap`, `Edge`, `JwtAuth.PrevAccessSecret`, `JwtAuth.AccessExpire`), defaults in
//! `etc/gtw.yaml`.

use serde::{Deserialize, Serialize};
use zero_edge::http::EdgeConf;
use zero_svc::client::RpcClientConf;
use zero_svc::config::DbConf;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/gtw.yaml");

/// Configuration (see `etc/gtw.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `Log`, `Prometheus`, `GracePeriod` (`ListenOn` unused).
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// HTTP listen host.
    pub host: String,
    /// HTTP listen port.
    pub port: u16,
    /// Per-request timeout of the JSON routes (ms).
    pub timeout: u64,
    /// Largest request body (bytes).
    pub max_bytes: u64,
    /// zero.rpc (not part of this platform).
    pub zero_rpc_conf: RpcClientConf,
    /// file.rpc.
    pub file_rpc_conf: RpcClientConf,
    /// Tokens.
    pub jwt_auth: zero_edge::auth::JwtAuthConf,
    /// Root of the local uploads.
    pub nfs_root_path: String,
    /// Prefix of an upload's url.
    pub download_url: String,
    /// Directory of `/swagger/:fileName`.
    pub swagger_path: String,
    /// The users table.
    #[serde(rename = "DB")]
    pub db: DbConf,
    /// A user made at start.
    pub bootstrap: BootstrapConf,
    /// The edge around every route.
    pub edge: EdgeConf,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "gtw";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
    fn listen_on(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// `Bootstrap`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct BootstrapConf {
    /// User name (empty: no user made).
    pub username: String,
    /// Password (stored hashed).
    pub password: String,
    /// The `role` claim of the user's tokens.
    pub role: String,
}
