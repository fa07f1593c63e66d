//! The gateway layer on socketioxide (spec §7.1–7.3): the handshake check ([`crate::auth`]),
//! the session metadata, the reserved events ([`crate::events`]) answered by ack callback or
//! `__down__`, the periodic `__stat_down__`, and the platform hooks ([`Hooks`]: streamevent's
//! `UpSocketMessage` in the service). [`Gateway`] is also this node's side of the cluster: the
//! per-node actions of `socketgtw.SocketGtw` (§7.4), each answering how many sessions it reached.
//!
//! ```no_run
//! # async fn run() {
//! use socketio_cluster::gateway::{Gateway, GatewayConfig, NoHooks};
//! let (layer, gw) = Gateway::layer(GatewayConfig::default(), NoHooks);
//! let app = axum::Router::new().layer(layer);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:11003").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # let _ = gw; }
//! ```

use crate::auth::{AuthError, JwtAuth};
use crate::events::{self, Down, Request, Resp, Stat};
use crate::route::{SessionState, Update};
use serde_json::{Map, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Sid;
use socketioxide::SocketIo;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The gateway's settings (the `socketgtw` keys of §7.5).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `JwtAuth`: an empty `AccessSecret` accepts every handshake.
    pub auth: JwtAuth,
    /// `SocketMetaData`: the claims copied into session metadata.
    pub meta_keys: Vec<String>,
    /// How often each session gets `__stat_down__` (upstream: 60 s).
    pub stat_interval: Duration,
    /// The Engine.IO request path (upstream: `/socket.io`).
    pub path: String,
    /// The largest message a client may send, in bytes.
    pub max_payload: u64,
    /// Messages queued for one session at most (Socket.IO's default: 128). A session whose queue
    /// is full misses what is sent meanwhile and is dropped at its next ping: a client that stops
    /// reading costs at most this many messages of memory and never slows the others.
    pub max_buffer: usize,
    /// Engine.IO ping period (Socket.IO's default: 25 s).
    pub ping_interval: Duration,
    /// How long a ping waits for its pong (Socket.IO's default: 20 s).
    pub ping_timeout: Duration,
    /// Each WebSocket connection's read buffer, bytes (socketioxide's default: 4096). Clients
    /// send little; a larger message is read in several steps.
    pub ws_read_buffer: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            auth: JwtAuth::new("", "", 0),
            meta_keys: ["uid", "deviceId", "userId", "user_id", "dept_id", "dept_code", "user_name"]
                .map(String::from)
                .to_vec(),
            stat_interval: Duration::from_secs(60),
            path: "/socket.io".into(),
            max_payload: 1_000_000,
            max_buffer: 128,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            ws_read_buffer: 1024,
        }
    }
}

/// One call of the platform hook (streamevent's `UpSocketMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpMessage {
    /// `__connection__`, `__disconnect__`, `__join_room_up__` or `__up__`.
    pub event: &'static str,
    /// The request id (a new one for the connection hooks).
    pub req_id: String,
    /// The session.
    pub sid: String,
    /// The JSON payload (§4.2).
    pub payload: String,
    /// The session's handshake token (forwarded as gRPC metadata).
    pub token: String,
}

/// Why a hook gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// No handler is configured (`__up__` answers 500 未配置处理器).
    #[error("no handler configured")]
    Unconfigured,
    /// The handler refused or failed, in its words.
    #[error("{0}")]
    Failed(String),
}

/// A boxed hook future.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<String, HookError>> + Send + 'a>>;

/// What the gateway asks the platform. The service implements it over streamevent's
/// `UpSocketMessage`; the answer is the response payload (JSON text).
pub trait Hooks: Send + Sync + 'static {
    /// Handles one up message.
    fn up(&self, m: UpMessage) -> HookFuture<'_>;
}

/// No platform behind the gateway: connections get no rooms, `__up__` answers 500 未配置处理器.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {
    fn up(&self, _: UpMessage) -> HookFuture<'_> {
        Box::pin(async { Err(HookError::Unconfigured) })
    }
}

/// A gateway at a glance ([`Gateway::overview`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// Sessions on this node.
    pub sessions: usize,
    /// Client events handled since start.
    pub events: u64,
    /// The largest rooms and their members, largest first.
    pub rooms: Vec<(String, usize)>,
    /// Rooms on this node.
    pub room_count: usize,
    /// The first sessions by id.
    pub shown: Vec<SessionState>,
}

#[derive(Debug, Clone, Default)]
struct Session {
    meta: Map<String, Value>,
    token: String,
    room_load_error: String,
}

