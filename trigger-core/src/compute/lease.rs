//! Tasks leased to workers, sans-IO: which worker runs which task until when, retries with
//! backoff on a worker's loss, a timeout or a retryable error, dead letters after the last
//! attempt, and how many more tasks the consumers may take (back-pressure). `now` is passed in;
//! the driver asks [`Leases::next_deadline`] when to call [`Leases::expire`] again.
//!
//! A task is `T` (its body and the broker's handle to acknowledge it): the table hands it back
//! when its fate is sealed ([`Leases::done`]: acknowledge after publishing the result;
//! [`Fate::DeadLetter`]: publish it to the dead letters, then acknowledge). A result that comes
//! after its lease moved to another worker is not the task's result ([`Leases::done`] answers
//! `None`): each task's result is taken once.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use trigger_core::compute::lease::{LeaseConfig, Leases};
//! let now = Instant::now();
//! let mut l: Leases<u32, &str> = Leases::new(LeaseConfig::default());
//! l.add_worker(1, vec![], 2);
//! l.submit("t1".into(), "opf".into(), "body", 1, now).unwrap();
//! let a = l.next(now).unwrap();
//! assert_eq!((a.worker, a.id.as_str(), a.attempt), (1, "t1", 1));
//! assert_eq!(l.done(&1, "t1"), Some("body"));
//! ```

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The lease rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// A worker has this long per task before it is given to another.
    pub deadline: Duration,
    /// Attempts before a task is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's delay; doubled at each attempt after.
    pub backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            deadline: Duration::from_secs(60),
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl LeaseConfig {
    /// The delay before attempt `next` (2, 3, ...).
    pub fn delay(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(20);
        self.backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }
}

/// A task handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment<'a, W, T> {
    /// The worker.
    pub worker: W,
    /// The task's id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// This attempt, from 1.
    pub attempt: u32,
    /// The worker's time for it.
    pub deadline: Duration,
    /// The task.
    pub task: &'a T,
}

/// What became of a task taken back from its worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate<T> {
    /// Tried again at this time.
    Retry(Instant),
    /// Out of attempts (or not worth one): to the dead letters, with the last error.
    DeadLetter(T, String),
}

#[derive(Debug)]
struct Entry<W, T> {
    kind: String,
    task: T,
    /// The worker of the last attempt (a retry goes to another when one can take it).
    last: Option<W>,
    /// When the last attempt was handed out.
    started: Option<Instant>,
    /// Attempts made (the running one included).
    attempts: u32,
    last_error: String,
}

#[derive(Debug)]
struct Worker {
    capabilities: HashSet<String>,
    concurrency: u32,
    running: HashSet<String>,
}

impl Worker {
    fn takes(&self, kind: &str) -> bool {
        self.capabilities.is_empty() || self.capabilities.contains(kind)
    }

    fn free(&self) -> u32 {
        self.concurrency.saturating_sub(self.running.len() as u32)
    }
}

/// The lease table.
#[derive(Debug)]
pub struct Leases<W, T> {
    cfg: LeaseConfig,
    workers: HashMap<W, Worker>,
    tasks: HashMap<String, Entry<W, T>>,
    /// Ready, in arrival order.
    ready: VecDeque<String>,
    /// Waiting for a retry: (when, id).
    later: BTreeSet<(Instant, String)>,
    /// Running: id -> (worker, until).
    leased: HashMap<String, (W, Instant)>,
    /// Lease ends: (until, id).
    ends: BTreeSet<(Instant, String)>,
}

impl<W: Clone + Eq + Hash, T> Leases<W, T> {
    /// An empty table.
    pub fn new(cfg: LeaseConfig) -> Leases<W, T> {
        Leases {
            cfg,
            workers: HashMap::new(),
            tasks: HashMap::new(),
            ready: VecDeque::new(),
            later: BTreeSet::new(),
            leased: HashMap::new(),
            ends: BTreeSet::new(),
        }
    }

