//! The push side of the cluster: an [`Action`] goes to the gateways [`Index::plan`] names, over a
//! [`Transport`] (gRPC to `socketgtw.SocketGtw`: [`GrpcNodes`]), and the caller gets a
//! [`Report`] of what each node did within the deadline. A node that does not answer in time is
//! reported `TimedOut` and its call is left running (the push still lands if the node is only
//! slow); the others' results come back at once.
//!
//! Until a gateway reports its sessions ([`Index::apply`]), the index keeps it unsynced and it
//! gets every push: with no reports at all this is upstream's fan-out to every node, with
//! per-node results added.

use crate::fanout::{Fanout, NodeResult, Report};
use crate::pb;
use crate::pb::index as ix;
use crate::pb::socket_gtw_client::SocketGtwClient;
use crate::route::{Index, NodeId, SessionState, Target, Update};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tonic::transport::Channel;

/// A push or room action, as the `SocketPush` RPCs carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Join a session to a room.
    JoinRoom {
        /// Session.
        sid: String,
        /// Room.
        room: String,
    },
    /// Take a session out of a room.
    LeaveRoom {
        /// Session.
        sid: String,
        /// Room.
        room: String,
    },
    /// Emit to a room's members.
    BroadcastRoom {
        /// Room.
        room: String,
        /// Event.
        event: String,
        /// Payload text (raw JSON when valid).
        payload: String,
    },
    /// Emit to everyone.
    BroadcastGlobal {
        /// Event.
        event: String,
        /// Payload text.
        payload: String,
    },
    /// Disconnect a session.
    KickSession {
        /// Session.
        sid: String,
    },
    /// Disconnect the sessions whose metadata `key` is `value`.
    KickMeta {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Emit to these sessions.
    SendToSessions {
        /// Sessions.
        sids: Vec<String>,
        /// Event.
        event: String,
        /// Payload text.
        payload: String,
    },
    /// Emit to the sessions matching any key/value pair.
    SendToMeta {
        /// Pairs.
        pairs: Vec<(String, String)>,
        /// Event.
        event: String,
        /// Payload text.
        payload: String,
    },
}

impl Action {
    /// Whom it is for.
    pub fn target(&self) -> Target {
        match self {
            Action::JoinRoom { sid, .. } | Action::LeaveRoom { sid, .. } | Action::KickSession { sid } => {
                Target::Sessions(vec![sid.clone()])
            }
            Action::SendToSessions { sids, .. } => Target::Sessions(sids.clone()),
            Action::BroadcastRoom { room, .. } => Target::Room(room.clone()),
            Action::BroadcastGlobal { .. } => Target::Global,
            Action::KickMeta { key, value } => Target::Meta { key: key.clone(), value: value.clone() },
            Action::SendToMeta { pairs, .. } => Target::MetaAny(pairs.clone()),
        }
    }
}

/// A boxed transport future.
pub type CallFuture = Pin<Box<dyn Future<Output = NodeResult> + Send>>;

/// How actions reach a node.
pub trait Transport: Send + Sync + 'static {
    /// Performs `a` on `node`.
    fn call(&self, node: &NodeId, req_id: &str, a: &Action) -> CallFuture;
    /// The node's session count.
    fn stat(&self, node: &NodeId) -> Pin<Box<dyn Future<Output = Result<i64, String>> + Send>>;
}

/// The header in which a gateway answers how many sessions an action reached.
pub const DELIVERED: &str = "x-delivered";

#[derive(Debug, Clone)]
struct Node {
    channel: Channel,
    gtw: SocketGtwClient<Channel>,
}

/// `socketgtw.SocketGtw` clients, one per gateway (connected lazily); gateways come and go as the
/// registry says ([`GrpcNodes::add`], [`GrpcNodes::remove`]).
#[derive(Debug)]
pub struct GrpcNodes {
    clients: std::sync::RwLock<HashMap<NodeId, Node>>,
    timeout: Duration,
}

