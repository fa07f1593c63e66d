//! Which node can deliver what: the cluster index and the fan-out plan. Sans-IO: the gateways'
//! reports ([`Update`]) come in through [`Index::apply`], a push asks [`Index::plan`] which nodes
//! to call; no socket, no clock.
//!
//! A node the index has no snapshot of yet (just discovered, or its reports were lost and it
//! was asked to resend) is *unsynced*: it gets every push, so nothing is missed while the index
//! catches up. A synced node gets a room push only when one of its sessions is in the room, and
//! a session push only when it holds the session.
//!
//! ```
//! use socketio_cluster::route::{Index, NodeId, SessionState, Target, Update};
//! let (a, b) = (NodeId::from("gtw-a:25001"), NodeId::from("gtw-b:25001"));
//! let mut ix = Index::default();
//! ix.apply(&a, Update::Snapshot { sessions: vec![] });
//! ix.apply(&b, Update::Snapshot { sessions: vec![] });
//! ix.apply(&a, Update::Connected { sid: "s1".into(), meta: vec![("uid".into(), "7".into())] });
//! ix.apply(&a, Update::Joined { sid: "s1".into(), room: "line-1".into() });
//! assert_eq!(ix.plan(&Target::Room("line-1".into())).nodes, [a.clone()].into());
//! assert_eq!(ix.plan(&Target::Meta { key: "uid".into(), value: "7".into() }).nodes, [a.clone()].into());
//! assert_eq!(ix.plan(&Target::Global).nodes, [a, b].into());
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// A gateway node, named by its gRPC address (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.into())
    }
}

impl From<String> for NodeId {
    fn from(s: String) -> Self {
        NodeId(s.into())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One session as a gateway reports it in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionState {
    /// The Socket.IO session id.
    pub sid: String,
    /// Its rooms (its own sid room left out).
    pub rooms: Vec<String>,
    /// Its metadata (the claims listed in `SocketMetaData`).
    pub meta: Vec<(String, String)>,
}

/// What a gateway reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Update {
    /// Everything the node holds now; replaces what the index knew of it and marks it synced.
    Snapshot {
        /// Its sessions.
        sessions: Vec<SessionState>,
    },
    /// A session connected.
    Connected {
        /// Session id.
        sid: String,
        /// Its metadata.
        meta: Vec<(String, String)>,
    },
    /// A session went away (with its rooms).
    Disconnected {
        /// Session id.
        sid: String,
    },
    /// A session joined a room.
    Joined {
        /// Session id.
        sid: String,
        /// Room.
        room: String,
    },
    /// A session left a room.
    Left {
        /// Session id.
        sid: String,
        /// Room.
        room: String,
    },
}

/// Whom a push is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Every session.
    Global,
    /// The members of a room.
    Room(String),
    /// These sessions.
    Sessions(Vec<String>),
    /// Sessions whose metadata `key` is `value`.
    Meta {
        /// Metadata key.
        key: String,
        /// Value.
        value: String,
    },
    /// Sessions matching any of these key/value pairs.
    MetaAny(Vec<(String, String)>),
}

/// The nodes a push goes to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The nodes to call.
    pub nodes: BTreeSet<NodeId>,
}

#[derive(Debug, Default)]
struct Session {
    rooms: BTreeSet<String>,
    meta: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Node {
    synced: bool,
    sessions: HashMap<String, Session>,
}

type Counts = HashMap<NodeId, usize>;

/// The cluster index: which node holds which sessions, rooms and metadata values.
#[derive(Debug, Default)]
pub struct Index {
    nodes: BTreeMap<NodeId, Node>,
    rooms: HashMap<String, Counts>,
    meta: HashMap<(String, String), Counts>,
    sessions: HashMap<String, NodeId>,
}

fn inc<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Counts>, k: K, node: &NodeId) {
    *m.entry(k).or_default().entry(node.clone()).or_default() += 1;
}

fn dec<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Counts>, k: &K, node: &NodeId) {
    if let Some(c) = m.get_mut(k) {
        if let Some(n) = c.get_mut(node) {
            *n -= 1;
            if *n == 0 {
                c.remove(node);
            }
        }
        if c.is_empty() {
            m.remove(k);
        }
    }
}

/// The nodes in a count map (none for a missing entry).
fn holders(c: Option<&Counts>) -> impl Iterator<Item = NodeId> + '_ {
    c.into_iter().flat_map(|c| c.keys().cloned())
}

impl Index {
    /// Adds a node the registry discovered (unsynced until its first snapshot: it gets every
    /// push meanwhile). Known nodes stay as they are.
    pub fn add_node(&mut self, node: &NodeId) {
        self.nodes.entry(node.clone()).or_default();
    }

