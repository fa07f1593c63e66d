//! Uploads to RabbitMQ with publisher confirms: a message is stored when the broker confirmed
//! it, and only then acknowledged to its device. The connection is made again when it is lost
//! (a broker restart): the publish in that moment fails, the device sends it again.
//!
//! Each message is published persistent, as JSON `{"from","seq","flags","payload"}` (payload
//! base64-free: the text when it is UTF-8, else an array of bytes), with the message id
//! `<from>:<seq>` so that a consumer recognises a redelivery (the device resends a message whose
//! ack it lost).

use crate::config::RabbitMq;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::publisher_confirm::{Confirmation, PublisherConfirm};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use socketio_cluster::comet::bus::{Store, Stored};
use socketio_cluster::pb::comet as pb;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::Mutex;

/// The RabbitMQ store.
pub struct Rabbit {
    conf: RabbitMq,
    /// Durable queues declared at each connection (the uploads' and others').
    queues: Vec<String>,
    channel: Mutex<Option<Channel>>,
}

impl std::fmt::Debug for Rabbit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rabbit").field("exchange", &self.conf.exchange).finish_non_exhaustive()
    }
}

/// The body of a stored upload.
pub fn body(m: &pb::Message) -> Vec<u8> {
    let payload = match std::str::from_utf8(&m.payload) {
        Ok(s) => serde_json::Value::String(s.to_owned()),
        Err(_) => serde_json::Value::from(m.payload.to_vec()),
    };
    serde_json::json!({ "from": m.from, "seq": m.seq, "flags": m.flags, "payload": payload }).to_string().into_bytes()
}

impl Rabbit {
    /// A store publishing as `conf` says (connected at the first upload), declaring also the
    /// durable queues `more` (empty names skipped).
    pub fn new(conf: RabbitMq, more: &[&str]) -> Rabbit {
        let queues = std::iter::once(conf.queue.as_str())
            .chain(more.iter().copied())
            .filter(|q| !q.is_empty())
            .map(str::to_owned)
            .collect();
        Rabbit { conf, queues, channel: Mutex::new(None) }
    }

    async fn connect(&self) -> Result<Channel, String> {
        let props = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current());
        let conn = Connection::connect(&self.conf.url, props).await.map_err(|e| format!("connect: {e}"))?;
        let ch = conn.create_channel().await.map_err(|e| format!("channel: {e}"))?;
        ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| format!("confirm.select: {e}"))?;
        for q in &self.queues {
            let opts = QueueDeclareOptions { durable: true, ..Default::default() };
            ch.queue_declare(q.as_str(), opts, FieldTable::default())
                .await
                .map_err(|e| format!("queue.declare {q}: {e}"))?;
        }
        tracing::info!(exchange = %self.conf.exchange, key = %self.conf.routing_key, "RabbitMQ connected");
        Ok(ch)
    }

    /// Checks the broker at start: connects once.
    ///
    /// # Errors
    /// Why it could not connect.
    pub async fn check(&self) -> Result<(), String> {
        let ch = self.connect().await?;
        *self.channel.lock().await = Some(ch);
        Ok(())
    }

    async fn publish(&self, m: pb::Message) -> Result<(), String> {
        let id = format!("{}:{}", m.from, m.seq);
        self.publish_to(&self.conf.routing_key, &body(&m), &id).await
    }

    /// Connected now (a publish in progress counts as connected).
    pub fn connected(&self) -> bool {
        self.channel.try_lock().map_or(true, |g| g.as_ref().is_some_and(|c| c.status().connected()))
    }

    /// The channel, connected again when it was lost.
    async fn channel(&self) -> Result<Channel, String> {
        let mut g = self.channel.lock().await;
        match g.as_ref().filter(|c| c.status().connected()) {
            Some(c) => Ok(c.clone()),
            None => {
                let c = self.connect().await?;
                *g = Some(c.clone());
                Ok(c)
            }
        }
    }

    fn props(id: &str) -> BasicProperties {
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(id.into())
    }

    /// Waits for a published message's confirm.
    async fn confirmed(&self, confirm: PublisherConfirm) -> Result<(), String> {
        match tokio::time::timeout(self.conf.confirm_timeout.0, confirm).await {
            Ok(Ok(Confirmation::Ack(_))) => Ok(()),
            Ok(Ok(Confirmation::Nack(_))) => Err("the broker refused the message (nack)".into()),
            Ok(Ok(Confirmation::NotRequested)) => Err("no confirmation".into()),
            Ok(Err(e)) => Err(format!("confirm: {e}")),
            Err(_) => Err(format!("not confirmed within {:?}", self.conf.confirm_timeout.0)),
        }
    }

    /// Publishes `body` (JSON) with `key` and message id `id`, persistent, and waits for the
    /// broker's confirm.
    ///
    /// # Errors
    /// Not connected, refused (nack) or not confirmed in time.
    pub async fn publish_to(&self, key: &str, body: &[u8], id: &str) -> Result<(), String> {
        let ch = self.channel().await?;
        let confirm = ch
            .basic_publish(self.conf.exchange.as_str(), key, BasicPublishOptions::default(), body, Rabbit::props(id))
            .await
            .map_err(|e| format!("publish: {e}"))?;
        let r = self.confirmed(confirm).await;
        if r.is_err() {
            // the next publish connects again
            *self.channel.lock().await = None;
        }
        r
    }

    /// Publishes uploads one after the other and then waits for all their confirms together:
    /// one result each, in their order.
    async fn publish_many(&self, ms: Vec<pb::Message>) -> Vec<Result<(), String>> {
        let ch = match self.channel().await {
            Ok(c) => c,
            Err(e) => return vec![Err(e); ms.len()],
        };
        let key = self.conf.routing_key.as_str();
        let mut confirms = Vec::with_capacity(ms.len());
        for m in &ms {
            let id = format!("{}:{}", m.from, m.seq);
            let (body, opts) = (body(m), BasicPublishOptions::default());
            let c = ch.basic_publish(self.conf.exchange.as_str(), key, opts, &body, Rabbit::props(&id)).await;
            confirms.push(c.map_err(|e| format!("publish: {e}")));
        }
        let rs = futures_util::future::join_all(confirms.into_iter().map(|c| async move {
            match c {
                Ok(c) => self.confirmed(c).await,
                Err(e) => Err(e),
            }
        }))
        .await;
        if rs.iter().any(Result::is_err) {
            *self.channel.lock().await = None;
        }
        rs
    }
}

impl Store for Rabbit {
    fn store(&self, m: pb::Message) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(self.publish(m))
    }

    fn store_many(&self, ms: Vec<pb::Message>) -> Stored<'_> {
        Box::pin(self.publish_many(ms))
    }
}

/// No storage configured: uploads are refused.
#[derive(Debug)]
pub struct Nowhere;

impl Store for Nowhere {
    fn store(&self, _m: pb::Message) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async { Err("no storage configured (RabbitMq.Url)".to_owned()) })
    }
}
