//! # chat (service)
//!
//! The example logic service behind wsgate ([`socketio_cluster::ws`]): `wsgate.v1.Logic` answering
//! four protocol ids with JSON payloads, and pushing what is said to the room's members on every
//! frontend through the requesting frontend's `Gate` API.
//!
//! | id | request | reply |
//! |---|---|---|
//! | 1001 join | `{"room"}` | `{"room","members"}` (the user's connections on that frontend joined) |
//! | 1002 leave | `{"room"}` | `{"room"}` |
//! | 1003 say | `{"room","text"}` | `{"id"}`; the room gets a push (protocol 1003) `{"id","room","uid","text","at"}` with sensitive words masked |
//! | 1004 history | `{"room","limit"}` | `{"messages":[...]}`, oldest first, at most `History` |
//!
//! Message ids come from Redis `INCR` (as the original does) and each room's last `History`
//! messages are a Redis list, so any number of instances share them; without Redis both live in
//! the process.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};
use socketio_cluster::pb::wsgate as pb;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Join a room.
pub const JOIN: u32 = 1001;
/// Leave a room.
pub const LEAVE: u32 = 1002;
/// Say something in a room (also the protocol of the push).
pub const SAY: u32 = 1003;
/// A room's last messages.
pub const HISTORY: u32 = 1004;
/// The ids this service registers.
pub const PROTOCOLS: [u32; 4] = [JOIN, LEAVE, SAY, HISTORY];

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/chat.yaml");

/// Configuration (see `etc/chat.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Etcd`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Where the frontends look protocol ids up.
    pub protocols_key: String,
    /// Redis.
    pub redis: RedisConf,
    /// Redis database number.
    #[serde(rename = "RedisDB")]
    pub redis_db: u32,
    /// Messages kept per room.
    pub history: usize,
    /// Words masked.
    pub sensitive_words: Vec<String>,
    /// Longest message (characters).
    pub max_text: usize,
}

/// `Redis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RedisConf {
    /// `host:port`; empty: ids and history in this process.
    pub host: String,
    /// Password.
    pub pass: String,
    /// Key prefix.
    pub key: String,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "chat";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

/// Masks sensitive words (Aho-Corasick, leftmost-longest, ASCII case-insensitive).
#[derive(Debug, Clone)]
pub struct Filter(Option<Arc<AhoCorasick>>);

impl Filter {
    /// A filter of `words` (empty ones ignored).
    ///
    /// # Errors
    /// The automaton cannot be built.
    pub fn new(words: &[String]) -> Result<Filter, String> {
        let words: Vec<&str> = words.iter().map(String::as_str).filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            return Ok(Filter(None));
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(&words)
            .map_err(|e| format!("SensitiveWords: {e}"))?;
        Ok(Filter(Some(Arc::new(ac))))
    }

    /// `text` with every sensitive word replaced by as many `*` as it has characters.
    ///
    /// ```
    /// let f = chat_svc::Filter::new(&["bad".into(), "worse".into()]).unwrap();
    /// assert_eq!(f.mask("Bad, WORSE, fine"), "***, *****, fine");
    /// ```
    pub fn mask(&self, text: &str) -> String {
        let Some(ac) = &self.0 else { return text.to_owned() };
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for m in ac.find_iter(text) {
            out.push_str(&text[at..m.start()]);
            out.extend(std::iter::repeat_n('*', text[m.start()..m.end()].chars().count()));
            at = m.end();
        }
        out.push_str(&text[at..]);
        out
    }
}

/// A message as stored and pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    /// Its id (Redis `INCR`).
    pub id: u64,
    /// The room.
    pub room: String,
    /// Who said it.
    pub uid: String,
    /// What (masked).
    pub text: String,
    /// When (unix ms).
    pub at: u64,
}

/// Where ids and history live.
#[derive(Clone)]
enum Store {
    Local { next: Arc<AtomicU64>, rooms: Arc<Mutex<HashMap<String, VecDeque<String>>>> },
    Redis { conn: redis::aio::ConnectionManager, prefix: String },
}

/// The chat service.
#[derive(Clone)]
pub struct Chat {
    store: Store,
    filter: Filter,
    history: usize,
    max_text: usize,
    gates: Arc<Mutex<HashMap<String, pb::gate_client::GateClient<tonic::transport::Channel>>>>,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").field("history", &self.history).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RoomReq {
    room: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    limit: usize,
}

fn refuse(message: impl Into<String>) -> pb::HandleRes {
    pb::HandleRes { payload: Default::default(), json: true, code: 1, message: message.into() }
}

