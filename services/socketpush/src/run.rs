//! Wiring: the gateways' clients and the `SocketPush` server.

use crate::config::Config;
use crate::pb;
use crate::rpc::Push;
use socketio_cluster::cluster::{Cluster, GrpcNodes};
use socketio_cluster::registry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs socketpush until `shutdown`.
///
/// # Errors
/// A gateway endpoint that is no address; server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let g = &cfg.socket_gtw_conf;
    let timeout = Duration::from_millis(g.timeout.max(1));
    let (nodes, registry) = if g.etcd.enabled() {
        tracing::info!(hosts = ?g.etcd.hosts, key = %g.etcd.key, "socketpush: gateways from etcd");
        (GrpcNodes::new(&[], timeout), registry::discover(g.etcd.clone()))
    } else {
        tracing::info!(gateways = ?g.endpoints, "socketpush");
        (GrpcNodes::new(&g.endpoints, timeout), registry::fixed(&g.endpoints))
    };
    let nodes = nodes.map_err(|e| zero_svc::Error::Config(format!("SocketGtwConf.Endpoints: {e}")))?;
    let cluster = Arc::new(Cluster::new(nodes, std::iter::empty(), cfg.push_deadline.0));
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::Nodes::new(cluster.clone()))
        .install();
    let server = zero_svc::grpc::Grpc::new(pb::socket_push_server::SocketPushServer::new(Push {
        auth: cfg.auth(),
        cluster: cluster.clone(),
    }));
    // each gateway's index feed: pushes then go only to the gateways that hold their targets;
    // the health service tells which gateways this node reaches (`socketgtw/<endpoint>`)
    let health = server.health();
    let reached = Arc::new(move |node: &socketio_cluster::route::NodeId, up: bool| {
        let (health, name) = (health.clone(), format!("socketgtw/{node}"));
        let status = if up { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
        tokio::spawn(async move { health.set_service_status(name, status).await });
    });
    let watch = tokio::spawn(cluster.follow(registry, reached));
    let served = server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    watch.abort();
    served
}
