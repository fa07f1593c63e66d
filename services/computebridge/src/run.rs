//! Wiring: the bridge, its outlet, the broker's consumer (connected again after a loss), the
//! workers' WebSocket endpoint beside the gRPC API, the dashboard panel.

use crate::config::{Config, Kind};
use crate::outlet::Publish;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use trigger_core::compute::bridge::Bridge;

/// Runs the bridge until `shutdown`.
///
/// # Errors
/// An address that cannot be bound, a bad `StreamEventConf`, server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let (conn_tx, conn_rx) = tokio::sync::watch::channel(None);
    let outlet = Publish {
        conn: (cfg.broker.kind != Kind::None).then_some(conn_rx),
        results: cfg.broker.results.clone(),
        dead_letters: cfg.broker.dead_letters.clone(),
        streamevent: zero_svc::grpc::streamevent_client(&cfg.stream_event_conf.endpoints)?,
        timeout: Duration::from_millis(cfg.stream_event_conf.timeout.max(1)),
    };
    let bridge = Bridge::new(cfg.bridge(), Arc::new(outlet));
    let broker = match cfg.broker.kind {
        Kind::None => "none".to_owned(),
        Kind::Nats => format!("NATS JetStream {} ({})", cfg.broker.tasks, cfg.broker.stream),
        Kind::Rabbitmq => format!("RabbitMQ {}", cfg.broker.tasks),
        Kind::Kafka => format!("Kafka {} (group {})", cfg.broker.tasks, cfg.broker.durable),
    };
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::BridgePanel::new(bridge.clone(), broker))
        .install();
    let consumer = (cfg.broker.kind != Kind::None).then(|| {
        let (b, bridge) = (cfg.broker.clone(), bridge.clone());
        // the broker redelivers a task not acknowledged within every attempt's deadline
        let ack_wait = cfg.lease.deadline.0 * (cfg.lease.max_attempts.max(1) + 1) + cfg.lease.max_backoff.0;
        tokio::spawn(async move {
            loop {
                match crate::broker::connect(&b).await {
                    Ok(conn) => {
                        tracing::info!(broker = ?b.kind, tasks = %b.tasks, "broker connected");
                        conn_tx.send_replace(Some(conn.clone()));
                        if let Err(e) = crate::broker::consume(conn, &b, bridge.clone(), ack_wait).await {
                            tracing::warn!(error = %e, "consumer stopped");
                        }
                        conn_tx.send_replace(None);
                    }
                    Err(e) => tracing::warn!(error = %e, "broker"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    });
    let http = tokio::net::TcpListener::bind(&cfg.http.listen_on)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("Http.ListenOn {}: {e}", cfg.http.listen_on)))?;
    tracing::info!(addr = %http.local_addr()?, path = %cfg.http.path, "workers' WebSocket listening");
    let app = crate::ws::router(bridge.clone(), &cfg.http.path, cfg.max_frame);
    let api = crate::pb::bridge_server::BridgeServer::new(crate::rpc::Api(bridge))
        .max_decoding_message_size(cfg.max_frame)
        .max_encoding_message_size(cfg.max_frame);
    let r = zero_svc::grpc::serve_beside_http(
        listener,
        api,
        &[crate::pb::FILE_DESCRIPTOR_SET],
        http,
        app,
        cfg.base.grace_period.0,
        shutdown,
    )
    .await;
    if let Some(c) = consumer {
        c.abort();
    }
    r
}
