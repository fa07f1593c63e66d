//! Wiring: the store, the comets' registry, the bus's gRPC server.

use crate::config::Config;
use crate::store::{Nowhere, Rabbit};
use socketio_cluster::comet::bus::{Bus, Store};
use socketio_cluster::pb::comet::FILE_DESCRIPTOR_SET;
use socketio_cluster::registry;
use std::future::Future;
use std::sync::Arc;

/// Runs the bus until `shutdown`.
///
/// # Errors
/// Server errors. (RabbitMQ not reachable at start is logged: uploads fail until it is.)
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let store: Arc<dyn Store> = if cfg.rabbit_mq.url.is_empty() {
        Arc::new(Nowhere)
    } else {
        let r = Rabbit::new(cfg.rabbit_mq.clone());
        if let Err(e) = r.check().await {
            tracing::warn!(error = %e, "RabbitMQ not reachable now: uploads fail until it is");
        }
        Arc::new(r)
    };
    let bus = Bus::new(store, cfg.deliver_timeout.0);
    let comets = if cfg.discovery.hosts.is_empty() {
        registry::fixed(&cfg.comets)
    } else {
        registry::discover(cfg.discovery.etcd())
    };
    let follow = tokio::spawn(bus.clone().follow(comets));
    let r = zero_svc::grpc::serve(listener, bus.grpc(), &[FILE_DESCRIPTOR_SET], shutdown).await;
    follow.abort();
    r
}
