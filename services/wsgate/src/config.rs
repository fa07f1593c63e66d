//! The configuration, defaults in `etc/wsgate.yaml`.

use serde::{Deserialize, Serialize};
use socketio_cluster::auth::JwtAuthConf;
use socketio_cluster::registry::EtcdConf;
use socketio_cluster::ws::routes::AppConf;
use zero_svc::config::GoDuration;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/wsgate.yaml");

/// Configuration (see `etc/wsgate.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn` (the Gate gRPC API), `Etcd`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// The WebSocket endpoint.
    pub http: Http,
    /// Tokens.
    pub jwt_auth: JwtAuthConf,
    /// etcd for routing and the other frontends.
    pub discovery: Discovery,
    /// The static routing table.
    pub apps: Vec<AppConf>,
    /// The other frontends without etcd.
    pub peers: Vec<String>,
    /// Largest payload (bytes).
    pub max_payload: usize,
    /// A logic service's time to answer.
    pub call_timeout: GoDuration,
    /// A connection's time to send its token.
    pub auth_timeout: GoDuration,
    /// Frames queued per connection.
    pub queue: usize,
    /// Requests per connection at once.
    pub in_flight: usize,
    /// All-node actions' deadline.
    pub fanout_deadline: GoDuration,
    /// Pushes from Kafka and NATS.
    pub push: crate::push::PushConf,
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

/// `Discovery`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Discovery {
    /// etcd endpoints; empty: the static `Apps` and `Peers`.
    pub hosts: Vec<String>,
    /// Where protocol ids are registered.
    pub protocols_key: String,
    /// etcd user.
    pub user: String,
    /// etcd password.
    pub pass: String,
}

impl Discovery {
    /// The etcd section for `key`.
    pub fn etcd(&self, key: &str) -> EtcdConf {
        EtcdConf {
            hosts: self.hosts.clone(),
            key: key.to_owned(),
            id: 0,
            user: self.user.clone(),
            pass: self.pass.clone(),
        }
    }
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "wsgate";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