fn reply(v: &serde_json::Value) -> pb::HandleRes {
    pb::HandleRes { payload: v.to_string().into(), json: true, code: 0, message: String::new() }
}

impl Chat {
    /// The service of `cfg` (connects to Redis when configured).
    ///
    /// # Errors
    /// Redis cannot be reached, a bad filter.
    pub async fn new(cfg: &Config) -> Result<Chat, zero_svc::Error> {
        let store = if cfg.redis.host.is_empty() {
            Store::Local { next: Arc::default(), rooms: Arc::default() }
        } else {
            let auth = if cfg.redis.pass.is_empty() { String::new() } else { format!(":{}@", cfg.redis.pass) };
            let url = format!("redis://{auth}{}/{}", cfg.redis.host, cfg.redis_db);
            let client = redis::Client::open(url).map_err(|e| zero_svc::Error::Config(format!("Redis: {e}")))?;
            let conn = redis::aio::ConnectionManager::new(client)
                .await
                .map_err(|e| zero_svc::Error::Config(format!("Redis {}: {e}", cfg.redis.host)))?;
            Store::Redis { conn, prefix: cfg.redis.key.clone() }
        };
        Ok(Chat {
            store,
            filter: Filter::new(&cfg.sensitive_words).map_err(zero_svc::Error::Config)?,
            history: cfg.history.max(1),
            max_text: cfg.max_text.max(1),
            gates: Arc::default(),
        })
    }

    fn gate(&self, addr: &str) -> Result<pb::gate_client::GateClient<tonic::transport::Channel>, String> {
        let mut g = self.gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = g.get(addr) {
            return Ok(c.clone());
        }
        let uri = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
        let ch = tonic::transport::Endpoint::from_shared(uri)
            .map_err(|e| format!("gate {addr}: {e}"))?
            .tcp_nodelay(true)
            .connect_lazy();
        let c = pb::gate_client::GateClient::new(ch);
        g.insert(addr.to_owned(), c.clone());
        Ok(c)
    }

    async fn next_id(&self) -> Result<u64, String> {
        match &self.store {
            Store::Local { next, .. } => Ok(next.fetch_add(1, Ordering::Relaxed) + 1),
            Store::Redis { conn, prefix } => redis::cmd("INCR")
                .arg(format!("{prefix}:msgid"))
                .query_async(&mut conn.clone())
                .await
                .map_err(|e| format!("Redis: {e}")),
        }
    }

    async fn keep(&self, room: &str, json: String) -> Result<(), String> {
        match &self.store {
            Store::Local { rooms, .. } => {
                let mut g = rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let q = g.entry(room.to_owned()).or_default();
                q.push_back(json);
                while q.len() > self.history {
                    q.pop_front();
                }
                Ok(())
            }
            Store::Redis { conn, prefix } => {
                let key = format!("{prefix}:room:{room}");
                redis::pipe()
                    .cmd("LPUSH")
                    .arg(&key)
                    .arg(json)
                    .ignore()
                    .cmd("LTRIM")
                    .arg(&key)
                    .arg(0)
                    .arg(self.history as i64 - 1)
                    .ignore()
                    .query_async::<()>(&mut conn.clone())
                    .await
                    .map_err(|e| format!("Redis: {e}"))
            }
        }
    }

    async fn recent(&self, room: &str, limit: usize) -> Result<Vec<String>, String> {
        let limit = if limit == 0 { self.history } else { limit.min(self.history) };
        match &self.store {
            Store::Local { rooms, .. } => {
                let g = rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                Ok(g.get(room)
                    .map(|q| q.iter().skip(q.len().saturating_sub(limit)).cloned().collect())
                    .unwrap_or_default())
            }
            Store::Redis { conn, prefix } => {
                let mut v: Vec<String> = redis::cmd("LRANGE")
                    .arg(format!("{prefix}:room:{room}"))
                    .arg(0)
                    .arg(limit as i64 - 1)
                    .query_async(&mut conn.clone())
                    .await
                    .map_err(|e| format!("Redis: {e}"))?;
                v.reverse();
                Ok(v)
            }
        }
    }

