//! Wiring: the routing table (etcd or static), the frontend, its WebSocket and gRPC servers.

use crate::config::Config;
use socketio_cluster::pb::wsgate::FILE_DESCRIPTOR_SET;
use socketio_cluster::registry;
use socketio_cluster::ws::gate::{Gate, GateConfig};
use socketio_cluster::ws::routes::Routes;
use std::future::Future;
use std::sync::Arc;

/// Runs the frontend until `shutdown`.
///
/// # Errors
/// A bad routing table, an HTTP address that cannot be bound, server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let node = registry::advertised(listener.local_addr()?).await;
    let routes = Arc::new(Routes::default());
    let mut tasks = vec![];
    let peers = if cfg.discovery.hosts.is_empty() {
        routes.set_static(&cfg.apps).map_err(zero_svc::Error::Config)?;
        registry::fixed(&cfg.peers)
    } else {
        tasks.push(tokio::spawn(
            routes
                .clone()
                .follow_etcd(cfg.discovery.etcd(&cfg.discovery.protocols_key), cfg.discovery.protocols_key.clone()),
        ));
        // the frontends, this one among them, as they register their Gate under Etcd.Key
        registry::discover(cfg.discovery.etcd(&cfg.base.etcd.key))
    };
    let gate = Gate::new(
        GateConfig {
            node: node.clone(),
            max_payload: cfg.max_payload,
            call_timeout: cfg.call_timeout.0,
            auth_timeout: cfg.auth_timeout.0,
            queue: cfg.queue,
            in_flight: cfg.in_flight,
            fanout_deadline: cfg.fanout_deadline.0,
        },
        routes,
        cfg.jwt_auth.build(),
        peers,
    );
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::Frontend::new(gate.clone()))
        .install();
    if !cfg.push.kafka.brokers.is_empty() {
        tasks.push(crate::push::kafka(&cfg.push.kafka, gate.clone()).map_err(zero_svc::Error::Config)?);
    }
    if !cfg.push.nats.url.is_empty() {
        tasks.push(crate::push::nats(&cfg.push.nats, gate.clone()).await.map_err(zero_svc::Error::Config)?);
    }
    let http = tokio::net::TcpListener::bind(&cfg.http.listen_on)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("Http.ListenOn {}: {e}", cfg.http.listen_on)))?;
    tracing::info!(addr = %http.local_addr()?, path = %cfg.http.path, gate = %node, "WebSocket listening");
    // at shutdown the gRPC server stops, then the WebSocket server closes its connections
    let app = gate.router(&cfg.http.path);
    let r = zero_svc::grpc::serve_beside_http(
        listener,
        gate.grpc(),
        &[FILE_DESCRIPTOR_SET],
        http,
        app,
        cfg.base.grace_period.0,
        shutdown,
    )
    .await;
    for t in tasks {
        t.abort();
    }
    r
}
