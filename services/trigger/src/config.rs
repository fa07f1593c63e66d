//! The service's configuration: the keys of the upstream `etc/trigger.yaml` and ours, with the
//! embedded defaults in `etc/trigger.yaml`.

use serde::{Deserialize, Serialize};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/trigger.yaml");

/// The queue every callback task goes to (upstream).
pub const QUEUE: &str = "critical";

/// Configuration (see `etc/trigger.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Redis.
    pub redis: RedisCfg,
    /// Redis database number.
    #[serde(rename = "RedisDB")]
    pub redis_db: u32,
    /// The embedded store, used when `Redis.Host` is empty.
    #[serde(rename = "DB")]
    pub db: zero_svc::config::DbConf,
    /// The engine.
    pub engine: trigger_core::Config,
    /// Workers.
    pub worker: Worker,
    /// Retention of completed tasks (s).
    pub retention_seconds: u64,
    /// streamevent, which handles cron occurrences.
    pub stream_event_conf: zero_svc::config::StreamEventConf,
    /// The cron scheduler.
    pub cron_task: CronTask,
    /// Plan tasks.
    pub plan_task: PlanTask,
}

/// `Redis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RedisCfg {
    /// `host:port`; empty for the in-memory store.
    pub host: String,
    /// Password.
    pub pass: String,
    /// Key prefix.
    pub key: String,
}

/// `CronTask`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CronTask {
    /// Skip an occurrence this late unless the job sets its own (Go duration, upstream `30m`).
    pub max_delay: zero_svc::config::GoDuration,
    /// Lease of a claimed occurrence when the job sets none (s).
    pub lease_seconds: i64,
    /// Shortest lease (s).
    pub min_lease_seconds: i64,
    /// Idle scan period (ms).
    pub scan_millis: u64,
}

/// `PlanTask`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PlanTask {
    /// Where plans live: `sqlite://…`, `postgres://…` or `mysql://…`; empty: `DB.DataSource`
    /// (and when that is empty too, memory only).
    pub data_source: String,
    /// Items handled at once by this instance.
    pub concurrency: usize,
    /// How long a claim holds an item (s).
    pub lease_seconds: u64,
    /// Idle scan pause, picked at random between these (ms).
    pub idle_min_millis: u64,
    /// See `idle_min_millis`.
    pub idle_max_millis: u64,
}

impl PlanTask {
    /// The database URL of the plan store.
    /// The Go platform's DSNs (`user:pass@tcp(host:port)/db?...`, `file:...`) become URLs.
    pub fn url(&self, db: &zero_svc::config::DbConf) -> String {
        let chosen = if !self.data_source.is_empty() {
            self.data_source.as_str()
        } else if !db.data_source.is_empty() {
            db.data_source.as_str()
        } else {
            return "sqlite::memory:".into();
        };
        match streamevent::store::go_dsn_url(chosen) {
            Ok(Some(url)) => url,
            _ => chosen.to_owned(),
        }
    }
}

/// `Worker`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Worker {
    /// Tasks at once.
    pub concurrency: usize,
    /// Idle poll interval (ms).
    pub poll_ms: u64,
}

impl Config {
    /// The Redis URL of `Redis` and `RedisDB`.
    pub fn redis_url(&self) -> String {
        let auth = if self.redis.pass.is_empty() { String::new() } else { format!(":{}@", self.redis.pass) };
        format!("redis://{auth}{}/{}", self.redis.host, self.redis_db)
    }
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "trigger";
    const DEFAULTS: &'static str = DEFAULTS;
    // Redis.Type: one node always (cluster mode is not served); StreamEventConf.NonBlock:
    // clients connect lazily always; StreamEventConf.GracePeriod: the sample's indentation slip
    // (the top-level GracePeriod applies); gorm's DB knobs are in GO_ZERO_IGNORED
    const IGNORED: &'static [&'static str] = &["Redis.Type", "StreamEventConf.NonBlock", "StreamEventConf.GracePeriod"];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
