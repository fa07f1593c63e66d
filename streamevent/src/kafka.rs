//! Kafka on both sides: [`Producer`], the acquisition side's channel, and the source: a consumer group reading IEC 104 point messages (the JSON of spec §1.4),
//! cut into chunks by the compactor and delivered to streamevent with the shared delivery policy
//! ([`crate::pipeline::ChunkSender`]); offsets are committed only after a chunk and every earlier
//! one were acknowledged (the Go iecstash commits first and loses the batch on failure). A chunk
//! delivered again after a crash is recognised by its id, a message by its msgId. Behind the
//! `kafka` feature (librdkafka, built from source).
//!
//! ```no_run
//! # async fn run() -> streamevent::error::Result<()> {
//! use streamevent::kafka::{consume, Source};
//! let source = Source::new(vec!["127.0.0.1:9092".into()], "stash", "asdu", "http://127.0.0.1:21009");
//! consume(&source, std::future::pending()).await
//! # }
//! ```

use crate::channel::{Outgoing, SendFuture, Transport};
use crate::compact::{Chunk, Compactor, CompactorConfig, Message};
use crate::error::{Error, Result};
use crate::msg::RawMsg;
use crate::pb;
use crate::pipeline::{ChunkSender, Retry};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use std::future::Future;
use std::time::{Duration, Instant};

/// Where and how to consume.
#[derive(Debug, Clone)]
pub struct Source {
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// Consumer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Where a group without committed offsets starts: the first record (true) or the next one.
    pub from_first: bool,
    /// Static group membership id (KIP-345): a restarted instance with the same id takes its
    /// partitions back at once instead of waiting out the session timeout. Empty: dynamic.
    pub instance_id: String,
    /// On every partition assignment, fetch from this many records before the committed offset
    /// and skip up to it. A broker that answers a fetch from the middle of a record batch with
    /// the *next* batch (tansu 0.6 does) would otherwise skip the rest of that batch; set it to
    /// at least the producers' largest batch (records). 0 fetches from the committed offset.
    pub rewind_on_assign: i64,
    /// streamevent's endpoint (`http://host:port`).
    pub endpoint: String,
    /// Chunks sent and not yet acknowledged at once (at least 1).
    pub max_in_flight: usize,
    /// How records are cut into chunks.
    pub compactor: CompactorConfig,
}

impl Source {
    /// A source with the defaults: from the first record, dynamic membership, a rewind of
    /// 10 000 records, 8 chunks in flight, the compactor's defaults.
    pub fn new(brokers: Vec<String>, group: &str, topic: &str, endpoint: &str) -> Source {
        Source {
            brokers,
            group: group.to_owned(),
            topic: topic.to_owned(),
            from_first: true,
            instance_id: String::new(),
            rewind_on_assign: 10_000,
            endpoint: endpoint.to_owned(),
            max_in_flight: 8,
            compactor: CompactorConfig::default(),
        }
    }
}

/// Where each assigned partition's committed offset was when it was assigned: records below
/// it are stored already and skipped. The consumer loop keeps its own copy and takes a new one
/// only when `generation` moved (a rebalance), so no lock is taken per record.
#[derive(Default)]
struct Floors {
    generation: std::sync::atomic::AtomicU64,
    by_partition: std::sync::Mutex<std::collections::HashMap<i32, i64>>,
}

