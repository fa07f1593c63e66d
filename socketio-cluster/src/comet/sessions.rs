//! A comet's live sessions, sans-IO: one per terminal id, a second login replacing the first
//! (whose connection the caller then tells and closes), heartbeats keeping a session alive
//! until its timeout, and duplicates (a retransmitted UDP datagram, a message resent after a lost
//! ack) recognised by sequence.
//!
//! `C` is whatever names a connection for the caller: a WebSocket connection's number, a UDP
//! peer's address.
//!
//! ```
//! use socketio_cluster::comet::id::TerminalId;
//! use socketio_cluster::comet::sessions::{Login, Sessions, Seen};
//! use std::time::{Duration, Instant};
//! let t0 = Instant::now();
//! let mut s = Sessions::new(Duration::from_secs(30));
//! let plug = TerminalId::new(-7).unwrap();
//! assert_eq!(s.login(plug, 1u64, t0), Login::New);
//! assert_eq!(s.accept(plug, &1, 100, t0), Seen::Fresh);
//! assert_eq!(s.accept(plug, &1, 100, t0), Seen::Duplicate); // dropped, acked again
//! assert_eq!(s.login(plug, 2u64, t0), Login::Replaced(1)); // the first is told and closed
//! assert_eq!(s.logout(plug, &1), false); // the old connection closing leaves the new session
//! assert_eq!(s.expire(t0 + Duration::from_secs(31)), vec![(plug, 2)]);
//! ```

use super::id::TerminalId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a login did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login<C> {
    /// The id had no session.
    New,
    /// The id's session on this connection goes on (a repeated login, e.g. a device that did
    /// not get the first answer).
    Again,
    /// The id's session on connection `C` was replaced: tell it and close it.
    Replaced(C),
}

/// What a sequence was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen before: handle it.
    Fresh,
    /// Seen (a retransmission): do not handle it again, but acknowledge it again (the first
    /// ack may have been lost).
    Duplicate,
    /// Older than the window remembers: drop it.
    TooOld,
    /// The sender has no session on this connection.
    NoSession,
}

/// How many sequences behind the newest a [`Window`] remembers.
pub const WINDOW: u32 = 1024;

/// The sequences seen lately (RFC 1982 serial arithmetic, so the u32 may wrap): the newest, and
/// a bitmap of the [`WINDOW`] before it.
#[derive(Debug, Clone, Default)]
pub struct Window {
    top: Option<u32>,
    bits: Box<[u64; (WINDOW / 64) as usize]>,
}

impl Window {
    /// Records `seq`.
    pub fn see(&mut self, seq: u32) -> Seen {
        let Some(top) = self.top else {
            self.top = Some(seq);
            self.set(seq);
            return Seen::Fresh;
        };
        let ahead = seq.wrapping_sub(top);
        if ahead != 0 && ahead < 1 << 31 {
            // newer: forget what slides out of the window
            if ahead >= WINDOW {
                self.bits.fill(0);
            } else {
                for s in 1..=ahead {
                    self.clear(top.wrapping_add(s));
                }
            }
            self.top = Some(seq);
            self.set(seq);
            return Seen::Fresh;
        }
        let behind = top.wrapping_sub(seq);
        if behind >= WINDOW {
            return Seen::TooOld;
        }
        if self.get(seq) {
            Seen::Duplicate
        } else {
            self.set(seq);
            Seen::Fresh
        }
    }

    /// Forgets `seq` (within the window): seen again, it is fresh.
    pub fn forget(&mut self, seq: u32) {
        if let Some(top) = self.top {
            if top.wrapping_sub(seq) < WINDOW {
                self.clear(seq);
            }
        }
    }

    fn slot(seq: u32) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }
    fn set(&mut self, seq: u32) {
        let (w, b) = Window::slot(seq);
        self.bits[w] |= b;
    }
    fn clear(&mut self, seq: u32) {
        let (w, b) = Window::slot(seq);
        self.bits[w] &= !b;
    }
    fn get(&self, seq: u32) -> bool {
        let (w, b) = Window::slot(seq);
        self.bits[w] & b != 0
    }
}

