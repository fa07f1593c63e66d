//! The frontend: WebSocket connections carrying [`Frame`]s, each request handed to an instance of
//! the service that registered its protocol id and answered with the request's sequence; the
//! frontend's own `Gate` gRPC API (push, rooms, kick, online), on this frontend or, with
//! `all_nodes`, on every frontend of the registry, their per-node results gathered against a
//! deadline ([`crate::fanout`]).
//!
//! Tokens: the platform's JWT in the upgrade request (`Authorization: Bearer` or `?token=`) or in
//! the first frame (protocol [`AUTH`], the token as payload); the user is the `user-id` claim. A
//! bad or missing token gets an `unauthenticated` error frame and the connection is closed.
//! Without a secret every connection is let in (`?uid=` names the user).
//!
//! Errors never close the connection otherwise: a bad header, an oversized frame, an unknown
//! protocol id, a service without instances, a timeout each get their error frame (with the
//! request's protocol and sequence when the header could be read).

use super::frame::{flags, ErrorCode, Frame, AUTH, FIRST_APP_ID, PING};
use super::hub::{Hub, Out, To};
use super::routes::{RouteError, Routes};
use crate::auth::JwtAuth;
use crate::fanout::{Fanout, NodeResult, Report};
use crate::pb::wsgate as pb;
use crate::registry::Endpoints;
use crate::route::NodeId;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The frontend's settings.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// This frontend's `Gate` gRPC address as the others reach it (its registry value).
    pub node: String,
    /// Largest payload taken (bytes).
    pub max_payload: usize,
    /// How long a logic service has to answer.
    pub call_timeout: Duration,
    /// How long a connection without a token in its upgrade has to send its [`AUTH`] frame.
    pub auth_timeout: Duration,
    /// Frames queued per connection before further ones are not delivered.
    pub queue: usize,
    /// Requests of one connection handled at once (more wait).
    pub in_flight: usize,
    /// How long `all_nodes` actions wait for the other frontends.
    pub fanout_deadline: Duration,
}

impl Default for GateConfig {
    fn default() -> GateConfig {
        GateConfig {
            node: String::new(),
            max_payload: 64 * 1024,
            call_timeout: Duration::from_secs(5),
            auth_timeout: Duration::from_secs(10),
            queue: 256,
            in_flight: 32,
            fanout_deadline: Duration::from_millis(500),
        }
    }
}

/// A frontend.
pub struct Gate {
    cfg: GateConfig,
    hub: Arc<Hub>,
    routes: Arc<Routes>,
    auth: Arc<JwtAuth>,
    peers: Endpoints,
    peer_clients: crate::clients::Clients<pb::gate_client::GateClient<tonic::transport::Channel>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("node", &self.cfg.node).finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn target(t: Option<&pb::Target>) -> Result<To, tonic::Status> {
    use pb::target::To as T;
    match t.and_then(|t| t.to.as_ref()) {
        Some(T::Uid(u)) if !u.is_empty() => Ok(To::Uid(u.clone())),
        Some(T::Room(r)) if !r.is_empty() => Ok(To::Room(r.clone())),
        Some(T::SessionId(s)) if !s.is_empty() => Ok(To::Session(s.clone())),
        Some(T::Everyone(true)) => Ok(To::Everyone),
        _ => Err(tonic::Status::invalid_argument("target: uid, room, session_id or everyone")),
    }
}

impl Gate {
    /// A frontend over `routes`, checking tokens with `auth`; `peers` lists the frontends'
    /// `Gate` addresses (this one's included or not) for `all_nodes` actions.
    pub fn new(cfg: GateConfig, routes: Arc<Routes>, auth: JwtAuth, peers: Endpoints) -> Arc<Gate> {
        let node = if cfg.node.is_empty() {
            uuid::Uuid::now_v7().simple().to_string()[..8].to_owned()
        } else {
            cfg.node.clone()
        };
        Arc::new(Gate {
            hub: Arc::new(Hub::new(&node)),
            cfg,
            routes,
            auth: Arc::new(auth),
            peers,
            peer_clients: crate::clients::Clients::new(pb::gate_client::GateClient::new),
        })
    }

