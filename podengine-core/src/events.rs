//! The engine's container events (start, stop, die, oom), as a stream that outlives the engine:
//! when the connection drops (the engine restarted, a proxy closed it) the stream says so,
//! reconnects with a growing pause (0.25 s to 5 s) and asks for the events since the last one it
//! passed on, so an event that happened while it was away still arrives, and none arrives twice.
//!
//! # Examples
//! ```no_run
//! # async fn demo(engine: podengine_core::engine::Engine) {
//! use podengine_core::events::EngineEvent;
//! let mut events = engine.events();
//! while let Some(e) = events.recv().await {
//!     if let EngineEvent::Container(c) = e {
//!         println!("{} {:?} (pod {:?})", c.container_name, c.kind, c.pod_id);
//!     }
//! }
//! # }
//! ```

use crate::engine::Engine;
use crate::pod::{LABEL_ID, LABEL_INFRA, LABEL_NAME};
use bollard::models::EventMessage;
use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::time::Duration;

/// What happened to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// It started.
    Start,
    /// It was stopped.
    Stop,
    /// Its process ended (any reason; the exit code says which).
    Die,
    /// The kernel killed a process of it for want of memory.
    Oom,
}

/// One container event.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerEvent {
    /// What happened.
    pub kind: EventKind,
    /// The container's id.
    pub container_id: String,
    /// Its name.
    pub container_name: String,
    /// The pod it belongs to (its id), if any.
    pub pod_id: Option<String>,
    /// The pod's name, if any.
    pub pod_name: Option<String>,
    /// For [`EventKind::Die`]: the exit code.
    pub exit_code: Option<i64>,
    /// When, in nanoseconds since the Unix epoch.
    pub time_nano: i64,
}

/// An item of [`Engine::events`].
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// Listening (the first time, and again after each reconnection).
    Connected,
    /// The connection ended; the stream reconnects by itself.
    Disconnected(String),
    /// A container event.
    Container(ContainerEvent),
}

fn kind_of(action: &str) -> Option<EventKind> {
    match action {
        "start" => Some(EventKind::Start),
        "stop" => Some(EventKind::Stop),
        "die" | "died" => Some(EventKind::Die),
        "oom" => Some(EventKind::Oom),
        _ => None,
    }
}

/// The event of an engine message, when it is one of ours.
fn event_of(m: &EventMessage) -> Option<ContainerEvent> {
    if m.typ.map(|t| t.to_string()).as_deref().is_some_and(|t| t != "container") {
        return None;
    }
    let kind = kind_of(m.action.as_deref()?)?;
    let actor = m.actor.as_ref();
    let attrs = actor.and_then(|a| a.attributes.as_ref());
    let attr = |k: &str| attrs.and_then(|a| a.get(k)).cloned();
    let container_id = actor.and_then(|a| a.id.clone()).unwrap_or_default();
    // the infra container is its own pod
    let pod_id = attr(LABEL_ID).or_else(|| attr(LABEL_INFRA).map(|_| container_id.clone()));
    Some(ContainerEvent {
        kind,
        container_name: attr("name").unwrap_or_default(),
        pod_name: attr(LABEL_NAME),
        pod_id,
        exit_code: attr("exitCode").and_then(|c| c.parse().ok()),
        time_nano: m
            .time_nano
            .filter(|t| *t > 0)
            .or_else(|| m.time.map(|t| t.saturating_mul(1_000_000_000)))
            .unwrap_or(0),
        container_id,
    })
}

/// The pause before reconnection attempt `n` (0, 1, ...).
fn backoff(n: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << n.min(5)).min(5_000))
}

