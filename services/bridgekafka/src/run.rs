//! Wiring: the producer, the consumers (when streamevent is configured), the gRPC server.

use crate::config::Config;
use crate::pb;
use crate::rpc::Rpc;
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;
use std::future::Future;
use std::time::Duration;

/// Runs bridgekafka until `shutdown`. Unreachable brokers do not stop it: the clients connect
/// when the brokers come.
///
/// # Errors
/// A producer or consumer that cannot be created (bad settings), server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let timeout = Duration::from_millis(cfg.stream_event_conf.timeout.max(1));
    let push = &cfg.kafka_push_config;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", push.brokers.join(","))
        .set("message.timeout.ms", timeout.as_millis().to_string())
        .set("enable.idempotence", "true")
        // room for the record and its framing
        .set("message.max.bytes", (cfg.max_message_bytes.clamp(1000, 1_000_000_000) + 4096).to_string())
        .create()
        .map_err(|e| zero_svc::Error::Config(format!("KafkaPushConfig: {e}")))?;
    let mut tasks = tokio::task::JoinSet::new();
    match zero_svc::grpc::streamevent_client(&cfg.stream_event_conf.endpoints)? {
        Some(client) => {
            for c in &cfg.kafka_consume_config {
                for _ in 0..c.consumers.max(1) {
                    let consumer = crate::consume::consumer(c)
                        .map_err(|e| zero_svc::Error::Config(format!("KafkaConsumeConfig {}: {e}", c.topic)))?;
                    tasks.spawn(crate::consume::run(c.clone(), consumer, client.clone(), timeout));
                }
                tracing::info!(topic = %c.topic, group = %c.group, consumers = c.consumers.max(1), "consuming");
            }
        }
        None if !cfg.kafka_consume_config.is_empty() => {
            tracing::warn!("KafkaConsumeConfig is set but StreamEventConf has no endpoint: the consumers stay off");
        }
        None => {}
    }
    let rpc = Rpc {
        producer,
        topics: push.topics.iter().cloned().collect(),
        timeout,
        max_message_bytes: cfg.max_message_bytes,
    };
    let server = zero_svc::grpc::Grpc::new(pb::bridge_kafka_server::BridgeKafkaServer::new(rpc));
    let served = server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    tasks.abort_all();
    served
}