impl Floors {
    fn update(&self, f: impl FnOnce(&mut std::collections::HashMap<i32, i64>)) {
        f(&mut self.by_partition.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.generation.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// Assigns partitions starting [`Source::rewind_on_assign`] records before their committed
/// offsets (see there why), remembering the committed offsets as floors.
struct Rewind {
    by: i64,
    floors: std::sync::Arc<Floors>,
}

impl ClientContext for Rewind {}

impl ConsumerContext for Rewind {
    fn rebalance(&self, base: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if self.by > 0 {
                    match base.committed_offsets(tpl.clone(), Duration::from_secs(10)) {
                        Ok(committed) => self.floors.update(|floors| {
                            for e in committed.elements() {
                                if let Offset::Offset(c) = e.offset() {
                                    floors.insert(e.partition(), c);
                                    let start = Offset::Offset((c - self.by).max(0));
                                    let _ = tpl.set_partition_offset(e.topic(), e.partition(), start);
                                }
                            }
                        }),
                        Err(e) => tracing::warn!(error = %e, "committed offsets unavailable; fetching from them as is"),
                    }
                }
                if let Err(e) = base.assign(tpl) {
                    tracing::error!(error = %e, "partition assignment failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.floors.update(std::collections::HashMap::clear);
                if let Err(e) = base.unassign() {
                    tracing::error!(error = %e, "partition revocation failed");
                }
            }
            other => tracing::warn!(error = ?other, "rebalance error"),
        }
    }
}

/// Time-tagged types: events the compactor never merges away.
fn is_event(type_id: i32) -> bool {
    u8::try_from(type_id).is_ok_and(|t| iec104::types::TypeId(t).is_timed_monitor_point())
}

/// Turns a Kafka record into a compactor message, or `None` for a payload that is not a point
/// message (counted and skipped: it could never be stored, and must not block the partition).
pub fn to_message(key: Option<&[u8]>, payload: &[u8], topic: &str, partition: i32, offset: i64) -> Option<Message> {
    /// What the compactor needs of a message; everything else is skipped unparsed.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Peek<'a> {
        #[serde(default, borrow)]
        msg_id: std::borrow::Cow<'a, str>,
        #[serde(default)]
        host: std::borrow::Cow<'a, str>,
        #[serde(default)]
        type_id: i32,
        #[serde(default)]
        coa: u32,
        #[serde(borrow)]
        body: Option<&'a serde_json::value::RawValue>,
    }
    #[derive(Deserialize)]
    struct Value {
        value: Option<serde_json::Value>,
        ioa: Option<u32>,
    }
    let text = std::str::from_utf8(payload).ok()?;
    let raw: Peek<'_> = serde_json::from_str(text).ok()?;
    let body = raw.body?;
    let b = serde_json::from_str::<Value>(body.get()).ok()?;
    let value = b.value.and_then(|v| v.as_f64());
    // a record without a key (another producer) takes its point key from the body's IOA, so that
    // last-value and dead-band modes keep its points apart
    let key = match key {
        Some(k) => String::from_utf8_lossy(k).into_owned(),
        None => crate::id::PointKey::new(&*raw.host, raw.coa, b.ioa?).to_string(),
    };
    // the chunk id's fingerprint: the msgId, else the record's own bytes
    let ident = if raw.msg_id.is_empty() { crate::id::ident_of(text) } else { crate::id::ident_of(&raw.msg_id) };
    Some(
        Message::new(key, format!("{topic}/{partition}"), offset as u64, text, value, is_event(raw.type_id))
            .with_ident(ident),
    )
}

/// The protobuf form of a chunk's messages.
pub fn to_pb(chunk: &Chunk) -> pb::PushChunkAsduReq {
    let msg_body = chunk
        .messages
        .iter()
        .filter_map(|m| {
            let r: RawMsg<'_> = serde_json::from_str(&m.payload).ok()?;
            Some(pb::MsgBody {
                msg_id: r.msg_id,
                host: r.host,
                port: r.port,
                asdu: r.asdu,
                type_id: r.type_id,
                data_type: r.data_type,
                coa: r.coa,
                body_raw: r.body.map(|b| b.get().to_owned()).unwrap_or_default(),
                time: r.time,
                meta_data_raw: r.meta_data.map(|b| b.get().to_owned()).unwrap_or_default(),
                pm: r.pm.map(pb::PointMapping::from),
                trace_id: r.trace_id,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect(),
            })
        })
        .collect();
    pb::PushChunkAsduReq { t_id: chunk.id.as_str().to_owned(), msg_body }
}

/// The commit positions a chunk covers: next offset per `topic/partition`.
pub fn commit_list(chunk: &Chunk, topic: &str) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (src, _, last) in chunk.id.ranges() {
        let Some((_, p)) = src.rsplit_once('/') else { continue };
        if let (Ok(p), Ok(last)) = (p.parse::<i32>(), i64::try_from(last)) {
            let _ = tpl.add_partition_offset(topic, p, Offset::Offset(last + 1));
        }
    }
    tpl
}

/// Sends a chunk until streamevent accepts it (the shared delivery policy).
async fn deliver(sender: ChunkSender, chunk: Chunk) {
    let req = to_pb(&chunk);
    sender.send(&chunk.id, req.msg_body).await;
    metrics::counter!("iecstash_chunks_total").increment(1);
    metrics::counter!("iecstash_messages_total").increment(chunk.received as u64);
}

/// Chunks on their way to streamevent, oldest first; offsets are committed in this order.
struct InFlight<'a> {
    sender: ChunkSender,
    consumer: &'a StreamConsumer<Rewind>,
    topic: &'a str,
    queue: std::collections::VecDeque<(tokio::task::JoinHandle<()>, TopicPartitionList, String)>,
}

