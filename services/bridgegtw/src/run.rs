//! Wiring: the gRPC upstreams, the route table and its dynamic sources, the edge (with RBAC from
//! the database when enabled), the HTTP server and the admin API.

use crate::config::{Config, DynamicSet};
use crate::dynamic::Store;
use crate::http::{admin_router, app, Gateway};
use crate::routes::Routes;
use crate::upstream::RpcClient;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs bridgegtw on `listener` until `shutdown`.
///
/// # Errors
/// A configuration that does not fit (a mapping, an upstream, a route), the database (RBAC).
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let timeout = Duration::from_millis(cfg.timeout.max(1));
    let mut mappings = vec![];
    for (i, u) in cfg.upstreams.iter().enumerate() {
        let up = Arc::new(
            RpcClient::new(&u.grpc, &u.proto_sets, timeout)
                .map_err(|e| zero_svc::Error::Config(format!("Upstreams[{i}]: {e}")))?,
        );
        for m in &u.mappings {
            mappings.push((m.clone(), up.clone()));
        }
    }
    let configured = DynamicSet { http_upstreams: cfg.http_upstreams.clone(), http_routes: cfg.http_routes.clone() };
    let routes = Arc::new(Routes::new(mappings, configured).map_err(zero_svc::Error::Config)?);
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::RoutesPanel::new(routes.clone()))
        .install();
    let mut tasks = vec![];
    if !cfg.dynamic.file.is_empty() {
        tasks.push(crate::dynamic::watch_file(routes.clone(), cfg.dynamic.file.clone().into()));
    }
    if cfg.dynamic.etcd.enabled() {
        tasks.push(crate::dynamic::watch_etcd(routes.clone(), cfg.dynamic.etcd.clone()));
    }
    let auth = cfg.jwt_auth.build();
    let (edge, rbac_task) = zero_svc::http_edge("bridgegtw", &cfg.edge, auth, &cfg.db.data_source).await?;
    tasks.extend(rbac_task);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let admin = if cfg.admin.key.is_empty() {
        None
    } else {
        let store = if cfg.dynamic.etcd.enabled() { Store::Etcd(cfg.dynamic.etcd.clone()) } else { Store::Local };
        let l = tokio::net::TcpListener::bind(&cfg.admin.listen_on)
            .await
            .map_err(|e| zero_svc::Error::Config(format!("Admin.ListenOn {}: {e}", cfg.admin.listen_on)))?;
        tracing::info!(addr = %cfg.admin.listen_on, "admin API listening");
        let app = admin_router(routes.clone(), store, cfg.admin.key.clone());
        let mut rx = stop_rx.clone();
        Some(tokio::spawn(async move {
            let _ = axum::serve(l, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await;
        }))
    };
    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), routes = routes.table().len(), "bridgegtw listening");
    let app = app(Gateway { routes, edge });
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let served = crate::cores::serve(listener, app, threads, stop_rx.clone());
    let server = tokio::spawn(served);
    shutdown.await;
    let _ = stop_tx.send(true);
    let grace = cfg.base.grace_period.0;
    let r = tokio::time::timeout(grace, server).await;
    if let Some(a) = admin {
        let _ = tokio::time::timeout(grace, a).await;
    }
    for t in tasks {
        t.abort();
    }
    match r {
        Ok(Ok(Ok(()))) | Err(_) => Ok(()),
        Ok(Ok(Err(e))) => Err(zero_svc::Error::Serve(e.to_string())),
        Ok(Err(e)) => Err(zero_svc::Error::Serve(e.to_string())),
    }
}