    /// Forgets a node and everything it held.
    pub fn remove_node(&mut self, node: &NodeId) {
        self.clear(node);
        self.nodes.remove(node);
    }

    /// Marks a node unsynced (its reports were lost: it gets every push until it resends a
    /// snapshot).
    pub fn desync(&mut self, node: &NodeId) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.synced = false;
        }
    }

    /// The known nodes and whether each is synced.
    pub fn nodes(&self) -> impl Iterator<Item = (&NodeId, bool)> {
        self.nodes.iter().map(|(id, n)| (id, n.synced))
    }

    /// Sessions on a node, as the index knows them.
    pub fn sessions_on(&self, node: &NodeId) -> usize {
        self.nodes.get(node).map_or(0, |n| n.sessions.len())
    }

    /// The `n` rooms with the most members, with their member and node counts, largest first,
    /// and the number of rooms.
    pub fn top_rooms(&self, n: usize) -> (Vec<(&str, usize, usize)>, usize) {
        let mut all: Vec<(&str, usize, usize)> =
            self.rooms.iter().map(|(r, c)| (r.as_str(), c.values().sum(), c.len())).collect();
        let total = all.len();
        if all.len() > n {
            all.select_nth_unstable_by(n, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            all.truncate(n);
        }
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        (all, total)
    }

    fn clear(&mut self, node: &NodeId) {
        let Some(n) = self.nodes.get_mut(node) else { return };
        let old = std::mem::take(&mut n.sessions);
        for (sid, s) in old {
            self.drop_session(node, &sid, s);
        }
    }

    fn drop_session(&mut self, node: &NodeId, sid: &str, s: Session) {
        for r in &s.rooms {
            dec(&mut self.rooms, r, node);
        }
        for kv in s.meta {
            dec(&mut self.meta, &kv, node);
        }
        if self.sessions.get(sid) == Some(node) {
            self.sessions.remove(sid);
        }
    }

    fn connect(&mut self, node: &NodeId, sid: String, meta: Vec<(String, String)>) {
        let old = self.nodes.entry(node.clone()).or_default().sessions.remove(&sid);
        if let Some(old) = old {
            self.drop_session(node, &sid, old);
        }
        for kv in &meta {
            inc(&mut self.meta, kv.clone(), node);
        }
        self.sessions.insert(sid.clone(), node.clone());
        if let Some(n) = self.nodes.get_mut(node) {
            n.sessions.insert(sid, Session { rooms: BTreeSet::new(), meta });
        }
    }

    /// Applies a node's report. Reports about sessions the index does not know (a join before
    /// the connect arrived) add the session.
    pub fn apply(&mut self, node: &NodeId, u: Update) {
        match u {
            Update::Snapshot { sessions } => {
                self.add_node(node);
                self.clear(node);
                for s in sessions {
                    let sid = s.sid.clone();
                    self.connect(node, s.sid, s.meta);
                    for r in s.rooms {
                        self.join(node, &sid, r);
                    }
                }
                if let Some(n) = self.nodes.get_mut(node) {
                    n.synced = true;
                }
            }
            Update::Connected { sid, meta } => self.connect(node, sid, meta),
            Update::Disconnected { sid } => {
                if let Some(s) = self.nodes.get_mut(node).and_then(|n| n.sessions.remove(&sid)) {
                    self.drop_session(node, &sid, s);
                }
            }
            Update::Joined { sid, room } => self.join(node, &sid, room),
            Update::Left { sid, room } => {
                let left = self
                    .nodes
                    .get_mut(node)
                    .and_then(|n| n.sessions.get_mut(&sid))
                    .is_some_and(|s| s.rooms.remove(&room));
                if left {
                    dec(&mut self.rooms, &room, node);
                }
            }
        }
    }

    fn join(&mut self, node: &NodeId, sid: &str, room: String) {
        if !self.nodes.get(node).is_some_and(|n| n.sessions.contains_key(sid)) {
            self.connect(node, sid.to_owned(), Vec::new());
        }
        let Some(s) = self.nodes.get_mut(node).and_then(|n| n.sessions.get_mut(sid)) else { return };
        if s.rooms.insert(room.clone()) {
            inc(&mut self.rooms, room, node);
        }
    }

    /// The nodes a push for `t` goes to: those that hold a matching session, and every unsynced
    /// node.
    pub fn plan(&self, t: &Target) -> Plan {
        let mut nodes: BTreeSet<NodeId> =
            self.nodes.iter().filter(|(_, n)| !n.synced).map(|(id, _)| id.clone()).collect();
        match t {
            Target::Global => nodes.extend(self.nodes.keys().cloned()),
            Target::Room(r) => nodes.extend(holders(self.rooms.get(r))),
            Target::Sessions(sids) => nodes.extend(sids.iter().filter_map(|s| self.sessions.get(s).cloned())),
            Target::Meta { key, value } => nodes.extend(holders(self.meta.get(&(key.clone(), value.clone())))),
            Target::MetaAny(kvs) => nodes.extend(kvs.iter().flat_map(|kv| holders(self.meta.get(kv)))),
        }
        Plan { nodes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(s: &str) -> NodeId {
        NodeId::from(s)
    }

    fn synced(ix: &mut Index, nodes: &[&str]) {
        for x in nodes {
            ix.apply(&n(x), Update::Snapshot { sessions: vec![] });
        }
    }

    #[test]
    fn rooms_sessions_and_meta_route_to_their_holders() {
        let mut ix = Index::default();
        synced(&mut ix, &["a", "b", "c"]);
        ix.apply(&n("a"), Update::Connected { sid: "s1".into(), meta: vec![("uid".into(), "1".into())] });
        ix.apply(&n("b"), Update::Connected { sid: "s2".into(), meta: vec![("uid".into(), "1".into())] });
        ix.apply(&n("a"), Update::Joined { sid: "s1".into(), room: "r".into() });
        ix.apply(&n("b"), Update::Joined { sid: "s2".into(), room: "q".into() });
        let room = |ix: &Index, r: &str| ix.plan(&Target::Room(r.into())).nodes;
        assert_eq!(room(&ix, "r"), [n("a")].into());
        assert_eq!(room(&ix, "nobody"), BTreeSet::new(), "no member anywhere: no call");
        assert_eq!(ix.plan(&Target::Sessions(vec!["s2".into(), "gone".into()])).nodes, [n("b")].into());
        assert_eq!(ix.plan(&Target::Meta { key: "uid".into(), value: "1".into() }).nodes, [n("a"), n("b")].into());
        assert_eq!(ix.plan(&Target::MetaAny(vec![("uid".into(), "2".into())])).nodes, BTreeSet::new());
        // leaving twice counts once; disconnecting drops the session's rooms and metadata
        ix.apply(&n("a"), Update::Left { sid: "s1".into(), room: "r".into() });
        ix.apply(&n("a"), Update::Left { sid: "s1".into(), room: "r".into() });
        assert!(room(&ix, "r").is_empty());
        ix.apply(&n("b"), Update::Disconnected { sid: "s2".into() });
        assert_eq!(ix.plan(&Target::Meta { key: "uid".into(), value: "1".into() }).nodes, [n("a")].into());
        assert!(room(&ix, "q").is_empty());
    }

    #[test]
    fn the_largest_rooms_first_with_their_nodes() {
        let mut ix = Index::default();
        synced(&mut ix, &["a", "b"]);
        for (node, sid, rooms) in
            [("a", "s1", &["big", "mid"][..]), ("b", "s2", &["big", "mid"]), ("b", "s3", &["big", "one"])]
        {
            ix.apply(&n(node), Update::Connected { sid: sid.into(), meta: vec![] });
            for r in rooms {
                ix.apply(&n(node), Update::Joined { sid: sid.into(), room: (*r).into() });
            }
        }
        assert_eq!(ix.top_rooms(2), (vec![("big", 3, 2), ("mid", 2, 2)], 3));
        assert_eq!(ix.top_rooms(10).0.last(), Some(&("one", 1, 1)));
        ix.apply(&n("b"), Update::Disconnected { sid: "s3".into() });
        assert_eq!(ix.top_rooms(10), (vec![("big", 2, 2), ("mid", 2, 2)], 2));
    }

    #[test]
    fn unsynced_nodes_get_everything_until_their_snapshot() {
        let mut ix = Index::default();
        synced(&mut ix, &["a"]);
        ix.add_node(&n("new"));
        assert_eq!(ix.plan(&Target::Room("r".into())).nodes, [n("new")].into());
        let snap = SessionState { sid: "s".into(), rooms: vec!["r".into()], meta: vec![] };
        ix.apply(&n("new"), Update::Snapshot { sessions: vec![snap] });
        assert_eq!(ix.plan(&Target::Room("r".into())).nodes, [n("new")].into());
        assert!(ix.plan(&Target::Room("other".into())).nodes.is_empty());
        ix.desync(&n("a"));
        assert_eq!(ix.plan(&Target::Room("other".into())).nodes, [n("a")].into());
        ix.remove_node(&n("new"));
        assert_eq!(ix.plan(&Target::Room("r".into())).nodes, [n("a")].into(), "only the unsynced one");
        assert_eq!(ix.sessions_on(&n("new")), 0);
    }

    #[test]
    fn a_snapshot_replaces_what_was_known() {
        let mut ix = Index::default();
        synced(&mut ix, &["a"]);
        ix.apply(&n("a"), Update::Joined { sid: "s1".into(), room: "r".into() });
        let snap = SessionState { sid: "s9".into(), rooms: vec!["q".into()], meta: vec![("k".into(), "v".into())] };
        ix.apply(&n("a"), Update::Snapshot { sessions: vec![snap] });
        assert!(ix.plan(&Target::Room("r".into())).nodes.is_empty());
        assert_eq!(ix.plan(&Target::Room("q".into())).nodes, [n("a")].into());
        assert_eq!(ix.sessions_on(&n("a")), 1);
        assert!(ix.plan(&Target::Sessions(vec!["s1".into()])).nodes.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Connect(u8, u8, u8),
        Disconnect(u8, u8),
        Join(u8, u8, u8),
        Leave(u8, u8, u8),
        Snapshot(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3u8, 0..6u8, 0..2u8).prop_map(|(a, b, c)| Op::Connect(a, b, c)),
            (0..3u8, 0..6u8).prop_map(|(a, b)| Op::Disconnect(a, b)),
            (0..3u8, 0..6u8, 0..4u8).prop_map(|(a, b, c)| Op::Join(a, b, c)),
            (0..3u8, 0..6u8, 0..4u8).prop_map(|(a, b, c)| Op::Leave(a, b, c)),
            (0..3u8).prop_map(Op::Snapshot),
        ]
    }

    proptest! {
        /// Against a model of what each node really holds: once every node has sent a snapshot,
        /// a plan is exactly the set of nodes holding a match (nobody missed, nobody called for
        /// nothing).
        #[test]
        fn plans_are_exactly_the_holders(ops in proptest::collection::vec(op(), 0..80)) {
            // model: node -> sid -> (rooms, uid)
            let mut model: BTreeMap<u8, BTreeMap<u8, (BTreeSet<u8>, u8)>> = BTreeMap::new();
            let mut ix = Index::default();
            let node = |x: u8| n(&format!("n{x}"));
            for x in 0..3 {
                model.insert(x, BTreeMap::new());
                ix.apply(&node(x), Update::Snapshot { sessions: vec![] });
            }
            for o in ops {
                match o {
                    Op::Connect(x, s, u) => {
                        // a session id lives on one node at a time
                        if model.values().any(|m| m.contains_key(&s)) { continue; }
                        model.get_mut(&x).unwrap().insert(s, (BTreeSet::new(), u));
                        ix.apply(&node(x), Update::Connected { sid: format!("s{s}"), meta: vec![("uid".into(), u.to_string())] });
                    }
                    Op::Disconnect(x, s) => {
                        model.get_mut(&x).unwrap().remove(&s);
                        ix.apply(&node(x), Update::Disconnected { sid: format!("s{s}") });
                    }
                    Op::Join(x, s, r) => {
                        let Some(sess) = model.get_mut(&x).unwrap().get_mut(&s) else { continue };
                        sess.0.insert(r);
                        ix.apply(&node(x), Update::Joined { sid: format!("s{s}"), room: format!("r{r}") });
                    }
                    Op::Leave(x, s, r) => {
                        if let Some(sess) = model.get_mut(&x).unwrap().get_mut(&s) { sess.0.remove(&r); }
                        ix.apply(&node(x), Update::Left { sid: format!("s{s}"), room: format!("r{r}") });
                    }
                    Op::Snapshot(x) => {
                        let sessions = model[&x].iter().map(|(s, (rooms, u))| SessionState {
                            sid: format!("s{s}"),
                            rooms: rooms.iter().map(|r| format!("r{r}")).collect(),
                            meta: vec![("uid".into(), u.to_string())],
                        }).collect();
                        ix.apply(&node(x), Update::Snapshot { sessions });
                    }
                }
            }
            for r in 0..4u8 {
                let want: BTreeSet<NodeId> = model.iter()
                    .filter(|(_, m)| m.values().any(|(rooms, _)| rooms.contains(&r)))
                    .map(|(x, _)| node(*x)).collect();
                prop_assert_eq!(ix.plan(&Target::Room(format!("r{r}"))).nodes, want);
            }
            for u in 0..2u8 {
                let want: BTreeSet<NodeId> = model.iter()
                    .filter(|(_, m)| m.values().any(|(_, uid)| *uid == u))
                    .map(|(x, _)| node(*x)).collect();
                prop_assert_eq!(ix.plan(&Target::Meta { key: "uid".into(), value: u.to_string() }).nodes, want);
            }
            for s in 0..6u8 {
                let want: BTreeSet<NodeId> = model.iter().filter(|(_, m)| m.contains_key(&s)).map(|(x, _)| node(*x)).collect();
                prop_assert_eq!(ix.plan(&Target::Sessions(vec![format!("s{s}")])).nodes, want);
            }
        }
    }
}
