//! The sans-IO scheduling core: every task state, transition and timer of one engine, in
//! memory, with no clock and no I/O. The caller passes `now` into each call, asks
//! [`Core::poll_timeout`] when the next timer is due, and calls [`Core::handle_timeout`] then
//! (quinn's `handle_timeout`/`poll_timeout` shape). [`crate::store::MemoryStore`] drives it from
//! tokio; the Redis store applies the same rules in Lua scripts.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::task::{day_of, DailyStat, Millis, NewTask, Outcome, QueueInfo, TaskInfo, TaskState};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Checks a new task against the engine's rules (shared by every store).
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty or malformed queue or type, an oversized payload or a
/// non-positive timeout; [`Error::PastTime`] for a deadline that has passed.
pub fn validate(t: &NewTask, now: Millis, cfg: &Config) -> Result<()> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    };
    if !name_ok(&t.queue) {
        return Err(Error::InvalidArgument(format!("queue {:?}: 1..128 of A-Z a-z 0-9 _ - . :", t.queue)));
    }
    if t.kind.is_empty() || t.kind.len() > 256 {
        return Err(Error::InvalidArgument("type: 1..256 bytes".into()));
    }
    if t.id.len() > 256 || t.id.contains(['{', '}']) {
        return Err(Error::InvalidArgument(format!("id {:?}: at most 256 bytes, no braces", t.id)));
    }
    if t.payload.len() > cfg.max_payload_bytes {
        return Err(Error::InvalidArgument(format!(
            "payload of {} bytes exceeds the limit of {}",
            t.payload.len(),
            cfg.max_payload_bytes
        )));
    }
    if t.timeout_ms.is_some_and(|ms| ms <= 0) {
        return Err(Error::InvalidArgument("timeout must be positive".into()));
    }
    if let Some(d) = t.deadline {
        if d <= now {
            return Err(Error::PastTime(format!("deadline {d} is not after now ({now})")));
        }
    }
    if t.retention_ms < 0 || t.unique_ttl_ms < 0 {
        return Err(Error::InvalidArgument("retention and unique TTL must not be negative".into()));
    }
    if t.unique_key.is_some() && t.unique_ttl_ms == 0 {
        return Err(Error::InvalidArgument("a unique key needs a positive TTL".into()));
    }
    Ok(())
}

/// A dequeued task: run it, then report with the same lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// The task (state active).
    pub task: TaskInfo,
    /// The attempt must end by then (timeout or deadline, whichever is first).
    pub run_until: Millis,
}

/// The end of one attempt, as reported to a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// Queue.
    pub queue: String,
    /// Task id.
    pub id: String,
    /// What happened.
    pub outcome: Outcome,
}

/// A queue's counters (see [`Core::counters`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Days since the epoch.
    pub day: i64,
    /// Processed that day.
    pub processed: i64,
    /// Failed that day.
    pub failed: i64,
    /// Processed ever.
    pub processed_total: i64,
    /// Failed ever.
    pub failed_total: i64,
}

#[derive(Debug, Default)]
struct Queue {
    tasks: HashMap<String, TaskInfo>,
    pending: VecDeque<String>,
    /// scheduled and retry tasks by due time
    due: BTreeSet<(Millis, String)>,
    /// active tasks by lease end
    leases: BTreeSet<(Millis, String)>,
    /// completed tasks by expiry
    expiry: BTreeSet<(Millis, String)>,
    /// archived tasks by archive time
    archived: BTreeSet<(Millis, String)>,
    paused: bool,
    processed_total: i64,
    failed_total: i64,
    daily: BTreeMap<i64, (i64, i64)>,
    /// smooth weighted round-robin credit
    credit: i64,
    /// ids whose entry changed since the last [`Core::take_changed`]
    changed: Vec<String>,
}

impl Queue {
    fn count(&self, s: TaskState) -> i64 {
        match s {
            TaskState::Pending => self.pending.len() as i64,
            TaskState::Active => self.leases.len() as i64,
            TaskState::Completed => self.expiry.len() as i64,
            TaskState::Archived => self.archived.len() as i64,
            TaskState::Scheduled | TaskState::Retry => {
                self.due.iter().filter(|(_, id)| self.tasks.get(id).is_some_and(|t| t.state == s)).count() as i64
            }
        }
    }

