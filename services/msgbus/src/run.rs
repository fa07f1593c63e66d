//! Wiring: the store, the comets' registry, the bus's gRPC server.

use crate::config::Config;
use crate::events::Publisher;
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
    let rabbit = if cfg.rabbit_mq.url.is_empty() {
        None
    } else {
        let r = Arc::new(Rabbit::new(cfg.rabbit_mq.clone(), &[cfg.events.queue.as_str()]));
        if let Err(e) = r.check().await {
            tracing::warn!(error = %e, "RabbitMQ not reachable now: uploads fail until it is");
        }
        Some(r)
    };
    let store: Arc<dyn Store> = match &rabbit {
        Some(r) => r.clone(),
        None => Arc::new(Nowhere),
    };
    let bus = Bus::new(store, cfg.deliver_timeout.0);
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::BusPanel::new(bus.clone(), rabbit.clone()))
        .install();
    let publisher = Publisher {
        rabbit: rabbit.filter(|_| !cfg.events.routing_key.is_empty()).map(|r| (r, cfg.events.routing_key.clone())),
        streamevent: zero_svc::grpc::streamevent_client(&cfg.stream_event_conf.endpoints)?,
        timeout: std::time::Duration::from_millis(cfg.stream_event_conf.timeout.max(1)),
    };
    if publisher.rabbit.is_some() || publisher.streamevent.is_some() {
        bus.set_events(Arc::new(publisher));
    }
    let comets = if cfg.discovery.hosts.is_empty() {
        registry::fixed(&cfg.comets)
    } else {
        registry::discover(cfg.discovery.clone())
    };
    let follow = tokio::spawn(bus.clone().follow(comets));
    let r = zero_svc::grpc::serve(listener, bus.grpc(), &[FILE_DESCRIPTOR_SET], shutdown).await;
    follow.abort();
    r
}
