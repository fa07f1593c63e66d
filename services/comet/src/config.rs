//! The configuration, defaults in `etc/comet.yaml`.

use serde::{Deserialize, Serialize};
use socketio_cluster::auth::JwtAuthConf;
use socketio_cluster::registry::EtcdConf;
use zero_svc::config::GoDuration;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/comet.yaml");

/// Configuration (see `etc/comet.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn` (comet.v1.Comet), `Etcd`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// `ws` or `udp`.
    pub mode: Mode,
    /// The UDP socket.
    pub udp: Udp,
    /// The pusher's election.
    pub pusher: Pusher,
    /// The WebSocket endpoint (the push API in UDP mode).
    pub http: Http,
    /// Tokens.
    pub jwt_auth: JwtAuthConf,
    /// Where the buses are registered.
    pub discovery: EtcdConf,
    /// The buses without etcd.
    pub buses: Vec<String>,
    /// A session's timeout.
    pub session_timeout: GoDuration,
    /// A bus's time to answer.
    pub bus_timeout: GoDuration,
    /// Largest payload.
    pub max_payload: usize,
    /// Packets queued per connection.
    pub queue: usize,
}

/// `Mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Terminals over WebSocket.
    Ws,
    /// Devices over UDP.
    Udp,
}

/// `Pusher`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Pusher {
    /// The election name (etcd's election, or the Redis key).
    pub election: String,
    /// The Redis URL of the election (empty: etcd).
    pub redis: String,
    /// The Redis election's lease.
    pub lease: GoDuration,
}

/// `Udp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Udp {
    /// `host:port` of the UDP socket.
    pub listen_on: String,
    /// Where device messages are POSTed (empty: through the bus).
    pub platform_url: String,
    /// The platform's time to answer.
    pub platform_timeout: GoDuration,
    /// The socket's receive buffer (bytes; 0: the system's default).
    pub read_buffer: usize,
}

/// `Http`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Http {
    /// `host:port` of the WebSocket endpoint.
    pub listen_on: String,
    /// Its path.
    pub path: String,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "comet";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