#[derive(Debug)]
struct Entry<C> {
    conn: C,
    last: Instant,
    window: Window,
}

/// The sessions of one comet.
#[derive(Debug)]
pub struct Sessions<C> {
    by_id: HashMap<TerminalId, Entry<C>>,
    timeout: Duration,
}

impl<C: Clone + PartialEq> Sessions<C> {
    /// No sessions; a session not heard from for `timeout` expires.
    pub fn new(timeout: Duration) -> Sessions<C> {
        Sessions { by_id: HashMap::new(), timeout }
    }

    /// `id` logged in on `conn` (its token checked by the caller).
    pub fn login(&mut self, id: TerminalId, conn: C, now: Instant) -> Login<C> {
        let fresh = Entry { conn: conn.clone(), last: now, window: Window::default() };
        match self.by_id.insert(id, fresh) {
            None => Login::New,
            Some(old) if old.conn == conn => {
                // the same connection again: its window goes on (no duplicate slips through)
                if let Some(e) = self.by_id.get_mut(&id) {
                    e.window = old.window;
                }
                Login::Again
            }
            Some(old) => Login::Replaced(old.conn),
        }
    }

    /// `id` was heard from on `conn` (a heartbeat): false when that is not its session.
    pub fn touch(&mut self, id: TerminalId, conn: &C, now: Instant) -> bool {
        match self.by_id.get_mut(&id) {
            Some(e) if e.conn == *conn => {
                e.last = now;
                true
            }
            _ => false,
        }
    }

    /// A packet with `seq` from `id` on `conn`: keeps the session alive and says whether the
    /// sequence is new.
    pub fn accept(&mut self, id: TerminalId, conn: &C, seq: u32, now: Instant) -> Seen {
        match self.by_id.get_mut(&id) {
            Some(e) if e.conn == *conn => {
                e.last = now;
                e.window.see(seq)
            }
            _ => Seen::NoSession,
        }
    }

    /// Forgets that `seq` was seen from `id` on `conn` (it was not handled after all: the same
    /// sequence sent again is fresh).
    pub fn forget(&mut self, id: TerminalId, conn: &C, seq: u32) {
        if let Some(e) = self.by_id.get_mut(&id).filter(|e| e.conn == *conn) {
            e.window.forget(seq);
        }
    }

    /// `conn` closed (or `id` logged out on it): true when that ended `id`'s session (a replaced
    /// connection closing does not end the session that replaced it).
    pub fn logout(&mut self, id: TerminalId, conn: &C) -> bool {
        if self.by_id.get(&id).is_some_and(|e| e.conn == *conn) {
            self.by_id.remove(&id);
            true
        } else {
            false
        }
    }

    /// The connection holding `id`.
    pub fn get(&self, id: TerminalId) -> Option<&C> {
        self.by_id.get(&id).map(|e| &e.conn)
    }

    /// The sessions not heard from within the timeout at `now`, removed.
    pub fn expire(&mut self, now: Instant) -> Vec<(TerminalId, C)> {
        let timeout = self.timeout;
        let mut gone = Vec::new();
        self.by_id.retain(|id, e| {
            let alive = now.saturating_duration_since(e.last) <= timeout;
            if !alive {
                gone.push((*id, e.conn.clone()));
            }
            alive
        });
        gone
    }