impl GrpcNodes {
    /// Clients for `endpoints` (`host:port` or a URI); each call gets `timeout`.
    ///
    /// # Errors
    /// An endpoint that is no URI.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<GrpcNodes, tonic::transport::Error> {
        let nodes = GrpcNodes { clients: std::sync::RwLock::default(), timeout };
        for e in endpoints {
            nodes.add(e)?;
        }
        Ok(nodes)
    }

    /// Adds a gateway (known ones stay as they are); returns its channel.
    ///
    /// # Errors
    /// An endpoint that is no URI.
    pub fn add(&self, endpoint: &str) -> Result<Channel, tonic::transport::Error> {
        let id = NodeId::from(endpoint);
        if let Some(n) = self.read().get(&id) {
            return Ok(n.channel.clone());
        }
        let uri = if endpoint.contains("://") { endpoint.to_owned() } else { format!("http://{endpoint}") };
        let ch = tonic::transport::Endpoint::from_shared(uri)?.connect_timeout(self.timeout).connect_lazy();
        let node = Node { gtw: SocketGtwClient::new(ch.clone()), channel: ch.clone() };
        self.clients.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, node);
        Ok(ch)
    }

    /// Forgets a gateway.
    pub fn remove(&self, node: &NodeId) {
        self.clients.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(node);
    }

    /// The gateways.
    pub fn nodes(&self) -> Vec<NodeId> {
        self.read().keys().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<NodeId, Node>> {
        self.clients.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn client(&self, node: &NodeId) -> Option<SocketGtwClient<Channel>> {
        self.read().get(node).map(|n| n.gtw.clone())
    }
}

fn rq<M>(m: M, timeout: Duration) -> tonic::Request<M> {
    let mut r = tonic::Request::new(m);
    r.set_timeout(timeout);
    r
}

fn delivered<T>(r: Result<tonic::Response<T>, tonic::Status>) -> NodeResult {
    match r {
        // a Go gateway sends no count: reached, number unknown (0)
        Ok(r) => NodeResult::Delivered {
            sessions: r.metadata().get(DELIVERED).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0),
        },
        Err(s) => NodeResult::Failed { reason: format!("{:?}: {}", s.code(), s.message()) },
    }
}

impl Transport for GrpcNodes {
    fn call(&self, node: &NodeId, req_id: &str, a: &Action) -> CallFuture {
        let Some(mut c) = self.client(node) else {
            let reason = format!("unknown node {node}");
            return Box::pin(async move { NodeResult::Failed { reason } });
        };
        let (req_id, a, timeout) = (req_id.to_owned(), a.clone(), self.timeout);
        Box::pin(async move {
            match a {
                Action::JoinRoom { sid, room } => {
                    delivered(c.join_room(rq(pb::JoinRoomReq { req_id, socket_id: sid, room }, timeout)).await)
                }
                Action::LeaveRoom { sid, room } => {
                    delivered(c.leave_room(rq(pb::LeaveRoomReq { req_id, socket_id: sid, room }, timeout)).await)
                }
                Action::BroadcastRoom { room, event, payload } => delivered(
                    c.broadcast_room(rq(pb::BroadcastRoomReq { req_id, room, event, payload }, timeout)).await,
                ),
                Action::BroadcastGlobal { event, payload } => {
                    delivered(c.broadcast_global(rq(pb::BroadcastGlobalReq { req_id, event, payload }, timeout)).await)
                }
                Action::KickSession { sid } => {
                    delivered(c.kick_session(rq(pb::KickSessionReq { req_id, socket_id: sid }, timeout)).await)
                }
                Action::KickMeta { key, value } => {
                    delivered(c.kick_meta_session(rq(pb::KickMetaSessionReq { req_id, key, value }, timeout)).await)
                }
                Action::SendToSessions { sids, event, payload } => delivered(
                    c.send_to_sessions(rq(pb::SendToSessionsReq { req_id, socket_ids: sids, event, payload }, timeout))
                        .await,
                ),
                Action::SendToMeta { pairs, event, payload } => {
                    let meta_sessions =
                        pairs.into_iter().map(|(key, value)| pb::PbMetaSession { key, value }).collect();
                    delivered(
                        c.send_to_meta_sessions(rq(
                            pb::SendToMetaSessionsReq { req_id, meta_sessions, event, payload },
                            timeout,
                        ))
                        .await,
                    )
                }
            }
        })
    }

