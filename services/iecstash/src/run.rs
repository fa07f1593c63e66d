//! Wiring: the Ping API, and the consumer when Kafka and streamevent are configured.

use crate::config::Config;
use crate::pb;
use crate::rpc::Ping;
use std::future::Future;

/// Runs iecstash until `shutdown`: the Ping API, and the consumer when Kafka is configured.
///
/// A discovery `Target` (`nacos://...`, as the upstream sample has) leaves the consumer off with
/// a warning instead of failing the start: nothing is read from Kafka that could not be
/// delivered.
///
/// # Errors
/// Configuration or server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx1 = stop_rx.clone();
    let server = tokio::spawn(zero_svc::grpc::serve(
        listener,
        pb::iec_stash_server::IecStashServer::new(Ping),
        &[pb::FILE_DESCRIPTOR_SET],
        async move {
            let _ = rx1.changed().await;
        },
    ));
    let consumer = if !cfg.consumes() {
        tracing::info!("KafkaASDUConfig.Brokers or Topic empty: consumer not started");
        None
    } else if let Err(e) = cfg.endpoint() {
        tracing::warn!("{e}: consumer not started");
        None
    } else {
        let source = cfg.source()?;
        let mut rx2 = stop_rx.clone();
        Some(tokio::spawn(async move {
            streamevent::kafka::consume(&source, async move {
                let _ = rx2.changed().await;
            })
            .await
            .map_err(|e| zero_svc::Error::Config(e.to_string()))
        }))
    };
    shutdown.await;
    let _ = stop_tx.send(true);
    let grace = cfg.base.grace_period.0;
    if let Some(c) = consumer {
        match tokio::time::timeout(grace, c).await {
            Ok(Ok(r)) => r?,
            Ok(Err(e)) => return Err(zero_svc::Error::Serve(e.to_string())),
            Err(_) => tracing::warn!("open chunk not delivered within the grace period"),
        }
    }
    let _ = tokio::time::timeout(grace, server).await;
    Ok(())
}
