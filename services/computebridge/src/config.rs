//! The configuration, defaults in `etc/computebridge.yaml`.

use serde::{Deserialize, Serialize};
use zero_svc::config::GoDuration;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/computebridge.yaml");

/// Configuration (see `etc/computebridge.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Etcd`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Where workers connect.
    pub http: Http,
    /// The broker.
    pub broker: Broker,
    /// streamevent, for results.
    pub stream_event_conf: zero_svc::config::StreamEventConf,
    /// Leases.
    pub lease: Lease,
    /// Between pings.
    pub heartbeat: GoDuration,
    /// The largest frame (and decompressed body).
    pub max_frame: usize,
    /// Bodies above this go compressed.
    pub zstd_threshold: usize,
}

/// `Http`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Http {
    /// `host:port`.
    pub listen_on: String,
    /// The workers' WebSocket path.
    pub path: String,
}

/// `Broker.Kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// No broker.
    #[serde(rename = "")]
    None,
    /// NATS JetStream.
    Nats,
    /// RabbitMQ.
    Rabbitmq,
    /// Kafka.
    Kafka,
}

/// `Broker`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Broker {
    /// Which.
    pub kind: Kind,
    /// Its URL.
    pub url: String,
    /// The tasks' subject or queue.
    pub tasks: String,
    /// The JetStream stream.
    pub stream: String,
    /// The JetStream durable consumer.
    pub durable: String,
    /// The results' subject or routing key (empty: not published).
    pub results: String,
    /// The dead letters' subject or routing key.
    pub dead_letters: String,
}

/// `Lease`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Lease {
    /// A worker's time per task.
    pub deadline: GoDuration,
    /// Attempts before the dead letters.
    pub max_attempts: u32,
    /// The first retry's delay.
    pub backoff: GoDuration,
    /// The longest.
    pub max_backoff: GoDuration,
}

impl Config {
    /// The bridge's settings.
    pub fn bridge(&self) -> trigger_core::compute::bridge::BridgeConfig {
        trigger_core::compute::bridge::BridgeConfig {
            lease: trigger_core::compute::lease::LeaseConfig {
                deadline: self.lease.deadline.0,
                max_attempts: self.lease.max_attempts.max(1),
                backoff: self.lease.backoff.0,
                max_backoff: self.lease.max_backoff.0,
            },
            heartbeat: self.heartbeat.0.max(std::time::Duration::from_millis(50)),
            max_frame: self.max_frame,
            max_body: self.max_frame,
            zstd_threshold: self.zstd_threshold,
        }
    }
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "computebridge";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