    fn stat(&self, node: &NodeId) -> Pin<Box<dyn Future<Output = Result<i64, String>> + Send>> {
        let c = self.client(node);
        let timeout = self.timeout;
        Box::pin(async move {
            let mut c = c.ok_or("unknown node")?;
            let mut r = tonic::Request::new(pb::SocketGtwStatReq {});
            r.set_timeout(timeout);
            c.socket_gtw_stat(r).await.map(|r| r.into_inner().sessions).map_err(|s| s.message().to_owned())
        })
    }
}

/// The push side: index, transport, deadline.
pub struct Cluster<T> {
    transport: Arc<T>,
    index: Mutex<Index>,
    deadline: Duration,
}

impl<T: Transport> Cluster<T> {
    /// A cluster of `nodes` reached through `transport`; a node's answer counts until `deadline`.
    pub fn new<'a>(transport: T, nodes: impl IntoIterator<Item = &'a NodeId>, deadline: Duration) -> Cluster<T> {
        let mut index = Index::default();
        for n in nodes {
            index.add_node(n);
        }
        Cluster { transport: Arc::new(transport), index: Mutex::new(index), deadline }
    }

    /// The index, for the gateways' reports.
    pub fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Performs `a` on the nodes that can deliver it; returns when every node answered or the
    /// deadline passed, whichever comes first.
    pub async fn push(&self, req_id: &str, a: &Action) -> Report {
        let plan = self.index().plan(&a.target());
        let start = tokio::time::Instant::now();
        let mut fanout = Fanout::new(plan.nodes.iter().cloned(), start.into_std(), self.deadline);
        let mut calls = tokio::task::JoinSet::new();
        for node in plan.nodes {
            let call = self.transport.call(&node, req_id, a);
            calls.spawn(async move { (node, call.await) });
        }
        let deadline = tokio::time::sleep_until(start + self.deadline);
        tokio::pin!(deadline);
        while !fanout.is_done() {
            tokio::select! {
                Some(done) = calls.join_next() => {
                    if let Ok((node, r)) = done {
                        fanout.handle_result(&node, r);
                    }
                }
                () = &mut deadline => fanout.handle_timeout(start.into_std() + self.deadline),
            }
        }
        // a slow node's call goes on: its push may still land
        calls.detach_all();
        fanout.report()
    }

    /// Every node's session count (`Err` for a node that did not answer in time).
    pub async fn stats(&self) -> Vec<(NodeId, Result<i64, String>)> {
        let nodes: Vec<NodeId> = self.index().nodes().map(|(n, _)| n.clone()).collect();
        let calls = nodes.iter().map(|n| {
            let f = self.transport.stat(n);
            let d = self.deadline;
            async move { tokio::time::timeout(d, f).await.unwrap_or_else(|_| Err("timed out".into())) }
        });
        let results = futures_util::future::join_all(calls).await;
        nodes.into_iter().zip(results).collect()
    }
}

/// The index feed of a gateway (`socketio_cluster.v1.ClusterIndex`), served beside
/// `socketgtw.SocketGtw`.
#[derive(Debug, Clone)]
pub struct IndexFeed {
    /// The gateway.
    pub gw: crate::gateway::Gateway,
}

fn session_pb(s: SessionState) -> ix::Session {
    let meta = s.meta.into_iter().map(|(key, value)| ix::MetaPair { key, value }).collect();
    ix::Session { sid: s.sid, rooms: s.rooms, meta }
}

