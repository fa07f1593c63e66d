//! Wiring: the buses' registry, the comet, its WebSocket and gRPC servers, the session timer.

use crate::config::{Config, Mode};
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
        registry::discover(cfg.discovery.clone())
    };
    let (redis, etcd) = (!cfg.pusher.redis.is_empty(), !cfg.base.etcd.hosts.is_empty());
    let udp = cfg.mode == Mode::Udp;
    let (pusher_tx, pusher) = tokio::sync::watch::channel(udp && !redis && !etcd);
    let (stop_election, election_stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = election_stopped.await;
    };
    let name = cfg.pusher.election.clone();
    let election = match (udp && !name.is_empty(), redis, etcd) {
        (true, true, _) => Some(tokio::spawn(zero_edge::lease::elect_redis(
            cfg.pusher.redis.clone(),
            name,
            node.clone(),
            cfg.pusher.lease.0,
            pusher_tx,
            stopped,
        ))),
        (true, false, true) => {
            let mut conf = cfg.base.etcd.clone();
            conf.key = name.clone();
            Some(tokio::spawn(registry::elect(conf, name, node.clone(), pusher_tx, stopped)))
        }
        _ => None,
    };
    let comet = Comet::with_pusher(
        CometConfig {
            node: node.clone(),
            max_payload: cfg.max_payload,
            session_timeout: cfg.session_timeout.0,
            bus_timeout: cfg.bus_timeout.0,
            queue: cfg.queue,
        },
        cfg.jwt_auth.build(),
        buses,
        pusher,
    );
    let mode = if cfg.mode == Mode::Udp { "udp" } else { "ws" };
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::CometPanel::new(comet.clone(), mode))
        .install();
    let http = tokio::net::TcpListener::bind(&cfg.http.listen_on)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("Http.ListenOn {}: {e}", cfg.http.listen_on)))?;
    tracing::info!(addr = %http.local_addr()?, path = %cfg.http.path, comet = %node, "WebSocket listening");
    let mut tasks = vec![tokio::spawn(comet.clone().expire_every_second()), tokio::spawn(comet.clone().follow_buses())];
    let app = match cfg.mode {
        Mode::Ws => comet.router(&cfg.http.path),
        Mode::Udp => {
            let bad = |e: String| zero_svc::Error::Config(format!("Udp.ListenOn {}: {e}", cfg.udp.listen_on));
            let addr = tokio::net::lookup_host(&cfg.udp.listen_on)
                .await
                .map_err(|e| bad(e.to_string()))?
                .next()
                .ok_or_else(|| bad("no address".into()))?;
            let udp = Comet::bind_udp(addr, cfg.udp.read_buffer).map_err(|e| bad(e.to_string()))?;
            tracing::info!(addr = %udp.local_addr()?, "UDP listening");
            if !cfg.udp.platform_url.is_empty() {
                let p = crate::platform::Platform::new(&cfg.udp.platform_url, cfg.udp.platform_timeout.0)
                    .map_err(zero_svc::Error::Config)?;
                comet.set_outlet(std::sync::Arc::new(p));
            }
            tasks.push(tokio::spawn(comet.clone().serve_udp(std::sync::Arc::new(udp))));
            // devices may also come over WebSocket
            comet.push_router().merge(comet.router(&cfg.http.path))
        }
    };
    let r = zero_svc::grpc::serve_beside_http(
        listener,
        comet.grpc(),
        &[FILE_DESCRIPTOR_SET],
        http,
        app,
        cfg.base.grace_period.0,
        shutdown,
    )
    .await;
    // the lease revoked: the next pusher takes over at once
    let _ = stop_election.send(());
    if let Some(e) = election {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), e).await;
    }
    for t in tasks {
        t.abort();
    }
    r
}