    /// The connections.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The frontends known now (from the registry, or the configured list), this one among them
    /// once it has registered.
    pub fn frontends(&self) -> Vec<String> {
        self.peers.borrow().iter().cloned().collect()
    }

    /// The routing table.
    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }

    /// `GET path`: the WebSocket endpoint.
    pub fn router(self: &Arc<Self>, path: &str) -> axum::Router {
        axum::Router::new().route(path, axum::routing::get(upgrade)).with_state(self.clone())
    }

    /// The `Gate` gRPC service.
    pub fn grpc(self: &Arc<Self>) -> pb::gate_server::GateServer<GateApi> {
        pb::gate_server::GateServer::new(GateApi(self.clone()))
    }

    fn uid_of(&self, token: &str) -> Result<String, String> {
        let claims = self.auth.verify(token, now_secs()).map_err(|e| e.to_string())?;
        ["user-id", "uid", "sub"]
            .iter()
            .find_map(|k| claims.get(*k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned))
            .ok_or_else(|| "the token names no user (user-id)".to_owned())
    }

    /// Serves one connection until it closes.
    async fn connection(self: Arc<Self>, socket: WebSocket, who: Result<Option<String>, String>) {
        let (mut sink, mut stream) = socket.split();
        // the user: from the upgrade, else the first frame
        let uid = match who {
            Ok(Some(uid)) => uid,
            Err(e) => {
                let _ = sink.send(Message::Binary(Frame::error(AUTH, 0, ErrorCode::Unauthenticated, e).encode())).await;
                let _ = sink.close().await;
                return;
            }
            Ok(None) => {
                let first = tokio::time::timeout(self.cfg.auth_timeout, stream.next()).await;
                let (uid, seq) = match first {
                    Ok(Some(Ok(Message::Binary(b)))) => match Frame::decode_bytes(&b, self.cfg.max_payload) {
                        Ok(f) if f.protocol == AUTH => {
                            (self.uid_of(std::str::from_utf8(&f.payload).unwrap_or_default().trim()), f.seq)
                        }
                        Ok(f) => (
                            Err(format!("the first frame must be protocol {AUTH} (the token), not {}", f.protocol)),
                            f.seq,
                        ),
                        Err(e) => (Err(format!("the first frame must be protocol {AUTH} (the token): {e}")), 0),
                    },
                    Ok(_) => return,
                    Err(_) => (Err(format!("no token within {:?}", self.cfg.auth_timeout)), 0),
                };
                match uid {
                    Ok(u) => {
                        let ok = Frame { flags: flags::REPLY, protocol: AUTH, seq, payload: Bytes::new() };
                        let _ = sink.send(Message::Binary(ok.encode())).await;
                        u
                    }
                    Err(e) => {
                        let _ = sink
                            .send(Message::Binary(Frame::error(AUTH, seq, ErrorCode::Unauthenticated, e).encode()))
                            .await;
                        let _ = sink.close().await;
                        return;
                    }
                }
            }
        };
        let (tx, mut rx) = mpsc::channel::<Out>(self.cfg.queue.max(1));
        let sid = self.hub.add(&uid, tx.clone());
        metrics::gauge!("wsgate_connections").increment(1.0);
        // one task per connection: it reads frames and writes what its queue holds (replies,
        // pushes); a request waiting for a permit stops the reading, never the writing (the
        // requests in flight need their replies written to finish)
        let permits = Arc::new(tokio::sync::Semaphore::new(self.cfg.in_flight.max(1)));
        let mut waiting: Option<Frame> = None;
        loop {
            tokio::select! {
                o = rx.recv() => match o {
                    Some(Out::Frame(b)) => {
                        if sink.send(Message::Binary(b)).await.is_err() {
                            break;
                        }
                    }
                    Some(Out::Close(reason)) => {
                        if let Some(b) = reason {
                            let _ = sink.send(Message::Binary(b)).await;
                        }
                        let _ = sink.close().await;
                        break;
                    }
                    None => break,
                },
                p = permits.clone().acquire_owned(), if waiting.is_some() => {
                    let (Ok(permit), Some(f)) = (p, waiting.take()) else { break };
                    self.spawn_request(f, permit, &tx, &uid, &sid);
                }
                m = stream.next(), if waiting.is_none() => {
                    let Some(Ok(m)) = m else { break };
                    let b = match m {
                        Message::Binary(b) => b,
                        Message::Close(_) => break,
                        Message::Text(_) => {
                            let e = Frame::error(0, 0, ErrorCode::BadFrame, "frames are binary WebSocket messages");
                            let _ = tx.try_send(Out::Frame(e.encode()));
                            continue;
                        }
                        _ => continue,
                    };
                    let f = match Frame::decode_bytes(&b, self.cfg.max_payload) {
                        Ok(f) => f,
                        Err(e) => {
                            metrics::counter!("wsgate_bad_frames_total").increment(1);
                            let (p, s) = Frame::peek(&b).unwrap_or((0, 0));
                            let _ = tx.try_send(Out::Frame(Frame::error(p, s, e.code(), e.to_string()).encode()));
                            continue;
                        }
                    };
                    match f.protocol {
                        PING | AUTH => {
                            let _ = tx.try_send(Out::Frame(Frame::reply_to(&f, Bytes::new()).encode()));
                        }
                        p if p < FIRST_APP_ID => {
                            let e = Frame::error(p, f.seq, ErrorCode::UnknownProtocol, format!("protocol {p} is reserved"));
                            let _ = tx.try_send(Out::Frame(e.encode()));
                        }
                        _ => match permits.clone().try_acquire_owned() {
                            Ok(permit) => self.spawn_request(f, permit, &tx, &uid, &sid),
                            Err(_) => waiting = Some(f),
                        },
                    }
                }
            }
        }
        self.hub.remove(&sid);
        metrics::gauge!("wsgate_connections").decrement(1.0);
    }