impl Engine {
    /// The engine's container events from now on, reconnecting for as long as the receiver
    /// lives (drop it to stop). Events that happened while disconnected arrive after
    /// [`EngineEvent::Connected`]; an event is never passed on twice.
    pub fn events(&self) -> tokio::sync::mpsc::Receiver<EngineEvent> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let engine = self.clone();
        tokio::spawn(async move {
            // the last event passed on: (its time, the ids of the events at that time)
            let mut last: (i64, Vec<(String, EventKind)>) = (0, Vec::new());
            // none the first time: only what happens from now on (the engine's clock may differ
            // from ours); after a disconnection, from the last event passed on (or from when the
            // connection was lost, by our clock, less a second)
            let mut since: Option<i64> = None;
            let mut attempt = 0u32;
            loop {
                // no `event` filter: podman matches it against its own names (`died`), so
                // `event=die` would hide every exit there; the other events are dropped here
                let filters = HashMap::from([("type".to_owned(), vec!["container".to_owned()])]);
                let opts = bollard::query_parameters::EventsOptions {
                    since: since.map(|s| s.to_string()),
                    until: None,
                    filters: Some(filters),
                };
                let mut stream = Box::pin(engine.docker().events(Some(opts)));
                let mut said_connected = false;
                let reason = loop {
                    // the engine answers the request's headers at once; a first item or the end
                    // tells whether it listens
                    let item = if said_connected {
                        stream.next().await
                    } else {
                        match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
                            Ok(item) => item,
                            Err(_) => {
                                said_connected = true;
                                attempt = 0;
                                if tx.send(EngineEvent::Connected).await.is_err() {
                                    return;
                                }
                                continue;
                            }
                        }
                    };
                    match item {
                        Some(Ok(m)) => {
                            if !said_connected {
                                said_connected = true;
                                attempt = 0;
                                if tx.send(EngineEvent::Connected).await.is_err() {
                                    return;
                                }
                            }
                            let Some(e) = event_of(&m) else { continue };
                            let key = (e.container_id.clone(), e.kind);
                            // asking again from `since` (whole seconds) repeats what was passed on
                            if e.time_nano < last.0 || (e.time_nano == last.0 && last.1.contains(&key)) {
                                continue;
                            }
                            if e.time_nano > last.0 {
                                last = (e.time_nano, Vec::new());
                            }
                            last.1.push(key);
                            since = Some(e.time_nano / 1_000_000_000);
                            if tx.send(EngineEvent::Container(e)).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(e)) => break e.to_string(),
                        None => break "the engine ended the event stream".to_owned(),
                    }
                };
                if said_connected && tx.send(EngineEvent::Disconnected(reason)).await.is_err() {
                    return;
                }
                if since.is_none() && said_connected {
                    since = Some(chrono::Utc::now().timestamp() - 1);
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff(attempt)).await;
                attempt = attempt.saturating_add(1);
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EventActor, EventMessageTypeEnum};

    fn msg(action: &str, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some(action.to_owned()),
            actor: Some(EventActor {
                id: Some("c1".into()),
                attributes: Some(attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            }),
            time: Some(1_700_000_000),
            time_nano: None,
            ..Default::default()
        }
    }

    #[test]
    fn engine_messages_become_events() {
        let e = event_of(&msg("die", &[("name", "p-a"), ("exitCode", "3"), (LABEL_ID, "infra1"), (LABEL_NAME, "p")]))
            .unwrap();
        assert_eq!(e.kind, EventKind::Die);
        assert_eq!(e.exit_code, Some(3));
        assert_eq!(e.pod_id.as_deref(), Some("infra1"));
        assert_eq!(e.pod_name.as_deref(), Some("p"));
        assert_eq!(e.time_nano, 1_700_000_000_000_000_000);
        let infra = event_of(&msg("start", &[(LABEL_INFRA, "true")])).unwrap();
        assert_eq!(infra.pod_id.as_deref(), Some("c1"));
        assert!(event_of(&msg("exec_start: sh", &[])).is_none());
        assert!(event_of(&EventMessage::default()).is_none());
    }

    #[test]
    fn the_pause_grows_to_five_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(40), Duration::from_secs(5));
    }
}
