//! The configuration: the upstream `etc/socketgtw.yaml` keys (`ListenOn`, `Http`, `JwtAuth`,
//! `SocketMetaData`, `StreamEventConf`, `EnableStreamEventNotify`, go-zero's `Etcd`) and ours, defaults in
//! `etc/socketgtw.yaml`.

use serde::{Deserialize, Serialize};
use socketio_cluster::auth::JwtAuthConf;
use socketio_cluster::gateway::GatewayConfig;
use zero_svc::config::{GoDuration, StreamEventConf};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/socketgtw.yaml");

/// Configuration (see `etc/socketgtw.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// The Socket.IO endpoint.
    pub http: Http,
    /// Handshake tokens.
    pub jwt_auth: JwtAuthConf,
    /// Claims copied into session metadata.
    pub socket_meta_data: Vec<String>,
    /// streamevent's `UpSocketMessage`.
    pub stream_event_conf: StreamEventConf,
    /// Call the connection, disconnection and join hooks.
    pub enable_stream_event_notify: bool,
    /// Each session's `__stat_down__` period.
    pub stat_interval: GoDuration,
    /// The largest client message (bytes).
    pub max_payload: u64,
    /// Messages queued for one session at most; a session whose queue is full is dropped at its
    /// next ping.
    pub max_buffer_size: usize,
    /// Engine.IO ping period.
    pub ping_interval: GoDuration,
    /// How long a ping waits for its pong.
    pub ping_timeout: GoDuration,
    /// A write to a client that takes nothing for this long fails and ends its connection.
    pub write_timeout: GoDuration,
    /// Each WebSocket connection's read buffer (bytes).
    pub ws_read_buffer_size: usize,
}

/// `Http`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Http {
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Engine.IO path.
    pub path: String,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "socketgtw";
    const DEFAULTS: &'static str = DEFAULTS;
    // the HTTP server's go-zero name and timeout; NonBlock: the client connects lazily always
    const IGNORED: &'static [&'static str] = &["Http.Name", "Http.Timeout", "StreamEventConf.NonBlock"];
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

impl Config {
    /// The gateway's settings.
    pub fn gateway(&self) -> GatewayConfig {
        let j = &self.jwt_auth;
        GatewayConfig {
            auth: j.build(),
            meta_keys: self.socket_meta_data.clone(),
            stat_interval: self.stat_interval.0,
            path: self.http.path.clone(),
            max_payload: self.max_payload,
            max_buffer: self.max_buffer_size,
            ping_interval: self.ping_interval.0,
            ping_timeout: self.ping_timeout.0,
            ws_read_buffer: self.ws_read_buffer_size,
        }
    }

    /// The Socket.IO listen address.
    pub fn http_addr(&self) -> String {
        format!("{}:{}", self.http.host, self.http.port)
    }
}
