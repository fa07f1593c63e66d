//! The configuration, defaults in `etc/msgbus.yaml`.

use serde::{Deserialize, Serialize};
use socketio_cluster::registry::EtcdConf;
use zero_svc::config::GoDuration;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/msgbus.yaml");

/// Configuration (see `etc/msgbus.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn` (comet.v1.Bus), `Etcd`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Where the comets are registered.
    pub discovery: EtcdConf,
    /// The comets without etcd.
    pub comets: Vec<String>,
    /// A comet's time to answer a delivery.
    pub deliver_timeout: GoDuration,
    /// Uploads.
    pub rabbit_mq: RabbitMq,
    /// Presence events.
    pub events: EventsConf,
    /// streamevent, for presence events.
    pub stream_event_conf: zero_svc::config::StreamEventConf,
}

/// `Events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EventsConf {
    /// The routing key on `RabbitMq.Exchange` (empty: not published to RabbitMQ).
    pub routing_key: String,
    /// A durable queue declared at start (empty: none).
    pub queue: String,
}

/// `RabbitMq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RabbitMq {
    /// `amqp://user:pass@host:port/vhost`; empty: no storage.
    pub url: String,
    /// The exchange published to.
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// A durable queue declared at start (empty: none).
    pub queue: String,
    /// A publish's time to be confirmed.
    pub confirm_timeout: GoDuration,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "msgbus";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
