//! The configuration: the upstream `etc/lalhook.yaml` keys (`Host`, `Port`, `DB`) and ours
//! (`RecordDir`, `ReconcileInterval`, `SegmentUrlPrefix`, `JwtAuth`, `Edge`), defaults in
//! `etc/lalhook.yaml`.

use serde::{Deserialize, Serialize};
use zero_svc::config::{DbConf, GoDuration};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/lalhook.yaml");

/// Configuration (see `etc/lalhook.yaml`).
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
    /// Where `hls_ts_files` lives.
    #[serde(rename = "DB")]
    pub db: DbConf,
    /// LAL's HLS output directory (empty: no reconcile scan, no segment serving).
    pub record_dir: String,
    /// How often the recording directory is scanned.
    pub reconcile_interval: GoDuration,
    /// URL prefix of the segments in playlists (empty: lalhook's own `/v1/hls/`).
    pub segment_url_prefix: String,
    /// LAL's `hls.out_path` as LAL writes it in `ts_file` (empty: `RecordDir`), so that a
    /// segment the scan finds has the key its notification would have.
    pub lal_out_path: String,
    /// Tokens of the routes not in `Edge.Public`.
    pub jwt_auth: zero_edge::auth::JwtAuthConf,
    /// The edge around every route.
    pub edge: zero_edge::http::EdgeConf,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "lalhook";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
    fn listen_on(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}
