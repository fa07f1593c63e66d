//! The subscription side. The connection task subscribes to every `SubscribeTopics` entry at
//! each connection (rumqttc does not re-subscribe after a reconnect) and hands incoming messages
//! to the forwarder; the forwarder sends them to streamevent's `ReceiveMQTTMessage` in batches
//! (retried while streamevent refuses or is away) and each to socketpush's `BroadcastRoom`, and
//! only then acknowledges the QoS 1/2 messages to the broker (manual acks): a message streamevent
//! did not take is sent again by the broker after a reconnect.

use crate::config::Config;
use crate::pb::socketpush;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Publish};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use streamevent::pb;
use streamevent::pb::stream_event_client::StreamEventClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// Messages received and not yet handed to the forwarder, at most (then the connection stops
/// reading and the broker keeps the rest).
const INBOX: usize = 1000;

/// Runs the connection: polls the event loop, subscribes on every connection, passes messages on
/// to the forwarder and sends the acknowledgements the forwarder returns.
///
/// The acknowledgements come back on a channel of their own and this task hands them to rumqttc
/// without waiting: rumqttc takes requests only while it is polled, so a forwarder waiting to
/// acknowledge while this task waits to hand it a message would stop both for good (rumqttc
/// yields every buffered incoming packet before it takes a request, so under a flood its request
/// queue fills).
pub async fn connection(
    mut eventloop: EventLoop,
    client: AsyncClient,
    cfg: Config,
    tx: mpsc::Sender<Publish>,
    mut acks: mpsc::UnboundedReceiver<Publish>,
) {
    let qos = cfg.mqtt_config.qos();
    let mut inbox: VecDeque<Publish> = VecDeque::new();
    let mut unsent: VecDeque<Publish> = VecDeque::new();
    loop {
        while let Some(p) = unsent.front() {
            if client.try_ack(p).is_err() {
                break;
            }
            unsent.pop_front();
        }
        tokio::select! {
            permit = tx.reserve(), if !inbox.is_empty() => match permit {
                Ok(permit) => permit.send(inbox.pop_front().expect("not empty")),
                Err(_) => return,
            },
            Some(p) = acks.recv() => unsent.push_back(p),
            ev = eventloop.poll(), if inbox.len() < INBOX => match ev {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    tracing::info!(topics = ?cfg.mqtt_config.subscribe_topics, "MQTT connected; subscribing");
                    metrics::counter!("bridgemqtt_connections_total").increment(1);
                    for t in &cfg.mqtt_config.subscribe_topics {
                        if let Err(e) = client.try_subscribe(t.clone(), qos) {
                            tracing::warn!(topic = %t, error = %e, "subscribe");
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => inbox.push_back(p),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "MQTT connection");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
        }
    }
}

/// The downstream clients.
#[derive(Clone)]
pub struct Downstream {
    /// streamevent (none: not called).
    pub streamevent: Option<StreamEventClient<Channel>>,
    /// socketpush (none: not called).
    pub socketpush: Option<socketpush::socket_push_client::SocketPushClient<Channel>>,
    /// Each call's time.
    pub timeout: Duration,
}

/// The subscription template a topic came through (the first that matches), else the topic.
pub fn template<'a>(topic: &'a str, templates: &'a [String]) -> &'a str {
    templates.iter().find(|f| rumqttc::matches(topic, f)).map_or(topic, String::as_str)
}

/// Payload bytes after which a batch goes.
const BATCH_BYTES: usize = 1 << 20;

/// How long a batch waits for one more message before it goes.
const GAP: Duration = Duration::from_millis(2);

/// Forwards incoming messages until the channel closes.
pub async fn forwarder(
    mut rx: mpsc::Receiver<Publish>,
    acks: mpsc::UnboundedSender<Publish>,
    cfg: Config,
    mut down: Downstream,
) {
    let session_id = cfg.mqtt_config.client_id.clone();
    let templates = cfg.mqtt_config.subscribe_topics.clone();
    let mut last_log: HashMap<String, Instant> = HashMap::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // a batch closes when full, at `Batch.Wait`, or when no message came for `GAP`: the broker
        // sends only so many unacknowledged messages (max_inflight_messages) and the rest only
        // after this batch is acknowledged, so waiting longer for them would wait for nothing
        let until = tokio::time::Instant::now() + cfg.batch.wait.0;
        // and at BATCH_BYTES of payload, so that a call stays well under gRPC's 4 MB message limit
        let mut bytes = batch[0].payload.len();
        while batch.len() < cfg.batch.size.max(1) && bytes < BATCH_BYTES {
            let next = (tokio::time::Instant::now() + GAP).min(until);
            match tokio::time::timeout_at(next, rx.recv()).await {
                Ok(Some(p)) => {
                    bytes += p.payload.len();
                    batch.push(p);
                }
                _ => break,
            }
        }
        // Asia/Shanghai, as upstream
        let send_time = streamevent::msg::now_string(480);
        let messages: Vec<pb::MqttMessage> = batch
            .iter()
            .map(|p| {
                let (payload, _headers) = streamevent::envelope::unwrap(&p.payload);
                let tpl = template(&p.topic, &templates).to_owned();
                log_payload(&cfg, &mut last_log, &tpl, &p.topic, &payload);
                pb::MqttMessage {
                    session_id: session_id.clone(),
                    msg_id: uuid::Uuid::now_v7().simple().to_string(),
                    topic_template: tpl,
                    topic: p.topic.clone(),
                    payload,
                    send_time: send_time.clone(),
                }
            })
            .collect();
        if let Some(se) = down.streamevent.as_ref() {
            zero_svc::grpc::until_ok("streamevent.ReceiveMQTTMessage", || {
                let mut se = se.clone();
                let mut req = tonic::Request::new(pb::ReceiveMqttMessageReq { messages: messages.clone() });
                req.set_timeout(down.timeout);
                async move { se.receive_mqtt_message(req).await }
            })
            .await;
        }
        if let Some(sp) = down.socketpush.as_mut() {
            for m in &messages {
                let event = cfg.event_mapping.get(&m.topic_template).unwrap_or(&cfg.default_event).clone();
                let mut req = tonic::Request::new(socketpush::BroadcastRoomReq {
                    req_id: m.msg_id.clone(),
                    room: m.topic_template.clone(),
                    event,
                    payload: String::from_utf8_lossy(&m.payload).into_owned(),
                });
                req.set_timeout(down.timeout);
                if let Err(s) = sp.broadcast_room(req).await {
                    tracing::warn!(room = %m.topic_template, error = %s.message(), "socketpush");
                }
            }
        }
        metrics::counter!("bridgemqtt_forwarded_total").increment(messages.len() as u64);
        for p in batch {
            if acks.send(p).is_err() {
                return;
            }
        }
    }
}

fn log_payload(cfg: &Config, last: &mut HashMap<String, Instant>, tpl: &str, topic: &str, payload: &[u8]) {
    let setting = cfg.log_config.topic_settings.iter().find(|s| s.topic_template == tpl);
    let (on, every) = match setting {
        Some(s) => (s.log_payload, Duration::from_millis(s.min_log_interval)),
        None => (cfg.log_config.default_log_payload, Duration::ZERO),
    };
    if !on {
        return;
    }
    let now = Instant::now();
    if last.get(tpl).is_some_and(|t| now.duration_since(*t) < every) {
        return;
    }
    last.insert(tpl.to_owned(), now);
    tracing::info!(topic, template = tpl, payload = %String::from_utf8_lossy(payload), "MQTT message");
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates() {
        let t = ["test".to_owned(), "iec/#".to_owned(), "a/+/c".to_owned()];
        assert_eq!(super::template("iec/1/2", &t), "iec/#");
        assert_eq!(super::template("a/b/c", &t), "a/+/c");
        assert_eq!(super::template("test", &t), "test");
        assert_eq!(super::template("other", &t), "other");
    }
}
