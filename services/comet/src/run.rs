//! Wiring: the buses' registry, the comet, its WebSocket and gRPC servers, the session timer.

use crate::config::Config;
use socketio_cluster::comet::node::{Comet, CometConfig};
use socketio_cluster::pb::comet::FILE_DESCRIPTOR_SET;
use socketio_cluster::registry;
use std::future::Future;

/// Runs the comet until `shutdown`.
///
/// # Errors
/// An HTTP address that cannot be bound, server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let node = registry::advertised(listener.local_addr()?).await;
    let buses = if cfg.discovery.hosts.is_empty() {
        registry::fixed(&cfg.buses)
    } else {
        registry::discover(cfg.discovery.etcd())
    };
    let comet = Comet::new(
        CometConfig {
            node: node.clone(),
            max_payload: cfg.max_payload,
            session_timeout: cfg.session_timeout.0,
            bus_timeout: cfg.bus_timeout.0,
            queue: cfg.queue,
        },
        cfg.jwt_auth.build(),
        buses,
    );
    let http = tokio::net::TcpListener::bind(&cfg.http.listen_on)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("Http.ListenOn {}: {e}", cfg.http.listen_on)))?;
    tracing::info!(addr = %http.local_addr()?, path = %cfg.http.path, comet = %node, "WebSocket listening");
    let timer = tokio::spawn(comet.clone().expire_every_second());
    let (stop_tx, mut rx) = tokio::sync::watch::channel(false);
    let app = comet.router(&cfg.http.path);
    use axum::serve::ListenerExt;
    let http = http.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let web = tokio::spawn(async move {
        let _ = axum::serve(http, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
    });
    let r = zero_svc::grpc::serve(listener, comet.grpc(), &[FILE_DESCRIPTOR_SET], async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await;
    let _ = tokio::time::timeout(cfg.base.grace_period.0, web).await;
    timer.abort();
    r
}
