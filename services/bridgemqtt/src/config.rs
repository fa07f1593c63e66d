//! The configuration: the upstream `etc/bridgemqtt.yaml` keys (`ListenOn`, `MqttConfig`,
//! `SocketPushConf`, `StreamEventConf`, `EventMapping`, `DefaultEvent`, `LogConfig`) and ours
//! (`Batch`, `RequestQueue`, `Outbox`, `MaxPayload`), defaults in `etc/bridgemqtt.yaml`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zero_svc::config::{GoDuration, StreamEventConf};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/bridgemqtt.yaml");

/// Configuration (see `etc/bridgemqtt.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// The broker.
    pub mqtt_config: MqttConf,
    /// streamevent.
    pub stream_event_conf: StreamEventConf,
    /// socketpush.
    pub socket_push_conf: StreamEventConf,
    /// Room event per topic template.
    pub event_mapping: BTreeMap<String, String>,
    /// Room event of the other templates.
    pub default_event: String,
    /// Payload logging.
    pub log_config: LogConf,
    /// Batches to streamevent.
    pub batch: BatchConf,
    /// Requests queued for the subscription connection.
    pub request_queue: usize,
    /// The disk queue of publishes.
    pub outbox: OutboxConf,
    /// Largest payload published (bytes).
    pub max_payload: usize,
}

/// `Outbox`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OutboxConf {
    /// The queue file (its directory is made).
    pub path: String,
    /// Bytes queued at most; beyond, `Publish` answers 103103.
    pub max_bytes: u64,
}

/// `MqttConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MqttConf {
    /// Brokers (the first is used).
    pub broker: Vec<String>,
    /// User.
    pub username: String,
    /// Password.
    pub password: String,
    /// Client id (empty: generated).
    pub client_id: String,
    /// QoS.
    pub qos: u8,
    /// Connection timeout (ms).
    pub timeout: u64,
    /// Keep-alive (ms).
    pub keep_alive: u64,
    /// Subscriptions.
    pub subscribe_topics: Vec<String>,
}

/// `LogConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConf {
    /// Log payloads of templates without a setting.
    #[serde(alias = "DefaultLogPayload")]
    pub default_log_payload: bool,
    /// Per template.
    #[serde(alias = "TopicSettings")]
    pub topic_settings: Vec<TopicLog>,
}

/// One `LogConfig.TopicSettings` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicLog {
    /// The template.
    #[serde(alias = "TopicTemplate")]
    pub topic_template: String,
    /// Log its payloads.
    #[serde(alias = "LogPayload", default)]
    pub log_payload: bool,
    /// At most one log line per this many ms.
    #[serde(alias = "MinLogInterval", default)]
    pub min_log_interval: u64,
}

/// `Batch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BatchConf {
    /// Messages per call at most.
    pub size: usize,
    /// How long a batch waits for more.
    pub wait: GoDuration,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "bridgemqtt";
    const DEFAULTS: &'static str = DEFAULTS;
    const IGNORED: &'static [&'static str] = &["SocketPushConf.NonBlock", "StreamEventConf.NonBlock"];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

impl MqttConf {
    /// The QoS as upstream maps it (above 2: 1).
    pub fn qos(&self) -> rumqttc::QoS {
        match self.qos {
            0 => rumqttc::QoS::AtMostOnce,
            2 => rumqttc::QoS::ExactlyOnce,
            _ => rumqttc::QoS::AtLeastOnce,
        }
    }
}
