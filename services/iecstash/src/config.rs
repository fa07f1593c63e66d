//! The configuration: the upstream `etc/iecstash.yaml` keys (`KafkaASDUConfig`,
//! `StreamEventConf`, `PushAsduChunkBytes`, `GracePeriod`) and ours, defaults in
//! `etc/iecstash.yaml`.

use serde::{Deserialize, Serialize};
use streamevent::compact::CompactorSettings;
use streamevent::kafka::Source;
use streamevent::pipeline::target_endpoints;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/iecstash.yaml");

/// Configuration (see `etc/iecstash.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// The Kafka consumer (`KafkaASDUConfig`).
    #[serde(rename = "KafkaASDUConfig")]
    pub kafka: Kafka,
    /// The streamevent client (`StreamEventConf`).
    pub stream_event_conf: StreamEventConf,
    /// A chunk closes at this many bytes of JSON.
    pub push_asdu_chunk_bytes: usize,
    /// The compactor.
    pub compactor: Compactor,
}

/// `KafkaASDUConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Kafka {
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// Topic.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// `first` or `last`.
    pub offset: String,
    /// Static group membership id (KIP-345): a restarted instance with the same id takes its
    /// partitions back at once instead of waiting out the session timeout. Empty: dynamic.
    pub instance_id: String,
    /// On every partition assignment, fetch from this many records before the committed offset
    /// and skip up to it. A broker that answers a fetch from the middle of a record batch with
    /// the *next* batch (tansu 0.6 does) would otherwise skip the rest of that batch; set it to
    /// at least the producers' largest batch (records). 0 fetches from the committed offset.
    pub rewind_on_assign: i64,
}

/// `StreamEventConf`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamEventConf {
    /// Endpoints (the first is used).
    pub endpoints: Vec<String>,
    /// A go-zero target; used when `Endpoints` is empty.
    pub target: String,
    /// Deadline of each try (ms); 0: none.
    pub timeout: u64,
    /// Chunks sent and not yet acknowledged at once (at least 1). Offsets are still committed in
    /// order, each only after its chunk and every earlier one were acknowledged.
    pub max_in_flight: usize,
}

/// `Compactor`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Compactor {
    /// `batch`, `last-value` or `deadband`.
    pub mode: String,
    /// A chunk closes when its first message is this old (ms).
    pub flush_millis: u64,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "iecstash";
    const DEFAULTS: &'static str = DEFAULTS;
    // go-queue's consumer tuning: rdkafka sizes its fetches and fetchers itself; offsets are
    // committed in order always; NonBlock: the client connects lazily always
    const IGNORED: &'static [&'static str] = &[
        "KafkaASDUConfig.Conns",
        "KafkaASDUConfig.Consumers",
        "KafkaASDUConfig.Processors",
        "KafkaASDUConfig.MinBytes",
        "KafkaASDUConfig.MaxBytes",
        "KafkaASDUConfig.CommitInOrder",
        "StreamEventConf.NonBlock",
    ];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

impl Config {
    /// Whether the consumer should run: brokers and a topic are set.
    pub fn consumes(&self) -> bool {
        !self.kafka.brokers.is_empty() && !self.kafka.topic.is_empty()
    }

    /// The streamevent endpoint: the first of `Endpoints`, else of `Target`.
    ///
    /// # Errors
    /// [`zero_svc::Error::Config`] when neither gives one (a discovery target included).
    pub fn endpoint(&self) -> Result<String, zero_svc::Error> {
        let c = &self.stream_event_conf;
        if let Some(e) = c.endpoints.first() {
            return Ok(streamevent::pipeline::endpoint_uri(e));
        }
        let from_target =
            target_endpoints(&c.target).map_err(|e| zero_svc::Error::Config(format!("StreamEventConf: {e}")))?;
        from_target
            .into_iter()
            .next()
            .ok_or_else(|| zero_svc::Error::Config("StreamEventConf: neither Endpoints nor Target is set".into()))
    }

    /// The Kafka source this configuration describes.
    ///
    /// # Errors
    /// [`zero_svc::Error::Config`] for an unknown offset or compactor mode, or no streamevent
    /// endpoint.
    pub fn source(&self) -> Result<Source, zero_svc::Error> {
        let bad = zero_svc::Error::Config;
        let from_first = match self.kafka.offset.as_str() {
            "first" => true,
            "last" => false,
            other => return Err(bad(format!("KafkaASDUConfig.Offset {other:?} is not first or last"))),
        };
        let settings = CompactorSettings {
            mode: self.compactor.mode.clone(),
            chunk_bytes: self.push_asdu_chunk_bytes,
            flush_millis: self.compactor.flush_millis,
        };
        Ok(Source {
            brokers: self.kafka.brokers.clone(),
            group: self.kafka.group.clone(),
            topic: self.kafka.topic.clone(),
            from_first,
            instance_id: self.kafka.instance_id.clone(),
            rewind_on_assign: self.kafka.rewind_on_assign,
            endpoint: self.endpoint()?,
            max_in_flight: self.stream_event_conf.max_in_flight,
            compactor: settings.to_config().map_err(|e| bad(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_becomes_a_source() {
        let mut cfg: Config = zero_svc::config::merge_str(DEFAULTS, None, &[]).unwrap();
        let s = cfg.source().unwrap();
        assert!(s.from_first == (cfg.kafka.offset == "first") && s.endpoint == "http://127.0.0.1:21009");
        cfg.kafka.offset = "middle".into();
        assert!(cfg.source().is_err());
        cfg.kafka.offset = "last".into();
        cfg.compactor.mode = "merge".into();
        assert!(cfg.source().is_err());
        cfg.compactor.mode = "batch".into();
        cfg.stream_event_conf.endpoints.clear();
        assert!(cfg.source().is_err(), "neither endpoints nor target");
        cfg.stream_event_conf.target = "direct:///10.1.1.1:21009,10.1.1.2:21009".into();
        assert_eq!(cfg.source().unwrap().endpoint, "http://10.1.1.1:21009");
        cfg.stream_event_conf.target = "nacos://n:n@127.0.0.1:8848/stream-event".into();
        let e = cfg.source().unwrap_err().to_string();
        assert!(e.contains("service discovery is not supported"), "{e}");
    }
}
