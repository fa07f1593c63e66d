//! # bridgegtw
//!
//! The HTTP gateway of the platform (spec §9): HTTP/JSON transcoded to gRPC from descriptor sets
//! (`ProtoSets`) or server reflection, per the upstream `Mappings`; HTTP upstreams behind a
//! reverse proxy (round-robin or least connections, active health checks, retries of idempotent
//! requests); routes and upstreams that change at run time (a watched file, etcd, an
//! APISIX-style admin API) without dropping requests in flight; the platform edge around every
//! route (`zero-edge`: tokens, RBAC, rate limits, CORS, panic recovery, request ids, trace
//! context, APISIX-named metrics, the `{"code","message"}` error body).
//!
//! Layout: [`config`] (the upstream keys and ours), [`transcode`] (JSON <-> messages),
//! [`upstream`] (gRPC channels and descriptors), [`proxy`] (HTTP upstreams), [`routes`] (the
//! table), [`dynamic`] (its sources), [`http`] (the handlers and the admin API), [`dashboard`] (its part of
//! the platform dashboard on the metrics port: routes and upstream nodes), [`mod@run`].

pub mod config;
pub mod cores;
pub mod dashboard;
pub mod dynamic;
pub mod http;
pub mod proxy;
pub mod routes;
pub mod run;
/// gRPC clients of the upstreams (in zero-svc).
pub use zero_svc::client as upstream;
/// JSON <-> messages (shared with gtw, in zero-svc).
pub use zero_svc::transcode;

pub use config::Config;
pub use run::run;
