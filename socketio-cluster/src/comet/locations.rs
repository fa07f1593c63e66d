//! Which comet holds which terminal, as the bus knows it: kept by the comets' online and
//! offline events, whatever order they arrive in (a phone that moves from comet A to comet B may
//! have B's online reach the bus before A's offline), and dropped wholesale for a comet that
//! left the registry.
//!
//! Each event carries the login's time `at` (milliseconds, the comet's clock) and a per-comet
//! counter as a tie-break; the newest login wins (the others are to be closed: one live
//! session per id across comets), and an offline removes only the login it names.
//!
//! ```
//! use socketio_cluster::comet::id::TerminalId;
//! use socketio_cluster::comet::locations::{Locations, Login, Online};
//! let phone = TerminalId::new(9).unwrap();
//! let mut l = Locations::default();
//! let on_b = Login { node: "comet-b".into(), at: 2_000, n: 1 };
//! let on_a = Login { node: "comet-a".into(), at: 1_000, n: 7 };
//! assert_eq!(l.online(phone, on_b.clone()), Online::Here(None));
//! // late: B's login is newer, so A's session is to be closed
//! assert_eq!(l.online(phone, on_a.clone()), Online::Stale);
//! assert!(!l.offline(phone, &on_a)); // A's session ended: B's stays
//! assert_eq!(l.get(phone), Some("comet-b"));
//! l.drop_node("comet-b");
//! assert_eq!(l.get(phone), None);
//! ```

use super::id::TerminalId;
use std::collections::HashMap;
use std::sync::Arc;

/// One login of a terminal on a comet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Login {
    /// The comet's node id (its address in the registry).
    pub node: Arc<str>,
    /// When it logged in, in milliseconds since the Unix epoch (the comet's clock).
    pub at: u64,
    /// The comet's counter of logins, for two in the same millisecond.
    pub n: u64,
}

impl Login {
    fn key(&self) -> (u64, u64, &str) {
        (self.at, self.n, &self.node)
    }
}

/// What an online event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Online {
    /// The terminal is now at the login's comet; a session it had elsewhere (`Some`) was
    /// replaced: tell that comet to close it (one live session per id across comets).
    Here(Option<Login>),
    /// A newer login of the same id is known: this one is stale, tell its comet to close it.
    Stale,
}

#[derive(Debug)]
struct Slot {
    login: Login,
    live: bool,
}

/// The table. An ended login is remembered (a tombstone) so that an older login's online
/// arriving later is recognised as stale; [`Locations::prune`] forgets old tombstones.
#[derive(Debug, Default)]
pub struct Locations {
    by_id: HashMap<TerminalId, Slot>,
    live: usize,
}

impl Locations {
    /// `id` logged in as `login`.
    pub fn online(&mut self, id: TerminalId, login: Login) -> Online {
        match self.by_id.get_mut(&id) {
            Some(cur) if cur.login.key() > login.key() => Online::Stale,
            Some(cur) if cur.login == login => {
                if !cur.live {
                    // an online repeated after its offline (a resent event): still ended
                    return Online::Stale;
                }
                Online::Here(None)
            }
            Some(cur) => {
                let was = std::mem::replace(cur, Slot { login, live: true });
                if was.live {
                    Online::Here(Some(was.login))
                } else {
                    self.live += 1;
                    Online::Here(None)
                }
            }
            None => {
                self.by_id.insert(id, Slot { login, live: true });
                self.live += 1;
                Online::Here(None)
            }
        }
    }

    /// `id`'s session of `login` ended: true when that was where it was.
    pub fn offline(&mut self, id: TerminalId, login: &Login) -> bool {
        match self.by_id.get_mut(&id) {
            Some(cur) if cur.live && cur.login == *login => {
                cur.live = false;
                self.live -= 1;
                true
            }
            _ => false,
        }
    }

    /// The comet holding `id`.
    pub fn get(&self, id: TerminalId) -> Option<&str> {
        self.login(id).map(|l| &*l.node)
    }

    /// The live login of `id`.
    pub fn login(&self, id: TerminalId) -> Option<&Login> {
        self.by_id.get(&id).filter(|s| s.live).map(|s| &s.login)
    }

    /// A comet left (its lease expired, it stopped): its terminals are nowhere. How many.
    pub fn drop_node(&mut self, node: &str) -> usize {
        let mut n = 0;
        self.by_id.retain(|_, s| {
            let keep = &*s.login.node != node;
            if !keep && s.live {
                n += 1;
            }
            keep
        });
        self.live -= n;
        n
    }

