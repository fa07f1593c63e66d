//! Where results and dead letters go: the broker (publisher-confirmed), and results also to
//! streamevent's `ReceiveWSMessage` (the task's kind as the session id, its id as the message id).

use crate::broker::Conn;
use bytes::Bytes;
use std::time::Duration;
use trigger_core::compute::bridge::{BoxFuture, Outlet};

type StreamEvent = streamevent::pb::stream_event_client::StreamEventClient<tonic::transport::Channel>;

/// The outlet.
#[derive(Debug, Clone)]
pub struct Publish {
    /// The broker as connected now (none: not yet, or again; a publish then fails and the
    /// task is tried again later). Not watched at all when no broker is configured: results
    /// are then only sent to streamevent.
    pub conn: Option<tokio::sync::watch::Receiver<Option<Conn>>>,
    /// The results' subject or routing key (empty: not published).
    pub results: String,
    /// The dead letters'.
    pub dead_letters: String,
    /// streamevent.
    pub streamevent: Option<StreamEvent>,
    /// streamevent's time to answer.
    pub timeout: Duration,
}

impl Outlet for Publish {
    fn result<'a>(&'a self, id: &'a str, kind: &'a str, body: Bytes) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if let (Some(c), false) = (&self.conn, self.results.is_empty()) {
                let c = c.borrow().clone().ok_or("the broker is not connected")?;
                c.publish(&self.results, id, kind, body.clone(), None).await?;
            }
            if let Some(mut se) = self.streamevent.clone() {
                let req = streamevent::pb::ReceiveWsMessageReq {
                    session_id: kind.to_owned(),
                    msg_id: id.to_owned(),
                    payload: body.to_vec(),
                    send_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                };
                match tokio::time::timeout(self.timeout, se.receive_ws_message(req)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(format!("streamevent: {}", e.message())),
                    Err(_) => return Err("streamevent did not answer".into()),
                }
            }
            Ok(())
        })
    }

    fn dead_letter<'a>(
        &'a self,
        id: &'a str,
        kind: &'a str,
        body: Bytes,
        why: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            match (&self.conn, self.dead_letters.is_empty()) {
                (Some(c), false) => {
                    let c = c.borrow().clone().ok_or("the broker is not connected")?;
                    c.publish(&self.dead_letters, id, kind, body, Some(why)).await
                }
                _ => Ok(()),
            }
        })
    }
}
