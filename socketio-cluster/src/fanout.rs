//! One push's per-node results, gathered against a deadline. Sans-IO in quinn's manner: the
//! caller sends to [`Fanout::nodes`], feeds answers to [`Fanout::handle_result`], sleeps until
//! [`Fanout::poll_timeout`] and calls [`Fanout::handle_timeout`]; `now` is always passed in.
//! A node that has not answered by the deadline is reported [`NodeResult::TimedOut`] while the
//! others' results come back (socketioxide's own adapters wait 5 s and report nothing).
//!
//! ```
//! use socketio_cluster::fanout::{Fanout, NodeResult};
//! use socketio_cluster::route::NodeId;
//! use std::time::{Duration, Instant};
//! let (a, b) = (NodeId::from("a"), NodeId::from("b"));
//! let t0 = Instant::now();
//! let mut f = Fanout::new([a.clone(), b.clone()], t0, Duration::from_millis(250));
//! f.handle_result(&a, NodeResult::Delivered { sessions: 3 });
//! assert_eq!(f.poll_timeout(), Some(t0 + Duration::from_millis(250)));
//! f.handle_timeout(t0 + Duration::from_millis(250));
//! let r = f.report();
//! assert_eq!((r.delivered(), r.failed().count()), (3, 1));
//! ```

use crate::route::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The default deadline for a node's answer.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(250);

/// What one node answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeResult {
    /// The node emitted the push to this many of its sessions.
    Delivered {
        /// Sessions reached on that node.
        sessions: u64,
    },
    /// The node was reached and refused, or could not be reached (the transport's words).
    Failed {
        /// Why.
        reason: String,
    },
    /// No answer before the deadline.
    TimedOut,
}

/// The results of one push, by node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// One entry per node the push went to.
    pub nodes: BTreeMap<NodeId, NodeResult>,
}

impl Report {
    /// Sessions reached, over all nodes.
    pub fn delivered(&self) -> u64 {
        self.nodes.values().map(|r| if let NodeResult::Delivered { sessions } = r { *sessions } else { 0 }).sum()
    }

    /// The nodes that failed or timed out.
    pub fn failed(&self) -> impl Iterator<Item = (&NodeId, &NodeResult)> {
        self.nodes.iter().filter(|(_, r)| !matches!(r, NodeResult::Delivered { .. }))
    }
}

/// One push in flight.
#[derive(Debug)]
pub struct Fanout {
    deadline: Instant,
    pending: BTreeSet<NodeId>,
    report: Report,
}

impl Fanout {
    /// A push to `nodes`, started at `now`, answered by `now + timeout`.
    pub fn new(nodes: impl IntoIterator<Item = NodeId>, now: Instant, timeout: Duration) -> Fanout {
        Fanout { deadline: now + timeout, pending: nodes.into_iter().collect(), report: Report::default() }
    }

    /// The nodes still to answer.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeId> {
        self.pending.iter()
    }

    /// A node's answer. Answers from nodes not asked, or after their deadline passed, are
    /// ignored (the report already says `TimedOut`).
    pub fn handle_result(&mut self, node: &NodeId, r: NodeResult) {
        if self.pending.remove(node) {
            self.report.nodes.insert(node.clone(), r);
        }
    }

    /// When [`Fanout::handle_timeout`] is due; `None` once every node answered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.pending.is_empty()).then_some(self.deadline)
    }

    /// Marks the nodes still pending at or after the deadline as timed out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.deadline {
            for n in std::mem::take(&mut self.pending) {
                self.report.nodes.insert(n, NodeResult::TimedOut);
            }
        }
    }

    /// Every node has answered or timed out.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// The results (nodes still pending are not in it: call after [`Fanout::is_done`]).
    pub fn report(self) -> Report {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_timeouts_and_late_answers() {
        let t0 = Instant::now();
        let nodes: Vec<NodeId> = ["a", "b", "c"].into_iter().map(NodeId::from).collect();
        let mut f = Fanout::new(nodes.clone(), t0, DEFAULT_DEADLINE);
        assert_eq!(f.nodes().count(), 3);
        f.handle_result(&nodes[0], NodeResult::Delivered { sessions: 2 });
        f.handle_result(&nodes[1], NodeResult::Failed { reason: "connection refused".into() });
        f.handle_result(&NodeId::from("stranger"), NodeResult::Delivered { sessions: 99 });
        assert!(!f.is_done());
        f.handle_timeout(t0 + Duration::from_millis(100));
        assert!(!f.is_done(), "before the deadline nothing times out");
        f.handle_timeout(t0 + DEFAULT_DEADLINE);
        assert!(f.is_done());
        assert_eq!(f.poll_timeout(), None);
        f.handle_result(&nodes[2], NodeResult::Delivered { sessions: 5 });
        let r = f.report();
        assert_eq!(r.nodes.len(), 3);
        assert_eq!(r.nodes[&nodes[2]], NodeResult::TimedOut, "a late answer does not change the report");
        assert_eq!(r.delivered(), 2);
        assert_eq!(r.failed().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn done_at_once_when_every_node_answers() {
        let t0 = Instant::now();
        let mut f = Fanout::new([NodeId::from("a")], t0, DEFAULT_DEADLINE);
        f.handle_result(&NodeId::from("a"), NodeResult::Delivered { sessions: 1 });
        assert!(f.is_done());
        assert_eq!(f.poll_timeout(), None);
        let empty = Fanout::new([], t0, DEFAULT_DEADLINE);
        assert!(empty.is_done(), "a push nobody can deliver is done at once");
        assert_eq!(empty.report().delivered(), 0);
    }
}
