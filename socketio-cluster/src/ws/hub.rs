//! The connections of one frontend: by session id, by user and by room, and delivery to them.
//! Each connection has a bounded queue its writer drains; a frame for a connection whose queue
//! is full is not delivered (counted as not reached) rather than held: a stalled client cannot
//! grow the frontend's memory.
//!
//! ```
//! use socketio_cluster::ws::hub::{Hub, Out, To};
//! let hub = Hub::new("n1");
//! let (tx, mut rx) = tokio::sync::mpsc::channel(8);
//! let sid = hub.add("u7", tx);
//! assert_eq!(hub.join(&To::Uid("u7".into()), "r1"), 1);
//! assert_eq!(hub.deliver(&To::Room("r1".into()), bytes::Bytes::from_static(b"x")), 1);
//! assert!(matches!(rx.try_recv(), Ok(Out::Frame(_))));
//! hub.remove(&sid);
//! assert_eq!(hub.deliver(&To::Everyone, bytes::Bytes::new()), 0);
//! ```

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc;

/// What a connection's writer is handed.
#[derive(Debug, Clone)]
pub enum Out {
    /// A frame's bytes.
    Frame(Bytes),
    /// Close the connection (kicked), after this reason's error frame if any.
    Close(Option<Bytes>),
}

/// Whom a push or an action is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum To {
    /// Every connection of a user.
    Uid(String),
    /// One connection.
    Session(String),
    /// A room's connections.
    Room(String),
    /// Every connection.
    Everyone,
}

struct Conn {
    uid: String,
    tx: mpsc::Sender<Out>,
    rooms: HashSet<String>,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<String, Conn>,
    by_uid: HashMap<String, HashSet<String>>,
    rooms: HashMap<String, HashSet<String>>,
}

