//! A comet: terminals' connections (WebSocket here; UDP in the same session table), their
//! logins checked against the platform's tokens, one session per id, heartbeats and timeouts,
//! messages handed to a bus and acknowledged only once the bus delivered or stored them, and the
//! `comet.v1.Comet` API the bus calls (deliver, kick, list).

use super::id::TerminalId;
use super::locations::Login;
use super::packet::{Kind, Packet, Reason};
use super::sessions::{self, Seen, Sessions};
use crate::auth::JwtAuth;
use crate::pb::comet as pb;
use crate::registry::Endpoints;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// A comet's settings.
#[derive(Debug, Clone)]
pub struct CometConfig {
    /// This comet's node id: the address of its `Comet` API, as registered.
    pub node: String,
    /// Largest payload (bytes).
    pub max_payload: usize,
    /// A session not heard from for this long ends.
    pub session_timeout: Duration,
    /// A bus's time to answer.
    pub bus_timeout: Duration,
    /// Packets queued per connection.
    pub queue: usize,
}

impl Default for CometConfig {
    fn default() -> Self {
        CometConfig {
            node: String::new(),
            max_payload: 4096,
            session_timeout: Duration::from_secs(90),
            bus_timeout: Duration::from_secs(5),
            queue: 64,
        }
    }
}

/// What a connection's writer is told.
#[derive(Debug)]
enum Out {
    Packet(Bytes),
    /// Send this, then close.
    Close(Bytes),
}

/// Where a connection's packets go: a WebSocket's writer task, or a UDP peer.
#[derive(Debug, Clone)]
enum Sink {
    Ws(mpsc::Sender<Out>),
    Udp(Arc<tokio::net::UdpSocket>, SocketAddr),
}

impl Sink {
    /// Queues (or sends) a packet; false when it could not (a full queue, a full socket buffer:
    /// as lost as a datagram).
    fn send(&self, b: Bytes) -> bool {
        match self {
            Sink::Ws(tx) => tx.try_send(Out::Packet(b)).is_ok(),
            Sink::Udp(s, a) => s.try_send_to(&b, *a).is_ok(),
        }
    }

    /// Sends a packet, waiting for room.
    async fn send_wait(&self, b: Bytes) {
        match self {
            Sink::Ws(tx) => {
                let _ = tx.send(Out::Packet(b)).await;
            }
            Sink::Udp(s, a) => {
                let _ = s.send_to(&b, *a).await;
            }
        }
    }

    /// Sends a last packet and closes (a UDP peer is only told).
    fn close(&self, b: Bytes) {
        match self {
            Sink::Ws(tx) => {
                let _ = tx.try_send(Out::Close(b));
            }
            Sink::Udp(s, a) => {
                let _ = s.try_send_to(&b, *a);
            }
        }
    }
}

#[derive(Debug)]
struct Conn {
    tx: Sink,
    /// The terminal logged in on it, and that login.
    who: Option<(TerminalId, Login)>,
    /// Messages handed to the bus and not answered yet (a duplicate of one is not acked early).
    in_flight: HashSet<u32>,
    /// A UDP peer's address.
    addr: Option<SocketAddr>,
}

#[derive(Debug)]
struct Inner {
    sessions: Sessions<u64>,
    conns: HashMap<u64, Conn>,
    /// UDP peers' connections.
    udp: HashMap<SocketAddr, u64>,
    /// Push ids delivered lately, and when (a retried push is not delivered twice).
    pushed: HashMap<String, Instant>,
}

/// How long a delivered push id is remembered.
const PUSH_MEMORY: Duration = Duration::from_secs(600);

/// A comet.
pub struct Comet {
    cfg: CometConfig,
    auth: JwtAuth,
    state: Mutex<Inner>,
    next_conn: AtomicU64,
    logins: AtomicU64,
    buses: Endpoints,
    bus_clients: crate::clients::Clients<pb::bus_client::BusClient<Channel>>,
    rr: AtomicUsize,
    pusher: tokio::sync::watch::Receiver<bool>,
    comet_clients: crate::clients::Clients<pb::comet_client::CometClient<Channel>>,
    outlet: std::sync::OnceLock<Arc<dyn Outlet>>,
    /// Presence events made while no bus was known, told once one is.
    pending: Mutex<Vec<pb::Presence>>,
    /// Messages for the bus (started at the first).
    batches: std::sync::OnceLock<mpsc::Sender<Queued>>,
    counts: Counts,
}

/// What a comet counted since it started.
#[derive(Debug, Default)]
struct Counts {
    logins: AtomicU64,
    messages: AtomicU64,
    duplicates: AtomicU64,
    refused: AtomicU64,
    timeouts: AtomicU64,
}

