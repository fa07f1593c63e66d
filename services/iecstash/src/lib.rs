//! # iecstash
//!
//! A Kafka consumer group that feeds streamevent: messages go through the
//! [`streamevent::compact`] compactor, and each closed chunk is sent with `PushChunkAsdu` under
//! its chunk id. Offsets are committed only after streamevent acknowledged the chunk (the Go
//! version commits first and loses the batch on failure); a chunk redelivered after a crash
//! carries the same id and streamevent drops it. While streamevent is slow or down the consumer
//! stops reading (back-pressure) and retries the chunk with capped backoff.

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use streamevent::compact::CompactorSettings;
use streamevent::kafka::Source;

/// The generated protocol (`package iecmock`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("iecmock");

    /// Encoded descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/iecstash_descriptor.bin"));
}

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/iecstash.yaml");

/// Configuration (see `etc/iecstash.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address.
    pub listen_on: String,
    /// Logging.
    pub log: zero_svc::config::Log,
    /// Metrics.
    pub prometheus: zero_svc::config::Prometheus,
    /// Kafka consumer.
    pub kafka: Kafka,
    /// streamevent client.
    pub stream_event: StreamEvent,
    /// Compactor.
    pub compactor: CompactorSettings,
    /// Shutdown grace period.
    pub grace_period_seconds: u64,
}

/// `Kafka`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Kafka {
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// `first` or `last`.
    pub offset: String,
    /// Static group membership id (KIP-345): a restarted instance with the same id takes its
    /// partitions back at once instead of waiting out the session timeout. Empty: dynamic.
    #[serde(default)]
    pub instance_id: String,
    /// On every partition assignment, fetch from this many records before the committed offset
    /// and skip up to it. A broker that answers a fetch from the middle of a record batch with
    /// the *next* batch (tansu 0.6 does) would otherwise skip the rest of that batch; set it to
    /// at least the producers' largest batch (records). 0 fetches from the committed offset.
    #[serde(default = "default_rewind")]
    pub rewind_on_assign: i64,
}

/// `StreamEvent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamEvent {
    /// Endpoints (the first is used).
    pub endpoints: Vec<String>,
    /// Chunks sent and not yet acknowledged at once (at least 1). Offsets are still committed in
    /// order, each only after its chunk and every earlier one were acknowledged.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
}

fn default_in_flight() -> usize {
    8
}

fn default_rewind() -> i64 {
    10_000
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "iecstash";
    const DEFAULTS: &'static str = DEFAULTS;
    fn listen_on(&self) -> &str {
        &self.listen_on
    }
    fn log_level(&self) -> &str {
        &self.log.level
    }
    fn prometheus(&self) -> &str {
        &self.prometheus.listen_on
    }
}

impl Config {
    /// The Kafka source this configuration describes.
    ///
    /// # Errors
    /// [`zero_svc::Error::Config`] for an unknown offset or compactor mode, or no streamevent
    /// endpoint.
    pub fn source(&self) -> Result<Source, zero_svc::Error> {
        let bad = zero_svc::Error::Config;
        let from_first = match self.kafka.offset.as_str() {
            "first" => true,
            "last" => false,
            other => return Err(bad(format!("Kafka.Offset {other:?} is not first or last"))),
        };
        let endpoint =
            self.stream_event.endpoints.first().ok_or_else(|| bad("StreamEvent.Endpoints is empty".into()))?;
        Ok(Source {
            brokers: self.kafka.brokers.clone(),
            group: self.kafka.group.clone(),
            topic: self.kafka.topic.clone(),
            from_first,
            instance_id: self.kafka.instance_id.clone(),
            rewind_on_assign: self.kafka.rewind_on_assign,
            endpoint: endpoint.clone(),
            max_in_flight: self.stream_event.max_in_flight,
            compactor: self.compactor.to_config().map_err(|e| bad(e.to_string()))?,
        })
    }
}

struct Ping;

#[tonic::async_trait]
impl pb::iec_stash_server::IecStash for Ping {
    async fn ping(&self, req: tonic::Request<pb::Req>) -> Result<tonic::Response<pb::Res>, tonic::Status> {
        Ok(tonic::Response::new(pb::Res { pong: req.into_inner().ping }))
    }
}

/// Runs iecstash until `shutdown`: the Ping API, and the consumer when Kafka is configured.
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
    let consumer = if !cfg.kafka.brokers.is_empty() && !cfg.kafka.topic.is_empty() {
        let source = cfg.source()?;
        let mut rx2 = stop_rx.clone();
        Some(tokio::spawn(async move {
            streamevent::kafka::consume(&source, async move {
                let _ = rx2.changed().await;
            })
            .await
            .map_err(|e| zero_svc::Error::Config(e.to_string()))
        }))
    } else {
        tracing::info!("Kafka.Brokers or Kafka.Topic empty: consumer not started");
        None
    };
    shutdown.await;
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(cfg.grace_period_seconds);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_becomes_a_source() {
        let mut cfg: Config = zero_svc::config::merge_str(DEFAULTS, None, &[]).unwrap();
        cfg.stream_event.endpoints = vec!["http://127.0.0.1:21009".into()];
        let s = cfg.source().unwrap();
        assert!(s.from_first == (cfg.kafka.offset == "first") && s.endpoint == "http://127.0.0.1:21009");
        cfg.kafka.offset = "middle".into();
        assert!(cfg.source().is_err());
        cfg.kafka.offset = "last".into();
        cfg.compactor.mode = "merge".into();
        assert!(cfg.source().is_err());
        cfg.compactor.mode = "batch".into();
        cfg.stream_event.endpoints.clear();
        assert!(cfg.source().is_err());
    }
}