    /// A comet's full list (it restarted, or the bus did): replaces what the table held for that
    /// comet; newer logins elsewhere are kept, and the stale ones of the list returned (to be
    /// closed).
    pub fn replace_node(
        &mut self,
        node: &str,
        logins: impl IntoIterator<Item = (TerminalId, Login)>,
    ) -> Vec<(TerminalId, Login)> {
        self.drop_node(node);
        let mut stale = vec![];
        for (id, l) in logins {
            if self.online(id, l.clone()) == Online::Stale {
                stale.push((id, l));
            }
        }
        stale
    }

    /// Forgets the tombstones of logins before `at` (ms): an online older than that can no
    /// longer arrive. How many.
    pub fn prune(&mut self, at: u64) -> usize {
        let before = self.by_id.len();
        self.by_id.retain(|_, s| s.live || s.login.at >= at);
        before - self.by_id.len()
    }

    /// Terminals online.
    pub fn len(&self) -> usize {
        self.live
    }

    /// No terminal online.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Terminals online per comet.
    pub fn per_node(&self) -> HashMap<Arc<str>, usize> {
        let mut m = HashMap::new();
        for s in self.by_id.values().filter(|s| s.live) {
            *m.entry(s.login.node.clone()).or_default() += 1;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn login(node: &str, at: u64, n: u64) -> Login {
        Login { node: node.into(), at, n }
    }

    #[test]
    fn newest_login_wins_and_offline_removes_only_its_own() {
        let id = TerminalId::new(-3).unwrap();
        let mut l = Locations::default();
        assert_eq!(l.online(id, login("a", 10, 1)), Online::Here(None));
        assert_eq!(l.online(id, login("a", 10, 1)), Online::Here(None), "repeated");
        assert_eq!(
            l.online(id, login("b", 10, 2)),
            Online::Here(Some(login("a", 10, 1))),
            "same millisecond, later counter: a's session is to be closed"
        );
        assert!(!l.offline(id, &login("a", 10, 1)));
        assert_eq!(l.get(id), Some("b"));
        assert!(l.offline(id, &login("b", 10, 2)));
        assert_eq!((l.get(id), l.len()), (None, 0));
        // an older login's online arriving after the newer one ended: stale, not back online
        assert_eq!(l.online(id, login("a", 9, 5)), Online::Stale);
        assert_eq!(l.online(id, login("b", 10, 2)), Online::Stale, "an online resent after its offline");
        assert_eq!(l.get(id), None);
        assert_eq!(l.prune(11), 1, "the tombstone forgotten");
        // a comet's list after a restart
        l.online(id, login("c", 50, 1));
        let other = TerminalId::new(4).unwrap();
        let stale = l.replace_node("a", [(id, login("a", 40, 1)), (other, login("a", 40, 2))]);
        assert_eq!(stale, vec![(id, login("a", 40, 1))]);
        assert_eq!((l.get(id), l.get(other)), (Some("c"), Some("a")));
        assert_eq!(l.per_node().get("a"), Some(&1));
        assert_eq!(l.drop_node("a"), 1);
        assert_eq!(l.len(), 1);
    }

    proptest! {
        /// Whatever order a terminal's events arrive in, the table ends where the newest login
        /// still online is.
        #[test]
        fn order_does_not_matter(events in proptest::collection::vec((0u8..3, 0u64..20, any::<bool>()), 1..12), seed: u64) {
            let id = TerminalId::new(1).unwrap();
            // each (node, at) login, and whether it also ended
            let logins: Vec<(Login, bool)> = events.iter().enumerate()
                .map(|(n, (node, at, ended))| (login(["a", "b", "c"][*node as usize], *at, n as u64), *ended))
                .collect();
            let mut msgs: Vec<(bool, Login)> = vec![];
            for (l, ended) in &logins {
                msgs.push((true, l.clone()));
                if *ended { msgs.push((false, l.clone())); }
            }
            // a shuffle that keeps each login's online before its offline (a comet sends them in order)
            let mut order: Vec<usize> = (0..msgs.len()).collect();
            let mut x = seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut delivered = vec![false; msgs.len()];
            let mut table = Locations::default();
            let mut pending: Vec<usize> = order;
            while !pending.is_empty() {
                let pos = pending.iter().position(|&i| {
                    let (is_on, l) = &msgs[i];
                    *is_on || msgs.iter().enumerate().any(|(j, (on, m))| *on && m == l && delivered[j])
                }).unwrap();
                let i = pending.remove(pos);
                let (is_on, l) = msgs[i].clone();
                if is_on { table.online(id, l); } else { table.offline(id, &l); }
                delivered[i] = true;
            }
            let newest = logins.iter().max_by(|a, b| a.0.key().cmp(&b.0.key())).unwrap();
            let want = if newest.1 { None } else { Some(&*newest.0.node) };
            prop_assert_eq!(table.get(id), want);
        }
    }
}