    fn record(&mut self, now: Millis, failed: bool) {
        let d = self.daily.entry(day_of(now)).or_default();
        d.0 += 1;
        self.processed_total += 1;
        if failed {
            d.1 += 1;
            self.failed_total += 1;
        }
    }

    /// Takes `id` out of whatever index holds it.
    fn unindex(&mut self, t: &TaskInfo) {
        match t.state {
            TaskState::Pending => self.pending.retain(|x| x != &t.id),
            TaskState::Scheduled | TaskState::Retry => {
                self.due.remove(&(t.next_process_at, t.id.clone()));
            }
            TaskState::Active => {
                if let Some(l) = t.lease_until {
                    self.leases.remove(&(l, t.id.clone()));
                }
            }
            TaskState::Completed => {
                let exp = t.completed_at.unwrap_or(0) + t.retention_ms;
                self.expiry.remove(&(exp, t.id.clone()));
            }
            TaskState::Archived => {
                self.archived.remove(&(t.last_failed_at.unwrap_or(0), t.id.clone()));
            }
        }
    }
}

/// The in-memory engine. See the [module docs](self).
#[derive(Debug)]
pub struct Core {
    cfg: Config,
    queues: BTreeMap<String, Queue>,
    /// unique key -> (expiry, queue, id)
    uniques: HashMap<String, (Millis, String, String)>,
    rng: fastrand::Rng,
}

impl Core {
    /// An empty engine.
    pub fn new(cfg: Config) -> Core {
        Core { cfg, queues: BTreeMap::new(), uniques: HashMap::new(), rng: fastrand::Rng::new() }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn queue(&self, q: &str) -> Result<&Queue> {
        self.queues.get(q).ok_or_else(|| Error::QueueNotFound(q.to_owned()))
    }

    fn queue_mut(&mut self, q: &str) -> Result<&mut Queue> {
        self.queues.get_mut(q).ok_or_else(|| Error::QueueNotFound(q.to_owned()))
    }

    /// Enqueues a task: pending when due, else scheduled.
    ///
    /// # Errors
    /// [`validate`]'s errors; [`Error::TaskIdConflict`] for an id in use in the queue;
    /// [`Error::Duplicate`] while a task with the same unique key is live.
    pub fn enqueue(&mut self, t: NewTask, now: Millis) -> Result<TaskInfo> {
        validate(&t, now, &self.cfg)?;
        let id = if t.id.is_empty() { uuid::Uuid::now_v7().to_string() } else { t.id };
        if self.queues.get(&t.queue).is_some_and(|q| q.tasks.contains_key(&id)) {
            return Err(Error::TaskIdConflict(id));
        }
        if let Some(k) = &t.unique_key {
            if let Some((exp, q, other)) = self.uniques.get(k) {
                let live = *exp > now
                    && self
                        .queues
                        .get(q)
                        .and_then(|q| q.tasks.get(other))
                        .is_some_and(|o| !matches!(o.state, TaskState::Completed | TaskState::Archived));
                if live {
                    return Err(Error::Duplicate(k.clone()));
                }
            }
            self.uniques.insert(k.clone(), (now + t.unique_ttl_ms, t.queue.clone(), id.clone()));
        }
        let queue = t.queue.clone();
        let info = NewTask { id: id.clone(), ..t }.into_info(now);
        let state = info.state;
        let q = self.queues.entry(queue).or_default();
        match state {
            TaskState::Pending => q.pending.push_back(id.clone()),
            _ => {
                q.due.insert((info.next_process_at, id.clone()));
            }
        }
        q.changed.push(id.clone());
        q.tasks.insert(id, info.clone());
        Ok(info)
    }

    /// The next queue to serve: smooth weighted round-robin (or strict order) over the queues
    /// with pending work that are not paused.
    fn pick(&mut self) -> Option<String> {
        let ready: Vec<(String, i64)> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.paused && !q.pending.is_empty())
            .map(|(n, _)| (n.clone(), i64::from(self.cfg.weight(n))))
            .collect();
        if ready.is_empty() {
            return None;
        }
        if self.cfg.strict_priority {
            return ready.into_iter().max_by_key(|(_, w)| *w).map(|(n, _)| n);
        }
        let total: i64 = ready.iter().map(|(_, w)| w).sum();
        let mut best: Option<(String, i64)> = None;
        for (n, w) in &ready {
            let q = self.queues.get_mut(n).expect("listed");
            q.credit += w;
            if best.as_ref().is_none_or(|(_, c)| q.credit > *c) {
                best = Some((n.clone(), q.credit));
            }
        }
        let (name, _) = best?;
        self.queues.get_mut(&name).expect("listed").credit -= total;
        Some(name)
    }

