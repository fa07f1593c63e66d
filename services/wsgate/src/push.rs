//! The push consumers: Kafka (a consumer group shared by the frontends) and NATS (a queue group):
//! each message is taken by one frontend and delivered on every frontend
//! ([`Gate::push_everywhere`]). A Kafka message's offset is committed once its push went out
//! (at-least-once); a message that is not a push is logged, counted and skipped.

use serde::{Deserialize, Serialize};
use socketio_cluster::ws::gate::Gate;
use std::sync::Arc;

/// `Push`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PushConf {
    /// Kafka.
    pub kafka: KafkaConf,
    /// NATS.
    pub nats: NatsConf,
}

/// `Push.Kafka`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KafkaConf {
    /// Brokers; empty: off.
    pub brokers: Vec<String>,
    /// The topic.
    pub topic: String,
    /// The consumer group the frontends share.
    pub group: String,
}

/// `Push.Nats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NatsConf {
    /// `nats://host:port`; empty: off.
    pub url: String,
    /// The subject.
    pub subject: String,
    /// The queue group the frontends share.
    pub queue: String,
}

async fn deliver(gate: &Gate, source: &'static str, b: &[u8]) {
    match socketio_cluster::ws::push::parse(b) {
        Ok(r) => {
            let report = gate.push_everywhere(r).await;
            metrics::counter!("wsgate_pushes_total", "source" => source).increment(1);
            let failed: Vec<String> = report.failed().map(|(n, _)| n.to_string()).collect();
            if !failed.is_empty() {
                tracing::warn!(source, ?failed, "push: frontends that did not answer");
            }
        }
        Err(e) => {
            metrics::counter!("wsgate_bad_pushes_total", "source" => source).increment(1);
            tracing::warn!(source, error = %e, "push message skipped");
        }
    }
}

/// Consumes `Push.Kafka` until the task is aborted.
///
/// # Errors
/// A configuration librdkafka refuses.
pub fn kafka(conf: &KafkaConf, gate: Arc<Gate>) -> Result<tokio::task::JoinHandle<()>, String> {
    use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
    use rdkafka::Message;
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", conf.brokers.join(","))
        .set("group.id", &conf.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| format!("Push.Kafka: {e}"))?;
    consumer.subscribe(&[conf.topic.as_str()]).map_err(|e| format!("Push.Kafka {}: {e}", conf.topic))?;
    Ok(tokio::spawn(async move {
        loop {
            match consumer.recv().await {
                Ok(m) => {
                    deliver(&gate, "kafka", m.payload().unwrap_or_default()).await;
                    if let Err(e) = consumer.commit_message(&m, CommitMode::Async) {
                        tracing::warn!(error = %e, "Kafka commit");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Kafka");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }))
}

/// Consumes `Push.Nats` until the task is aborted (reconnecting as the client does).
///
/// # Errors
/// NATS cannot be reached at start.
pub async fn nats(conf: &NatsConf, gate: Arc<Gate>) -> Result<tokio::task::JoinHandle<()>, String> {
    use futures_util::StreamExt;
    let client = async_nats::connect(&conf.url).await.map_err(|e| format!("Push.Nats {}: {e}", conf.url))?;
    let mut sub = client
        .queue_subscribe(conf.subject.clone(), conf.queue.clone())
        .await
        .map_err(|e| format!("Push.Nats {}: {e}", conf.subject))?;
    Ok(tokio::spawn(async move {
        let _client = client;
        while let Some(m) = sub.next().await {
            deliver(&gate, "nats", &m.payload).await;
        }
    }))
}