    /// Hands one request to its service; the answer goes to the connection's queue.
    fn spawn_request(
        self: &Arc<Self>,
        f: Frame,
        permit: tokio::sync::OwnedSemaphorePermit,
        tx: &mpsc::Sender<Out>,
        uid: &str,
        sid: &str,
    ) {
        let (me, tx, uid, sid) = (self.clone(), tx.clone(), uid.to_owned(), sid.to_owned());
        tokio::spawn(async move {
            let out = me.handle(f, &uid, &sid).await;
            // the connection's task drains the queue: waiting here loses no reply
            let _ = tx.send(Out::Frame(out.encode())).await;
            drop(permit);
        });
    }

    /// One request: the service's answer, or an error frame.
    pub async fn handle(&self, f: Frame, uid: &str, sid: &str) -> Frame {
        let started = std::time::Instant::now();
        let picked = match self.routes.pick(f.protocol) {
            Ok(x) => x,
            Err(e @ RouteError::Unknown(_)) => {
                return Frame::error(f.protocol, f.seq, ErrorCode::UnknownProtocol, e.to_string())
            }
            Err(e) => return Frame::error(f.protocol, f.seq, ErrorCode::Unavailable, e.to_string()),
        };
        let req = pb::HandleReq {
            protocol: f.protocol,
            seq: f.seq,
            payload: f.payload.clone(),
            json: f.is_json(),
            uid: uid.to_owned(),
            session_id: sid.to_owned(),
            gate: self.cfg.node.clone(),
        };
        let mut last = String::new();
        let app = &picked.app;
        for inst in picked.order().take(2) {
            let mut c = inst.client.clone();
            let call = tokio::time::timeout(self.cfg.call_timeout, c.handle(req.clone()));
            match call.await {
                Err(_) => {
                    return Frame::error(
                        f.protocol,
                        f.seq,
                        ErrorCode::Timeout,
                        format!("{app} did not answer within {:?}", self.cfg.call_timeout),
                    )
                }
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    metrics::histogram!("wsgate_request_seconds", "app" => app.to_string())
                        .record(started.elapsed().as_secs_f64());
                    if r.code != 0 {
                        return Frame::error(f.protocol, f.seq, ErrorCode::Refused, r.message);
                    }
                    let mut out = Frame::reply_to(&f, r.payload);
                    out.flags = flags::REPLY | if r.json { flags::JSON } else { 0 };
                    return out;
                }
                // not reached (refused, reset before an answer, or canceled by the client
                // because the instance's connection closed before the call was dispatched: a
                // killed instance): the next instance may be
                Ok(Err(s)) if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Cancelled) => {
                    metrics::counter!("wsgate_retries_total").increment(1);
                    last = format!("{} ({}): {}", app, inst.addr, s.message());
                }
                Ok(Err(s)) => {
                    return Frame::error(f.protocol, f.seq, ErrorCode::Internal, format!("{app}: {}", s.message()))
                }
            }
        }
        Frame::error(f.protocol, f.seq, ErrorCode::Unavailable, last)
    }

    /// Delivers `r` to its target's connections on this frontend; how many took it.
    pub fn push_here(&self, r: &pb::PushReq) -> u64 {
        match target(r.target.as_ref()) {
            Ok(to) => self.hub.deliver(&to, Frame::push(r.protocol, r.payload.clone(), r.json).encode()),
            Err(_) => 0,
        }
    }

    /// Delivers `r` here and on every other frontend of the registry; the per-node report.
    pub async fn push_everywhere(&self, r: pb::PushReq) -> Report {
        let local = self.push_here(&r);
        let one = pb::PushReq { all_nodes: false, ..r };
        self.everywhere(local, move |mut c| {
            let req = one.clone();
            async move { Ok(c.push(req).await?.into_inner().delivered as u64) }
        })
        .await
    }

    fn peer(&self, addr: &str) -> Option<pb::gate_client::GateClient<tonic::transport::Channel>> {
        self.peer_clients.get(addr)
    }

    /// Runs `call` on every other frontend of the registry within the deadline, adding `local`
    /// (this frontend's own count).
    async fn everywhere<F, Fut>(&self, local: u64, call: F) -> Report
    where
        F: Fn(pb::gate_client::GateClient<tonic::transport::Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<u64, tonic::Status>> + Send + 'static,
    {
        let others: Vec<String> = self.peers.borrow().iter().filter(|a| **a != self.cfg.node).cloned().collect();
        let me = NodeId::from(self.cfg.node.as_str());
        let start = tokio::time::Instant::now();
        let mut fanout = Fanout::new(
            others.iter().map(|a| NodeId::from(a.as_str())).chain([me.clone()]),
            start.into_std(),
            self.cfg.fanout_deadline,
        );
        fanout.handle_result(&me, NodeResult::Delivered { sessions: local });
        let mut calls = tokio::task::JoinSet::new();
        for a in others {
            let node = NodeId::from(a.as_str());
            match self.peer(&a) {
                Some(c) => {
                    let fut = call(c);
                    calls.spawn(async move {
                        let r = match fut.await {
                            Ok(n) => NodeResult::Delivered { sessions: n },
                            Err(s) => NodeResult::Failed { reason: s.message().to_owned() },
                        };
                        (node, r)
                    });
                }
                None => fanout.handle_result(&node, NodeResult::Failed { reason: format!("{a} is no address") }),
            }
        }
        let deadline = tokio::time::sleep_until(start + self.cfg.fanout_deadline);
        tokio::pin!(deadline);
        while !fanout.is_done() {
            tokio::select! {
                Some(done) = calls.join_next() => {
                    if let Ok((node, r)) = done {
                        fanout.handle_result(&node, r);
                    }
                }
                () = &mut deadline => fanout.handle_timeout(start.into_std() + self.cfg.fanout_deadline),
            }
        }
        calls.detach_all();
        fanout.report()
    }
}

