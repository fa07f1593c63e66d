//! The reserved events of the gateway (spec §7.2, §7.3) as data: requests parsed and validated
//! from what a client sent, the `SocketResp` reply, the `SocketDown` push and the
//! `__stat_down__` report, each rendered as the JSON *string* upstream sends. No sockets here:
//! the gateway layer feeds event names and payloads in and emits what comes out.
//!
//! ```
//! use socketio_cluster::events::{parse, Request, Resp};
//! use serde_json::json;
//! let r = parse("__join_room_up__", &json!(r#"{"reqId":"1","room":"line-1"}"#)).unwrap();
//! assert_eq!(r, Some(Request::JoinRoom { req_id: "1".into(), room: "line-1".into() }));
//! let bad = parse("__join_room_up__", &json!({"reqId": "2"})).unwrap_err();
//! assert_eq!(bad.to_json(), r#"{"code":400,"msg":"reqId|room为必填项","reqId":"2"}"#);
//! assert_eq!(parse("chat", &json!({})).unwrap(), None, "not a reserved event");
//! ```

use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Join a room.
pub const JOIN_ROOM_UP: &str = "__join_room_up__";
/// Leave a room.
pub const LEAVE_ROOM_UP: &str = "__leave_room_up__";
/// A page of the session's rooms.
pub const ROOMS_PAGE_UP: &str = "__rooms_page_up__";
/// A message for streamevent's `UpSocketMessage`.
pub const UP: &str = "__up__";
/// Emit to a room.
pub const ROOM_BROADCAST_UP: &str = "__room_broadcast_up__";
/// Emit to everyone.
pub const GLOBAL_BROADCAST_UP: &str = "__global_broadcast_up__";
/// Replies to clients that gave no ack callback.
pub const DOWN: &str = "__down__";
/// The per-session report every 60 s.
pub const STAT_DOWN: &str = "__stat_down__";
/// streamevent hook on connect.
pub const CONNECTION: &str = "__connection__";
/// streamevent hook on disconnect.
pub const DISCONNECT: &str = "__disconnect__";

/// Rooms per page when the client names none.
pub const PAGE_SIZE: u64 = 50;
/// The largest page.
pub const MAX_PAGE_SIZE: u64 = 200;

/// A reserved event, validated.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// `__join_room_up__`.
    JoinRoom {
        /// Request id.
        req_id: String,
        /// Room.
        room: String,
    },
    /// `__leave_room_up__`.
    LeaveRoom {
        /// Request id.
        req_id: String,
        /// Room.
        room: String,
    },
    /// `__rooms_page_up__` (page from 1; size 1..=200, default 50).
    RoomsPage {
        /// Request id.
        req_id: String,
        /// Page.
        page: u64,
        /// Page size.
        page_size: u64,
    },
    /// `__up__`: `raw` is the request as JSON text, which streamevent receives.
    Up {
        /// Request id.
        req_id: String,
        /// The request JSON.
        raw: String,
    },
    /// `__room_broadcast_up__`.
    RoomBroadcast {
        /// Request id.
        req_id: String,
        /// Room.
        room: String,
        /// Event to emit.
        event: String,
        /// Its payload.
        payload: Value,
    },
    /// `__global_broadcast_up__`.
    GlobalBroadcast {
        /// Request id.
        req_id: String,
        /// Event to emit.
        event: String,
        /// Its payload.
        payload: Value,
    },
}

impl Request {
    /// The request id.
    pub fn req_id(&self) -> &str {
        match self {
            Request::JoinRoom { req_id, .. }
            | Request::LeaveRoom { req_id, .. }
            | Request::RoomsPage { req_id, .. }
            | Request::Up { req_id, .. }
            | Request::RoomBroadcast { req_id, .. }
            | Request::GlobalBroadcast { req_id, .. } => req_id,
        }
    }
}

/// `SocketResp`: `{"code","msg","payload"?,"reqId"?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resp {
    /// 200, 400 (parse or validation) or 500 (business).
    pub code: u16,
    /// The message.
    pub msg: String,
    /// The result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The request id.
    #[serde(rename = "reqId", skip_serializing_if = "String::is_empty")]
    pub req_id: String,
}

