//! The configuration: the upstream `etc/bridgekafka.yaml` keys (`ListenOn`, `KafkaPushConfig`,
//! `KafkaConsumeConfig`, `StreamEventConf`) and ours (`BatchSize`, `BatchWait` per consumer),
//! defaults in `etc/bridgekafka.yaml`.

use serde::{Deserialize, Serialize};
use zero_svc::config::{GoDuration, StreamEventConf};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/bridgekafka.yaml");

/// Configuration (see `etc/bridgekafka.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Publishing.
    pub kafka_push_config: PushConf,
    /// The consumers.
    pub kafka_consume_config: Vec<ConsumeConf>,
    /// streamevent.
    pub stream_event_conf: StreamEventConf,
    /// The largest record `Publish` sends (key and value, bytes; the producer's
    /// `message.max.bytes`).
    pub max_message_bytes: usize,
}

/// `KafkaPushConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PushConf {
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// The topics a caller may publish to.
    pub topics: Vec<String>,
}

/// One `KafkaConsumeConfig` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConsumeConf {
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// Upstream's connection count (librdkafka manages its connections): accepted, unused.
    #[serde(default)]
    pub conns: u32,
    /// Consumer instances in the group.
    #[serde(default = "one")]
    pub consumers: u32,
    /// Upstream's processor count (batches go in order per consumer): accepted, unused.
    #[serde(default)]
    pub processors: u32,
    /// `fetch.min.bytes`.
    #[serde(default = "one")]
    pub min_bytes: u32,
    /// `fetch.max.bytes`.
    #[serde(default = "max_bytes")]
    pub max_bytes: u32,
    /// Records per streamevent call at most.
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// How long a batch waits for more records.
    #[serde(default = "batch_wait")]
    pub batch_wait: GoDuration,
}

fn one() -> u32 {
    1
}
fn max_bytes() -> u32 {
    10 * 1024 * 1024
}
fn batch_size() -> usize {
    500
}
fn batch_wait() -> GoDuration {
    GoDuration(std::time::Duration::from_millis(20))
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "bridgekafka";
    const DEFAULTS: &'static str = DEFAULTS;
    // go-zero's client flag: the client connects lazily always
    const IGNORED: &'static [&'static str] = &["StreamEventConf.NonBlock"];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