struct Inner {
    cfg: GatewayConfig,
    hooks: Box<dyn Hooks>,
    sessions: Mutex<HashMap<Sid, Session>>,
    handled: AtomicU64,
    /// Every change of this node's sessions and rooms, for the push nodes' indexes.
    updates: tokio::sync::broadcast::Sender<Update>,
}

/// Changes a watcher may fall behind by before its feed ends (it then starts over from a
/// snapshot).
const UPDATE_BUFFER: usize = 16_384;

/// This node: the Socket.IO server and its sessions.
#[derive(Clone)]
pub struct Gateway {
    io: SocketIo,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("sessions", &self.sessions()).finish_non_exhaustive()
    }
}

/// Whether the client asked for an ack (the reply then goes there instead of `__down__`).
struct WantsAck(bool);

impl<A: Adapter> FromMessageParts<A> for WantsAck {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket<A>>,
        _: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(WantsAck(ack_id.is_some()))
    }
}

/// The handshake's `auth: {token}`.
#[derive(Debug, Default, serde::Deserialize)]
struct Handshake {
    #[serde(default)]
    token: String,
}

fn reply(s: &SocketRef, ack: AckSender, wants_ack: bool, r: &Resp) {
    let text = r.to_json();
    let sent = if wants_ack {
        ack.send(&text).map_err(|e| e.to_string())
    } else {
        s.emit(events::DOWN, &text).map_err(|e| e.to_string())
    };
    if let Err(e) = sent {
        tracing::debug!(sid = %s.id, error = %e, "reply not sent");
    }
}