fn update_pb(u: Update) -> ix::IndexUpdate {
    use ix::index_update::Update as U;
    let u = match u {
        Update::Snapshot { sessions } => {
            U::Snapshot(ix::Snapshot { sessions: sessions.into_iter().map(session_pb).collect() })
        }
        Update::Connected { sid, meta } => U::Connected(session_pb(SessionState { sid, rooms: vec![], meta })),
        Update::Disconnected { sid } => U::Disconnected(ix::SessionGone { sid }),
        Update::Joined { sid, room } => U::Joined(ix::RoomChange { sid, room }),
        Update::Left { sid, room } => U::Left(ix::RoomChange { sid, room }),
    };
    ix::IndexUpdate { update: Some(u) }
}

fn session_of(s: ix::Session) -> SessionState {
    SessionState { sid: s.sid, rooms: s.rooms, meta: s.meta.into_iter().map(|m| (m.key, m.value)).collect() }
}

/// A feed message as an index update (`None` for an empty one).
fn update_of(u: ix::IndexUpdate) -> Option<Update> {
    use ix::index_update::Update as U;
    Some(match u.update? {
        U::Snapshot(s) => Update::Snapshot { sessions: s.sessions.into_iter().map(session_of).collect() },
        U::Connected(s) => {
            let s = session_of(s);
            Update::Connected { sid: s.sid, meta: s.meta }
        }
        U::Disconnected(g) => Update::Disconnected { sid: g.sid },
        U::Joined(c) => Update::Joined { sid: c.sid, room: c.room },
        U::Left(c) => Update::Left { sid: c.sid, room: c.room },
    })
}

type Feed = Pin<Box<dyn tokio_stream::Stream<Item = Result<ix::IndexUpdate, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl ix::cluster_index_server::ClusterIndex for IndexFeed {
    type WatchStream = Feed;

    async fn watch(&self, _: tonic::Request<ix::WatchReq>) -> Result<tonic::Response<Feed>, tonic::Status> {
        use tokio_stream::StreamExt as _;
        let (sessions, rx) = self.gw.watch();
        let first = tokio_stream::once(Ok(update_pb(Update::Snapshot { sessions })));
        // a watcher that fell behind gets an error and starts over from a snapshot
        let rest = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|r| match r {
            Ok(u) => Some(Ok(update_pb(u))),
            Err(e) => Some(Err(tonic::Status::data_loss(e.to_string()))),
        });
        Ok(tonic::Response::new(Box::pin(first.chain(rest))))
    }
}

/// Hears when a node's index feed opens (`true`) and when it breaks (`false`).
pub type Reached = Arc<dyn Fn(&NodeId, bool) + Send + Sync>;

