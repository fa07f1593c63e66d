//! Tasks: what is enqueued ([`NewTask`]), what is stored ([`TaskInfo`]), their states and the
//! retry curves.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: the core's only notion of time (passed in by the caller).
pub type Millis = i64;

/// A task's state. The numbers are asynq's (`TaskInfoPb.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TaskState {
    /// Being processed by a worker (1).
    Active,
    /// Ready to run (2).
    Pending,
    /// Waiting for its time (3).
    Scheduled,
    /// Failed, waiting for its next attempt (4).
    Retry,
    /// Out of attempts or archived by hand; kept for inspection (5).
    Archived,
    /// Done, kept for its retention (6).
    Completed,
}

impl TaskState {
    /// Every state, in asynq's numbering order.
    pub const ALL: [TaskState; 6] = [
        TaskState::Active,
        TaskState::Pending,
        TaskState::Scheduled,
        TaskState::Retry,
        TaskState::Archived,
        TaskState::Completed,
    ];

    /// asynq's number.
    pub fn code(self) -> i32 {
        match self {
            TaskState::Active => 1,
            TaskState::Pending => 2,
            TaskState::Scheduled => 3,
            TaskState::Retry => 4,
            TaskState::Archived => 5,
            TaskState::Completed => 6,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Active => "active",
            TaskState::Pending => "pending",
            TaskState::Scheduled => "scheduled",
            TaskState::Retry => "retry",
            TaskState::Archived => "archived",
            TaskState::Completed => "completed",
        }
    }

    /// The state of a name as [`TaskState::name`] gives it.
    pub fn from_name(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// asynq's default number of retries when none is given.
pub const DEFAULT_MAX_RETRY: u32 = 25;

/// A task to enqueue. Build with [`NewTask::new`] and the `with_*` setters.
///
/// # Examples
/// ```
/// use trigger_core::task::NewTask;
/// let t = NewTask::new("critical", "defer:triggerTask", br#"{"url":"http://127.0.0.1:1/x"}"#.to_vec())
///     .with_id("order-42")
///     .with_process_at(1_700_000_000_000)
///     .with_max_retry(3);
/// assert_eq!(t.max_retry, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// Id; empty for a new UUID.
    pub id: String,
    /// Queue.
    pub queue: String,
    /// Type (handler selector), e.g. `defer:triggerTask`.
    pub kind: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Attempts after the first failure before the task is archived.
    pub max_retry: u32,
    /// Run no earlier than this; `None` for now.
    pub process_at: Option<Millis>,
    /// Longest one attempt may run, in ms; `None` for the engine default.
    pub timeout_ms: Option<i64>,
    /// An attempt must end by then; the task is archived when it passes.
    pub deadline: Option<Millis>,
    /// Keep a completed task this long (ms); 0 deletes it at once.
    pub retention_ms: i64,
    /// While a task with this key is live (not completed/archived, within `unique_ttl_ms`), an
    /// enqueue with the same key fails with [`crate::Error::Duplicate`].
    pub unique_key: Option<String>,
    /// How long the unique key holds (ms).
    pub unique_ttl_ms: i64,
}

impl NewTask {
    /// A task of `kind` on `queue` with `payload`, asynq's defaults otherwise.
    pub fn new(queue: impl Into<String>, kind: impl Into<String>, payload: Vec<u8>) -> NewTask {
        NewTask {
            id: String::new(),
            queue: queue.into(),
            kind: kind.into(),
            payload,
            max_retry: DEFAULT_MAX_RETRY,
            process_at: None,
            timeout_ms: None,
            deadline: None,
            retention_ms: 0,
            unique_key: None,
            unique_ttl_ms: 0,
        }
    }
    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }
    /// Runs at `at` (ms since the epoch).
    pub fn with_process_at(mut self, at: Millis) -> Self {
        self.process_at = Some(at);
        self
    }
    /// Sets the retry count.
    pub fn with_max_retry(mut self, n: u32) -> Self {
        self.max_retry = n;
        self
    }
    /// Sets the per-attempt timeout.
    pub fn with_timeout_ms(mut self, ms: i64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
    /// Sets the deadline.
    pub fn with_deadline(mut self, at: Millis) -> Self {
        self.deadline = Some(at);
        self
    }
    /// Keeps the completed task for `ms`.
    pub fn with_retention_ms(mut self, ms: i64) -> Self {
        self.retention_ms = ms;
        self
    }
    /// The stored form of this task just after it was enqueued at `now` under its id
    /// (`self.id`, which must be set): pending when due, else scheduled.
    pub fn into_info(self, now: Millis) -> TaskInfo {
        let at = self.process_at.unwrap_or(now).max(now);
        TaskInfo {
            id: self.id,
            queue: self.queue,
            kind: self.kind,
            payload: self.payload,
            state: if at > now { TaskState::Scheduled } else { TaskState::Pending },
            max_retry: self.max_retry,
            retried: 0,
            last_err: String::new(),
            last_failed_at: None,
            timeout_ms: self.timeout_ms,
            deadline: self.deadline,
            next_process_at: at,
            retention_ms: self.retention_ms,
            completed_at: None,
            result: vec![],
            unique_key: self.unique_key,
            lease_until: None,
        }
    }

    /// Makes the task unique under `key` for `ttl_ms`.
    pub fn with_unique(mut self, key: impl Into<String>, ttl_ms: i64) -> Self {
        self.unique_key = Some(key.into());
        self.unique_ttl_ms = ttl_ms;
        self
    }
}

/// A stored task (asynq's `TaskInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Id.
    pub id: String,
    /// Queue.
    pub queue: String,
    /// Type.
    pub kind: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// State.
    pub state: TaskState,
    /// Retry limit.
    pub max_retry: u32,
    /// Retries so far.
    pub retried: u32,
    /// Last error.
    pub last_err: String,
    /// When it last failed.
    pub last_failed_at: Option<Millis>,
    /// Per-attempt timeout (ms), if set.
    pub timeout_ms: Option<i64>,
    /// Deadline, if set.
    pub deadline: Option<Millis>,
    /// When it is due next (scheduled and retry tasks), or was enqueued (pending).
    pub next_process_at: Millis,
    /// Retention after completion (ms).
    pub retention_ms: i64,
    /// When it completed.
    pub completed_at: Option<Millis>,
    /// The result its handler returned.
    pub result: Vec<u8>,
    /// Its unique key.
    pub unique_key: Option<String>,
    /// Lease end while active: past it, the task is taken to have been lost with its worker.
    pub lease_until: Option<Millis>,
}

