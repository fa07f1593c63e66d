//! The configuration: the upstream `etc/bridgegtw.yaml` keys (`Host`, `Port`, `Timeout`,
//! `Upstreams`) and ours (`JwtAuth`, `Edge`, `DB`, `HttpUpstreams`, `HttpRoutes`, `Dynamic`,
//! `Admin`), defaults in `etc/bridgegtw.yaml`.

use serde::{Deserialize, Serialize};
use zero_edge::http::EdgeConf;
use zero_edge::limit::RateLimitConf;
use zero_edge::registry::EtcdConf;
use zero_svc::config::DbConf;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/bridgegtw.yaml");

/// Configuration (see `etc/bridgegtw.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `Log`, `Prometheus`, `GracePeriod` (`ListenOn` unused).
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// HTTP listen host.
    pub host: String,
    /// HTTP listen port.
    pub port: u16,
    /// Per-call timeout (ms).
    pub timeout: u64,
    /// Tokens.
    pub jwt_auth: zero_edge::auth::JwtAuthConf,
    /// The edge around every route.
    pub edge: EdgeConf,
    /// Where `casbin_rule` lives.
    #[serde(rename = "DB")]
    pub db: DbConf,
    /// gRPC upstreams and their mappings.
    pub upstreams: Vec<RpcClientConf>,
    /// HTTP upstreams.
    pub http_upstreams: Vec<HttpUpstreamConf>,
    /// HTTP routes.
    pub http_routes: Vec<HttpRouteConf>,
    /// Routes that change at run time.
    pub dynamic: DynamicConf,
    /// The admin API.
    pub admin: AdminConf,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "bridgegtw";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
    fn listen_on(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One entry of `Upstreams`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RpcClientConf {
    /// Where the server is.
    pub grpc: GrpcClientConf,
    /// Binary FileDescriptorSet files; empty: server reflection.
    #[serde(default)]
    pub proto_sets: Vec<String>,
    /// HTTP routes to RPCs.
    #[serde(default)]
    pub mappings: Vec<Mapping>,
}

/// go-zero's `zrpc.RpcClientConf` (and `Tls`), shared with every client in zero-svc.
pub use zero_svc::client::RpcClientConf as GrpcClientConf;

/// One route of `Mappings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Mapping {
    /// HTTP method.
    pub method: String,
    /// Path, `:name` segments bound to fields.
    pub path: String,
    /// `package.Service/Method`.
    pub rpc_path: String,
}

/// One entry of `HttpUpstreams` (also the shape of a dynamic upstream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct HttpUpstreamConf {
    /// Name the routes use.
    pub id: String,
    /// `host:port` of each node.
    pub nodes: Vec<String>,
    /// `roundrobin` or `least_conn`.
    pub balance: String,
    /// Active health check.
    pub health_check: HealthCheckConf,
    /// Other nodes tried when an idempotent request cannot reach one.
    pub retries: u32,
    /// Per-request timeout (ms).
    pub timeout_ms: u64,
}

impl Default for HttpUpstreamConf {
    fn default() -> Self {
        HttpUpstreamConf {
            id: String::new(),
            nodes: vec![],
            balance: "roundrobin".into(),
            health_check: HealthCheckConf::default(),
            retries: 1,
            timeout_ms: 15_000,
        }
    }
}

/// `HealthCheck`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct HealthCheckConf {
    /// Path probed with GET; empty: no active check.
    pub path: String,
    /// Probe period (ms).
    pub interval_ms: u64,
    /// Failures in a row that take a node out.
    pub unhealthy_after: u32,
}

impl Default for HealthCheckConf {
    fn default() -> Self {
        HealthCheckConf { path: String::new(), interval_ms: 1000, unhealthy_after: 2 }
    }
}

/// One entry of `HttpRoutes` (also the shape of a dynamic route).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct HttpRouteConf {
    /// The route's name.
    pub id: String,
    /// Exact path, `:name` parameters, or a prefix ending in `/*`.
    pub path: String,
    /// Methods (empty: any).
    pub methods: Vec<String>,
    /// An `HttpUpstreams` id.
    pub upstream: String,
    /// Removed from the path before forwarding (the prefix before `/*` when `true`).
    pub strip_prefix: bool,
    /// This route's own rate limit (Rate 0: the edge's).
    pub rate_limit: RateLimitConf,
}

/// `Dynamic`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct DynamicConf {
    /// A watched YAML file of `HttpUpstreams` and `HttpRoutes`.
    pub file: String,
    /// etcd holding `<Key>/upstreams/<id>` and `<Key>/routes/<id>`.
    pub etcd: EtcdConf,
}

/// The dynamic part: upstreams and routes (a file's layout; etcd values are single entries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct DynamicSet {
    /// Upstreams.
    pub http_upstreams: Vec<HttpUpstreamConf>,
    /// Routes.
    pub http_routes: Vec<HttpRouteConf>,
}

/// `Admin`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct AdminConf {
    /// Listen address.
    pub listen_on: String,
    /// `X-API-KEY` value; empty: no admin API.
    pub key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_file_loads_unchanged() {
        let upstream = include_str!("../tests/data/upstream-bridgegtw.yaml");
        let l: zero_svc::config::Loaded<Config> =
            zero_svc::config::merge_checked(DEFAULTS, Some(upstream), &[], &[]).unwrap();
        let c = l.config;
        assert_eq!(c.port, 15001);
        assert_eq!(c.timeout, 15000);
        assert_eq!(c.upstreams[0].mappings.len(), 3);
        assert_eq!(c.upstreams[0].mappings[0].rpc_path, "bridgedump.BridgeDumpRpc/CableWorkList");
        assert_eq!(c.upstreams[0].proto_sets, ["app/bridgedump/bridgedump.pb"]);
        assert!(l.warnings.iter().any(|w| w.starts_with("Name:")), "{:?}", l.warnings);
    }
}
