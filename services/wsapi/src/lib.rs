//! # wsapi (service)
//!
//! The HTTP api of the long-connection system (issue #21): what a web back office or another
//! service without gRPC calls to reach the clients of the frontends (wsgate), inside the
//! platform's edge (tokens, RBAC, limits, CORS, the `{"code","message"}` error body). Each call
//! goes to one frontend's `wsgate.v1.Gate` API with `all_nodes`, and that frontend reaches the
//! others; the answer says how many connections were reached and which frontends did not answer.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /api/v1/push` | `{"to": {"uid" \| "room" \| "session_id": "...", or "everyone": true}, "protocol": N, "payload": <JSON>}` | `{"delivered", "failedNodes"}` |
//! | `POST /api/v1/kick` | `{"to": {...}}` | `{"sessions"}` |
//! | `POST /api/v1/online` | `{"uids": [...]}` | `{"sessions", "users", "online"}` |
//! | `GET /api/v1/ping` | | `pong` (public) |

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::{Deserialize, Serialize};
use socketio_cluster::pb::wsgate as pb;
use socketio_cluster::registry::{self, EtcdConf};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zero_edge::error::ApiError;
use zero_svc::client::http_error;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/wsapi.yaml");

/// Configuration (see `etc/wsapi.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn` (HTTP), `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Tokens.
    pub jwt_auth: zero_edge::auth::JwtAuthConf,
    /// The frontends.
    pub gates: Gates,
    /// The edge.
    pub edge: zero_edge::http::EdgeConf,
    /// The edge's database.
    #[serde(rename = "DB")]
    pub db: zero_svc::config::DbConf,
}

/// `Gates`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Gates {
    /// Gate addresses.
    pub endpoints: Vec<String>,
    /// Or those registered in etcd.
    pub etcd: EtcdConf,
    /// Each call's deadline (ms).
    pub timeout: u64,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "wsapi";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

/// The frontends, picked round-robin.
#[derive(Clone)]
struct Api {
    gates: registry::Endpoints,
    next: Arc<AtomicUsize>,
    timeout: Duration,
}

impl Api {
    fn gate(&self) -> Result<pb::gate_client::GateClient<tonic::transport::Channel>, ApiError> {
        let all: Vec<String> = self.gates.borrow().iter().cloned().collect();
        if all.is_empty() {
            return Err(ApiError::grpc(14, "no frontend is known (Gates)"));
        }
        let addr = &all[self.next.fetch_add(1, Ordering::Relaxed) % all.len()];
        let uri = if addr.contains("://") { addr.clone() } else { format!("http://{addr}") };
        let ch = tonic::transport::Endpoint::from_shared(uri)
            .map_err(|e| ApiError::internal(format!("gate {addr}: {e}")))?
            .timeout(self.timeout)
            .connect_lazy();
        Ok(pb::gate_client::GateClient::new(ch))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    to: serde_json::Value,
    protocol: u32,
    payload: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KickBody {
    to: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlineBody {
    #[serde(default)]
    uids: Vec<String>,
}

/// The target of a body's `to`, as a push message names it.
fn target(to: &serde_json::Value) -> Result<pb::Target, ApiError> {
    let msg = serde_json::json!({"to": to, "protocol": socketio_cluster::ws::frame::FIRST_APP_ID, "payload": null});
    socketio_cluster::ws::push::parse(msg.to_string().as_bytes())
        .map(|r| r.target.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.replace("push message: ", "")))
}

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: Body<T>) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn push(State(api): State<Api>, b: Body<PushBody>) -> Response {
    let r = async {
        let b = body(b)?;
        let msg = serde_json::json!({"to": b.to, "protocol": b.protocol, "payload": b.payload});
        let req = socketio_cluster::ws::push::parse(msg.to_string().as_bytes())
            .map_err(|e| ApiError::bad_request(e.replace("push message: ", "")))?;
        let res = api.gate()?.push(req).await.map_err(|s| http_error(&s))?.into_inner();
        Ok::<_, ApiError>(Json(serde_json::json!({"delivered": res.delivered, "failedNodes": res.failed_nodes})))
    };
    r.await.into_response()
}

async fn kick(State(api): State<Api>, b: Body<KickBody>) -> Response {
    let r = async {
        let b = body(b)?;
        let req = pb::KickReq { target: Some(target(&b.to)?), all_nodes: true };
        let res = api.gate()?.kick(req).await.map_err(|s| http_error(&s))?.into_inner();
        Ok::<_, ApiError>(Json(serde_json::json!({"sessions": res.sessions})))
    };
    r.await.into_response()
}

async fn online(State(api): State<Api>, b: Body<OnlineBody>) -> Response {
    let r = async {
        let b = body(b)?;
        let res =
            api.gate()?.online(pb::OnlineReq { uids: b.uids, all_nodes: true }).await.map_err(|s| http_error(&s))?;
        let res = res.into_inner();
        Ok::<_, ApiError>(Json(serde_json::json!({"sessions": res.sessions, "users": res.users, "online": res.online})))
    };
    r.await.into_response()
}

/// Runs the api on `listener` until `shutdown`.
///
/// # Errors
/// The edge's configuration or database, server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let gates = if cfg.gates.etcd.enabled() {
        registry::discover(cfg.gates.etcd.clone())
    } else {
        registry::fixed(&cfg.gates.endpoints)
    };
    let api = Api { gates, next: Arc::default(), timeout: Duration::from_millis(cfg.gates.timeout.max(1)) };
    let (edge, rbac) = zero_svc::http_edge("wsapi", &cfg.edge, cfg.jwt_auth.build(), &cfg.db.data_source).await?;
    let app = axum::Router::new()
        .route("/api/v1/push", post(push))
        .route("/api/v1/kick", post(kick))
        .route("/api/v1/online", post(online))
        .route("/api/v1/ping", get(|| async { "pong" }))
        .with_state(api);
    zero_svc::serve_http(listener, edge.wrap(app), shutdown, rbac).await
}
