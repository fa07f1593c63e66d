//! Kafka (rdkafka; tansu on this machine): tasks from a topic in a consumer group, results and
//! dead letters produced with `acks=all`. Kafka acknowledges by offset: a task's offset is
//! stored for the group's commit only once every task before it in its partition is done, so a
//! restart resumes at the first task not done (those after it done already are run again: each
//! result names its task, a redelivery is harmless).

use crate::broker::{ERROR_HEADER, ID_HEADER, KIND_HEADER};
use crate::config::Broker;
use bytes::Bytes;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trigger_core::compute::bridge::{Ack, BoxFuture, Bridge, Delivery};

/// A producer of results and dead letters.
#[derive(Clone)]
pub struct KafkaConn {
    producer: FutureProducer,
}

impl std::fmt::Debug for KafkaConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KafkaConn")
    }
}

/// Connects a producer to `b.url` (`host:port,...`).
///
/// # Errors
/// librdkafka's message for a bad configuration.
pub fn connect(b: &Broker) -> Result<KafkaConn, String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &b.url)
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "15000")
        .create()
        .map_err(|e| format!("Kafka: {e}"))?;
    Ok(KafkaConn { producer })
}

impl KafkaConn {
    /// Produces `body` to `topic` keyed by the task's id, with its headers; resolves once the
    /// broker acknowledged it.
    ///
    /// # Errors
    /// Not delivered.
    pub async fn publish(
        &self,
        topic: &str,
        id: &str,
        kind: &str,
        body: &[u8],
        error: Option<&str>,
    ) -> Result<(), String> {
        let mut h = OwnedHeaders::new()
            .insert(Header { key: ID_HEADER, value: Some(id) })
            .insert(Header { key: KIND_HEADER, value: Some(kind) });
        if let Some(e) = error {
            h = h.insert(Header { key: ERROR_HEADER, value: Some(e) });
        }
        let rec = FutureRecord::to(topic).key(id).payload(body).headers(h);
        self.producer.send(rec, Duration::from_secs(15)).await.map(|_| ()).map_err(|(e, _)| format!("produce: {e}"))
    }
}

/// Offsets handed to the bridge and not done yet, per partition, and the highest seen.
#[derive(Default)]
struct Tracker {
    open: HashMap<i32, BTreeSet<i64>>,
    seen: HashMap<i32, i64>,
}

struct KafkaAck {
    consumer: Arc<StreamConsumer>,
    tracker: Arc<Mutex<Tracker>>,
    topic: String,
    partition: i32,
    offset: i64,
}

impl Ack for KafkaAck {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            // the group may resume after the lowest offset still open (or after all seen)
            let next = {
                let mut t = self.tracker.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let open = t.open.entry(self.partition).or_default();
                open.remove(&self.offset);
                let first_open = open.first().copied();
                first_open.unwrap_or_else(|| t.seen.get(&self.partition).copied().unwrap_or(self.offset) + 1)
            };
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(&self.topic, self.partition, rdkafka::Offset::Offset(next))
                .map_err(|e| e.to_string())?;
            self.consumer.store_offsets(&tpl).map_err(|e| format!("store offset: {e}"))
        })
    }
}

/// Consumes `b.tasks` in the group `b.durable` into `bridge` while it has room.
///
/// # Errors
/// Why the consumer stopped.
pub async fn consume(b: &Broker, bridge: Arc<Bridge>) -> Result<(), String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.url)
        .set("group.id", &b.durable)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| format!("Kafka: {e}"))?;
    consumer.subscribe(&[b.tasks.as_str()]).map_err(|e| format!("subscribe {}: {e}", b.tasks))?;
    let consumer = Arc::new(consumer);
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    loop {
        bridge.wait_room().await;
        let m = consumer.recv().await.map_err(|e| format!("consume: {e}"))?;
        let (partition, offset) = (m.partition(), m.offset());
        let header = |k: &str| {
            m.headers()
                .and_then(|h| h.iter().find(|x| x.key == k))
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let id = header(ID_HEADER).unwrap_or_else(|| format!("{}:{partition}:{offset}", b.tasks));
        let kind = header(KIND_HEADER).unwrap_or_default();
        let body = Bytes::copy_from_slice(m.payload().unwrap_or_default());
        {
            let mut t = tracker.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            t.open.entry(partition).or_default().insert(offset);
            let seen = t.seen.entry(partition).or_insert(offset);
            *seen = (*seen).max(offset);
        }
        let ack = KafkaAck {
            consumer: consumer.clone(),
            tracker: tracker.clone(),
            topic: b.tasks.clone(),
            partition,
            offset,
        };
        let d = Delivery { id, kind, body, attempt: 1, ack: Box::new(ack), reply: None };
        // the same id while held (a duplicate record): done with when the held one is
        if let Err(dup) = bridge.submit(d) {
            let _ = dup.ack.ack().await;
        }
    }
}
