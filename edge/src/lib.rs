//! # zero-edge
//!
//! The platform's edge, written once and used by every HTTP-facing service (the gateways, lalhook,
//! socketgtw's tokens) and by the shared service crate (registration of every gRPC service):
//!
//! | module | holds |
//! |---|---|
//! | [`auth`] | tokens: HS256 pinned (`none` and other algorithms refused), `AccessSecret` then `PrevAccessSecret`, `Bearer ` prefix, `exp`; issuing with go-zero's claims |
//! | [`rbac`] | casbin RBAC: a model (RESTful built in) and policies from the `casbin_rule` table, cached decisions, reloaded when the table changes |
//! | [`limit`] | token-bucket rate limits per route and key (address, header, claim) on `governor` |
//! | [`trace`] | W3C `traceparent`: read or made, child spans per hop, carried into gRPC metadata and message headers |
//! | [`error`] | the unified body `{"code","message"}` and go-zero's gRPC code -> HTTP status table |
//! | [`http`] | all of it as axum middleware ([`http::Edge::wrap`]), with CORS, panic recovery, request ids and APISIX-named metrics |
//! | [`registry`] | go-zero's etcd registration and discovery (`<Key>/<leaseID>` -> `host:port`, 10 s lease; feature `etcd`), or a fixed list; leader election in etcd |
//! | `lease` | leader election under a lease in Redis (feature `redis`) |
//!
//! ## Features
//! - `etcd`: registration and discovery in etcd (the `etcd-client` crate; its build needs
//!   `protoc`, Debian `protobuf-compiler`).
//! - `redis`: leader election under a lease in Redis (`lease::elect_redis`).
//!
//! ## Example
//! ```no_run
//! use zero_edge::{auth::JwtAuth, http::{Edge, EdgeConf}};
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let edge = Edge::new("gtw", &EdgeConf::default(), JwtAuth::new("secret", "", 3600), None)?;
//! let app = edge.wrap(axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" })));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod error;
pub mod http;
#[cfg(feature = "redis")]
pub mod lease;
pub mod limit;
pub mod rbac;
pub mod registry;
pub mod trace;
