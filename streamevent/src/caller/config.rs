//! Configuration of the acquisition side: stations, channels, schedules, cluster mode. The YAML
//! keys are the ieccaller service's (`etc/ieccaller.yaml` there); [`Config::default`] is its
//! embedded default.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything the acquisition side needs besides the service's own keys (listen address,
/// logging, metrics, grace period).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    /// `standalone`, or `cluster`: instances share the stations over MQTT (`Mqtt.Broker`).
    pub deploy_mode: String,
    /// Cluster settings.
    pub cluster: Cluster,
    /// Stations to poll (`IecServerConfig`, as upstream names the list).
    #[serde(rename = "IecServerConfig")]
    pub stations: Vec<Station>,
    /// Six-field cron for general interrogation of every station's `IcCoaList`.
    pub interrogation_cron: String,
    /// Six-field cron for counter interrogation of every station's `CcCoaList`.
    pub counter_interrogation_cron: String,
    /// Typed command confirmation timeout.
    pub command_timeout_seconds: u64,
    /// Push time zone, minutes east of UTC.
    pub utc_offset_minutes: i32,
    /// Point mappings.
    pub db: Db,
    /// gRPC channel to streamevent (`StreamEventConf`).
    #[serde(rename = "StreamEventConf")]
    pub stream_event: StreamEvent,
    /// A chunk to streamevent closes at this many bytes of JSON.
    pub push_asdu_chunk_bytes: usize,
    /// Kafka channel (`KafkaConfig`).
    #[serde(rename = "KafkaConfig")]
    pub kafka: Kafka,
    /// MQTT channel (`MqttConfig`).
    #[serde(rename = "MqttConfig")]
    pub mqtt: Mqtt,
    /// Per-channel queue length.
    pub channel_queue: usize,
}

impl Default for Config {
    /// Standalone, no stations, no schedules, 10 s command timeout, Asia/Shanghai (480), no
    /// database, no channel enabled, 100 000 messages per channel queue.
    fn default() -> Config {
        Config {
            deploy_mode: "standalone".into(),
            cluster: Cluster { instance_id: String::new(), members_topic: "iec/cluster/members".into() },
            stations: vec![],
            interrogation_cron: String::new(),
            counter_interrogation_cron: String::new(),
            command_timeout_seconds: 10,
            utc_offset_minutes: 480,
            db: Db { data_source: String::new(), migrate: true, cache_seconds: 86_400 },
            stream_event: StreamEvent { endpoints: vec![], timeout: 10_000, flush_millis: 1000 },
            push_asdu_chunk_bytes: 1 << 20,
            kafka: Kafka { is_push: false, brokers: vec![], topic: "asdu".into() },
            mqtt: Mqtt::default(),
            channel_queue: 100_000,
        }
    }
}

/// One station.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Station {
    /// Primary host.
    pub host: String,
    /// Primary port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Redundant addresses (`host:port`), tried in order after the primary.
    #[serde(default)]
    pub backup: Vec<String>,
    /// Station id (`metaData.stationId`); default host_port with dots as underscores.
    #[serde(default)]
    pub station_id: String,
    /// Metadata copied into every message.
    #[serde(default)]
    pub meta_data: BTreeMap<String, serde_json::Value>,
    /// Common addresses for interrogation.
    #[serde(default)]
    pub ic_coa_list: Vec<u16>,
    /// Common addresses for counter interrogation.
    #[serde(default)]
    pub cc_coa_list: Vec<u16>,
    /// General interrogation of `IcCoaList` after every (re)start.
    #[serde(default = "yes")]
    pub interrogate_on_start: bool,
    /// Longest reconnect backoff in seconds.
    #[serde(default = "default_reconnect")]
    pub reconnect_seconds: u64,
    /// Acknowledge the station's frames only once their points are stored (or delivered by
    /// every channel), instead of on receipt. For stations that keep unacknowledged events and
    /// send them again on the next connection (the iec104 crate's slave does; the c104 Python
    /// station, measured, drops them): a crash of this process then loses nothing, and a time-tagged point sent
    /// again is stored once (its msgId comes from what it says). The station's `k` bounds the
    /// frames in flight, so give it a window that covers a commit (hundreds of frames).
    #[serde(default)]
    pub ack_after_store: bool,
    /// Log every ASDU received from the station (upstream `LogEnable`), at `info`.
    #[serde(default)]
    pub log_enable: bool,
    /// Upstream's worker count per station (`TaskConcurrency`): accepted for its files; one task
    /// per station decodes in order here, and the channels fan out beside it.
    #[serde(default)]
    pub task_concurrency: usize,
}

fn default_port() -> u16 {
    2404
}
fn yes() -> bool {
    true
}
fn default_reconnect() -> u64 {
    60
}

