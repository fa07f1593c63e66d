//! The Kafka channel (rdkafka): key = the point key, value = the message JSON, partitioned by
//! key (`murmur2_random`, Java-compatible) so one point always lands in one partition and keeps
//! its order. A batch counts as delivered when the broker acknowledged every record.

use crate::channel::{Outgoing, SendFuture, Transport};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// The Kafka transport.
pub struct KafkaTransport {
    producer: FutureProducer,
    topic: String,
}

impl KafkaTransport {
    /// A producer for `cfg.brokers`.
    ///
    /// # Errors
    /// librdkafka's message for a bad configuration.
    pub fn new(cfg: &crate::config::Kafka) -> Result<KafkaTransport, String> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", cfg.brokers.join(","))
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", "15000")
            .set("compression.type", "lz4")
            .create()
            .map_err(|e| format!("Kafka: {e}"))?;
        Ok(KafkaTransport { producer, topic: cfg.topic.clone() })
    }
}

impl Transport for KafkaTransport {
    fn name(&self) -> &'static str {
        "kafka"
    }
    fn max_batch(&self) -> usize {
        20_000
    }
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            let mut pending = Vec::with_capacity(batch.len());
            for o in batch {
                let (key, json) = (o.key(), o.json());
                let rec = FutureRecord::to(&self.topic).key(&key).payload(&*json);
                match self.producer.send_result(rec) {
                    Ok(f) => pending.push(f),
                    Err((e, _)) => {
                        // local queue full: wait for what is in flight, then let the worker retry
                        for f in pending {
                            let _ = f.await;
                        }
                        return Err(format!("enqueue: {e}"));
                    }
                }
            }
            let mut err = None;
            for f in pending {
                match tokio::time::timeout(Duration::from_secs(30), f).await {
                    Ok(Ok(Ok(_))) => {}
                    Ok(Ok(Err((e, _)))) => err = Some(e.to_string()),
                    Ok(Err(_)) => err = Some("delivery cancelled".into()),
                    Err(_) => err = Some("delivery timed out".into()),
                }
            }
            err.map_or(Ok(()), Err)
        })
    }
}
