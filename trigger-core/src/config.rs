//! Engine configuration: a plain struct with documented defaults.

use crate::task::Backoff;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Engine configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Config {
    /// Queue weights: a queue with weight 6 is served six times as often as one with weight 1
    /// (asynq's critical 6 / default 3 / low 1 by default). Unlisted queues weigh 1.
    pub queues: BTreeMap<String, u32>,
    /// Serve queues in strict weight order instead of in proportion.
    pub strict_priority: bool,
    /// How long a dequeued task stays leased without a heartbeat (ms). A worker that dies loses
    /// its tasks to the retry set once the lease has run out. Default 30 s.
    pub lease_ms: i64,
    /// Per-attempt timeout when a task sets none (ms). Default 30 min (asynq's).
    pub default_timeout_ms: i64,
    /// Largest payload accepted (bytes). Default 1 MiB.
    pub max_payload_bytes: usize,
    /// Retry delays.
    pub backoff: Backoff,
    /// Archived tasks kept per queue (oldest dropped first). Default 10 000 (asynq's).
    pub archived_max: usize,
    /// Archived tasks older than this are dropped (ms). Default 90 days (asynq's).
    pub archived_ttl_ms: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            queues: [("critical".to_owned(), 6), ("default".to_owned(), 3), ("low".to_owned(), 1)].into(),
            strict_priority: false,
            lease_ms: 30_000,
            default_timeout_ms: 30 * 60_000,
            max_payload_bytes: 1 << 20,
            backoff: Backoff::Upstream,
            archived_max: 10_000,
            archived_ttl_ms: 90 * 86_400_000,
        }
    }
}

impl Config {
    /// The weight of `queue`.
    pub fn weight(&self, queue: &str) -> u32 {
        self.queues.get(queue).copied().unwrap_or(1).max(1)
    }
}
