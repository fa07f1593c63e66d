//! The brokers: NATS JetStream (async-nats), RabbitMQ (lapin, publisher confirms) and Kafka
//! ([`crate::kafka`], rdkafka). A
//! consumer takes only as many tasks as the workers have room for ([`Bridge::wait_room`]); a
//! task is acknowledged by the bridge once its result (or dead letter) is published here.

use crate::config::{Broker, Kind};
use async_nats::jetstream;
use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use std::sync::Arc;
use std::time::Duration;
use trigger_core::compute::bridge::{Ack, BoxFuture, Bridge, Delivery};

/// The header naming a task's kind (NATS; AMQP uses the `type` property).
pub const KIND_HEADER: &str = "Task-Kind";
/// The header of a dead letter's last error.
pub const ERROR_HEADER: &str = "Task-Error";
/// The header naming a result's (or dead letter's) task (NATS; AMQP: the message id).
pub const ID_HEADER: &str = "Task-Id";

/// A connection to the broker.
#[derive(Clone)]
pub enum Conn {
    /// NATS JetStream (the stream's handle is large: boxed).
    Nats(jetstream::Context, Box<jetstream::stream::Stream>),
    /// RabbitMQ: the publishing channel (confirms) and the connection.
    Rabbit(lapin::Channel, Arc<lapin::Connection>),
    /// Kafka: the producer (the consumer is made by [`consume`]).
    Kafka(crate::kafka::KafkaConn),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Nats(..) => "Conn::Nats",
            Conn::Rabbit(..) => "Conn::Rabbit",
            Conn::Kafka(..) => "Conn::Kafka",
        })
    }
}

fn subjects(b: &Broker) -> Vec<String> {
    [&b.tasks, &b.results, &b.dead_letters].into_iter().filter(|s| !s.is_empty()).cloned().collect()
}

/// Connects to the broker of `b` and makes what it needs: the JetStream stream of the three
/// subjects, or the three durable queues.
///
/// # Errors
/// Why not.
pub async fn connect(b: &Broker) -> Result<Conn, String> {
    match b.kind {
        Kind::None => Err("no broker".into()),
        Kind::Nats => {
            let client = async_nats::connect(&b.url).await.map_err(|e| format!("NATS {}: {e}", b.url))?;
            let js = jetstream::new(client);
            let cfg = jetstream::stream::Config { name: b.stream.clone(), subjects: subjects(b), ..Default::default() };
            let stream =
                js.get_or_create_stream(cfg).await.map_err(|e| format!("JetStream stream {}: {e}", b.stream))?;
            Ok(Conn::Nats(js, Box::new(stream)))
        }
        Kind::Kafka => crate::kafka::connect(b).map(Conn::Kafka),
        Kind::Rabbitmq => {
            let props = lapin::ConnectionProperties::default()
                .with_executor(tokio_executor_trait::Tokio::current())
                .with_reactor(tokio_reactor_trait::Tokio::current());
            let conn = lapin::Connection::connect(&b.url, props).await.map_err(|e| format!("RabbitMQ: {e}"))?;
            let ch = conn.create_channel().await.map_err(|e| format!("RabbitMQ channel: {e}"))?;
            ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| format!("confirm.select: {e}"))?;
            for q in subjects(b) {
                let opts = QueueDeclareOptions { durable: true, ..Default::default() };
                ch.queue_declare(q.as_str(), opts, FieldTable::default())
                    .await
                    .map_err(|e| format!("queue {q}: {e}"))?;
            }
            Ok(Conn::Rabbit(ch, Arc::new(conn)))
        }
    }
}

impl Conn {
    /// Publishes `body` to `to` for task `id` (AMQP: the message id; NATS: the header
    /// `Task-Id`, and `<id>.result` or `<id>.dead` as `Nats-Msg-Id`), with the kind and
    /// optionally an error; resolves once the broker stored it.
    ///
    /// # Errors
    /// Not published, or not confirmed.
    pub async fn publish(
        &self,
        to: &str,
        id: &str,
        kind: &str,
        body: Bytes,
        error: Option<&str>,
    ) -> Result<(), String> {
        match self {
            Conn::Nats(js, _) => {
                let mut h = async_nats::HeaderMap::new();
                // JetStream drops a second message of an id within its window: the same
                // result published again (a redelivered task) is stored once; the task's own id
                // is taken by the task's message
                let what = if error.is_some() { "dead" } else { "result" };
                h.insert(async_nats::header::NATS_MESSAGE_ID, format!("{id}.{what}").as_str());
                h.insert(ID_HEADER, id);
                h.insert(KIND_HEADER, kind);
                if let Some(e) = error {
                    h.insert(ERROR_HEADER, e);
                }
                let ack = js.publish_with_headers(to.to_owned(), h, body).await.map_err(|e| format!("publish: {e}"))?;
                ack.await.map(|_| ()).map_err(|e| format!("JetStream ack: {e}"))
            }
            Conn::Kafka(k) => k.publish(to, id, kind, &body, error).await,
            Conn::Rabbit(ch, _) => {
                let mut props = lapin::BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_message_id(id.into())
                    .with_type(kind.into());
                if let Some(e) = error {
                    let mut t = FieldTable::default();
                    t.insert(ERROR_HEADER.into(), AMQPValue::LongString(e.into()));
                    props = props.with_headers(t);
                }
                let c = ch
                    .basic_publish("", to, BasicPublishOptions::default(), &body, props)
                    .await
                    .map_err(|e| format!("publish: {e}"))?;
                match c.await {
                    Ok(Confirmation::Ack(_)) => Ok(()),
                    Ok(other) => Err(format!("not confirmed: {other:?}")),
                    Err(e) => Err(format!("confirm: {e}")),
                }
            }
        }
    }
}