impl Default for Station {
    /// No host, port 2404, interrogation on start, 60 s reconnect backoff, nothing else.
    fn default() -> Station {
        Station {
            host: String::new(),
            port: default_port(),
            backup: vec![],
            station_id: String::new(),
            meta_data: BTreeMap::new(),
            ic_coa_list: vec![],
            cc_coa_list: vec![],
            interrogate_on_start: true,
            reconnect_seconds: default_reconnect(),
            ack_after_store: false,
            log_enable: false,
            task_concurrency: 0,
        }
    }
}

impl Station {
    /// `host:port` of the primary address: the key command RPCs use.
    pub fn key(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The metadata with `stationId` set when configured.
    pub fn meta(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m: serde_json::Map<String, serde_json::Value> = self.meta_data.clone().into_iter().collect();
        if !self.station_id.is_empty() {
            m.insert("stationId".into(), serde_json::Value::String(self.station_id.clone()));
        }
        m
    }
}

/// `Cluster`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Cluster {
    /// This instance's id; empty: `iec-caller-{uuid}`.
    pub instance_id: String,
    /// Topic prefix of the membership records.
    pub members_topic: String,
}

/// `Db`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Db {
    /// Database URL; empty: no point mappings (every point is pushed).
    pub data_source: String,
    /// Run migrations at start-up.
    pub migrate: bool,
    /// Lookup cache TTL.
    pub cache_seconds: u64,
}

/// `StreamEventConf`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamEvent {
    /// Endpoints (`host:port` or a URI); empty disables the channel.
    pub endpoints: Vec<String>,
    /// Deadline of each PushChunkAsdu try (ms); 0: none.
    pub timeout: u64,
    /// Longest wait before a partial chunk is sent.
    pub flush_millis: u64,
}

/// `KafkaConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Kafka {
    /// Enable the channel.
    pub is_push: bool,
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// Topic.
    pub topic: String,
}

/// `MqttConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Mqtt {
    /// Enable the channel.
    pub is_push: bool,
    /// Brokers, `tcp://host:port` or `host:port` (the first is used); upstream writes a list, a
    /// single text is accepted too.
    #[serde(deserialize_with = "one_or_many")]
    pub broker: Vec<String>,
    /// Client id; empty: generated.
    pub client_id: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// Topic templates.
    pub topic: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) if s.is_empty() => vec![],
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl Mqtt {
    /// `(host, port)` of the first broker (`tcp://` and `mqtt://` accepted; 1883 when the port
    /// is left out).
    ///
    /// # Errors
    /// No broker, a TLS scheme (`ssl://`, `tls://`, `mqtts://`: not served), or no valid port.
    pub fn broker_addr(&self) -> Result<(String, u16), String> {
        crate::envelope::broker_addr(self.broker.first().ok_or("MqttConfig.Broker is empty")?)
    }
}

/// Why a configuration is unusable.
pub fn validate(cfg: &Config) -> Result<(), String> {
    let mut keys = std::collections::HashSet::new();
    for (i, s) in cfg.stations.iter().enumerate() {
        if s.host.is_empty() {
            return Err(format!("IecServerConfig[{i}].Host is empty"));
        }
        if !keys.insert(s.key()) {
            return Err(format!("IecServerConfig[{i}]: {} is configured twice", s.key()));
        }
        for b in &s.backup {
            if b.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
                return Err(format!("IecServerConfig[{i}].Backup {b:?} is not host:port"));
            }
        }
    }
    for (name, expr) in
        [("InterrogationCron", &cfg.interrogation_cron), ("CounterInterrogationCron", &cfg.counter_interrogation_cron)]
    {
        if !expr.is_empty() {
            super::schedule::parse(expr).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    if cfg.mqtt.is_push && (cfg.mqtt.broker.is_empty() || cfg.mqtt.topic.is_empty()) {
        return Err("MqttConfig.IsPush needs MqttConfig.Broker and MqttConfig.Topic".into());
    }
    if cfg.mqtt.is_push || cfg.deploy_mode == "cluster" {
        cfg.mqtt.broker_addr()?;
    }
    if cfg.mqtt.qos > 2 {
        return Err(format!("MqttConfig.Qos {} is not 0, 1 or 2", cfg.mqtt.qos));
    }
    if cfg.kafka.is_push && (cfg.kafka.brokers.is_empty() || cfg.kafka.topic.is_empty()) {
        return Err("KafkaConfig.IsPush needs KafkaConfig.Brokers and KafkaConfig.Topic".into());
    }
    match cfg.deploy_mode.as_str() {
        "standalone" => {}
        "cluster" if cfg.mqtt.broker.is_empty() => return Err("DeployMode cluster needs MqttConfig.Broker".into()),
        "cluster" => {}
        other => return Err(format!("DeployMode {other:?} is not standalone or cluster")),
    }
    if cfg.channel_queue == 0 {
        return Err("ChannelQueue must be above zero".into());
    }
    Ok(())
}