/// A comet's state at a glance (its dashboard panel).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CometStats {
    /// Terminals with a session here.
    pub sessions: usize,
    /// Connections (WebSocket, and UDP peers that logged in).
    pub connections: usize,
    /// Of them, UDP peers.
    pub udp_peers: usize,
    /// The buses known.
    pub buses: Vec<String>,
    /// The elected pusher of the push API.
    pub pusher: bool,
    /// Logins taken.
    pub logins: u64,
    /// Messages delivered or stored through the bus (or the outlet), and acked.
    pub messages: u64,
    /// Retransmissions dropped (acked again when answered before).
    pub duplicates: u64,
    /// Packets refused (malformed, before a login, bad token, unknown target, unavailable).
    pub refused: u64,
    /// Sessions ended by their timeout.
    pub timeouts: u64,
}

/// A message for the bus and where its answer goes.
type Queued = (pb::Message, tokio::sync::oneshot::Sender<pb::SendRes>);

/// The most messages in one batch to the bus.
const BATCH: usize = 512;

/// Batches on the way to the buses at once.
const BATCHES_IN_FLIGHT: usize = 8;

/// The most presence events kept while no bus is known.
const MAX_PENDING: usize = 100_000;

/// Where a comet hands messages between terminals instead of the bus (the UDP comet's platform
/// URL: device messages POSTed there); uploads still go to the bus.
pub trait Outlet: Send + Sync + 'static {
    /// Hands one message on; the answer is acknowledged (or refused) to its sender.
    fn send(&self, m: pb::Message) -> std::pin::Pin<Box<dyn std::future::Future<Output = pb::SendRes> + Send + '_>>;
}

/// What a push through the push API did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pushed {
    /// Delivered to the device's comet (or dropped there as a push already delivered).
    pub pushed: bool,
    /// Why not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// A push through the push API: `POST /api/v1/push`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushReq {
    /// The terminal.
    pub id: i64,
    /// The push's id: a push retried with the same id is delivered once.
    #[serde(rename = "msgId")]
    pub msg_id: String,
    /// The payload (text).
    pub payload: String,
}

impl std::fmt::Debug for Comet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Comet").field("node", &self.cfg.node).finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn pb_login(l: &Login) -> pb::Login {
    pb::Login { node: l.node.to_string(), at: l.at, n: l.n }
}

impl Comet {
    /// A comet checking logins with `auth` (a token's user must be the terminal's id; with no
    /// secret configured any login is taken), telling the buses of `buses`.
    pub fn new(cfg: CometConfig, auth: JwtAuth, buses: Endpoints) -> Arc<Comet> {
        Comet::with_pusher(cfg, auth, buses, tokio::sync::watch::channel(true).1)
    }

