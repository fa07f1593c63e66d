//! The configuration: the upstream `etc/bridgemodbus.yaml` keys and ours, defaults in
//! `etc/bridgemodbus.yaml`.

use crate::poll;
use serde::{Deserialize, Serialize};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/bridgemodbus.yaml");

/// Configuration (see `etc/bridgemodbus.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Connections per device pool.
    pub modbus_pool: usize,
    /// The default device.
    pub modbus_client_conf: ClientConf,
    /// Where device rows live.
    #[serde(rename = "DB")]
    pub db: zero_svc::config::DbConf,
    /// How long a device row read from DB is trusted before checking it again (ms).
    pub config_refresh_millis: u64,
    /// streamevent, which receives polled points.
    pub stream_event_conf: zero_svc::config::StreamEventConf,
    /// Polling groups.
    pub poll: Vec<poll::Group>,
}

/// `ModbusClientConf`: a device's link settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ClientConf {
    /// `host:port`, `tcp://…`, `rtuovertcp://…` or `rtu://path?baud=N`.
    pub address: String,
    /// Unit id.
    pub slave: u8,
    /// Answer timeout (ms).
    pub timeout: u64,
    /// Idle connection timeout (ms).
    pub idle_timeout: u64,
    /// First reconnect backoff (ms).
    pub link_recovery_timeout: u64,
    /// Unused (a connection is made anew after a protocol error), kept for compatibility (ms).
    pub protocol_recovery_timeout: u64,
    /// Pause after connecting (ms).
    pub connect_delay: u64,
    /// TLS.
    pub tls: TlsConf,
}

/// `ModbusClientConf.Tls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TlsConf {
    /// Modbus TCP inside TLS.
    pub enable: bool,
    /// Client certificate (PEM), optional.
    pub cert_file: String,
    /// Client key (PEM), optional.
    pub key_file: String,
    /// CA certificate(s) (PEM).
    pub ca_file: String,
    /// Name to check on the device's certificate; empty: the address's host.
    #[serde(default)]
    pub server_name: String,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "bridgemodbus";
    const DEFAULTS: &'static str = DEFAULTS;
    // gorm's logging and field-selection switches: sqlx logs through tracing
    const IGNORED: &'static [&'static str] = &["DB.LogLevel", "DB.QueryFields"];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