struct NatsAck(jetstream::message::Acker);

impl Ack for NatsAck {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move { self.0.ack().await.map_err(|e| e.to_string()) })
    }
}

struct RabbitAck(lapin::acker::Acker);

impl Ack for RabbitAck {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move { self.0.ack(BasicAckOptions::default()).await.map(|_| ()).map_err(|e| e.to_string()) })
    }
}

/// Consumes tasks from `conn` into `bridge` while it has room, until the connection fails.
///
/// # Errors
/// Why the consumer stopped.
pub async fn consume(conn: Conn, b: &Broker, bridge: Arc<Bridge>, ack_wait: Duration) -> Result<(), String> {
    match conn {
        Conn::Kafka(_) => crate::kafka::consume(b, bridge).await,
        Conn::Nats(_, stream) => {
            let cfg = jetstream::consumer::pull::Config {
                durable_name: Some(b.durable.clone()),
                filter_subject: b.tasks.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait,
                ..Default::default()
            };
            let consumer = stream
                .get_or_create_consumer(&b.durable, cfg)
                .await
                .map_err(|e| format!("JetStream consumer {}: {e}", b.durable))?;
            loop {
                let room = bridge.wait_room().await;
                let mut batch = consumer
                    .fetch()
                    .max_messages(room)
                    .expires(Duration::from_millis(500))
                    .messages()
                    .await
                    .map_err(|e| format!("fetch: {e}"))?;
                while let Some(m) = batch.next().await {
                    let m = m.map_err(|e| format!("fetch: {e}"))?;
                    let (seq, delivered) = m.info().map(|i| (i.stream_sequence, i.delivered)).unwrap_or((0, 1));
                    let headers = m.headers.clone().unwrap_or_default();
                    let id = headers
                        .get(async_nats::header::NATS_MESSAGE_ID)
                        .map(|v| v.as_str().to_owned())
                        .unwrap_or_else(|| format!("{}:{seq}", b.stream));
                    let kind = headers.get(KIND_HEADER).map(|v| v.as_str().to_owned()).unwrap_or_default();
                    let (msg, acker) = m.split();
                    let d = Delivery {
                        id,
                        kind,
                        body: msg.payload,
                        attempt: u32::try_from(delivered).unwrap_or(1).max(1),
                        ack: Box::new(NatsAck(acker)),
                        reply: None,
                    };
                    // a redelivery of a task still running: dropped, unacknowledged (the
                    // running one's acknowledgement acknowledges this message)
                    let _ = bridge.submit(d);
                }
            }
        }
        Conn::Rabbit(_, conn) => {
            let ch = conn.create_channel().await.map_err(|e| format!("channel: {e}"))?;
            ch.basic_qos(256, BasicQosOptions::default()).await.map_err(|e| format!("qos: {e}"))?;
            let mut consumer = ch
                .basic_consume(b.tasks.as_str(), "computebridge", BasicConsumeOptions::default(), FieldTable::default())
                .await
                .map_err(|e| format!("consume {}: {e}", b.tasks))?;
            loop {
                bridge.wait_room().await;
                let Some(d) = consumer.next().await else { return Err("the consumer was cancelled".into()) };
                let d = d.map_err(|e| format!("delivery: {e}"))?;
                let id = d
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("{}:{}", b.tasks, d.delivery_tag));
                let kind = d.properties.kind().as_ref().map(|s| s.to_string()).unwrap_or_default();
                let task = Delivery {
                    id,
                    kind,
                    body: Bytes::from(d.data),
                    attempt: if d.redelivered { 2 } else { 1 },
                    ack: Box::new(RabbitAck(d.acker)),
                    reply: None,
                };
                // another message with the id of a task still running: the same task,
                // acknowledged (the running one's message stays until it is done)
                if let Err(dup) = bridge.submit(task) {
                    let _ = dup.ack.ack().await;
                }
            }
        }
    }
}