impl Resp {
    /// 200 处理成功.
    pub fn ok(req_id: &str, payload: Option<Value>) -> Resp {
        Resp { code: 200, msg: "处理成功".into(), payload, req_id: req_id.into() }
    }

    /// 400 with `msg`.
    pub fn bad(req_id: &str, msg: &str) -> Resp {
        Resp { code: 400, msg: msg.into(), payload: None, req_id: req_id.into() }
    }

    /// 500 with `msg`.
    pub fn failed(req_id: &str, msg: &str) -> Resp {
        Resp { code: 500, msg: msg.into(), payload: None, req_id: req_id.into() }
    }

    /// As sent: a JSON string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A text from gRPC as a JSON value: embedded raw when it is valid JSON, else as a string.
pub fn embed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The request object: borrowed when the client sent an object, parsed when it sent its text.
fn object(data: &Value) -> Option<Cow<'_, Map<String, Value>>> {
    match data {
        Value::Object(m) => Some(Cow::Borrowed(m)),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => Some(Cow::Owned(m)),
            _ => None,
        },
        _ => None,
    }
}

/// A request field: `Err(())` when present with another type than string.
fn text(m: &Map<String, Value>, k: &str) -> Result<String, ()> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(()),
    }
}

fn number(m: &Map<String, Value>, k: &str) -> Result<u64, ()> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_u64().ok_or(()),
        Some(_) => Err(()),
    }
}

/// Parses and validates a reserved event's payload (a JSON object, or a JSON string of one).
/// `Ok(None)` for an event that is not reserved.
///
/// # Errors
/// The 400 reply: 数据格式错误 (not a JSON object), 参数解析失败 (a field of the wrong type),
/// `<fields>为必填项` (a required field empty).
pub fn parse(event: &str, data: &Value) -> Result<Option<Request>, Resp> {
    let required: &[&str] = match event {
        JOIN_ROOM_UP | LEAVE_ROOM_UP => &["reqId", "room"],
        ROOMS_PAGE_UP => &["reqId"],
        UP => &["reqId", "payload"],
        ROOM_BROADCAST_UP => &["reqId", "payload", "room", "event"],
        GLOBAL_BROADCAST_UP => &["reqId", "payload", "event"],
        _ => return Ok(None),
    };
    let Some(m) = object(data) else { return Err(Resp::bad("", "数据格式错误")) };
    let req_id = text(&m, "reqId").map_err(|()| Resp::bad("", "参数解析失败"))?;
    let bad_type = || Resp::bad(&req_id, "参数解析失败");
    let room = text(&m, "room").map_err(|()| bad_type())?;
    let ev = text(&m, "event").map_err(|()| bad_type())?;
    let payload = m.get("payload").unwrap_or(&Value::Null);
    let missing = required.iter().any(|k| match *k {
        "reqId" => req_id.is_empty(),
        "room" => room.is_empty(),
        "event" => ev.is_empty(),
        _ => payload.is_null() || payload.as_str() == Some(""),
    });
    if missing {
        return Err(Resp::bad(&req_id, &format!("{}为必填项", required.join("|"))));
    }
    Ok(Some(match event {
        JOIN_ROOM_UP => Request::JoinRoom { req_id, room },
        LEAVE_ROOM_UP => Request::LeaveRoom { req_id, room },
        ROOMS_PAGE_UP => {
            let page = number(&m, "page").map_err(|()| bad_type())?.max(1);
            let size = number(&m, "pageSize").map_err(|()| bad_type())?;
            let page_size = if size == 0 { PAGE_SIZE } else { size.min(MAX_PAGE_SIZE) };
            Request::RoomsPage { req_id, page, page_size }
        }
        UP => Request::Up { req_id, raw: serde_json::to_string(&*m).unwrap_or_default() },
        ROOM_BROADCAST_UP => Request::RoomBroadcast { req_id, room, event: ev, payload: payload.clone() },
        _ => Request::GlobalBroadcast { req_id, event: ev, payload: payload.clone() },
    }))
}