    /// [`Comet::new`], pushing through the push API only while `pusher` is true (the elected
    /// pusher among comets that all receive each push).
    pub fn with_pusher(
        cfg: CometConfig,
        auth: JwtAuth,
        buses: Endpoints,
        pusher: tokio::sync::watch::Receiver<bool>,
    ) -> Arc<Comet> {
        let state = Inner {
            sessions: Sessions::new(cfg.session_timeout),
            conns: HashMap::new(),
            udp: HashMap::new(),
            pushed: HashMap::new(),
        };
        Arc::new(Comet {
            cfg,
            auth,
            state: Mutex::new(state),
            next_conn: AtomicU64::new(1),
            logins: AtomicU64::new(0),
            buses,
            bus_clients: crate::clients::Clients::new(pb::bus_client::BusClient::new),
            rr: AtomicUsize::new(0),
            pusher,
            comet_clients: crate::clients::Clients::new(pb::comet_client::CometClient::new),
            outlet: std::sync::OnceLock::new(),
            pending: Mutex::default(),
            batches: std::sync::OnceLock::new(),
            counts: Counts::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Terminals with a session here.
    pub fn online(&self) -> usize {
        self.state().sessions.len()
    }

    /// The state at a glance.
    pub fn stats(&self) -> CometStats {
        let (sessions, connections, udp_peers) = {
            let st = self.state();
            (st.sessions.len(), st.conns.len(), st.udp.len())
        };
        let c = &self.counts;
        CometStats {
            sessions,
            connections,
            udp_peers,
            buses: self.buses.borrow().iter().cloned().collect(),
            pusher: self.is_pusher(),
            logins: c.logins.load(Ordering::Relaxed),
            messages: c.messages.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
        }
    }

    fn count_duplicate(&self) {
        metrics::counter!("comet_duplicates_total").increment(1);
        self.counts.duplicates.fetch_add(1, Ordering::Relaxed);
    }

    fn bus(&self, addr: &str) -> Option<pb::bus_client::BusClient<Channel>> {
        self.bus_clients.get(addr)
    }

    /// Tells every bus of a presence change; stale logins they name are closed here.
    fn announce(self: &Arc<Self>, events: Vec<pb::Presence>) {
        let buses: Vec<String> = self.buses.borrow().iter().cloned().collect();
        if buses.is_empty() {
            let mut p = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if p.len() + events.len() <= MAX_PENDING {
                p.extend(events);
            }
            return;
        }
        // the first bus publishes the events
        for (i, b) in buses.into_iter().enumerate() {
            let Some(mut c) = self.bus(&b) else { continue };
            let (me, req) = (self.clone(), pb::PresenceReq { events: events.clone(), publish: i == 0 });
            tokio::spawn(async move {
                match tokio::time::timeout(me.cfg.bus_timeout, c.presence(req)).await {
                    Ok(Ok(r)) => {
                        for p in r.into_inner().stale {
                            if let (Ok(id), Some(l)) = (TerminalId::new(p.id), p.login) {
                                me.kick(id, &l);
                            }
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(bus = %b, error = %e.message(), "presence not told"),
                    Err(_) => tracing::warn!(bus = %b, "presence not told: timed out"),
                }
            });
        }
    }

    /// Hands a message to a bus and waits for its answer. Messages go in batches: while
    /// [`BATCHES_IN_FLIGHT`] batches are on the way, the next ones queue and leave together.
    async fn to_bus(self: &Arc<Self>, m: pb::Message) -> pb::SendRes {
        let tx = self.batches.get_or_init(|| {
            let (tx, rx) = mpsc::channel(BATCH * BATCHES_IN_FLIGHT * 2);
            tokio::spawn(Comet::batch_loop(Arc::downgrade(self), rx));
            tx
        });
        let (done, answer) = tokio::sync::oneshot::channel();
        let unavailable =
            |why: &str| pb::SendRes { ok: false, reason: Reason::Unavailable as u32, message: why.into() };
        if tx.send((m, done)).await.is_err() {
            return unavailable("the comet is stopping");
        }
        answer.await.unwrap_or_else(|_| unavailable("the comet is stopping"))
    }

    /// Takes what queued for the bus, up to [`BATCH`] at a time, whenever fewer than
    /// [`BATCHES_IN_FLIGHT`] batches are on the way.
    async fn batch_loop(me: std::sync::Weak<Comet>, mut rx: mpsc::Receiver<Queued>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT));
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            if rx.recv_many(&mut batch, BATCH).await == 0 {
                return;
            }
            let Some(me) = me.upgrade() else { return };
            let b = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            tokio::spawn(async move {
                me.send_batch(b).await;
                drop(slot);
            });
        }
    }

    /// Sends a batch to a bus (round-robin; the next one when one cannot be reached) and hands
    /// each message its answer.
    async fn send_batch(&self, b: Vec<Queued>) {
        let (messages, answers): (Vec<_>, Vec<_>) = b.into_iter().unzip();
        let n = messages.len();
        metrics::histogram!("comet_bus_batch_size").record(n as f64);
        let buses: Vec<String> = self.buses.borrow().iter().cloned().collect();
        let mut batch = pb::Batch { messages };
        let mut last = "no message bus".to_owned();
        let start = self.rr.fetch_add(1, Ordering::Relaxed);
        let tries = buses.len().min(2);
        let mut results = None;
        for k in 0..tries {
            let b = &buses[(start + k) % buses.len()];
            let Some(mut c) = self.bus(b) else { continue };
            let req = if k + 1 < tries { batch.clone() } else { std::mem::take(&mut batch) };
            match tokio::time::timeout(self.cfg.bus_timeout, c.send_batch(req)).await {
                Ok(Ok(r)) if r.get_ref().results.len() == n => {
                    results = Some(r.into_inner().results);
                    break;
                }
                Ok(Ok(r)) => last = format!("{b}: {} answers to {n} messages", r.get_ref().results.len()),
                Ok(Err(e)) => last = format!("{b}: {}", e.message()),
                Err(_) => last = format!("{b}: no answer within {:?}", self.cfg.bus_timeout),
            }
        }
        let results = results
            .unwrap_or_else(|| vec![pb::SendRes { ok: false, reason: Reason::Unavailable as u32, message: last }; n]);
        for (done, r) in answers.into_iter().zip(results) {
            let _ = done.send(r);
        }
    }

    /// Closes `id`'s session of login `l` (replaced on another comet).
    fn kick(self: &Arc<Self>, id: TerminalId, l: &pb::Login) -> bool {
        let mut st = self.state();
        // the id's session here, if it is that login
        let conn = st.sessions.get(id).copied().filter(|k| {
            st.conns
                .get(k)
                .and_then(|c| c.who.as_ref())
                .is_some_and(|(_, login)| login.at == l.at && login.n == l.n && *login.node == l.node)
        });
        let Some(k) = conn else { return false };
        st.sessions.logout(id, &k);
        let mut ended = None;
        if let Some(c) = st.conns.get_mut(&k) {
            ended = c.who.take().map(|(_, l)| pb::Presence { id: id.get(), login: Some(pb_login(&l)), online: false });
            c.tx.close(Packet { to: id.get(), ..Packet::new(Kind::Replaced, 0) }.encode());
        }
        drop(st);
        metrics::counter!("comet_replaced_total").increment(1);
        if let Some(e) = ended {
            self.announce(vec![e]);
        }
        true
    }

    /// Ends the sessions not heard from in time (call every second or so).
    pub fn expire(self: &Arc<Self>, now: Instant) -> usize {
        let mut events = vec![];
        {
            let mut st = self.state();
            let gone = st.sessions.expire(now);
            for (id, k) in gone {
                if let Some(c) = st.conns.get_mut(&k) {
                    if let Some((_, l)) = c.who.take() {
                        events.push(pb::Presence { id: id.get(), login: Some(pb_login(&l)), online: false });
                    }
                    c.tx.close(Packet::refused(0, id.get(), Reason::NotLoggedIn, "timed out").encode());
                }
            }
            // UDP peers without a session (timed out, replaced, refused) are forgotten
            let idle: Vec<(u64, SocketAddr)> =
                st.conns.iter().filter(|(_, c)| c.who.is_none()).filter_map(|(k, c)| Some((*k, c.addr?))).collect();
            for (k, a) in idle {
                st.conns.remove(&k);
                st.udp.remove(&a);
            }
        }
        let n = events.len();
        if n > 0 {
            metrics::counter!("comet_timeouts_total").increment(n as u64);
            self.counts.timeouts.fetch_add(n as u64, Ordering::Relaxed);
            self.announce(events);
        }
        n
    }

    /// Tells the events made while no bus was known once one is (runs until the registry
    /// closes).
    pub async fn follow_buses(self: Arc<Self>) {
        let mut buses = self.buses.clone();
        loop {
            if !buses.borrow_and_update().is_empty() {
                let events =
                    std::mem::take(&mut *self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                if !events.is_empty() {
                    self.announce(events);
                }
            }
            if buses.changed().await.is_err() {
                return;
            }
        }
    }

    /// Runs [`Comet::expire`] every second until the comet is dropped.
    pub async fn expire_every_second(self: Arc<Self>) {
        let mut t = tokio::time::interval(Duration::from_secs(1));
        loop {
            t.tick().await;
            self.expire(Instant::now());
        }
    }

    /// A UDP socket bound to `addr` for [`Comet::serve_udp`], its receive buffer set to
    /// `read_buffer` bytes (0: the system's default; the kernel caps it at
    /// `net.core.rmem_max`): many devices sending at once overflow the default one (~200 KiB,
    /// a few hundred datagrams) and the datagrams beyond are dropped until they are resent.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn bind_udp(addr: SocketAddr, read_buffer: usize) -> std::io::Result<tokio::net::UdpSocket> {
        let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if read_buffer > 0 {
            s.set_recv_buffer_size(read_buffer)?;
        }
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        tokio::net::UdpSocket::from_std(s.into())
    }

    /// Serves terminals over UDP on `socket`, one packet per datagram: a peer address becomes a
    /// connection with its login, and is forgotten once its session ended. Runs until dropped.
    pub async fn serve_udp(self: Arc<Self>, socket: Arc<tokio::net::UdpSocket>) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, addr) = match socket.recv_from(&mut buf).await {
                Ok(x) => x,
                // an ICMP error for an earlier datagram, a signal: the socket goes on
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive");
                    continue;
                }
            };
            metrics::counter!("comet_datagrams_total").increment(1);
            let b = Bytes::copy_from_slice(&buf[..n]);
            let sink = Sink::Udp(socket.clone(), addr);
            let k = {
                let mut st = self.state();
                match st.udp.get(&addr) {
                    Some(k) => *k,
                    // only a login makes a peer a connection (garbage from anywhere keeps nothing)
                    None if n > 2 && b[0] == super::packet::MAGIC && b[2] == Kind::Login as u8 => {
                        let k = self.next_conn.fetch_add(1, Ordering::Relaxed);
                        let c = Conn { tx: sink.clone(), who: None, in_flight: HashSet::new(), addr: Some(addr) };
                        st.conns.insert(k, c);
                        st.udp.insert(addr, k);
                        k
                    }
                    None => 0,
                }
            };
            self.packet(k, &sink, &b);
        }
    }

    /// Hands messages between terminals to `outlet` instead of the bus (uploads still go to the
    /// bus). Set once; false when one was set already.
    pub fn set_outlet(&self, outlet: Arc<dyn Outlet>) -> bool {
        self.outlet.set(outlet).is_ok()
    }

    /// Whether this comet is the pusher now.
    pub fn is_pusher(&self) -> bool {
        *self.pusher.borrow()
    }

    fn comet_client(&self, node: &str) -> Option<pb::comet_client::CometClient<Channel>> {
        self.comet_clients.get(node)
    }

    /// A platform push to terminal `id`: only the pusher pushes (every comet may be given the
    /// same push); the comet holding the terminal (this one, or the one the bus names) delivers
    /// it, once per push id.
    pub async fn push(&self, r: PushReq) -> Pushed {
        let no = |reason: String| Pushed { pushed: false, reason };
        if !self.is_pusher() {
            return no("not the pusher".into());
        }
        let Ok(id) = TerminalId::new(r.id) else { return no("id: 0 names no terminal".into()) };
        let m = pb::Message { from: 0, to: id.get(), seq: 0, flags: 0, payload: r.payload.into(), msg_id: r.msg_id };
        let here = self.state().sessions.get(id).is_some();
        let res = if here {
            self.deliver_here(m)
        } else {
            let mut node = None;
            let buses: Vec<String> = self.buses.borrow().iter().cloned().collect();
            for b in buses {
                let Some(mut c) = self.bus(&b) else { continue };
                if let Ok(Ok(w)) =
                    tokio::time::timeout(self.cfg.bus_timeout, c.r#where(pb::WhereReq { id: id.get() })).await
                {
                    node = w.into_inner().login.map(|l| l.node);
                    break;
                }
            }
            let Some(node) = node else { return no(format!("{id} is not online")) };
            let Some(mut c) = self.comet_client(&node) else { return no(format!("{node} is no address")) };
            match tokio::time::timeout(self.cfg.bus_timeout, c.deliver(m)).await {
                Ok(Ok(r)) => r.into_inner(),
                Ok(Err(e)) => return no(format!("{node}: {}", e.message())),
                Err(_) => return no(format!("{node}: no answer")),
            }
        };
        if res.ok {
            metrics::counter!("comet_pushes_total").increment(1);
        }
        Pushed { pushed: res.ok, reason: res.message }
    }

    /// Delivers `m` to a terminal connected here (a push id delivered lately is not delivered
    /// again, and counts as delivered).
    fn deliver_here(&self, m: pb::Message) -> pb::SendRes {
        let Ok(to) = TerminalId::new(m.to) else {
            return pb::SendRes { ok: false, reason: Reason::Malformed as u32, message: "no target".into() };
        };
        let tx = {
            let mut st = self.state();
            if !m.msg_id.is_empty() {
                let now = Instant::now();
                if st.pushed.len() > 100_000 {
                    st.pushed.retain(|_, at| now.saturating_duration_since(*at) < PUSH_MEMORY);
                }
                if st.pushed.contains_key(&m.msg_id) {
                    metrics::counter!("comet_duplicate_pushes_total").increment(1);
                    return pb::SendRes { ok: true, reason: 0, message: "delivered before".into() };
                }
            }
            let tx = st.sessions.get(to).and_then(|k| st.conns.get(k)).map(|c| c.tx.clone());
            if tx.is_some() && !m.msg_id.is_empty() {
                st.pushed.insert(m.msg_id.clone(), Instant::now());
            }
            tx
        };
        let Some(tx) = tx else {
            return pb::SendRes {
                ok: false,
                reason: Reason::UnknownTarget as u32,
                message: format!("{to} is not on {}", self.cfg.node),
            };
        };
        let mut p = Packet::message(m.seq, m.from, m.to, m.payload);
        p.flags = (m.flags & 0xff) as u8;
        if tx.send(p.encode()) {
            pb::SendRes { ok: true, ..Default::default() }
        } else {
            pb::SendRes { ok: false, reason: Reason::Unavailable as u32, message: format!("{to}'s queue is full") }
        }
    }

    /// `POST /api/v1/push` (JSON [`PushReq`] -> [`Pushed`]): the push API.
    pub fn push_router(self: &Arc<Self>) -> axum::Router {
        async fn handler(State(c): State<Arc<Comet>>, axum::Json(r): axum::Json<PushReq>) -> axum::Json<Pushed> {
            axum::Json(c.push(r).await)
        }
        axum::Router::new().route("/api/v1/push", axum::routing::post(handler)).with_state(self.clone())
    }

    /// `GET path`: the WebSocket endpoint.
    pub fn router(self: &Arc<Self>, path: &str) -> axum::Router {
        axum::Router::new().route(path, axum::routing::get(upgrade)).with_state(self.clone())
    }

    /// The `comet.v1.Comet` gRPC service.
    pub fn grpc(self: &Arc<Self>) -> pb::comet_server::CometServer<CometApi> {
        pb::comet_server::CometServer::new(CometApi(self.clone()))
    }

    fn refuse(&self, tx: &Sink, seq: u32, to: i64, reason: Reason, text: &str) {
        metrics::counter!("comet_refused_total", "reason" => reason.as_str()).increment(1);
        self.counts.refused.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(Packet::refused(seq, to, reason, text).encode());
    }

    /// One packet from connection `k`.
    fn packet(self: &Arc<Self>, k: u64, tx: &Sink, b: &Bytes) {
        let p = match Packet::decode_bytes(b, self.cfg.max_payload) {
            Ok(p) => p,
            Err(e) => {
                let (seq, from) = Packet::peek(b).unwrap_or((0, 0));
                self.refuse(tx, seq, from, e.reason(), &e.to_string());
                return;
            }
        };
        let Ok(from) = TerminalId::new(p.from) else {
            self.refuse(tx, p.seq, 0, Reason::Malformed, "no sending terminal");
            return;
        };
        let now = Instant::now();
        match p.kind {
            Kind::Login => self.login(k, tx, from, &p),
            Kind::Heartbeat => {
                let ok = self.state().sessions.touch(from, &k, now);
                if ok {
                    tx.send(Packet { to: from.get(), ..Packet::new(Kind::HeartbeatAck, p.seq) }.encode());
                } else {
                    self.refuse(tx, p.seq, from.get(), Reason::NotLoggedIn, "log in first");
                }
            }
            Kind::Message => {
                let seen = {
                    let mut st = self.state();
                    let seen = st.sessions.accept(from, &k, p.seq, now);
                    match seen {
                        Seen::Fresh => {
                            if let Some(c) = st.conns.get_mut(&k) {
                                c.in_flight.insert(p.seq);
                            }
                            Seen::Fresh
                        }
                        // a duplicate of one still in flight: its answer is coming
                        Seen::Duplicate if st.conns.get(&k).is_some_and(|c| c.in_flight.contains(&p.seq)) => {
                            Seen::TooOld
                        }
                        other => other,
                    }
                };
                match seen {
                    Seen::NoSession => self.refuse(tx, p.seq, from.get(), Reason::NotLoggedIn, "log in first"),
                    Seen::Duplicate => {
                        self.count_duplicate();
                        let _ = tx.send(Packet::ack_of(&p).encode());
                    }
                    Seen::TooOld => metrics::counter!("comet_duplicates_total").increment(1),
                    Seen::Fresh => {
                        let (me, tx) = (self.clone(), tx.clone());
                        tokio::spawn(async move {
                            let m = pb::Message {
                                from: p.from,
                                to: p.to,
                                seq: p.seq,
                                flags: u32::from(p.flags),
                                payload: p.payload.clone(),
                                msg_id: String::new(),
                            };
                            let r = match me.outlet.get() {
                                Some(o) if m.flags & u32::from(super::packet::flags::UPLOAD) == 0 => o.send(m).await,
                                _ => me.to_bus(m).await,
                            };
                            {
                                let mut st = me.state();
                                if !r.ok {
                                    // not delivered: the same sequence sent again is fresh
                                    st.sessions.forget(from, &k, p.seq);
                                }
                                if let Some(c) = st.conns.get_mut(&k) {
                                    c.in_flight.remove(&p.seq);
                                }
                            }
                            if r.ok {
                                metrics::counter!("comet_messages_total").increment(1);
                                me.counts.messages.fetch_add(1, Ordering::Relaxed);
                                tx.send_wait(Packet::ack_of(&p).encode()).await;
                            } else {
                                let reason = Reason::from_u8(r.reason as u8);
                                me.refuse(&tx, p.seq, p.from, reason, &r.message);
                            }
                        });
                    }
                }
            }
            _ => self.refuse(tx, p.seq, from.get(), Reason::Malformed, "a terminal sends login, heartbeat or message"),
        }
    }

    fn login(self: &Arc<Self>, k: u64, tx: &Sink, id: TerminalId, p: &Packet) {
        if self.auth.enabled() {
            let token = String::from_utf8_lossy(&p.payload);
            let who = self.auth.verify(token.trim(), (now_ms() / 1000) as i64).map(|c| {
                ["user-id", "uid", "sub"].iter().find_map(|key| {
                    c.get(*key)
                        .and_then(|v| v.as_str().map(str::to_owned).or_else(|| v.as_i64().map(|i| i.to_string())))
                })
            });
            match who {
                Ok(Some(u)) if u == id.to_string() => {}
                Ok(_) => return self.refuse(tx, p.seq, id.get(), Reason::BadToken, "the token is not this terminal's"),
                Err(e) => return self.refuse(tx, p.seq, id.get(), Reason::BadToken, &e.to_string()),
            }
        }
        let login =
            Login { node: self.cfg.node.as_str().into(), at: now_ms(), n: self.logins.fetch_add(1, Ordering::Relaxed) };
        let mut events = vec![];
        {
            let mut st = self.state();
            match st.sessions.login(id, k, Instant::now()) {
                sessions::Login::Again => {
                    tx.send(Packet { to: id.get(), ..Packet::new(Kind::LoginOk, p.seq) }.encode());
                    return;
                }
                sessions::Login::Replaced(old) => {
                    if let Some(c) = st.conns.get_mut(&old) {
                        if let Some((_, l)) = c.who.take() {
                            events.push(pb::Presence { id: id.get(), login: Some(pb_login(&l)), online: false });
                        }
                        c.tx.close(Packet { to: id.get(), ..Packet::new(Kind::Replaced, 0) }.encode());
                    }
                    metrics::counter!("comet_replaced_total").increment(1);
                }
                sessions::Login::New => {}
            }
            if let Some(c) = st.conns.get_mut(&k) {
                // the connection's previous terminal, if another logged in on it
                if let Some((prev, l)) = c.who.take() {
                    if prev != id {
                        st.sessions.logout(prev, &k);
                        events.push(pb::Presence { id: prev.get(), login: Some(pb_login(&l)), online: false });
                    }
                }
            }
            if let Some(c) = st.conns.get_mut(&k) {
                c.who = Some((id, login.clone()));
            }
        }
        events.push(pb::Presence { id: id.get(), login: Some(pb_login(&login)), online: true });
        metrics::counter!("comet_logins_total").increment(1);
        self.counts.logins.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(Packet { to: id.get(), ..Packet::new(Kind::LoginOk, p.seq) }.encode());
        self.announce(events);
    }

    /// A connection closed.
    fn closed(self: &Arc<Self>, k: u64) {
        let event = {
            let mut st = self.state();
            let c = st.conns.remove(&k);
            match c.and_then(|c| c.who) {
                Some((id, l)) => {
                    let ended = st.sessions.logout(id, &k);
                    ended.then(|| pb::Presence { id: id.get(), login: Some(pb_login(&l)), online: false })
                }
                None => None,
            }
        };
        if let Some(e) = event {
            self.announce(vec![e]);
        }
    }

    async fn connection(self: Arc<Self>, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::channel::<Out>(self.cfg.queue.max(1));
        let k = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.state()
            .conns
            .insert(k, Conn { tx: Sink::Ws(tx.clone()), who: None, in_flight: HashSet::new(), addr: None });
        let out = Sink::Ws(tx.clone());
        metrics::gauge!("comet_connections").increment(1.0);
        loop {
            tokio::select! {
                o = rx.recv() => match o {
                    Some(Out::Packet(b)) => {
                        if sink.send(Message::Binary(b)).await.is_err() {
                            break;
                        }
                    }
                    Some(Out::Close(b)) => {
                        let _ = sink.send(Message::Binary(b)).await;
                        let _ = sink.close().await;
                        break;
                    }
                    None => break,
                },
                m = stream.next() => {
                    let Some(Ok(m)) = m else { break };
                    match m {
                        Message::Binary(b) => self.packet(k, &out, &b),
                        Message::Close(_) => break,
                        Message::Text(_) => self.refuse(&out, 0, 0, Reason::Malformed, "packets are binary WebSocket messages"),
                        _ => {}
                    }
                }
            }
        }
        self.closed(k);
        metrics::gauge!("comet_connections").decrement(1.0);
    }
}