impl TaskInfo {
    /// True when an active task's lease ran out (its worker is gone).
    pub fn is_orphaned(&self, now: Millis) -> bool {
        self.state == TaskState::Active && self.lease_until.is_some_and(|l| l < now)
    }
}

/// How long to wait before retry number `n` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "Kind", rename_all = "lowercase", rename_all_fields = "PascalCase")]
#[non_exhaustive]
pub enum Backoff {
    /// asynq's default: `n^4 + 15 + rand(0..29) * (n + 1)` seconds.
    #[default]
    Upstream,
    /// Always the same delay.
    Fixed {
        /// Delay (ms).
        ms: i64,
    },
    /// `base * 2^(n-1)`, at most `cap`.
    Exponential {
        /// First delay (ms).
        base_ms: i64,
        /// Largest delay (ms).
        cap_ms: i64,
    },
}

impl Backoff {
    /// The delay before retry `n` (1-based) in ms; `rand` is a uniform random number.
    pub fn delay_ms(self, n: u32, rand: u64) -> i64 {
        let n64 = i64::from(n);
        match self {
            Backoff::Upstream => {
                let r = (rand % 30) as i64;
                n64.saturating_pow(4).saturating_add(15).saturating_add(r.saturating_mul(n64 + 1)).saturating_mul(1000)
            }
            Backoff::Fixed { ms } => ms.max(0),
            Backoff::Exponential { base_ms, cap_ms } => {
                let shift = n.saturating_sub(1).min(62);
                base_ms.max(0).saturating_mul(1i64 << shift).min(cap_ms.max(0))
            }
        }
    }
}

/// What a handler decided about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done; `result` is kept with the completed task.
    Success {
        /// Result text.
        result: Vec<u8>,
    },
    /// Failed; retry (or archive once out of retries).
    Retry {
        /// Error text.
        error: String,
    },
    /// Failed for good: archive without retrying.
    Archive {
        /// Error text.
        error: String,
    },
}

impl Outcome {
    /// Success with a result text.
    pub fn success(result: impl Into<Vec<u8>>) -> Outcome {
        Outcome::Success { result: result.into() }
    }
    /// A retryable failure.
    pub fn retry(error: impl Into<String>) -> Outcome {
        Outcome::Retry { error: error.into() }
    }
    /// A final failure.
    pub fn archive(error: impl Into<String>) -> Outcome {
        Outcome::Archive { error: error.into() }
    }
}

/// Per-queue counts and counters (asynq's `QueueInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueInfo {
    /// Queue.
    pub queue: String,
    /// Tasks in the queue (every state but completed/archived).
    pub size: i64,
    /// Pending.
    pub pending: i64,
    /// Active.
    pub active: i64,
    /// Scheduled.
    pub scheduled: i64,
    /// Retry.
    pub retry: i64,
    /// Archived.
    pub archived: i64,
    /// Completed.
    pub completed: i64,
    /// Processed today (succeeded + failed).
    pub processed: i64,
    /// Failed today.
    pub failed: i64,
    /// Processed ever.
    pub processed_total: i64,
    /// Failed ever.
    pub failed_total: i64,
    /// Paused.
    pub paused: bool,
    /// Age of the oldest pending task (ms).
    pub latency_ms: i64,
}

/// Processed and failed counts of one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyStat {
    /// Day number (days since the epoch, UTC).
    pub day: i64,
    /// Processed that day.
    pub processed: i64,
    /// Failed that day.
    pub failed: i64,
}

/// The day number of `now`.
pub fn day_of(now: Millis) -> i64 {
    now.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_curve_matches_asynq() {
        // n^4 + 15 + r*(n+1) seconds
        assert_eq!(Backoff::Upstream.delay_ms(1, 0), 16_000);
        assert_eq!(Backoff::Upstream.delay_ms(1, 29), (1 + 15 + 29 * 2) * 1000);
        assert_eq!(Backoff::Upstream.delay_ms(3, 30), (81 + 15) * 1000);
        assert_eq!(Backoff::Upstream.delay_ms(10, 1), (10_000 + 15 + 11) * 1000);
    }

    #[test]
    fn exponential_is_capped_and_fixed_is_fixed() {
        let b = Backoff::Exponential { base_ms: 1000, cap_ms: 30 * 60_000 };
        assert_eq!(b.delay_ms(1, 7), 1000);
        assert_eq!(b.delay_ms(4, 7), 8000);
        assert_eq!(b.delay_ms(40, 7), 30 * 60_000);
        assert_eq!(b.delay_ms(u32::MAX, 7), 30 * 60_000);
        assert_eq!(Backoff::Fixed { ms: 250 }.delay_ms(9, 3), 250);
    }

    #[test]
    fn state_codes_are_asynqs() {
        let codes: Vec<i32> = TaskState::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6]);
        assert_eq!(TaskState::from_name("retry"), Some(TaskState::Retry));
        assert_eq!(TaskState::from_name("nope"), None);
    }
}