    /// One request.
    pub async fn handle(&self, r: pb::HandleReq) -> pb::HandleRes {
        if !r.json {
            return refuse("chat takes JSON payloads");
        }
        let q: RoomReq = match serde_json::from_slice(&r.payload) {
            Ok(q) => q,
            Err(e) => return refuse(format!("payload: {e}")),
        };
        if q.room.is_empty() || q.room.len() > 128 {
            return refuse("room: 1 to 128 bytes");
        }
        match r.protocol {
            JOIN | LEAVE => {
                let mut gate = match self.gate(&r.gate) {
                    Ok(g) => g,
                    Err(e) => return refuse(e),
                };
                let req = pb::RoomReq {
                    uid: String::new(),
                    session_id: r.session_id.clone(),
                    room: q.room.clone(),
                    all_nodes: false,
                };
                let res = if r.protocol == JOIN { gate.join_room(req).await } else { gate.leave_room(req).await };
                match res {
                    Ok(n) => reply(&serde_json::json!({ "room": q.room, "members": n.into_inner().sessions })),
                    Err(e) => refuse(format!("gate: {}", e.message())),
                }
            }
            SAY => {
                if q.text.is_empty() || q.text.chars().count() > self.max_text {
                    return refuse(format!("text: 1 to {} characters", self.max_text));
                }
                let id = match self.next_id().await {
                    Ok(id) => id,
                    Err(e) => return refuse(e),
                };
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let said = Said { id, room: q.room.clone(), uid: r.uid.clone(), text: self.filter.mask(&q.text), at };
                let json = serde_json::to_string(&said).unwrap_or_default();
                if let Err(e) = self.keep(&q.room, json.clone()).await {
                    return refuse(e);
                }
                // to the room's members on every frontend, through the one the speaker is on
                let push = pb::PushReq {
                    target: Some(pb::Target { to: Some(pb::target::To::Room(q.room.clone())) }),
                    protocol: SAY,
                    payload: json.into(),
                    json: true,
                    all_nodes: true,
                };
                let delivered = match self.gate(&r.gate) {
                    Ok(mut g) => g.push(push).await.map(|p| p.into_inner().delivered).unwrap_or(0),
                    Err(_) => 0,
                };
                reply(&serde_json::json!({ "id": id, "delivered": delivered }))
            }
            HISTORY => match self.recent(&q.room, q.limit).await {
                Ok(v) => {
                    let msgs: Vec<serde_json::Value> = v.iter().filter_map(|s| serde_json::from_str(s).ok()).collect();
                    reply(&serde_json::json!({ "messages": msgs }))
                }
                Err(e) => refuse(e),
            },
            p => refuse(format!("chat does not handle protocol {p}")),
        }
    }
}

#[tonic::async_trait]
impl pb::logic_server::Logic for Chat {
    async fn handle(&self, r: tonic::Request<pb::HandleReq>) -> Result<tonic::Response<pb::HandleRes>, tonic::Status> {
        Ok(tonic::Response::new(Chat::handle(self, r.into_inner()).await))
    }
}

/// Runs the service until `shutdown`: `wsgate.v1.Logic` on `listener`, and with `Etcd.Hosts`
/// set its protocol ids registered for the frontends.
///
/// # Errors
/// Redis, the filter, server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let chat = Chat::new(&cfg).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let registration = cfg.base.etcd.enabled().then(|| {
        tokio::spawn(socketio_cluster::ws::routes::register_protocols(
            cfg.base.etcd.clone(),
            cfg.protocols_key.clone(),
            cfg.base.etcd.key.clone(),
            PROTOCOLS.to_vec(),
            stop_rx,
        ))
    });
    let r = zero_svc::grpc::serve(
        listener,
        pb::logic_server::LogicServer::new(chat),
        &[pb::FILE_DESCRIPTOR_SET],
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
    )
    .await;
    if let Some(t) = registration {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), t).await;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        zero_svc::config::merge_str(DEFAULTS, Some("SensitiveWords: [darn, heck]\nHistory: 3\n"), &[]).unwrap()
    }

    fn req(protocol: u32, payload: &str) -> pb::HandleReq {
        pb::HandleReq {
            protocol,
            payload: payload.as_bytes().to_vec().into(),
            json: true,
            uid: "u1".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn say_masks_and_history_keeps_the_last_n() {
        let c = Chat::new(&cfg()).await.unwrap();
        for i in 0..5 {
            let r = c.handle(req(SAY, &format!(r#"{{"room":"r","text":"heck {i}"}}"#))).await;
            assert_eq!(r.code, 0, "{}", r.message);
            let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
            assert_eq!(v["id"], i + 1);
        }
        let r = c.handle(req(HISTORY, r#"{"room":"r"}"#)).await;
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        let texts: Vec<&str> = v["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["**** 2", "**** 3", "**** 4"]);
        for (p, body, want) in [
            (SAY, r#"{"room":"r","text":""}"#, "text"),
            (SAY, "not json", "payload"),
            (HISTORY, r#"{"room":""}"#, "room"),
            (1999, r#"{"room":"r"}"#, "does not handle"),
        ] {
            let r = c.handle(req(p, body)).await;
            assert!(r.code != 0 && r.message.contains(want), "{p} {body}: {}", r.message);
        }
    }
}