/// The payload of a `__rooms_page_up__` reply: `{total, page, pageSize, totalPages, rooms}`,
/// rooms sorted, the session's own room (its id) left out.
pub fn rooms_page<'a>(rooms: impl IntoIterator<Item = &'a str>, own_sid: &str, page: u64, page_size: u64) -> Value {
    let mut all: Vec<&str> = rooms.into_iter().filter(|r| *r != own_sid).collect();
    all.sort_unstable();
    all.dedup();
    let total = all.len() as u64;
    let size = page_size.clamp(1, MAX_PAGE_SIZE);
    let start = usize::try_from((page.max(1) - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    let rooms: Vec<&str> = all.into_iter().skip(start).take(size as usize).collect();
    serde_json::json!({
        "total": total,
        "page": page.max(1),
        "pageSize": size,
        "totalPages": total.div_ceil(size),
        "rooms": rooms,
    })
}

/// `SocketDown`: `{"event","payload"?,"reqId"?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Down<'a> {
    /// The event name (also the name it is emitted under).
    pub event: &'a str,
    /// The payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The request id.
    #[serde(rename = "reqId", skip_serializing_if = "str::is_empty")]
    pub req_id: &'a str,
}

/// Why a push cannot be emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownError {
    /// The event name is empty.
    #[error("event is required")]
    NoEvent,
    /// `__down__` is the reply channel.
    #[error("event {0:?} is reserved")]
    Reserved(String),
}

impl<'a> Down<'a> {
    /// A push of `event` with a payload text from gRPC ([`embed`]; empty: none).
    ///
    /// # Errors
    /// [`DownError`] for an empty or reserved event name.
    pub fn new(event: &'a str, payload: &str, req_id: &'a str) -> Result<Down<'a>, DownError> {
        Down::with_value(event, (!payload.is_empty()).then(|| embed(payload)), req_id)
    }

    /// A push of `event` with a payload a client sent (`__room_broadcast_up__`).
    ///
    /// # Errors
    /// [`DownError`] for an empty or reserved event name.
    pub fn with_value(event: &'a str, payload: Option<Value>, req_id: &'a str) -> Result<Down<'a>, DownError> {
        if event.is_empty() {
            return Err(DownError::NoEvent);
        }
        if event == DOWN {
            return Err(DownError::Reserved(event.to_owned()));
        }
        Ok(Down { event, payload, req_id })
    }

    /// As sent: a JSON string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The `__stat_down__` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    /// The session.
    #[serde(rename = "socketId")]
    pub socket_id: String,
    /// Its rooms.
    #[serde(rename = "roomCount")]
    pub room_count: usize,
    /// The first 50 of them.
    pub rooms: Vec<String>,
    /// Messages per second the gateway handles.
    pub nps: f64,
    /// Its metadata.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Why the rooms of `__connection__` were not joined.
    #[serde(rename = "roomLoadError", skip_serializing_if = "String::is_empty")]
    pub room_load_error: String,
}