impl Cluster<GrpcNodes> {
    /// Follows the registry: each gateway it names is added (its index feed watched, the index
    /// kept current; a node whose feed breaks is unsynced, so it gets every push, until a new
    /// feed's snapshot arrives), each gateway it drops is forgotten. `reached(node, up)` hears
    /// when a node's feed opens and when it breaks or the node goes. Runs until dropped.
    pub async fn follow(self: Arc<Self>, mut endpoints: crate::registry::Endpoints, reached: Reached) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut running: HashMap<NodeId, tokio::task::AbortHandle> = HashMap::new();
        loop {
            let now: std::collections::BTreeSet<String> = endpoints.borrow_and_update().clone();
            let gone: Vec<NodeId> = running.keys().filter(|n| !now.contains(n.as_str())).cloned().collect();
            for node in gone {
                if let Some(t) = running.remove(&node) {
                    t.abort();
                }
                self.transport.remove(&node);
                self.index().remove_node(&node);
                reached(&node, false);
                tracing::info!(%node, "gateway left");
            }
            while tasks.try_join_next().is_some() {}
            for e in now {
                let node = NodeId::from(e.as_str());
                if running.contains_key(&node) {
                    continue;
                }
                match self.transport.add(&e) {
                    Ok(ch) => {
                        self.index().add_node(&node);
                        let (me, reached, n) = (self.clone(), reached.clone(), node.clone());
                        running.insert(node.clone(), tasks.spawn(async move { me.watch_node(n, ch, reached).await }));
                        tracing::info!(%node, "gateway joined");
                    }
                    Err(err) => tracing::warn!(%node, error = %err, "gateway address refused"),
                }
            }
            if endpoints.changed().await.is_err() {
                // a fixed list: the feeds run on
                std::future::pending::<()>().await;
            }
        }
    }

    /// [`Cluster::follow`] over the gateways the cluster was made with.
    pub async fn watch_all(self: Arc<Self>, reached: Reached) {
        let nodes: Vec<String> = self.transport.nodes().iter().map(|n| n.as_str().to_owned()).collect();
        self.follow(crate::registry::fixed(&nodes), reached).await;
    }

    async fn watch_node(&self, node: NodeId, ch: Channel, reached: Reached) {
        let mut client = ix::cluster_index_client::ClusterIndexClient::new(ch);
        reached(&node, false);
        loop {
            match client.watch(ix::WatchReq {}).await {
                Ok(feed) => {
                    reached(&node, true);
                    let mut feed = feed.into_inner();
                    while let Ok(Some(u)) = feed.message().await {
                        if let Some(u) = update_of(u) {
                            self.index().apply(&node, u);
                        }
                    }
                    tracing::debug!(%node, "index feed ended");
                }
                Err(e) => tracing::debug!(%node, error = %e, "index feed not opened"),
            }
            self.index().desync(&node);
            reached(&node, false);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport whose nodes answer after a delay, or never.
    struct Slow(HashMap<NodeId, Option<Duration>>);

    impl Transport for Slow {
        fn call(&self, node: &NodeId, _: &str, _: &Action) -> CallFuture {
            let d = self.0.get(node).copied().flatten();
            Box::pin(async move {
                match d {
                    Some(d) => {
                        tokio::time::sleep(d).await;
                        NodeResult::Delivered { sessions: 1 }
                    }
                    None => std::future::pending().await,
                }
            })
        }
        fn stat(&self, _: &NodeId) -> Pin<Box<dyn Future<Output = Result<i64, String>> + Send>> {
            Box::pin(async { Ok(1) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_node_is_reported_at_the_deadline_and_the_others_delivered() {
        let (a, b, c) = (NodeId::from("a"), NodeId::from("b"), NodeId::from("c"));
        let t = Slow(
            [
                (a.clone(), Some(Duration::from_millis(10))),
                (b.clone(), Some(Duration::from_millis(100))),
                (c.clone(), None),
            ]
            .into(),
        );
        let cluster = Cluster::new(t, [&a, &b, &c], Duration::from_millis(250));
        let started = tokio::time::Instant::now();
        let a_room = Action::BroadcastRoom { room: "r".into(), event: "e".into(), payload: String::new() };
        let r = cluster.push("1", &a_room).await;
        assert_eq!(started.elapsed(), Duration::from_millis(250), "returns at the deadline, not later");
        assert_eq!(r.delivered(), 2);
        assert_eq!(r.nodes[&c], NodeResult::TimedOut);
        // once the gateways reported, a room push goes to its holders only
        for n in [&a, &b, &c] {
            cluster.index().apply(n, crate::route::Update::Snapshot { sessions: vec![] });
        }
        cluster.index().apply(&a, crate::route::Update::Joined { sid: "s".into(), room: "r".into() });
        let started = tokio::time::Instant::now();
        let r = cluster.push("2", &a_room).await;
        assert_eq!(r.nodes.keys().collect::<Vec<_>>(), [&a]);
        assert_eq!(started.elapsed(), Duration::from_millis(10), "done when the only node answered");
    }
}