fn failed(r: &Report) -> Vec<String> {
    r.failed().map(|(n, _)| n.to_string()).collect()
}

async fn upgrade(
    State(gate): State<Arc<Gate>>,
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| q.get("token").cloned());
    let who = if !gate.auth.enabled() {
        Ok(Some(q.get("uid").cloned().unwrap_or_else(|| format!("anon-{}", uuid::Uuid::now_v7().simple()))))
    } else {
        match token {
            Some(t) => gate.uid_of(&t).map(Some),
            None => Ok(None),
        }
    };
    let max = gate.cfg.max_payload + super::frame::HEADER_LEN;
    // small buffers: most of a connection's memory is its socket buffers otherwise
    ws.read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(max + 1024)
        .max_frame_size(max + 1024)
        .on_upgrade(move |socket| gate.connection(socket, who))
}

/// The `Gate` gRPC API of a frontend.
#[derive(Debug, Clone)]
pub struct GateApi(Arc<Gate>);

type Res<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl pb::gate_server::Gate for GateApi {
    async fn push(&self, r: tonic::Request<pb::PushReq>) -> Res<pb::PushRes> {
        let r = r.into_inner();
        target(r.target.as_ref())?;
        if !r.all_nodes {
            let local = self.0.push_here(&r);
            return Ok(tonic::Response::new(pb::PushRes { delivered: local as i64, failed_nodes: vec![] }));
        }
        let report = self.0.push_everywhere(r).await;
        Ok(tonic::Response::new(pb::PushRes { delivered: report.delivered() as i64, failed_nodes: failed(&report) }))
    }

    async fn join_room(&self, r: tonic::Request<pb::RoomReq>) -> Res<pb::RoomRes> {
        self.room(r.into_inner(), true).await
    }

    async fn leave_room(&self, r: tonic::Request<pb::RoomReq>) -> Res<pb::RoomRes> {
        self.room(r.into_inner(), false).await
    }

    async fn kick(&self, r: tonic::Request<pb::KickReq>) -> Res<pb::KickRes> {
        let r = r.into_inner();
        let to = target(r.target.as_ref())?;
        let reason = Frame::error(0, 0, ErrorCode::Unauthenticated, "kicked").encode();
        let local = self.0.hub.kick(&to, Some(reason));
        if !r.all_nodes {
            return Ok(tonic::Response::new(pb::KickRes { sessions: local as i64 }));
        }
        let one = pb::KickReq { all_nodes: false, ..r };
        let report = self
            .0
            .everywhere(local, move |mut c| {
                let req = one.clone();
                async move { Ok(c.kick(req).await?.into_inner().sessions as u64) }
            })
            .await;
        Ok(tonic::Response::new(pb::KickRes { sessions: report.delivered() as i64 }))
    }

    async fn online(&self, r: tonic::Request<pb::OnlineReq>) -> Res<pb::OnlineRes> {
        let r = r.into_inner();
        let (sessions, users, online) = self.0.hub.online(&r.uids);
        if !r.all_nodes {
            return Ok(tonic::Response::new(pb::OnlineRes { sessions: sessions as i64, users: users as i64, online }));
        }
        // sessions summed over the frontends; users and the online list as a union
        let seen =
            Arc::new(std::sync::Mutex::new((users, online.into_iter().collect::<std::collections::BTreeSet<_>>())));
        let one = pb::OnlineReq { all_nodes: false, ..r };
        let acc = seen.clone();
        let report = self
            .0
            .everywhere(sessions, move |mut c| {
                let (req, acc) = (one.clone(), acc.clone());
                async move {
                    let o = c.online(req).await?.into_inner();
                    let mut g = acc.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    g.0 += o.users as u64;
                    g.1.extend(o.online);
                    Ok(o.sessions as u64)
                }
            })
            .await;
        let g = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(tonic::Response::new(pb::OnlineRes {
            sessions: report.delivered() as i64,
            users: g.0 as i64,
            online: g.1.iter().cloned().collect(),
        }))
    }
}

impl GateApi {
    async fn room(&self, r: pb::RoomReq, join: bool) -> Res<pb::RoomRes> {
        if r.room.is_empty() {
            return Err(tonic::Status::invalid_argument("room is empty"));
        }
        let to = if !r.session_id.is_empty() {
            To::Session(r.session_id.clone())
        } else if !r.uid.is_empty() {
            To::Uid(r.uid.clone())
        } else {
            return Err(tonic::Status::invalid_argument("uid or session_id"));
        };
        let local = if join { self.0.hub.join(&to, &r.room) } else { self.0.hub.leave(&to, &r.room) };
        if !r.all_nodes {
            return Ok(tonic::Response::new(pb::RoomRes { sessions: local as i64 }));
        }
        let one = pb::RoomReq { all_nodes: false, ..r };
        let report = self
            .0
            .everywhere(local, move |mut c| {
                let req = one.clone();
                async move {
                    let r = if join { c.join_room(req).await? } else { c.leave_room(req).await? };
                    Ok(r.into_inner().sessions as u64)
                }
            })
            .await;
        Ok(tonic::Response::new(pb::RoomRes { sessions: report.delivered() as i64 }))
    }
}
