//! Wiring: the nodes, their health watch, the gRPC server. No engine needs to answer for the
//! service to start: gRPC health says which do.

use crate::config::Config;
use crate::nodes::Nodes;
use crate::pb;
use crate::rpc::Rpc;
use std::future::Future;
use std::sync::Arc;

/// The gRPC service name.
pub const SERVICE: &str = "podengine.PodEngine";

/// Runs podengine until `shutdown`.
///
/// # Errors
/// Server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let nodes = Arc::new(Nodes::new(&cfg));
    for (name, host) in cfg.nodes() {
        tracing::info!(node = %name, %host, "node");
    }
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::PodsPanel::new(nodes.clone()))
        .install();
    let server = zero_svc::grpc::Grpc::new(pb::pod_engine_server::PodEngineServer::new(Rpc::new(nodes.clone())))
        .own_health(SERVICE);
    let watch = tokio::spawn(
        nodes.watch_health(server.health(), cfg.health_interval.0.max(std::time::Duration::from_millis(100))),
    );
    let served = server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    watch.abort();
    served
}
