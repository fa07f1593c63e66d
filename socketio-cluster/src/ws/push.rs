//! Pushes taken from a queue (Kafka, NATS): one JSON document per message, for a user, a
//! session, a room or everyone, delivered by whichever frontend consumed it on every frontend
//! ([`super::gate::Gate::push_everywhere`]).
//!
//! ```
//! use socketio_cluster::ws::push::parse;
//! let r = parse(br#"{"to":{"room":"lobby"},"protocol":1003,"payload":{"text":"hi"}}"#).unwrap();
//! assert_eq!((r.protocol, r.json, &r.payload[..]), (1003, true, &br#"{"text":"hi"}"#[..]));
//! assert!(parse(br#"{"to":{},"protocol":1003,"payload":1}"#).is_err());
//! ```

use crate::pb::wsgate as pb;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct To {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    everyone: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Msg {
    to: To,
    protocol: u32,
    payload: serde_json::Value,
}

/// The push a queue message asks for: `{"to": {"uid" | "room" | "session_id": "...", or
/// "everyone": true}, "protocol": N, "payload": <any JSON, sent as the frame's JSON payload>}`.
///
/// # Errors
/// Not JSON, no target or more than one, a protocol id below 1000.
pub fn parse(b: &[u8]) -> Result<pb::PushReq, String> {
    use pb::target::To as T;
    let m: Msg = serde_json::from_slice(b).map_err(|e| format!("push message: {e}"))?;
    let mut targets = vec![];
    if let Some(u) = m.to.uid.filter(|s| !s.is_empty()) {
        targets.push(T::Uid(u));
    }
    if let Some(r) = m.to.room.filter(|s| !s.is_empty()) {
        targets.push(T::Room(r));
    }
    if let Some(s) = m.to.session_id.filter(|s| !s.is_empty()) {
        targets.push(T::SessionId(s));
    }
    if m.to.everyone {
        targets.push(T::Everyone(true));
    }
    if targets.len() != 1 {
        return Err(format!(
            "push message: \"to\" names {} targets (one of uid, room, session_id, everyone)",
            targets.len()
        ));
    }
    if m.protocol < super::frame::FIRST_APP_ID {
        return Err(format!("push message: protocol {} is below {}", m.protocol, super::frame::FIRST_APP_ID));
    }
    Ok(pb::PushReq {
        target: Some(pb::Target { to: targets.pop() }),
        protocol: m.protocol,
        payload: m.payload.to_string().into(),
        json: true,
        all_nodes: true,
    })
}