impl InFlight<'_> {
    fn send(&mut self, chunk: Chunk) {
        let commit = commit_list(&chunk, self.topic);
        let id = chunk.id.to_string();
        self.queue.push_back((tokio::spawn(deliver(self.sender.clone(), chunk)), commit, id));
    }

    /// Waits for the oldest chunk's acknowledgement, then commits its offsets.
    async fn complete_oldest(&mut self) {
        let Some((handle, commit, id)) = self.queue.front_mut() else { return std::future::pending().await };
        let _ = handle.await;
        if let Err(e) = self.consumer.commit(commit, CommitMode::Sync) {
            // the chunk is stored; a redelivery after a restart is dropped by its id
            tracing::warn!(chunk = %id, error = %e, "offset commit failed");
        }
        self.queue.pop_front();
    }
}

/// Consumes until `shutdown`, then flushes the open chunk.
///
/// # Errors
/// [`Error::Config`] for a Kafka client that cannot be made or an invalid streamevent endpoint.
pub async fn consume(cfg: &Source, shutdown: impl Future<Output = ()>) -> Result<()> {
    let bad = Error::Config;
    let reset = if cfg.from_first { "earliest" } else { "latest" };
    let mut kcfg = ClientConfig::new();
    kcfg.set("bootstrap.servers", cfg.brokers.join(","))
        .set("group.id", &cfg.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", reset)
        .set("session.timeout.ms", "10000")
        // brokers that do not answer a long poll early (tansu) would add this much latency
        .set("fetch.wait.max.ms", "100");
    if !cfg.instance_id.is_empty() {
        kcfg.set("group.instance.id", &cfg.instance_id);
    }
    let floors = std::sync::Arc::new(Floors::default());
    let (mut my_floors, mut my_generation) = (std::collections::HashMap::new(), 0u64);
    let consumer: StreamConsumer<Rewind> = kcfg
        .create_with_context(Rewind { by: cfg.rewind_on_assign.max(0), floors: floors.clone() })
        .map_err(|e| bad(format!("Kafka: {e}")))?;
    consumer.subscribe(&[&cfg.topic]).map_err(|e| bad(format!("Kafka: {e}")))?;
    let sender = ChunkSender::new(&cfg.endpoint, Retry::default())
        .map_err(|e| bad(format!("streamevent endpoint {:?}: {e}", cfg.endpoint)))?;
    let max_in_flight = cfg.max_in_flight.max(1);
    let mut flight = InFlight { sender, consumer: &consumer, topic: &cfg.topic, queue: Default::default() };
    let mut compactor = Compactor::new(cfg.compactor.clone());
    tokio::pin!(shutdown);
    loop {
        let due = compactor.poll_timeout().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let room = flight.queue.len() < max_in_flight;
        tokio::select! {
            _ = &mut shutdown => break,
            () = flight.complete_oldest() => {}
            _ = tokio::time::sleep_until(due.into()), if room => {
                if let Some(chunk) = compactor.poll(Instant::now()) {
                    flight.send(chunk);
                }
            }
            // back-pressure: no reading while every slot waits for streamevent
            r = consumer.recv(), if room => match r {
                Ok(m) => {
                    let g = floors.generation.load(std::sync::atomic::Ordering::Acquire);
                    if g != my_generation {
                        my_floors = floors.by_partition.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                        my_generation = g;
                    }
                    if let Some(&f) = my_floors.get(&m.partition()) {
                        if m.offset() < f {
                            continue; // re-read below the committed offset: stored already
                        }
                        my_floors.remove(&m.partition());
                    }
                    let payload = m.payload().unwrap_or_default();
                    match to_message(m.key(), payload, m.topic(), m.partition(), m.offset()) {
                        Some(msg) => {
                            if let Some(chunk) = compactor.push(msg, Instant::now()) {
                                flight.send(chunk);
                            }
                        }
                        None => {
                            metrics::counter!("iecstash_invalid_messages_total").increment(1);
                            tracing::warn!(partition = m.partition(), offset = m.offset(), "skipped a record that is not a point message");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Kafka consumer");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
    if let Some(chunk) = compactor.flush() {
        flight.send(chunk);
    }
    while !flight.queue.is_empty() {
        flight.complete_oldest().await;
    }
    Ok(())
}

/// The Kafka channel of the acquisition side (a [`Transport`]): key = the point key, value =
/// the message JSON (spec §1.4, made once per point), partitioned by key (`murmur2_random`,
/// Java-compatible) so one point always lands in one partition and keeps its order. A batch
/// counts as delivered when the broker acknowledged every record.
pub struct Producer {
    producer: FutureProducer,
    topic: String,
}

impl Producer {
    /// A producer to `topic` on `brokers`.
    ///
    /// # Errors
    /// librdkafka's message for a bad configuration.
    pub fn new(brokers: &[String], topic: &str) -> std::result::Result<Producer, String> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers.join(","))
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", "15000")
            .set("compression.type", "lz4")
            .create()
            .map_err(|e| format!("Kafka: {e}"))?;
        Ok(Producer { producer, topic: topic.to_owned() })
    }
}

impl Transport for Producer {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_commit_positions() {
        let text = br#"{"msgId":"m","host":"h","port":2404,"asdu":"M_ME_NC_1","typeId":13,"dataType":6,"coa":1,"body":{"ioa":5,"value":2.5},"time":"t","metaData":{"stationId":"S"},"headers":{"traceparent":"x"}}"#;
        let m = to_message(Some(b"h_1_0x000005"), text, "asdu", 3, 41).unwrap();
        assert_eq!(
            (m.key.as_str(), m.source.as_str(), m.offset, m.value, m.event),
            ("h_1_0x000005", "asdu/3", 41, Some(2.5), false)
        );
        assert!(to_message(None, b"not json", "asdu", 0, 0).is_none());
        assert!(to_message(None, br#"{"host":"h"}"#, "asdu", 0, 0).is_none(), "no body");
        // no key: the point key comes from the body's IOA, not IOA 0
        let nokey = to_message(None, text, "asdu", 3, 42).unwrap();
        assert_eq!(nokey.key, "h_1_0x000005");
        let other = br#"{"msgId":"n","host":"h","coa":1,"body":{"ioa":6,"value":1}}"#;
        assert_eq!(to_message(None, other, "asdu", 3, 43).unwrap().key, "h_1_0x000006");
        assert_ne!(nokey.ident, to_message(None, other, "asdu", 3, 43).unwrap().ident);
        let mut b = crate::id::ChunkId::builder();
        b.add("asdu/0", 5, 1);
        b.add("asdu/0", 9, 2);
        b.add("asdu/3", 41, m.ident);
        let chunk = Chunk { id: b.build(), messages: vec![m], received: 1 };
        let req = to_pb(&chunk);
        assert!(req.t_id.starts_with("asdu/0@5-9,asdu/3@41-41#"), "{}", req.t_id);
        assert_eq!(req.msg_body[0].body_raw, r#"{"ioa":5,"value":2.5}"#);
        assert_eq!(req.msg_body[0].meta_data_raw, r#"{"stationId":"S"}"#);
        assert_eq!(req.msg_body[0].headers["traceparent"], "x");
        let tpl = commit_list(&chunk, "asdu");
        let offs: Vec<_> = tpl.elements().iter().map(|e| (e.partition(), e.offset())).collect();
        assert_eq!(offs, [(0, Offset::Offset(10)), (3, Offset::Offset(42))]);
    }
}