/// The connections of this frontend.
pub struct Hub {
    node: String,
    next: AtomicU64,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Hub {
    /// An empty hub; `node` makes its session ids unique across frontends.
    pub fn new(node: &str) -> Hub {
        Hub { node: node.to_owned(), next: AtomicU64::new(1), inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a connection of user `uid` whose writer drains `tx`; its session id.
    pub fn add(&self, uid: &str, tx: mpsc::Sender<Out>) -> String {
        let sid = format!("{}-{:x}", self.node, self.next.fetch_add(1, Ordering::Relaxed));
        let mut g = self.lock();
        g.by_uid.entry(uid.to_owned()).or_default().insert(sid.clone());
        g.conns.insert(sid.clone(), Conn { uid: uid.to_owned(), tx, rooms: HashSet::new() });
        sid
    }

    /// Removes a connection (it closed) and its memberships.
    pub fn remove(&self, sid: &str) {
        let mut g = self.lock();
        let Some(c) = g.conns.remove(sid) else { return };
        if let Some(s) = g.by_uid.get_mut(&c.uid) {
            s.remove(sid);
            if s.is_empty() {
                g.by_uid.remove(&c.uid);
            }
        }
        for r in c.rooms {
            if let Some(m) = g.rooms.get_mut(&r) {
                m.remove(sid);
                if m.is_empty() {
                    g.rooms.remove(&r);
                }
            }
        }
    }

    /// The session ids `to` names here.
    fn sids(g: &Inner, to: &To) -> Vec<String> {
        match to {
            To::Uid(u) => g.by_uid.get(u).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
            To::Session(s) => {
                if g.conns.contains_key(s) {
                    vec![s.clone()]
                } else {
                    vec![]
                }
            }
            To::Room(r) => g.rooms.get(r).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
            To::Everyone => g.conns.keys().cloned().collect(),
        }
    }

    /// Puts `to`'s connections in `room`; how many.
    pub fn join(&self, to: &To, room: &str) -> u64 {
        let mut g = self.lock();
        let sids = Hub::sids(&g, to);
        for sid in &sids {
            if let Some(c) = g.conns.get_mut(sid) {
                c.rooms.insert(room.to_owned());
            }
            g.rooms.entry(room.to_owned()).or_default().insert(sid.clone());
        }
        sids.len() as u64
    }

    /// Takes `to`'s connections out of `room`; how many were in it.
    pub fn leave(&self, to: &To, room: &str) -> u64 {
        let mut g = self.lock();
        let sids = Hub::sids(&g, to);
        let mut n = 0;
        for sid in &sids {
            if let Some(c) = g.conns.get_mut(sid) {
                if c.rooms.remove(room) {
                    n += 1;
                }
            }
            if let Some(m) = g.rooms.get_mut(room) {
                m.remove(sid);
                if m.is_empty() {
                    g.rooms.remove(room);
                }
            }
        }
        n
    }

    /// Calls `f` with each of `to`'s connections here (no session id copied: a push's path).
    fn each(g: &Inner, to: &To, mut f: impl FnMut(&Conn)) {
        let mut by = |sids: Option<&HashSet<String>>| {
            for sid in sids.into_iter().flatten() {
                if let Some(c) = g.conns.get(sid) {
                    f(c);
                }
            }
        };
        match to {
            To::Uid(u) => by(g.by_uid.get(u)),
            To::Room(r) => by(g.rooms.get(r)),
            To::Session(s) => {
                if let Some(c) = g.conns.get(s) {
                    f(c);
                }
            }
            To::Everyone => g.conns.values().for_each(f),
        }
    }

    /// Queues `frame` to `to`'s connections; how many took it (a full queue does not).
    pub fn deliver(&self, to: &To, frame: Bytes) -> u64 {
        let mut n = 0;
        Hub::each(&self.lock(), to, |c| n += u64::from(c.tx.try_send(Out::Frame(frame.clone())).is_ok()));
        n
    }

    /// Closes `to`'s connections (after `reason`, an error frame, if given); how many were told
    /// (a connection whose queue is full is not, and is not counted).
    pub fn kick(&self, to: &To, reason: Option<Bytes>) -> u64 {
        let mut n = 0;
        Hub::each(&self.lock(), to, |c| n += u64::from(c.tx.try_send(Out::Close(reason.clone())).is_ok()));
        n
    }

    /// (connections, users) here, and which of `uids` have a connection here.
    pub fn online(&self, uids: &[String]) -> (u64, u64, Vec<String>) {
        let g = self.lock();
        let on = uids.iter().filter(|u| g.by_uid.contains_key(*u)).cloned().collect();
        (g.conns.len() as u64, g.by_uid.len() as u64, on)
    }

    /// The user of a connection.
    pub fn uid_of(&self, sid: &str) -> Option<String> {
        self.lock().conns.get(sid).map(|c| c.uid.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_users_and_sessions() {
        let hub = Hub::new("a");
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, mut rx2) = mpsc::channel(4);
        let (tx3, _rx3) = mpsc::channel(1);
        let s1 = hub.add("u1", tx1);
        let s2 = hub.add("u1", tx2);
        let s3 = hub.add("u2", tx3);
        assert_ne!(s1, s2);
        assert_eq!(hub.join(&To::Uid("u1".into()), "r"), 2);
        assert_eq!(hub.join(&To::Session(s3.clone()), "r"), 1);
        assert_eq!(hub.deliver(&To::Room("r".into()), Bytes::from_static(b"1")), 3);
        // u2's queue (1) is full now: not reached
        assert_eq!(hub.deliver(&To::Everyone, Bytes::from_static(b"2")), 2);
        assert_eq!(hub.leave(&To::Session(s1.clone()), "r"), 1);
        assert_eq!(hub.deliver(&To::Room("r".into()), Bytes::from_static(b"3")), 1, "s2 (s3's queue is full)");
        assert_eq!(std::iter::from_fn(|| rx1.try_recv().ok()).count(), 2);
        assert_eq!(std::iter::from_fn(|| rx2.try_recv().ok()).count(), 3);
        assert_eq!(hub.online(&["u1".into(), "u9".into()]), (3, 2, vec!["u1".to_owned()]));
        assert_eq!(hub.kick(&To::Uid("u1".into()), None), 2);
        hub.remove(&s1);
        hub.remove(&s2);
        hub.remove(&s3);
        assert_eq!(hub.online(&[]), (0, 0, vec![]));
        assert_eq!(hub.join(&To::Everyone, "r"), 0);
    }
}
