//! The consumers: records of a topic, in batches, to streamevent's `ReceiveKafkaMessage`; the
//! offsets are committed only after streamevent took the batch (at-least-once). A batch
//! streamevent refuses, or cannot be reached for, is sent again with a growing pause, and the
//! consumer reads nothing more meanwhile: the records wait in Kafka, none is dropped. Each
//! record's `msg_id` is derived from its topic, partition and offset (UUIDv5), so a record
//! delivered twice (after a crash between the call and the commit) carries the same id.

use crate::config::ConsumeConf;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message as _, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::Duration;
use streamevent::pb;
use streamevent::pb::stream_event_client::StreamEventClient;
use tonic::transport::Channel;

/// The id of a record: the same for every delivery of it.
pub fn msg_id(topic: &str, partition: i32, offset: i64) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("kafka/{topic}/{partition}/{offset}").as_bytes())
        .simple()
        .to_string()
}

/// The record's timestamp (now without one) in Asia/Shanghai, datetime-micro, as upstream.
fn send_time(m: &OwnedMessage) -> String {
    let Some(t) = m.timestamp().to_millis().and_then(chrono::DateTime::from_timestamp_millis) else {
        return streamevent::msg::now_string(480);
    };
    streamevent::msg::datetime_micro(&(t.naive_utc() + chrono::Duration::hours(8)))
}

/// One consumer of `c`, until dropped.
///
/// # Errors
/// The consumer cannot be created (a bad broker list).
pub fn consumer(c: &ConsumeConf) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.brokers.join(","))
        .set("group.id", &c.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.min.bytes", c.min_bytes.max(1).to_string())
        .set("fetch.max.bytes", c.max_bytes.max(1024).to_string())
        .create()?;
    consumer.subscribe(&[&c.topic])?;
    Ok(consumer)
}

/// Reads `c.topic` as one consumer of `c.group` and forwards to streamevent, forever.
pub async fn run(c: ConsumeConf, consumer: StreamConsumer, client: StreamEventClient<Channel>, timeout: Duration) {
    loop {
        // the first record waits as long as it takes, the rest of the batch BatchWait at most
        let first = match consumer.recv().await {
            Ok(m) => m.detach(),
            Err(e) => {
                tracing::warn!(topic = %c.topic, error = %e, "consume");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + c.batch_wait.0;
        while batch.len() < c.batch_size.max(1) {
            match tokio::time::timeout_at(until, consumer.recv()).await {
                Ok(Ok(m)) => batch.push(m.detach()),
                Ok(Err(e)) => {
                    tracing::warn!(topic = %c.topic, error = %e, "consume");
                    break;
                }
                Err(_) => break,
            }
        }
        let messages: Vec<pb::KafkaMessage> = batch
            .iter()
            .map(|m| pb::KafkaMessage {
                msg_id: msg_id(m.topic(), m.partition(), m.offset()),
                topic: m.topic().to_owned(),
                group: c.group.clone(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
                value: m.payload().unwrap_or_default().to_vec(),
                send_time: send_time(m),
            })
            .collect();
        let n = messages.len() as u64;
        zero_svc::grpc::until_ok("streamevent.ReceiveKafkaMessage", || {
            let mut client = client.clone();
            let mut req = tonic::Request::new(pb::ReceiveKafkaMessageReq { messages: messages.clone() });
            req.set_timeout(timeout);
            async move { client.receive_kafka_message(req).await }
        })
        .await;
        metrics::counter!("bridgekafka_forwarded_total", "topic" => c.topic.clone()).increment(n);
        // commit the next offset of each partition in the batch
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for m in &batch {
            let e = next.entry(m.partition()).or_insert(0);
            *e = (*e).max(m.offset() + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in next {
            if let Err(e) = tpl.add_partition_offset(&c.topic, p, Offset::Offset(o)) {
                tracing::warn!(error = %e, "offset");
            }
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            // the records will come again; their ids are the same
            tracing::warn!(topic = %c.topic, error = %e, "commit");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_stable_per_record() {
        assert_eq!(super::msg_id("asdu", 0, 7), super::msg_id("asdu", 0, 7));
        assert_ne!(super::msg_id("asdu", 0, 7), super::msg_id("asdu", 1, 7));
        assert_eq!(super::msg_id("asdu", 0, 7).len(), 32);
    }
}
