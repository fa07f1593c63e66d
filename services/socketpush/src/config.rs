//! The configuration: the upstream `etc/socketpush.yaml` keys (`ListenOn`, `JwtAuth`,
//! `SocketGtwConf`) and ours (`PushDeadline`), defaults in `etc/socketpush.yaml`.

use serde::{Deserialize, Serialize};
use socketio_cluster::auth::{JwtAuth, JwtAuthConf};
use socketio_cluster::registry::EtcdConf;
use zero_svc::config::GoDuration;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/socketpush.yaml");

/// Configuration (see `etc/socketpush.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Token secrets and lifetime.
    pub jwt_auth: JwtAuthConf,
    /// The gateways.
    pub socket_gtw_conf: SocketGtwConf,
    /// How long a push waits for the nodes' answers.
    pub push_deadline: GoDuration,
}

/// `SocketGtwConf`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SocketGtwConf {
    /// The gateways' gRPC addresses.
    pub endpoints: Vec<String>,
    /// go-zero's etcd discovery (used instead of `Endpoints` when `Hosts` is set).
    pub etcd: EtcdConf,
    /// Each call's deadline (ms).
    pub timeout: u64,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "socketpush";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

impl Config {
    /// The token issuer and checker.
    pub fn auth(&self) -> JwtAuth {
        let j = &self.jwt_auth;
        j.build()
    }
}