    /// The rules.
    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }

    /// A worker taking `concurrency` tasks at once of the kinds `capabilities` (empty: any).
    pub fn add_worker(&mut self, w: W, capabilities: Vec<String>, concurrency: u32) {
        let capabilities = capabilities.into_iter().collect();
        self.workers.insert(w, Worker { capabilities, concurrency: concurrency.max(1), running: HashSet::new() });
    }

    /// A worker gone: its tasks are taken back (retried, or dead-lettered when out of
    /// attempts): their ids and fates.
    pub fn remove_worker(&mut self, w: &W, now: Instant) -> Vec<(String, Fate<T>)> {
        let Some(worker) = self.workers.remove(w) else { return vec![] };
        let mut out = vec![];
        for id in worker.running {
            if let Some((_, until)) = self.leased.remove(&id) {
                self.ends.remove(&(until, id.clone()));
                if let Some(f) = self.take_back(&id, "the worker was lost".into(), true, now) {
                    out.push((id, f));
                }
            }
        }
        out
    }

    /// A task from the broker, on its `attempt` (1 unless the broker redelivered it). A task
    /// whose id is held already is the same task again: handed back.
    ///
    /// # Errors
    /// The task, when one of its id is held.
    pub fn submit(&mut self, id: String, kind: String, task: T, attempt: u32, _now: Instant) -> Result<(), T> {
        if self.tasks.contains_key(&id) {
            return Err(task);
        }
        let entry = Entry {
            kind,
            task,
            last: None,
            started: None,
            attempts: attempt.saturating_sub(1),
            last_error: String::new(),
        };
        self.tasks.insert(id.clone(), entry);
        self.ready.push_back(id);
        Ok(())
    }

    /// Moves the retries that are due to the ready queue.
    fn due(&mut self, now: Instant) {
        while let Some((at, _)) = self.later.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.later.pop_first() {
                self.ready.push_back(id);
            }
        }
    }

    /// The next task to hand out, and the worker for it (the free worker taking its kind with
    /// the most free slots, another than the last attempt's when one can), leased until `now` +
    /// the deadline; `None` when nothing is ready or no worker can take what is.
    pub fn next(&mut self, now: Instant) -> Option<Assignment<'_, W, T>> {
        self.due(now);
        let (pos, worker) = self.ready.iter().enumerate().find_map(|(i, id)| {
            let e = self.tasks.get(id)?;
            let w = self
                .workers
                .iter()
                .filter(|(_, w)| w.free() > 0 && w.takes(&e.kind))
                .max_by_key(|(k, w)| (e.last.as_ref() != Some(*k), w.free()))
                .map(|(k, _)| k.clone())?;
            Some((i, w))
        })?;
        let id = self.ready.remove(pos)?;
        let until = now + self.cfg.deadline;
        self.workers.get_mut(&worker)?.running.insert(id.clone());
        self.leased.insert(id.clone(), (worker.clone(), until));
        self.ends.insert((until, id.clone()));
        let e = self.tasks.get_mut(&id)?;
        e.attempts += 1;
        e.last = Some(worker.clone());
        e.started = Some(now);
        Some(Assignment {
            worker,
            id,
            kind: e.kind.clone(),
            attempt: e.attempts,
            deadline: self.cfg.deadline,
            task: &e.task,
        })
    }

    /// Ends `id`'s lease held by `w`.
    fn release(&mut self, w: &W, id: &str) -> bool {
        match self.leased.get(id) {
            Some((holder, until)) if holder == w => {
                let until = *until;
                self.leased.remove(id);
                self.ends.remove(&(until, id.to_owned()));
                if let Some(worker) = self.workers.get_mut(w) {
                    worker.running.remove(id);
                }
                true
            }
            _ => false,
        }
    }

    /// When `id`'s current attempt was handed out.
    pub fn started(&self, id: &str) -> Option<Instant> {
        self.tasks.get(id)?.started
    }

    /// Takes back a lease that could not be handed to its worker (its connection's queue was
    /// full): the task is first in line again, the attempt not counted.
    pub fn unlease(&mut self, w: &W, id: &str) -> bool {
        if !self.release(w, id) {
            return false;
        }
        if let Some(e) = self.tasks.get_mut(id) {
            e.attempts = e.attempts.saturating_sub(1);
        }
        self.ready.push_front(id.to_owned());
        true
    }

    /// `w`'s result for `id`: the task, to acknowledge once the result is published; `None`
    /// when `w` holds no lease on it (a late result of a task given to another since).
    pub fn done(&mut self, w: &W, id: &str) -> Option<T> {
        if !self.release(w, id) {
            return None;
        }
        self.tasks.remove(id).map(|e| e.task)
    }

    /// `w` failed `id` with `message`; `retry` false: dead-lettered at once. `None` when `w`
    /// holds no lease on it.
    pub fn failed(&mut self, w: &W, id: &str, message: String, retry: bool, now: Instant) -> Option<Fate<T>> {
        if !self.release(w, id) {
            return None;
        }
        self.take_back(id, message, retry, now)
    }

    fn take_back(&mut self, id: &str, error: String, retry: bool, now: Instant) -> Option<Fate<T>> {
        let e = self.tasks.get_mut(id)?;
        e.last_error = error;
        if !retry || e.attempts >= self.cfg.max_attempts {
            let e = self.tasks.remove(id)?;
            let why = format!("{} (attempt {} of {})", e.last_error, e.attempts, self.cfg.max_attempts);
            return Some(Fate::DeadLetter(e.task, why));
        }
        let at = now + self.cfg.delay(e.attempts + 1);
        self.later.insert((at, id.to_owned()));
        Some(Fate::Retry(at))
    }

    /// Leases past their deadline at `now`: taken back from their workers (the worker may
    /// still send a result: it is not taken), with their fates.
    pub fn expire(&mut self, now: Instant) -> Vec<(W, String, Fate<T>)> {
        let mut out = vec![];
        while let Some((until, _)) = self.ends.first() {
            if *until > now {
                break;
            }
            let Some((_, id)) = self.ends.pop_first() else { break };
            let Some((w, _)) = self.leased.remove(&id) else { continue };
            if let Some(worker) = self.workers.get_mut(&w) {
                worker.running.remove(&id);
            }
            let why = format!("no result within {:?}", self.cfg.deadline);
            if let Some(f) = self.take_back(&id, why, true, now) {
                out.push((w, id, f));
            }
        }
        out
    }

    /// When [`Leases::expire`] or [`Leases::next`] has something to do next (a lease's end or
    /// a retry's time).
    pub fn next_deadline(&self) -> Option<Instant> {
        let end = self.ends.first().map(|(t, _)| *t);
        let retry = self.later.first().map(|(t, _)| *t);
        match (end, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many more tasks the consumers may take now: the workers' free slots less the tasks
    /// already waiting for one (0: every worker is busy, the consumers pause).
    pub fn room(&self) -> usize {
        let free: usize = self.workers.values().map(|w| w.free() as usize).sum();
        free.saturating_sub(self.ready.len() + self.later.len())
    }

    /// Tasks held (waiting, retrying or running).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// No task held.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Tasks running on workers.
    pub fn running(&self) -> usize {
        self.leased.len()
    }

    /// Tasks waiting for a retry.
    pub fn retrying(&self) -> usize {
        self.later.len()
    }

    /// Workers connected.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (Leases<&'static str, u32>, Instant) {
        let cfg = LeaseConfig {
            deadline: Duration::from_secs(10),
            max_attempts: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
        };
        (Leases::new(cfg), Instant::now())
    }

    #[test]
    fn a_worker_gets_at_most_its_concurrency_and_the_consumers_pause() {
        let (mut l, now) = table();
        l.add_worker("a", vec![], 2);
        assert_eq!(l.room(), 2);
        for i in 0..3 {
            l.submit(format!("t{i}"), "k".into(), i, 1, now).unwrap();
        }
        assert_eq!(l.room(), 0, "three waiting for two slots");
        assert!(l.next(now).is_some() && l.next(now).is_some());
        assert!(l.next(now).is_none(), "the worker is full");
        assert_eq!((l.running(), l.room()), (2, 0));
        assert_eq!(l.done(&"a", "t0"), Some(0));
        let a = l.next(now).unwrap();
        assert_eq!(a.id, "t2");
        l.add_worker("b", vec![], 4);
        assert_eq!(l.room(), 4);
    }

    #[test]
    fn capabilities_choose_the_worker_and_a_task_waits_for_one_that_can() {
        let (mut l, now) = table();
        l.add_worker("opf", vec!["opf".into()], 1);
        l.submit("s".into(), "sim".into(), 1, 1, now).unwrap();
        l.submit("o".into(), "opf".into(), 2, 1, now).unwrap();
        let a = l.next(now).unwrap();
        assert_eq!((a.worker, a.id.as_str()), ("opf", "o"), "the sim task waits");
        assert!(l.next(now).is_none());
        l.add_worker("any", vec![], 1);
        assert_eq!(l.next(now).unwrap().id, "s");
    }

    #[test]
    fn a_lost_worker_s_task_is_retried_after_a_backoff_on_another_and_its_late_result_ignored() {
        let (mut l, now) = table();
        l.add_worker("a", vec![], 1);
        l.add_worker("b", vec![], 1);
        l.submit("t".into(), "k".into(), 7, 1, now).unwrap();
        let first = l.next(now).unwrap().worker;
        let fates = l.remove_worker(&first, now);
        assert_eq!(fates, vec![("t".to_owned(), Fate::Retry(now + Duration::from_secs(1)))]);
        assert!(l.next(now).is_none(), "not before the backoff");
        assert_eq!(l.next_deadline(), Some(now + Duration::from_secs(1)));
        let a = l.next(now + Duration::from_secs(1)).unwrap();
        let (other, attempt) = (a.worker, a.attempt);
        assert_ne!(other, first);
        assert_eq!(attempt, 2);
        assert_eq!(l.done(&first, "t"), None, "the lost worker's result is not taken");
        assert_eq!(l.done(&other, "t"), Some(7));
        assert_eq!(l.done(&other, "t"), None, "once");
        assert!(l.is_empty());
    }

    #[test]
    fn a_timeout_takes_the_task_back_and_the_slow_result_is_not_taken() {
        let (mut l, now) = table();
        l.add_worker("a", vec![], 1);
        l.submit("t".into(), "k".into(), 1, 1, now).unwrap();
        l.next(now).unwrap();
        assert_eq!(l.next_deadline(), Some(now + Duration::from_secs(10)));
        assert!(l.expire(now + Duration::from_secs(9)).is_empty());
        let later = now + Duration::from_secs(10);
        let e = l.expire(later);
        assert_eq!(e, vec![("a", "t".to_owned(), Fate::Retry(later + Duration::from_secs(1)))]);
        assert_eq!(l.done(&"a", "t"), None);
        assert_eq!(l.room(), 0, "the retry waits for the slot");
        let a = l.next(later + Duration::from_secs(1)).unwrap();
        assert_eq!((a.worker, a.attempt), ("a", 2));
    }

    #[test]
    fn a_task_that_always_fails_is_dead_lettered_after_the_last_attempt() {
        let (mut l, mut now) = table();
        l.add_worker("a", vec![], 1);
        l.submit("t".into(), "k".into(), 9, 1, now).unwrap();
        let mut delays = vec![];
        loop {
            let a = l.next(now).unwrap();
            let attempt = a.attempt;
            match l.failed(&"a", "t", format!("boom {attempt}"), true, now).unwrap() {
                Fate::Retry(at) => {
                    delays.push(at - now);
                    now = at;
                }
                Fate::DeadLetter(task, why) => {
                    assert_eq!(task, 9);
                    assert_eq!(attempt, 3);
                    assert!(why.contains("boom 3") && why.contains("attempt 3 of 3"), "{why}");
                    break;
                }
            }
        }
        assert_eq!(delays, vec![Duration::from_secs(1), Duration::from_secs(2)], "doubling");
        assert!(l.is_empty());
    }

    #[test]
    fn no_retry_dead_letters_at_once_and_a_redelivery_counts_its_attempts() {
        let (mut l, now) = table();
        l.add_worker("a", vec![], 1);
        l.submit("t".into(), "k".into(), 1, 1, now).unwrap();
        l.next(now).unwrap();
        assert!(matches!(l.failed(&"a", "t", "bad input".into(), false, now), Some(Fate::DeadLetter(1, _))));
        // a broker's third delivery of a task: its last attempt
        l.submit("r".into(), "k".into(), 2, 3, now).unwrap();
        assert_eq!(l.next(now).unwrap().attempt, 3);
        assert!(matches!(l.failed(&"a", "r", "x".into(), true, now), Some(Fate::DeadLetter(2, _))));
        // the same id twice: one task
        assert_eq!(l.submit("d".into(), "k".into(), 3, 1, now), Ok(()));
        assert_eq!(l.submit("d".into(), "k".into(), 4, 1, now), Err(4));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn an_unleased_task_is_first_again_on_the_same_attempt() {
        let (mut l, now) = table();
        l.add_worker("a", vec![], 2);
        l.submit("t1".into(), "k".into(), 1, 1, now).unwrap();
        l.submit("t2".into(), "k".into(), 2, 1, now).unwrap();
        let first = l.next(now).unwrap().id;
        assert!(l.unlease(&"a", &first));
        assert!(!l.unlease(&"a", &first), "no lease any more");
        let a = l.next(now).unwrap();
        assert_eq!((a.id.as_str(), a.attempt), (first.as_str(), 1));
        assert_eq!(l.running(), 1);
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let c = LeaseConfig {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..Default::default()
        };
        let d: Vec<u64> = (2..8).map(|n| c.delay(n).as_millis() as u64).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(c.delay(u32::MAX), Duration::from_secs(1));
    }
}