async fn upgrade(State(comet): State<Arc<Comet>>, ws: WebSocketUpgrade) -> Response {
    let max = comet.cfg.max_payload + super::packet::HEADER_LEN;
    ws.read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(max + 1024)
        .max_frame_size(max + 1024)
        .on_upgrade(move |socket| comet.connection(socket))
}

/// `comet.v1.Comet` over a [`Comet`].
#[derive(Debug, Clone)]
pub struct CometApi(Arc<Comet>);

type Res<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl pb::comet_server::Comet for CometApi {
    async fn deliver(&self, r: tonic::Request<pb::Message>) -> Res<pb::SendRes> {
        let m = r.into_inner();
        if m.to == 0 {
            return Err(tonic::Status::invalid_argument("to: 0 names no terminal"));
        }
        Ok(tonic::Response::new(self.0.deliver_here(m)))
    }

    async fn kick(&self, r: tonic::Request<pb::KickReq>) -> Res<pb::KickRes> {
        let r = r.into_inner();
        let (Ok(id), Some(l)) = (TerminalId::new(r.id), r.login) else {
            return Err(tonic::Status::invalid_argument("a terminal id and its login"));
        };
        Ok(tonic::Response::new(pb::KickRes { closed: self.0.kick(id, &l) }))
    }

    async fn list(&self, _r: tonic::Request<pb::ListReq>) -> Res<pb::ListRes> {
        let st = self.0.state();
        let sessions = st
            .conns
            .values()
            .filter_map(|c| c.who.as_ref())
            .map(|(id, l)| pb::Presence { id: id.get(), login: Some(pb_login(l)), online: true })
            .collect();
        Ok(tonic::Response::new(pb::ListRes { sessions }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comet::bus::{Bus, Store, Stored};
    use crate::comet::client::UdpTerminal;
    use std::future::Future;
    use std::pin::Pin;

    /// Takes uploads after a pause, counting the rounds (one per `store_many`).
    #[derive(Default)]
    struct Slow {
        stored: AtomicU64,
        rounds: AtomicU64,
    }

    impl Store for Slow {
        fn store(&self, _m: pb::Message) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            Box::pin(async {
                self.stored.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        }

        fn store_many(&self, ms: Vec<pb::Message>) -> Stored<'_> {
            self.rounds.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.stored.fetch_add(ms.len() as u64, Ordering::Relaxed);
                vec![Ok(()); ms.len()]
            })
        }
    }

    #[tokio::test]
    async fn a_udp_socket_with_a_larger_receive_buffer() {
        let default = Comet::bind_udp("127.0.0.1:0".parse().unwrap(), 0).unwrap();
        let big = Comet::bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        let size = |s: &tokio::net::UdpSocket| socket2::SockRef::from(s).recv_buffer_size().unwrap();
        // Linux doubles what is asked (bookkeeping), up to net.core.rmem_max
        assert!(size(&big) >= (1 << 20).min(size(&default) * 2), "{} vs {}", size(&big), size(&default));
        assert!(size(&big) > size(&default));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uploads_sent_at_once_reach_the_bus_in_batches_and_each_is_acked() {
        let store = Arc::new(Slow::default());
        let bus = Bus::new(store.clone(), Duration::from_secs(2));
        let bl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bus_addr = bl.local_addr().unwrap().to_string();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(bus.grpc())
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(bl)),
        );
        let cfg = CometConfig { node: "test".into(), ..Default::default() };
        let comet = Comet::new(cfg, JwtAuth::new("", "", 0), crate::registry::fixed(&[bus_addr]));
        let udp = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = udp.local_addr().unwrap().to_string();
        let serving = tokio::spawn(comet.clone().serve_udp(udp));
        let dev = UdpTerminal::connect(&addr).await.unwrap();
        let ok = dev.request(&Packet::login(-7, ""), Duration::from_millis(500), 10).await.unwrap();
        assert_eq!(ok.kind, Kind::LoginOk);
        let n = 300u32;
        let mut acked = HashSet::new();
        // sent at once, and what is unanswered again every 300 ms (a datagram dropped on a full
        // socket buffer), as a device does
        let until = Instant::now() + Duration::from_secs(10);
        while acked.len() < n as usize && Instant::now() < until {
            for seq in (1..=n).filter(|s| !acked.contains(s)) {
                dev.send(&Packet::upload(seq, -7, b"x".to_vec())).await.unwrap();
            }
            while let Ok(p) = dev.next_within(Duration::from_millis(300)).await {
                assert_eq!(p.kind, Kind::Ack, "{p:?}");
                acked.insert(p.seq);
            }
        }
        assert_eq!(acked.len(), n as usize, "every upload acked");
        assert_eq!(store.stored.load(Ordering::Relaxed), u64::from(n));
        let rounds = store.rounds.load(Ordering::Relaxed);
        assert!(rounds <= u64::from(n) / 4, "{n} uploads in {rounds} batches");
        serving.abort();
        server.abort();
    }
}