impl Stat {
    /// As sent: a JSON string (rooms cut to 50).
    pub fn to_json(&self) -> String {
        let mut s = self.clone();
        s.rooms.truncate(50);
        serde_json::to_string(&s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn every_reserved_event_and_its_validation() {
        let ok = |e: &str, v: Value| parse(e, &v).unwrap().unwrap();
        let err = |e: &str, v: Value| parse(e, &v).unwrap_err().to_json();
        assert_eq!(
            ok(LEAVE_ROOM_UP, json!({"reqId": "1", "room": "r"})),
            Request::LeaveRoom { req_id: "1".into(), room: "r".into() }
        );
        assert_eq!(
            ok(ROOMS_PAGE_UP, json!({"reqId": "1"})),
            Request::RoomsPage { req_id: "1".into(), page: 1, page_size: 50 }
        );
        assert_eq!(
            ok(ROOMS_PAGE_UP, json!({"reqId": "1", "page": 3, "pageSize": 1000})),
            Request::RoomsPage { req_id: "1".into(), page: 3, page_size: 200 }
        );
        let up = ok(UP, json!(r#"{"reqId":"u","payload":{"a":1},"event":"x"}"#));
        let Request::Up { raw, .. } = &up else { panic!("{up:?}") };
        assert_eq!(serde_json::from_str::<Value>(raw).unwrap(), json!({"reqId":"u","payload":{"a":1},"event":"x"}));
        assert_eq!(
            ok(ROOM_BROADCAST_UP, json!({"reqId": "1", "room": "r", "event": "e", "payload": "p"})),
            Request::RoomBroadcast { req_id: "1".into(), room: "r".into(), event: "e".into(), payload: json!("p") }
        );
        assert_eq!(ok(GLOBAL_BROADCAST_UP, json!({"reqId": "1", "event": "e", "payload": 0})).req_id(), "1");
        assert_eq!(err(UP, json!({"reqId": "1"})), r#"{"code":400,"msg":"reqId|payload为必填项","reqId":"1"}"#);
        assert_eq!(
            err(GLOBAL_BROADCAST_UP, json!({"reqId": "1", "payload": 1})),
            r#"{"code":400,"msg":"reqId|payload|event为必填项","reqId":"1"}"#
        );
        assert_eq!(err(JOIN_ROOM_UP, json!("not json")), r#"{"code":400,"msg":"数据格式错误"}"#);
        assert_eq!(err(JOIN_ROOM_UP, json!([1])), r#"{"code":400,"msg":"数据格式错误"}"#);
        assert_eq!(err(JOIN_ROOM_UP, json!({"reqId": 5, "room": "r"})), r#"{"code":400,"msg":"参数解析失败"}"#);
        assert_eq!(
            err(ROOMS_PAGE_UP, json!({"reqId": "1", "page": "two"})),
            r#"{"code":400,"msg":"参数解析失败","reqId":"1"}"#
        );
    }

    #[test]
    fn replies_pushes_and_stats_render_as_upstream() {
        assert_eq!(
            Resp::ok("9", Some(embed(r#"{"k":[1]}"#))).to_json(),
            r#"{"code":200,"msg":"处理成功","payload":{"k":[1]},"reqId":"9"}"#
        );
        assert_eq!(Resp::failed("9", "业务处理失败").to_json(), r#"{"code":500,"msg":"业务处理失败","reqId":"9"}"#);
        assert_eq!(
            Down::new("mqtt", "plain text", "").unwrap().to_json(),
            r#"{"event":"mqtt","payload":"plain text"}"#
        );
        assert_eq!(
            Down::new("osd", "[1,2]", "r1").unwrap().to_json(),
            r#"{"event":"osd","payload":[1,2],"reqId":"r1"}"#
        );
        assert_eq!(Down::new("osd", "", "").unwrap().to_json(), r#"{"event":"osd"}"#);
        assert_eq!(Down::new("", "1", ""), Err(DownError::NoEvent));
        assert_eq!(Down::new(DOWN, "1", ""), Err(DownError::Reserved(DOWN.into())));
        let st = Stat {
            socket_id: "s".into(),
            room_count: 60,
            rooms: (0..60).map(|i| format!("r{i}")).collect(),
            nps: 1.5,
            metadata: Map::new(),
            room_load_error: String::new(),
        };
        let v: Value = serde_json::from_str(&st.to_json()).unwrap();
        assert_eq!(v["rooms"].as_array().unwrap().len(), 50);
        assert_eq!(v["roomCount"], 60);
        assert!(v.get("metadata").is_none() && v.get("roomLoadError").is_none());
    }

    #[test]
    fn rooms_pages() {
        let rooms = ["b", "sid", "a", "c", "a"];
        let p = rooms_page(rooms, "sid", 1, 2);
        assert_eq!(p, json!({"total": 3, "page": 1, "pageSize": 2, "totalPages": 2, "rooms": ["a", "b"]}));
        assert_eq!(rooms_page(rooms, "sid", 2, 2)["rooms"], json!(["c"]));
        assert_eq!(rooms_page(rooms, "sid", 9, 2)["rooms"], json!([]));
    }

    proptest! {
        /// Whatever a client sends, parsing answers with a request or a 400, never a panic.
        #[test]
        fn any_payload_gets_an_answer(s in ".{0,64}", e in prop_oneof![Just(JOIN_ROOM_UP), Just(ROOMS_PAGE_UP), Just(UP), Just(GLOBAL_BROADCAST_UP)]) {
            match parse(e, &Value::String(s)) {
                Ok(Some(_)) => {}
                Ok(None) => prop_assert!(false, "a reserved event"),
                Err(r) => prop_assert_eq!(r.code, 400),
            }
        }
    }
}
