//! The configuration: the upstream `etc/bridgedump.yaml` keys (`ListenOn`, `DumpPath`) and ours
//! (`Retention`), defaults in `etc/bridgedump.yaml`.

use serde::{Deserialize, Serialize};
use zero_svc::config::GoDuration;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/bridgedump.yaml");

/// Configuration (see `etc/bridgedump.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// The dump directory.
    pub dump_path: String,
    /// Deleting old files.
    pub retention: RetentionConf,
}

/// `Retention`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RetentionConf {
    /// Files older than this go (0: never).
    pub max_age: GoDuration,
    /// Each sub-directory's files beyond this many bytes go, oldest first (0: no limit).
    pub max_bytes: u64,
    /// How often the sweep runs.
    pub every: GoDuration,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "bridgedump";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