fn new_req_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Gateway {
    /// The tower layer to put on an HTTP server (WebSocket and long-polling under
    /// `cfg.path`), and the gateway.
    pub fn layer(cfg: GatewayConfig, hooks: impl Hooks) -> (SocketIoLayer, Gateway) {
        let (layer, io) = SocketIo::builder()
            .req_path(cfg.path.clone())
            .max_payload(cfg.max_payload)
            .max_buffer_size(cfg.max_buffer.max(1))
            .ping_interval(cfg.ping_interval)
            .ping_timeout(cfg.ping_timeout)
            .ws_read_buffer_size(cfg.ws_read_buffer.max(64))
            .build_layer();
        let inner = Arc::new(Inner {
            cfg,
            hooks: Box::new(hooks),
            sessions: Mutex::default(),
            handled: AtomicU64::new(0),
            updates: tokio::sync::broadcast::channel(UPDATE_BUFFER).0,
        });
        let gw = Gateway { io: io.clone(), inner };
        let (on_connect, check) = (gw.clone(), gw.clone());
        io.ns(
            "/",
            (move |s: SocketRef| {
                let gw = on_connect.clone();
                async move { gw.connected(s).await }
            })
            // the middleware runs before the client hears it is connected, the connect handler
            // after (spawned): the event handlers go in here, or the first events a client sends
            // could arrive before them and be lost
            .with(move |s: SocketRef, TryData(h): TryData<Handshake>| {
                let gw = check.clone();
                async move {
                    gw.authenticate(&s, h.map(|h| h.token).unwrap_or_default())?;
                    gw.attach(&s);
                    Ok::<(), AuthError>(())
                }
            }),
        );
        (layer, gw)
    }

    fn sessions_lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, Session>> {
        self.inner.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn authenticate(&self, s: &SocketRef, token: String) -> Result<(), AuthError> {
        let auth = &self.inner.cfg.auth;
        let meta = if auth.enabled() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let claims = auth.verify(&token, i64::try_from(now).unwrap_or(i64::MAX)).inspect_err(|_| {
                metrics::counter!("socketgtw_handshakes_refused_total").increment(1);
            })?;
            JwtAuth::metadata(&claims, &self.inner.cfg.meta_keys)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        } else {
            Map::new()
        };
        let token = token.strip_prefix("Bearer ").unwrap_or(&token).to_owned();
        let n = {
            let mut sessions = self.sessions_lock();
            sessions.insert(s.id, Session { meta, token, room_load_error: String::new() });
            sessions.len()
        };
        metrics::gauge!("socketgtw_sessions").set(n as f64);
        Ok(())
    }

    fn session(&self, sid: Sid) -> Session {
        self.sessions_lock().get(&sid).cloned().unwrap_or_default()
    }

    async fn hook(&self, event: &'static str, sid: Sid, req_id: String, payload: String) -> Result<String, HookError> {
        let token = self.session(sid).token;
        self.inner.hooks.up(UpMessage { event, req_id, sid: sid.to_string(), payload, token }).await
    }

    fn notify(&self, u: Update) {
        // no watcher: nothing to tell
        let _ = self.inner.updates.send(u);
    }

    fn join(&self, s: &SocketRef, rooms: Vec<String>) {
        s.join(rooms.clone());
        for room in rooms {
            self.notify(Update::Joined { sid: s.id.to_string(), room });
        }
    }

    fn leave(&self, s: &SocketRef, room: String) {
        s.leave(room.clone());
        self.notify(Update::Left { sid: s.id.to_string(), room });
    }

    fn meta_pairs(meta: &Map<String, Value>) -> Vec<(String, String)> {
        meta.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
    }

    /// This node's sessions now and every change from here on, for a push node's index (the
    /// feed is subscribed before the snapshot is taken, so no change falls between them; a
    /// change may show in both, which the index takes twice without harm).
    pub fn watch(&self) -> (Vec<SessionState>, tokio::sync::broadcast::Receiver<Update>) {
        let rx = self.inner.updates.subscribe();
        let sessions: Vec<(Sid, Session)> = self.sessions_lock().iter().map(|(k, v)| (*k, v.clone())).collect();
        let snapshot = sessions
            .into_iter()
            .filter_map(|(sid, sess)| {
                let s = self.io.get_socket(sid)?;
                let own = sid.to_string();
                let rooms = s.rooms().into_iter().map(|r| r.to_string()).filter(|r| *r != own).collect();
                Some(SessionState { sid: own, rooms, meta: Gateway::meta_pairs(&sess.meta) })
            })
            .collect();
        (snapshot, rx)
    }

    /// Registers the session's event and disconnect handlers (before the client is told it is
    /// connected).
    fn attach(&self, s: &SocketRef) {
        let meta = self.session(s.id).meta;
        self.notify(Update::Connected { sid: s.id.to_string(), meta: Gateway::meta_pairs(&meta) });
        for event in [
            events::JOIN_ROOM_UP,
            events::LEAVE_ROOM_UP,
            events::ROOMS_PAGE_UP,
            events::UP,
            events::ROOM_BROADCAST_UP,
            events::GLOBAL_BROADCAST_UP,
        ] {
            let gw = self.clone();
            s.on(event, move |s: SocketRef, Data(v): Data<Value>, ack: AckSender, WantsAck(wants): WantsAck| {
                let gw = gw.clone();
                async move {
                    gw.inner.handled.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("socketgtw_events_total", "event" => event).increment(1);
                    let r = match events::parse(event, &v) {
                        Ok(Some(req)) => gw.handle(&s, req).await,
                        Ok(None) => return,
                        Err(bad) => bad,
                    };
                    reply(&s, ack, wants, &r);
                }
            });
        }
        let gw = self.clone();
        s.on_disconnect(move |s: SocketRef| {
            let gw = gw.clone();
            async move {
                let meta = gw.session(s.id).meta;
                let payload = serde_json::json!({ "metadata": meta }).to_string();
                if let Err(e) = gw.hook(events::DISCONNECT, s.id, new_req_id(), payload).await {
                    if e != HookError::Unconfigured {
                        tracing::debug!(sid = %s.id, error = %e, "__disconnect__ hook");
                    }
                }
                let n = {
                    let mut sessions = gw.sessions_lock();
                    sessions.remove(&s.id);
                    sessions.len()
                };
                metrics::gauge!("socketgtw_sessions").set(n as f64);
                gw.notify(Update::Disconnected { sid: s.id.to_string() });
            }
        });
    }

    /// The `__connection__` hook (its rooms joined), then the session's `__stat_down__` loop.
    async fn connected(&self, s: SocketRef) {
        let meta = self.session(s.id).meta;
        let payload = serde_json::json!({ "metadata": meta }).to_string();
        match self.hook(events::CONNECTION, s.id, new_req_id(), payload).await {
            Ok(rooms) => match serde_json::from_str::<Vec<String>>(&rooms) {
                Ok(rooms) => self.join(&s, rooms),
                Err(e) => self.room_load_error(s.id, format!("rooms: {e}")),
            },
            Err(HookError::Unconfigured) => {}
            Err(e) => self.room_load_error(s.id, e.to_string()),
        }
        self.clone().stats(s).await;
    }

    fn room_load_error(&self, sid: Sid, e: String) {
        tracing::warn!(%sid, error = %e, "__connection__ rooms not loaded");
        if let Some(s) = self.sessions_lock().get_mut(&sid) {
            s.room_load_error = e;
        }
    }

    async fn handle(&self, s: &SocketRef, req: Request) -> Resp {
        let req_id = req.req_id().to_owned();
        match req {
            Request::JoinRoom { room, .. } => {
                let meta = self.session(s.id).meta;
                let payload = serde_json::json!({ "metadata": meta, "room": room }).to_string();
                match self.hook(events::JOIN_ROOM_UP, s.id, req_id.clone(), payload).await {
                    Ok(_) | Err(HookError::Unconfigured) => {
                        self.join(s, vec![room]);
                        Resp::ok(&req_id, None)
                    }
                    Err(e) => Resp::failed(&req_id, &e.to_string()),
                }
            }
            Request::LeaveRoom { room, .. } => {
                self.leave(s, room);
                Resp::ok(&req_id, None)
            }
            Request::RoomsPage { page, page_size, .. } => {
                let rooms = s.rooms();
                let own = s.id.to_string();
                Resp::ok(&req_id, Some(events::rooms_page(rooms.iter().map(|r| r.as_ref()), &own, page, page_size)))
            }
            Request::Up { raw, .. } => match self.hook(events::UP, s.id, req_id.clone(), raw).await {
                Ok(answer) => Resp::ok(&req_id, Some(events::embed(&answer))),
                Err(HookError::Unconfigured) => Resp::failed(&req_id, "未配置处理器"),
                Err(e) => {
                    tracing::debug!(sid = %s.id, error = %e, "__up__ hook");
                    Resp::failed(&req_id, "业务处理失败")
                }
            },
            Request::RoomBroadcast { room, event, payload, .. } => {
                match self.emit_value(Some(room), &event, Some(payload), &req_id).await {
                    Ok(_) => Resp::ok(&req_id, None),
                    Err(e) => Resp::failed(&req_id, &e),
                }
            }
            Request::GlobalBroadcast { event, payload, .. } => {
                match self.emit_value(None, &event, Some(payload), &req_id).await {
                    Ok(_) => Resp::ok(&req_id, None),
                    Err(e) => Resp::failed(&req_id, &e),
                }
            }
        }
    }

    /// Emits a `SocketDown` to a room (or everyone): the number of sessions it went to. A session
    /// whose queue is full (a client that stopped reading) misses it and is counted out; the
    /// others get it.
    async fn emit_value(
        &self,
        room: Option<String>,
        event: &str,
        payload: Option<Value>,
        req_id: &str,
    ) -> Result<u64, String> {
        let down = Down::with_value(event, payload, req_id).map_err(|e| e.to_string())?.to_json();
        let ops = match room {
            Some(r) => self.io.to(r),
            None => self.io.broadcast(),
        };
        let n = ops.clone().sockets().len() as u64;
        let missed = match ops.emit(event, &down).await {
            Ok(()) => 0,
            Err(socketioxide::BroadcastError::Socket(errs)) => {
                let full = errs.iter().filter(|e| matches!(e, socketioxide::SocketError::InternalChannelFull)).count();
                metrics::counter!("socketgtw_missed_full_queue_total").increment(full as u64);
                errs.len() as u64
            }
            Err(e) => return Err(e.to_string()),
        };
        let n = n.saturating_sub(missed);
        metrics::counter!("socketgtw_pushed_total").increment(n);
        Ok(n)
    }

    async fn stats(self, s: SocketRef) {
        let every = self.inner.cfg.stat_interval;
        let mut last = self.inner.handled.load(Ordering::Relaxed);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        while s.connected() {
            tick.tick().await;
            if !s.connected() {
                break;
            }
            let now = self.inner.handled.load(Ordering::Relaxed);
            let nps = (now - last) as f64 / every.as_secs_f64();
            last = now;
            let own = s.id.to_string();
            let mut rooms: Vec<String> = s.rooms().into_iter().map(|r| r.to_string()).filter(|r| *r != own).collect();
            rooms.sort();
            let sess = self.session(s.id);
            let st = Stat {
                socket_id: own,
                room_count: rooms.len(),
                rooms,
                nps,
                metadata: sess.meta,
                room_load_error: sess.room_load_error,
            };
            if s.emit(events::STAT_DOWN, &st.to_json()).is_err() {
                break;
            }
        }
    }

    /// This node at a glance (the dashboard): its sessions, the events it handled, its `n`
    /// largest rooms (members, largest first) of how many, and its first `n` sessions by id.
    pub fn overview(&self, n: usize) -> Overview {
        let mut sids: Vec<Sid> = self.sessions_lock().keys().copied().collect();
        let sessions = sids.len();
        let mut rooms: HashMap<String, usize> = HashMap::new();
        for sid in &sids {
            let Some(s) = self.io.get_socket(*sid) else { continue };
            let own = sid.to_string();
            for r in s.rooms() {
                if *r != *own {
                    *rooms.entry(r.to_string()).or_default() += 1;
                }
            }
        }
        let room_count = rooms.len();
        let mut rooms: Vec<(String, usize)> = rooms.into_iter().collect();
        rooms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rooms.truncate(n);
        sids.sort_by_key(ToString::to_string);
        sids.truncate(n);
        let shown = sids
            .into_iter()
            .filter_map(|sid| {
                let meta = Gateway::meta_pairs(&self.sessions_lock().get(&sid)?.meta);
                let own = sid.to_string();
                let socket = self.io.get_socket(sid)?;
                let rooms = socket.rooms().into_iter().map(|r| r.to_string()).filter(|r| *r != own).collect();
                Some(SessionState { sid: own, rooms, meta })
            })
            .collect();
        Overview { sessions, events: self.inner.handled.load(Ordering::Relaxed), rooms, room_count, shown }
    }

    /// Sessions on this node.
    pub fn sessions(&self) -> u64 {
        self.sessions_lock().len() as u64
    }

    fn socket(&self, sid: &str) -> Option<SocketRef> {
        self.io.get_socket(sid.parse().ok()?)
    }

    fn sids_with(&self, pairs: &[(String, String)]) -> Vec<Sid> {
        self.sessions_lock()
            .iter()
            .filter(|(_, s)| pairs.iter().any(|(k, v)| s.meta.get(k).and_then(Value::as_str) == Some(v.as_str())))
            .map(|(sid, _)| *sid)
            .collect()
    }

    /// `JoinRoom`: whether the session is here.
    pub fn join_room(&self, sid: &str, room: &str) -> bool {
        self.socket(sid).map(|s| self.join(&s, vec![room.to_owned()])).is_some()
    }

    /// `LeaveRoom`: whether the session is here.
    pub fn leave_room(&self, sid: &str, room: &str) -> bool {
        self.socket(sid).map(|s| self.leave(&s, room.to_owned())).is_some()
    }

    /// `BroadcastRoom` (payload text embedded as raw JSON when valid): sessions reached.
    ///
    /// # Errors
    /// An empty or reserved event name, or the emit failed.
    pub async fn broadcast_room(&self, room: &str, event: &str, payload: &str, req_id: &str) -> Result<u64, String> {
        self.emit_value(Some(room.to_owned()), event, (!payload.is_empty()).then(|| events::embed(payload)), req_id)
            .await
    }

    /// `BroadcastGlobal`: sessions reached.
    ///
    /// # Errors
    /// As [`Gateway::broadcast_room`].
    pub async fn broadcast_global(&self, event: &str, payload: &str, req_id: &str) -> Result<u64, String> {
        self.emit_value(None, event, (!payload.is_empty()).then(|| events::embed(payload)), req_id).await
    }

    /// `SendToSession(s)`: sessions reached.
    ///
    /// # Errors
    /// An empty or reserved event name.
    pub fn send_to_sessions(&self, sids: &[String], event: &str, payload: &str, req_id: &str) -> Result<u64, String> {
        let down = Down::new(event, payload, req_id).map_err(|e| e.to_string())?.to_json();
        Ok(sids.iter().filter_map(|sid| self.socket(sid)).filter(|s| s.emit(event, &down).is_ok()).count() as u64)
    }

    /// `SendToMetaSession(s)`: sessions whose metadata matches any pair; sessions reached.
    ///
    /// # Errors
    /// An empty or reserved event name.
    pub fn send_to_meta(
        &self,
        pairs: &[(String, String)],
        event: &str,
        payload: &str,
        req_id: &str,
    ) -> Result<u64, String> {
        let down = Down::new(event, payload, req_id).map_err(|e| e.to_string())?.to_json();
        Ok(self
            .sids_with(pairs)
            .into_iter()
            .filter_map(|sid| self.io.get_socket(sid))
            .filter(|s| s.emit(event, &down).is_ok())
            .count() as u64)
    }

    /// `KickSession`: whether the session was here.
    pub fn kick_session(&self, sid: &str) -> bool {
        self.socket(sid).is_some_and(|s| s.disconnect().is_ok())
    }

    /// `KickMetaSession`: sessions disconnected.
    pub fn kick_meta(&self, key: &str, value: &str) -> u64 {
        self.sids_with(&[(key.to_owned(), value.to_owned())])
            .into_iter()
            .filter_map(|sid| self.io.get_socket(sid))
            .filter(|s| s.clone().disconnect().is_ok())
            .count() as u64
    }
}
