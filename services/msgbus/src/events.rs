//! Online and offline events (those a comet asked this bus to publish): to RabbitMQ
//! (`Events.RoutingKey` on `RabbitMq.Exchange`, publisher-confirmed) and to streamevent's
//! `ReceiveWSMessage` (the terminal id as the session id). Each is JSON
//! `{"id","online","node","at","n"}` with the id `<id>:<node>:<at>:<n>:<online|offline>`, so a
//! consumer recognises a redelivery.

use crate::store::Rabbit;
use socketio_cluster::comet::bus::Events;
use socketio_cluster::comet::id::TerminalId;
use socketio_cluster::comet::locations::Login;
use std::sync::Arc;
use std::time::Duration;

type StreamEvent = streamevent::pb::stream_event_client::StreamEventClient<tonic::transport::Channel>;

/// The publisher.
#[derive(Clone)]
pub struct Publisher {
    /// RabbitMQ and the routing key (none: not published there).
    pub rabbit: Option<(Arc<Rabbit>, String)>,
    /// streamevent (none: not sent there).
    pub streamevent: Option<StreamEvent>,
    /// streamevent's time to answer.
    pub timeout: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

/// An event's JSON and id.
pub fn event(id: TerminalId, login: &Login, online: bool) -> (Vec<u8>, String) {
    let body =
        serde_json::json!({ "id": id.get(), "online": online, "node": &*login.node, "at": login.at, "n": login.n });
    let key = format!("{id}:{}:{}:{}:{}", login.node, login.at, login.n, if online { "online" } else { "offline" });
    (body.to_string().into_bytes(), key)
}

impl Events for Publisher {
    fn presence(&self, id: TerminalId, login: &Login, online: bool) {
        let (body, key) = event(id, login, online);
        let me = self.clone();
        tokio::spawn(async move {
            if let Some((r, routing)) = &me.rabbit {
                match r.publish_to(routing, &body, &key).await {
                    Ok(()) => metrics::counter!("msgbus_presence_published_total").increment(1),
                    Err(e) => {
                        metrics::counter!("msgbus_presence_failures_total").increment(1);
                        tracing::warn!(event = %key, error = %e, "presence event not published");
                    }
                }
            }
            if let Some(mut c) = me.streamevent {
                let req = streamevent::pb::ReceiveWsMessageReq {
                    session_id: id.to_string(),
                    msg_id: key.clone(),
                    payload: body.clone(),
                    send_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                };
                match tokio::time::timeout(me.timeout, c.receive_ws_message(req)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(event = %key, error = %e.message(), "presence event: streamevent"),
                    Err(_) => tracing::warn!(event = %key, "presence event: streamevent did not answer"),
                }
            }
        });
    }
}
