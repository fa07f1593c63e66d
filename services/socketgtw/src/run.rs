//! Wiring: the Socket.IO endpoint on `Http`, the per-node gRPC API on `ListenOn`.

use crate::config::Config;
use crate::hooks::StreamEventHooks;
use crate::pb;
use crate::rpc::Rpc;
use socketio_cluster::gateway::Gateway;
use std::future::Future;
use std::time::Duration;

/// Runs socketgtw until `shutdown`.
///
/// # Errors
/// Configuration or server errors (the HTTP port cannot be bound, a bad streamevent endpoint).
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let hooks = StreamEventHooks {
        client: zero_svc::grpc::streamevent_client(&cfg.stream_event_conf.endpoints)?,
        timeout: Duration::from_millis(cfg.stream_event_conf.timeout.max(1)),
        notify: cfg.enable_stream_event_notify,
    };
    let (layer, gw) = Gateway::layer(cfg.gateway(), hooks);
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::Sessions::new(gw.clone()))
        .install();
    let http = tokio::net::TcpListener::bind(cfg.http_addr())
        .await
        .map_err(|e| zero_svc::Error::Config(format!("Http {}: {e}", cfg.http_addr())))?;
    tracing::info!(addr = %cfg.http_addr(), path = %cfg.http.path, "Socket.IO listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx = stop_rx.clone();
    // HTTP/1.1, request parts out of the read buffer, each connection under WriteTimeout
    let web = tokio::spawn(socketio_cluster::serve::serve(http, layer, cfg.write_timeout.0, async move {
        let _ = rx.changed().await;
    }));
    // SocketGtw, and the index feed the push nodes watch
    let server = zero_svc::grpc::Grpc::new(pb::socket_gtw_server::SocketGtwServer::new(Rpc { gw: gw.clone() }))
        .with(pb::index::cluster_index_server::ClusterIndexServer::new(socketio_cluster::cluster::IndexFeed { gw }));
    let mut rx = stop_rx.clone();
    let grpc = tokio::spawn(async move {
        server
            .serve(listener, &[pb::FILE_DESCRIPTOR_SET], async move {
                let _ = rx.changed().await;
            })
            .await
    });
    shutdown.await;
    let _ = stop_tx.send(true);
    let grace = cfg.base.grace_period.0;
    let _ = tokio::time::timeout(grace, web).await;
    let _ = tokio::time::timeout(grace, grpc).await;
    Ok(())
}