    /// Takes up to `max` due tasks for running (state active, leased for [`Config::lease_ms`]).
    /// A task whose deadline has passed is archived instead of handed out.
    pub fn dequeue(&mut self, max: usize, now: Millis) -> Vec<Lease> {
        self.handle_timeout(now);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(name) = self.pick() else { break };
            let lease_ms = self.cfg.lease_ms;
            let default_timeout = self.cfg.default_timeout_ms;
            let q = self.queues.get_mut(&name).expect("picked");
            let Some(id) = q.pending.pop_front() else { continue };
            let Some(t) = q.tasks.get_mut(&id) else { continue };
            q.changed.push(id.clone());
            if t.deadline.is_some_and(|d| d <= now) {
                t.state = TaskState::Archived;
                t.last_err = "deadline exceeded".into();
                t.last_failed_at = Some(now);
                q.archived.insert((now, id));
                q.record(now, true);
                continue;
            }
            let run_until = (now + t.timeout_ms.unwrap_or(default_timeout)).min(t.deadline.unwrap_or(Millis::MAX));
            t.state = TaskState::Active;
            t.lease_until = Some(now + lease_ms);
            q.leases.insert((now + lease_ms, id));
            out.push(Lease { task: t.clone(), run_until });
        }
        out
    }

    /// Extends the leases of running tasks `(queue, id)` (a worker's heartbeat). Returns those
    /// no longer active (their lease ran out and they moved on): their workers should stop them.
    pub fn extend(&mut self, running: Vec<(String, String)>, now: Millis) -> Vec<(String, String)> {
        let lease = now + self.cfg.lease_ms;
        let mut lost = vec![];
        for (queue, id) in running {
            let t = self.queues.get_mut(&queue).and_then(|q| q.tasks.get_mut(&id).map(|t| (t, &mut q.leases)));
            match t {
                Some((t, leases)) if t.state == TaskState::Active => {
                    if let Some(old) = t.lease_until.replace(lease) {
                        leases.remove(&(old, id.clone()));
                    }
                    leases.insert((lease, id));
                }
                _ => lost.push((queue, id)),
            }
        }
        lost
    }

    /// Applies the end of an attempt. An ack for a task that is no longer active (its lease
    /// ran out and it was moved on) is ignored: the attempt still counts as at-least-once.
    pub fn ack(&mut self, ack: Ack, now: Millis) -> Option<TaskState> {
        let backoff = self.cfg.backoff;
        let jitter = self.rng.u64(..);
        let archived_max = self.cfg.archived_max;
        let q = self.queues.get_mut(&ack.queue)?;
        let t = q.tasks.get(&ack.id)?;
        if t.state != TaskState::Active {
            return None;
        }
        let t = t.clone();
        q.changed.push(t.id.clone());
        q.unindex(&t);
        let mut t = t;
        t.lease_until = None;
        match ack.outcome {
            Outcome::Success { result } => {
                q.record(now, false);
                if t.retention_ms > 0 {
                    t.state = TaskState::Completed;
                    t.completed_at = Some(now);
                    t.result = result;
                    q.expiry.insert((now + t.retention_ms, t.id.clone()));
                    q.tasks.insert(t.id.clone(), t);
                } else {
                    q.tasks.remove(&t.id);
                    if let Some(k) = &t.unique_key {
                        self.uniques.remove(k);
                    }
                }
                Some(TaskState::Completed)
            }
            Outcome::Retry { error } if t.retried < t.max_retry => {
                q.record(now, true);
                t.retried += 1;
                t.last_err = error;
                t.last_failed_at = Some(now);
                t.state = TaskState::Retry;
                t.next_process_at = now + backoff.delay_ms(t.retried, jitter);
                q.due.insert((t.next_process_at, t.id.clone()));
                q.tasks.insert(t.id.clone(), t);
                Some(TaskState::Retry)
            }
            Outcome::Retry { error } | Outcome::Archive { error } => {
                q.record(now, true);
                t.last_err = error;
                t.last_failed_at = Some(now);
                t.state = TaskState::Archived;
                q.archived.insert((now, t.id.clone()));
                q.tasks.insert(t.id.clone(), t);
                while q.archived.len() > archived_max {
                    if let Some((_, old)) = q.archived.pop_first() {
                        q.changed.push(old.clone());
                        q.tasks.remove(&old);
                    }
                }
                Some(TaskState::Archived)
            }
        }
    }

    /// The next time [`Core::handle_timeout`] has work: a scheduled task due, a lease or a
    /// retention running out.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.queues
            .values()
            .flat_map(|q| {
                let due = if q.paused { None } else { q.due.first().map(|x| x.0) };
                [due, q.leases.first().map(|x| x.0), q.expiry.first().map(|x| x.0)]
            })
            .flatten()
            .min()
    }

    /// Moves due scheduled/retry tasks to pending, fails tasks whose lease ran out (their
    /// worker is gone: they retry), and drops completed tasks past their retention and
    /// archived tasks past [`Config::archived_ttl_ms`].
    pub fn handle_timeout(&mut self, now: Millis) {
        let names: Vec<String> = self.queues.keys().cloned().collect();
        for name in names {
            let archived_ttl = self.cfg.archived_ttl_ms;
            let q = self.queues.get_mut(&name).expect("listed");
            while let Some((at, id)) = q.due.first().cloned() {
                if at > now {
                    break;
                }
                q.due.pop_first();
                if let Some(t) = q.tasks.get_mut(&id) {
                    t.state = TaskState::Pending;
                    q.changed.push(id.clone());
                    q.pending.push_back(id);
                }
            }
            // a lost worker's tasks: ack() below takes them out of the lease index
            let lost: Vec<String> = q.leases.iter().take_while(|x| x.0 <= now).map(|x| x.1.clone()).collect();
            while let Some((at, id)) = q.expiry.first().cloned() {
                if at > now {
                    break;
                }
                q.expiry.pop_first();
                q.changed.push(id.clone());
                q.tasks.remove(&id);
            }
            while let Some((at, id)) = q.archived.first().cloned() {
                if at + archived_ttl > now {
                    break;
                }
                q.archived.pop_first();
                q.changed.push(id.clone());
                q.tasks.remove(&id);
            }
            for id in lost {
                self.ack(Ack { queue: name.clone(), id, outcome: Outcome::retry("lease expired: worker lost") }, now);
            }
        }
    }

    /// The tasks whose stored form changed since the last call, as `(queue, id, task)`:
    /// `None` for a task that is gone. A persistent store writes these through.
    pub fn take_changed(&mut self) -> Vec<(String, String, Option<TaskInfo>)> {
        let mut out = vec![];
        for (name, q) in &mut self.queues {
            let mut ids = std::mem::take(&mut q.changed);
            ids.sort_unstable();
            ids.dedup();
            out.extend(ids.into_iter().map(|id| {
                let t = q.tasks.get(&id).cloned();
                (name.clone(), id, t)
            }));
        }
        out
    }

    /// Whether `queue` is paused.
    pub fn is_paused(&self, queue: &str) -> bool {
        self.queues.get(queue).is_some_and(|q| q.paused)
    }

    /// Puts back a task read from persistent storage (a restart). A task that was active lost
    /// its worker with the old process: it is pending again (at-least-once). A live unique key
    /// holds until the task completes (its TTL is not stored).
    pub fn restore(&mut self, mut t: TaskInfo, now: Millis) {
        if t.state == TaskState::Active {
            t.state = TaskState::Pending;
            t.lease_until = None;
        }
        if let Some(k) = &t.unique_key {
            if !matches!(t.state, TaskState::Completed | TaskState::Archived) {
                self.uniques.insert(k.clone(), (Millis::MAX, t.queue.clone(), t.id.clone()));
            }
        }
        let q = self.queues.entry(t.queue.clone()).or_default();
        match t.state {
            TaskState::Pending => q.pending.push_back(t.id.clone()),
            TaskState::Scheduled | TaskState::Retry => {
                q.due.insert((t.next_process_at, t.id.clone()));
            }
            TaskState::Completed => {
                q.expiry.insert((t.completed_at.unwrap_or(now) + t.retention_ms, t.id.clone()));
            }
            _ => {
                q.archived.insert((t.last_failed_at.unwrap_or(now), t.id.clone()));
            }
        }
        q.tasks.insert(t.id.clone(), t);
    }

    /// Creates an empty queue (a restart restores paused queues this way).
    pub fn ensure_queue(&mut self, queue: &str) {
        self.queues.entry(queue.to_owned()).or_default();
    }

    /// One task.
    ///
    /// # Errors
    /// [`Error::QueueNotFound`], [`Error::TaskNotFound`].
    pub fn task(&self, queue: &str, id: &str) -> Result<TaskInfo> {
        self.queue(queue)?
            .tasks
            .get(id)
            .cloned()
            .ok_or_else(|| Error::TaskNotFound { queue: queue.into(), id: id.into() })
    }

    fn take(&mut self, queue: &str, id: &str, op: &'static str) -> Result<(&mut Queue, TaskInfo)> {
        let q = self.queue_mut(queue)?;
        let t = q.tasks.get(id).cloned().ok_or_else(|| Error::TaskNotFound { queue: queue.into(), id: id.into() })?;
        if t.state == TaskState::Active {
            return Err(Error::WrongState { id: id.into(), state: t.state.name(), op });
        }
        Ok((q, t))
    }

    /// Deletes a task that is not active.
    ///
    /// # Errors
    /// Not found; [`Error::WrongState`] for an active task.
    pub fn delete(&mut self, queue: &str, id: &str) -> Result<()> {
        let (q, t) = self.take(queue, id, "delete")?;
        q.changed.push(id.to_owned());
        q.unindex(&t);
        q.tasks.remove(id);
        if let Some(k) = &t.unique_key {
            if self.uniques.get(k).is_some_and(|(_, _, i)| i == id) {
                self.uniques.remove(k);
            }
        }
        Ok(())
    }

    /// Archives a pending, scheduled or retry task.
    ///
    /// # Errors
    /// Not found; [`Error::WrongState`] for an active or already archived task.
    pub fn archive(&mut self, queue: &str, id: &str, now: Millis) -> Result<()> {
        let (q, mut t) = self.take(queue, id, "archive")?;
        if matches!(t.state, TaskState::Archived | TaskState::Completed) {
            return Err(Error::WrongState { id: id.into(), state: t.state.name(), op: "archive" });
        }
        q.changed.push(id.to_owned());
        q.unindex(&t);
        t.state = TaskState::Archived;
        t.last_failed_at = Some(now);
        q.archived.insert((now, id.to_owned()));
        q.tasks.insert(id.to_owned(), t);
        Ok(())
    }

    /// Makes a scheduled, retry or archived task pending now.
    ///
    /// # Errors
    /// Not found; [`Error::WrongState`] for an active, pending or completed task.
    pub fn run(&mut self, queue: &str, id: &str, now: Millis) -> Result<()> {
        let (q, mut t) = self.take(queue, id, "run")?;
        if matches!(t.state, TaskState::Pending | TaskState::Completed) {
            return Err(Error::WrongState { id: id.into(), state: t.state.name(), op: "run" });
        }
        q.changed.push(id.to_owned());
        q.unindex(&t);
        t.state = TaskState::Pending;
        t.next_process_at = now;
        q.pending.push_back(id.to_owned());
        q.tasks.insert(id.to_owned(), t);
        Ok(())
    }

    /// Pauses or resumes a queue (a paused queue hands out nothing; running tasks finish).
    ///
    /// # Errors
    /// [`Error::QueueNotFound`].
    pub fn set_paused(&mut self, queue: &str, paused: bool) -> Result<()> {
        self.queue_mut(queue)?.paused = paused;
        Ok(())
    }

    /// Deletes every task of `state` (completed or archived) in `queue`; returns how many.
    ///
    /// # Errors
    /// [`Error::QueueNotFound`]; [`Error::InvalidArgument`] for another state.
    pub fn delete_all(&mut self, queue: &str, state: TaskState) -> Result<u64> {
        let q = self.queue_mut(queue)?;
        let set = match state {
            TaskState::Completed => std::mem::take(&mut q.expiry),
            TaskState::Archived => std::mem::take(&mut q.archived),
            other => return Err(Error::InvalidArgument(format!("delete all {} tasks", other.name()))),
        };
        for (_, id) in &set {
            q.changed.push(id.clone());
            q.tasks.remove(id);
        }
        Ok(set.len() as u64)
    }

    /// The queues, by name.
    pub fn queues(&self) -> Vec<String> {
        self.queues.keys().cloned().collect()
    }

    /// A page (0-based `page`) of the tasks of `queue` in `state`, in due order.
    ///
    /// # Errors
    /// [`Error::QueueNotFound`].
    pub fn list(&self, queue: &str, state: TaskState, page_size: usize, page: usize) -> Result<Vec<TaskInfo>> {
        let q = self.queue(queue)?;
        let ids: Box<dyn Iterator<Item = &String>> = match state {
            TaskState::Pending => Box::new(q.pending.iter()),
            TaskState::Active => Box::new(q.leases.iter().map(|x| &x.1)),
            TaskState::Completed => Box::new(q.expiry.iter().map(|x| &x.1)),
            TaskState::Archived => Box::new(q.archived.iter().rev().map(|x| &x.1)),
            TaskState::Scheduled | TaskState::Retry => Box::new(q.due.iter().map(|x| &x.1)),
        };
        Ok(ids
            .filter_map(|id| q.tasks.get(id))
            .filter(|t| t.state == state)
            .skip(page.saturating_mul(page_size))
            .take(page_size)
            .cloned()
            .collect())
    }

    /// Counts and counters of `queue`.
    ///
    /// # Errors
    /// [`Error::QueueNotFound`].
    pub fn info(&self, queue: &str, now: Millis) -> Result<QueueInfo> {
        let q = self.queue(queue)?;
        let (processed, failed) = q.daily.get(&day_of(now)).copied().unwrap_or_default();
        let mut i = QueueInfo {
            queue: queue.to_owned(),
            pending: q.count(TaskState::Pending),
            active: q.count(TaskState::Active),
            scheduled: q.count(TaskState::Scheduled),
            retry: q.count(TaskState::Retry),
            archived: q.count(TaskState::Archived),
            completed: q.count(TaskState::Completed),
            processed,
            failed,
            processed_total: q.processed_total,
            failed_total: q.failed_total,
            paused: q.paused,
            latency_ms: q
                .pending
                .front()
                .and_then(|id| q.tasks.get(id))
                .map_or(0, |t| (now - t.next_process_at).max(0)),
            size: 0,
        };
        i.size = i.pending + i.active + i.scheduled + i.retry;
        Ok(i)
    }

    /// `queue`'s counters to keep across restarts: the day of `now` and the totals.
    pub fn counters(&self, queue: &str, now: Millis) -> Option<Counters> {
        let q = self.queues.get(queue)?;
        let day = day_of(now);
        let (processed, failed) = q.daily.get(&day).copied().unwrap_or_default();
        Some(Counters { day, processed, failed, processed_total: q.processed_total, failed_total: q.failed_total })
    }

    /// Puts back counters kept by [`Core::counters`]: a day's counts, or with `day == None` the
    /// totals.
    pub fn restore_counters(&mut self, queue: &str, day: Option<i64>, processed: i64, failed: i64) {
        let q = self.queues.entry(queue.to_owned()).or_default();
        match day {
            Some(d) => {
                q.daily.insert(d, (processed, failed));
            }
            None => {
                q.processed_total = processed;
                q.failed_total = failed;
            }
        }
    }

    /// Daily counts of the last `days` days, newest first.
    ///
    /// # Errors
    /// [`Error::QueueNotFound`].
    pub fn history(&self, queue: &str, days: u32, now: Millis) -> Result<Vec<DailyStat>> {
        let q = self.queue(queue)?;
        let today = day_of(now);
        Ok((0..i64::from(days))
            .map(|k| {
                let (p, f) = q.daily.get(&(today - k)).copied().unwrap_or_default();
                DailyStat { day: today - k, processed: p, failed: f }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Backoff;

    fn core() -> Core {
        Core::new(Config { backoff: Backoff::Fixed { ms: 1000 }, ..Config::default() })
    }

    fn task(q: &str) -> NewTask {
        NewTask::new(q, "t", b"x".to_vec())
    }

    #[test]
    fn immediate_delayed_and_timer() {
        let mut c = core();
        let a = c.enqueue(task("default").with_id("a"), 1000).unwrap();
        let b = c.enqueue(task("default").with_id("b").with_process_at(5000), 1000).unwrap();
        assert_eq!((a.state, b.state), (TaskState::Pending, TaskState::Scheduled));
        assert_eq!(c.poll_timeout(), Some(5000));
        let got = c.dequeue(10, 1000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].task.id, "a");
        assert!(c.dequeue(10, 4999).is_empty());
        let got = c.dequeue(10, 5000);
        assert_eq!(got[0].task.id, "b");
        assert_eq!(got[0].run_until, 5000 + 30 * 60_000);
    }

    #[test]
    fn retry_then_archive_after_max_retry() {
        let mut c = core();
        c.enqueue(task("q").with_id("a").with_max_retry(2), 0).unwrap();
        let mut now = 0;
        for expect in [TaskState::Retry, TaskState::Retry, TaskState::Archived] {
            let l = c.dequeue(1, now);
            assert_eq!(l.len(), 1, "at {now}");
            let s = c.ack(Ack { queue: "q".into(), id: "a".into(), outcome: Outcome::retry("boom") }, now);
            assert_eq!(s, Some(expect));
            now += 1000;
        }
        let t = c.task("q", "a").unwrap();
        assert_eq!((t.state, t.retried, t.last_err.as_str()), (TaskState::Archived, 2, "boom"));
        let i = c.info("q", now).unwrap();
        assert_eq!((i.processed, i.failed, i.archived, i.size), (3, 3, 1, 0));
    }

    #[test]
    fn archive_outcome_skips_retries_and_success_keeps_retention() {
        let mut c = core();
        c.enqueue(task("q").with_id("a"), 0).unwrap();
        c.enqueue(task("q").with_id("b").with_retention_ms(10_000), 0).unwrap();
        assert_eq!(c.dequeue(5, 0).len(), 2);
        assert_eq!(
            c.ack(Ack { queue: "q".into(), id: "a".into(), outcome: Outcome::archive("no") }, 1),
            Some(TaskState::Archived)
        );
        assert_eq!(
            c.ack(Ack { queue: "q".into(), id: "b".into(), outcome: Outcome::success("ok") }, 1),
            Some(TaskState::Completed)
        );
        assert_eq!(c.task("q", "b").unwrap().result, b"ok");
        c.handle_timeout(10_001);
        assert!(matches!(c.task("q", "b"), Err(Error::TaskNotFound { .. })));
        assert_eq!(c.delete_all("q", TaskState::Archived).unwrap(), 1);
    }

    #[test]
    fn lost_worker_lease_expires_into_retry() {
        let mut c = core();
        c.enqueue(task("q").with_id("a"), 0).unwrap();
        assert_eq!(c.dequeue(1, 0).len(), 1);
        assert_eq!(c.poll_timeout(), Some(30_000));
        // a heartbeat pushes the lease out
        assert!(c.extend(vec![("q".into(), "a".into())], 20_000).is_empty());
        c.handle_timeout(30_001);
        assert_eq!(c.task("q", "a").unwrap().state, TaskState::Active);
        c.handle_timeout(50_001);
        let t = c.task("q", "a").unwrap();
        assert_eq!((t.state, t.retried), (TaskState::Retry, 1));
        // the late ack of the lost worker is ignored
        assert_eq!(c.ack(Ack { queue: "q".into(), id: "a".into(), outcome: Outcome::success("") }, 50_002), None);
        assert_eq!(c.extend(vec![("q".into(), "a".into())], 50_003), [("q".to_string(), "a".to_string())]);
    }

    #[test]
    fn operations_respect_states() {
        let mut c = core();
        c.enqueue(task("q").with_id("a").with_process_at(100), 0).unwrap();
        c.enqueue(task("q").with_id("b"), 0).unwrap();
        assert!(matches!(c.enqueue(task("q").with_id("b"), 0), Err(Error::TaskIdConflict(_))));
        c.archive("q", "a", 1).unwrap();
        assert_eq!(c.list("q", TaskState::Archived, 10, 0).unwrap().len(), 1);
        c.run("q", "a", 2).unwrap();
        assert_eq!(c.list("q", TaskState::Pending, 10, 0).unwrap().len(), 2);
        let l = c.dequeue(1, 3);
        let active = &l[0].task.id;
        assert!(matches!(c.delete("q", active), Err(Error::WrongState { .. })));
        assert!(matches!(c.archive("q", active, 3), Err(Error::WrongState { .. })));
        let other = if active == "a" { "b" } else { "a" };
        c.delete("q", other).unwrap();
        assert!(matches!(c.task("q", other), Err(Error::TaskNotFound { .. })));
        assert!(matches!(c.info("nope", 0), Err(Error::QueueNotFound(_))));
    }

    #[test]
    fn pause_holds_the_queue() {
        let mut c = core();
        c.enqueue(task("q"), 0).unwrap();
        c.set_paused("q", true).unwrap();
        assert!(c.dequeue(1, 0).is_empty());
        assert!(c.info("q", 0).unwrap().paused);
        c.set_paused("q", false).unwrap();
        assert_eq!(c.dequeue(1, 0).len(), 1);
    }

    #[test]
    fn unique_keys_hold_until_done_or_ttl() {
        let mut c = core();
        c.enqueue(task("q").with_unique("k", 1000), 0).unwrap();
        assert!(matches!(c.enqueue(task("q").with_unique("k", 1000), 10), Err(Error::Duplicate(_))));
        // after the TTL the key is free again
        c.enqueue(task("q").with_unique("k", 1000), 1001).unwrap();
        // and once the holder completed
        let l = c.dequeue(10, 1002);
        for x in l {
            c.ack(Ack { queue: "q".into(), id: x.task.id, outcome: Outcome::success("") }, 1003);
        }
        c.enqueue(task("q").with_unique("k", 1000), 1004).unwrap();
    }

    #[test]
    fn deadlines_and_validation() {
        let mut c = core();
        assert!(matches!(c.enqueue(task("q").with_deadline(5), 10), Err(Error::PastTime(_))));
        assert!(matches!(c.enqueue(task(""), 10), Err(Error::InvalidArgument(_))));
        let big = NewTask::new("q", "t", vec![0; (1 << 20) + 1]);
        assert!(matches!(c.enqueue(big, 10), Err(Error::InvalidArgument(_))));
        assert!(c.queues().is_empty(), "nothing stored after refusals");
        c.enqueue(task("q").with_id("d").with_deadline(100).with_timeout_ms(1000), 10).unwrap();
        // handed out with run_until = deadline
        assert_eq!(c.dequeue(1, 10)[0].run_until, 100);
        c.ack(Ack { queue: "q".into(), id: "d".into(), outcome: Outcome::retry("x") }, 20);
        // its retry is due after the deadline: archived instead of run
        c.run("q", "d", 200).unwrap();
        assert!(c.dequeue(1, 200).is_empty());
        assert_eq!(c.task("q", "d").unwrap().state, TaskState::Archived);
    }

    #[test]
    fn weights_share_the_workers() {
        let mut c = core();
        for i in 0..600 {
            c.enqueue(task("critical").with_id(format!("c{i}")), 0).unwrap();
            c.enqueue(task("default").with_id(format!("d{i}")), 0).unwrap();
            c.enqueue(task("low").with_id(format!("l{i}")), 0).unwrap();
        }
        let got = c.dequeue(100, 0);
        let n = |q: &str| got.iter().filter(|l| l.task.queue == q).count();
        assert_eq!((n("critical"), n("default"), n("low")), (60, 30, 10));
        let mut strict = Core::new(Config { strict_priority: true, ..Config::default() });
        strict.enqueue(task("low"), 0).unwrap();
        strict.enqueue(task("critical"), 0).unwrap();
        assert_eq!(strict.dequeue(1, 0)[0].task.queue, "critical");
    }

    #[test]
    fn history_counts_per_day() {
        let mut c = core();
        c.enqueue(task("q").with_id("a"), 0).unwrap();
        c.dequeue(1, 0);
        c.ack(Ack { queue: "q".into(), id: "a".into(), outcome: Outcome::success("") }, 86_400_000 + 5);
        let h = c.history("q", 2, 86_400_000 + 10).unwrap();
        assert_eq!(h[0], DailyStat { day: 1, processed: 1, failed: 0 });
        assert_eq!(h[1], DailyStat { day: 0, processed: 0, failed: 0 });
    }
}