    /// When the next session expires unless heard from.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_id.values().map(|e| e.last + self.timeout).min()
    }

    /// How many sessions there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// No sessions.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The ids with a session.
    pub fn ids(&self) -> impl Iterator<Item = TerminalId> + '_ {
        self.by_id.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(v: i64) -> TerminalId {
        TerminalId::new(v).unwrap()
    }

    #[test]
    fn one_session_per_id() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(10));
        assert_eq!(s.login(id(1), "a", t0), Login::New);
        assert_eq!(s.login(id(1), "a", t0), Login::Again);
        assert_eq!(s.login(id(1), "b", t0), Login::Replaced("a"));
        assert_eq!(s.get(id(1)), Some(&"b"));
        assert!(!s.touch(id(1), &"a", t0), "the replaced connection keeps nothing alive");
        assert_eq!(s.accept(id(1), &"a", 1, t0), Seen::NoSession);
        assert!(!s.logout(id(1), &"a"));
        assert_eq!(s.len(), 1);
        assert!(s.logout(id(1), &"b"));
        assert!(s.is_empty());
    }

    #[test]
    fn heartbeats_keep_a_session_until_its_timeout() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut s = Sessions::new(10 * sec);
        s.login(id(-1), 1, t0);
        s.login(id(-2), 2, t0);
        assert_eq!(s.next_deadline(), Some(t0 + 10 * sec));
        assert!(s.touch(id(-1), &1, t0 + 8 * sec));
        assert_eq!(s.expire(t0 + 10 * sec), vec![]);
        assert_eq!(s.expire(t0 + 11 * sec), vec![(id(-2), 2)]);
        assert_eq!(s.next_deadline(), Some(t0 + 18 * sec));
        assert_eq!(s.accept(id(-1), &1, 5, t0 + 17 * sec), Seen::Fresh);
        assert_eq!(s.expire(t0 + 26 * sec), vec![]);
        assert_eq!(s.expire(t0 + 28 * sec), vec![(id(-1), 1)]);
    }

    #[test]
    fn a_new_login_on_another_connection_starts_a_new_window() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(10));
        s.login(id(-5), 1, t0);
        assert_eq!(s.accept(id(-5), &1, 0, t0), Seen::Fresh);
        // the device restarted and counts from 0 again
        s.login(id(-5), 2, t0);
        assert_eq!(s.accept(id(-5), &2, 0, t0), Seen::Fresh);
        // a repeated login on the same connection keeps the window
        s.login(id(-5), 2, t0);
        assert_eq!(s.accept(id(-5), &2, 0, t0), Seen::Duplicate);
    }

    #[test]
    fn window_edges() {
        let mut w = Window::default();
        assert_eq!(w.see(u32::MAX - 1), Seen::Fresh);
        assert_eq!(w.see(1), Seen::Fresh, "across the wrap");
        assert_eq!(w.see(u32::MAX), Seen::Fresh, "late but in the window");
        assert_eq!(w.see(u32::MAX), Seen::Duplicate);
        assert_eq!(w.see(u32::MAX - 1), Seen::Duplicate);
        assert_eq!(w.see(1 + WINDOW), Seen::Fresh);
        assert_eq!(w.see(1), Seen::TooOld);
        assert_eq!(w.see(2), Seen::Fresh, "the last in the window");
        assert_eq!(w.see(1 + 5 * WINDOW), Seen::Fresh, "a jump clears the window");
        assert_eq!(w.see(5 * WINDOW), Seen::Fresh);
        w.forget(5 * WINDOW);
        assert_eq!(w.see(5 * WINDOW), Seen::Fresh, "forgotten: fresh again");
        assert_eq!(w.see(5 * WINDOW), Seen::Duplicate);
    }

    proptest! {
        /// Any order of retransmissions within the window: each sequence is fresh exactly once.
        #[test]
        fn each_sequence_is_fresh_once(start: u32, steps in proptest::collection::vec((0u32..300, 1usize..4), 1..200)) {
            let mut w = Window::default();
            let mut fresh = std::collections::HashSet::new();
            let mut newest = start;
            for (back, copies) in steps {
                // newest moves on; a packet up to 300 behind it arrives 1-3 times
                newest = newest.wrapping_add(1);
                let seq = newest.wrapping_sub(back);
                for _ in 0..copies {
                    match w.see(seq) {
                        Seen::Fresh => prop_assert!(fresh.insert(seq), "{seq} fresh twice"),
                        Seen::Duplicate => prop_assert!(fresh.contains(&seq)),
                        other => prop_assert!(false, "{other:?} within the window"),
                    }
                }
            }
        }
    }
}
