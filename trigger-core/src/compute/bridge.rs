//! The bridge (tokio): workers' connections, the lease table, and the way of each task from its
//! broker to a worker and of its result back; broker- and transport-agnostic.
//!
//! - A consumer (one per broker) waits for [`Bridge::room`] and hands the bridge
//!   [`Delivery`]s: the task's id, kind, body, attempt and the broker's acknowledgement.
//! - A worker's connection is a stream of frames in and a channel of frames out
//!   ([`Bridge::serve_worker`]); the first frame must be a `hello`.
//! - A result is published ([`Outlet::result`]) and only then the task acknowledged to its
//!   broker; a task out of attempts is published to the dead letters ([`Outlet::dead_letter`]),
//!   then acknowledged. A publish that fails puts the task back (retried later): at least once,
//!   the task's id naming each result so that a redelivery is harmless.
//! - Malformed, unknown, oversized or out-of-order frames close that worker's connection with a
//!   `bye` naming the reason; its tasks go to other workers.

use super::lease::{Fate, LeaseConfig, Leases};
use super::proto::{self, DecodeError, Frame, Payload};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The broker's acknowledgement of one message.
pub trait Ack: Send + Sync + 'static {
    /// The message is done with: the broker forgets it.
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), String>>;
}

/// Where a direct task's result (or why it was dead-lettered) goes.
pub type Reply = tokio::sync::oneshot::Sender<Result<Bytes, String>>;

/// A task as a consumer received it.
pub struct Delivery {
    /// Its id (a result names it; a second delivery of the same id while the first is held is
    /// dropped).
    pub id: String,
    /// Its kind (the workers' capability it needs; empty: any worker).
    pub kind: String,
    /// Its body.
    pub body: Bytes,
    /// The broker's count of this delivery (1 unless redelivered).
    pub attempt: u32,
    /// Acknowledges it.
    pub ack: Box<dyn Ack>,
    /// A direct task's caller (not from a broker): the result goes there instead of the
    /// outlet, and so does a dead letter's reason.
    pub reply: Option<Reply>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("id", &self.id).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Where results and dead letters go (a subject, queue or topic, and optionally streamevent).
pub trait Outlet: Send + Sync + 'static {
    /// Publishes task `id`'s result; resolves once it is safe (confirmed).
    fn result<'a>(&'a self, id: &'a str, kind: &'a str, body: Bytes) -> BoxFuture<'a, Result<(), String>>;
    /// Publishes task `id`, out of attempts, to the dead letters with why.
    fn dead_letter<'a>(
        &'a self,
        id: &'a str,
        kind: &'a str,
        body: Bytes,
        why: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The bridge's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Leases: deadline, attempts, backoff.
    pub lease: LeaseConfig,
    /// Between pings to a worker; a worker silent for three is gone.
    pub heartbeat: Duration,
    /// The largest frame read from a worker.
    pub max_frame: usize,
    /// The largest body once decompressed.
    pub max_body: usize,
    /// Bodies above this go compressed.
    pub zstd_threshold: usize,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            lease: LeaseConfig::default(),
            heartbeat: Duration::from_secs(5),
            max_frame: 256 << 20,
            max_body: 256 << 20,
            zstd_threshold: 64 << 10,
        }
    }
}

/// What the bridge counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Workers connected.
    pub workers: usize,
    /// Tasks held (waiting, running, retrying).
    pub held: usize,
    /// Tasks running on workers.
    pub running: usize,
    /// Tasks waiting for a retry.
    pub retrying: usize,
    /// Results published and their tasks acknowledged.
    pub done: u64,
    /// Attempts retried (worker lost, timeout, error, a failed publish).
    pub retries: u64,
    /// Tasks dead-lettered.
    pub dead: u64,
    /// Worker connections closed for a protocol violation.
    pub refused: u64,
}

#[derive(Default)]
struct Counts {
    done: AtomicU64,
    retries: AtomicU64,
    dead: AtomicU64,
    refused: AtomicU64,
}

type WorkerId = u64;

struct Inner {
    leases: Leases<WorkerId, Delivery>,
    /// Each worker's frames out.
    out: HashMap<WorkerId, mpsc::Sender<Bytes>>,
}

/// The bridge.
pub struct Bridge {
    cfg: BridgeConfig,
    inner: Mutex<Inner>,
    outlet: Arc<dyn Outlet>,
    next_worker: AtomicU64,
    /// Told when there may be room for more tasks.
    room: Notify,
    /// Told when the earliest deadline may have changed.
    timer: Arc<Notify>,
    counts: Counts,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

/// Why a worker's connection was closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Closed {
    /// A frame that is none, of an unknown type, or too large.
    #[error("{0}")]
    Protocol(#[from] DecodeError),
    /// A frame out of place (no hello first, a second hello, a frame only the bridge sends).
    #[error("{0}")]
    OutOfPlace(String),
    /// No frame for three heartbeats.
    #[error("silent for {0:?}")]
    Silent(Duration),
    /// The worker said bye, or its connection ended.
    #[error("gone")]
    Gone,
}

impl Bridge {
    /// A bridge publishing to `outlet`; spawns its lease timer.
    pub fn new(cfg: BridgeConfig, outlet: Arc<dyn Outlet>) -> Arc<Bridge> {
        let b = Arc::new(Bridge {
            cfg,
            inner: Mutex::new(Inner { leases: Leases::new(cfg.lease), out: HashMap::new() }),
            outlet,
            next_worker: AtomicU64::new(1),
            room: Notify::new(),
            timer: Arc::new(Notify::new()),
            counts: Counts::default(),
        });
        tokio::spawn(Bridge::timer(Arc::downgrade(&b), b.timer.clone()));
        b
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many more tasks the consumers may hand over now (0: every worker is busy).
    pub fn room(&self) -> usize {
        self.inner().leases.room()
    }

    /// Waits until there is room for at least one task, then tells how much.
    pub async fn wait_room(&self) -> usize {
        loop {
            let told = self.room.notified();
            let n = self.room();
            if n > 0 {
                return n;
            }
            told.await;
        }
    }

    /// The state at a glance.
    pub fn stats(&self) -> BridgeStats {
        let g = self.inner();
        let c = &self.counts;
        BridgeStats {
            workers: g.leases.workers(),
            held: g.leases.len(),
            running: g.leases.running(),
            retrying: g.leases.retrying(),
            done: c.done.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            dead: c.dead.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }

    /// Takes a task from a consumer.
    ///
    /// # Errors
    /// The delivery, when a task of its id is held already (a broker's redelivery of a task
    /// still running: the consumer drops it unacknowledged; another message with the same id:
    /// the consumer may acknowledge it).
    pub fn submit(self: &Arc<Self>, d: Delivery) -> Result<(), Box<Delivery>> {
        let now = Instant::now();
        let (id, kind, attempt) = (d.id.clone(), d.kind.clone(), d.attempt.max(1));
        let taken = self.inner().leases.submit(id, kind, d, attempt, now);
        self.pump(now);
        taken.map_err(Box::new)
    }

    /// Runs a task given directly (not from a broker) and waits for its result.
    ///
    /// # Errors
    /// Why it was dead-lettered; a task of that id held already.
    pub async fn run(self: &Arc<Self>, id: String, kind: String, body: Bytes) -> Result<Bytes, String> {
        struct NoAck;
        impl Ack for NoAck {
            fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), String>> {
                Box::pin(async { Ok(()) })
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let d = Delivery { id, kind, body, attempt: 1, ack: Box::new(NoAck), reply: Some(tx) };
        if let Err(d) = self.submit(d) {
            return Err(format!("a task {:?} is running already", d.id));
        }
        rx.await.map_err(|_| "the bridge stopped".to_owned())?
    }

    /// Hands out what can be: each assignment as a `task` frame to its worker. A worker whose
    /// connection's queue is full gets the task back in line (it is handed out again at the
    /// next result or task).
    fn pump(self: &Arc<Self>, now: Instant) {
        let mut g = self.inner();
        let before = g.leases.next_deadline();
        let mut full = 0;
        while let Some(a) = g.leases.next(now) {
            let task = Frame::Task(proto::Task {
                id: a.id.clone(),
                kind: a.kind.clone(),
                attempt: a.attempt,
                deadline: a.deadline.as_millis() as u64,
                data: Payload::encode(a.task.body.clone(), self.cfg.zstd_threshold),
            });
            let (w, id) = (a.worker, a.id);
            if g.out.get(&w).is_some_and(|tx| tx.try_send(task.encode()).is_ok()) {
                metrics::counter!("computebridge_tasks_sent_total").increment(1);
            } else {
                g.leases.unlease(&w, &id);
                full += 1;
                break;
            }
        }
        let running = g.leases.running();
        let after = g.leases.next_deadline();
        drop(g);
        if full > 0 {
            tracing::debug!("a worker's queue is full: the task waits for the next turn");
        }
        // the timer is woken only when the earliest deadline came sooner (not per task: a new
        // lease ends after those already running)
        if after.is_some_and(|a| before.is_none_or(|b| a < b)) {
            self.timer.notify_one();
        }
        metrics::gauge!("computebridge_tasks_in_flight").set(running as f64);
    }

    /// Seals a task's fate taken back from a worker.
    fn fate(self: &Arc<Self>, id: String, fate: Fate<Delivery>) {
        match fate {
            Fate::Retry(_) => {
                // the retry's time may come before what the timer waits for
                self.timer.notify_one();
                self.counts.retries.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("computebridge_retries_total").increment(1);
            }
            Fate::DeadLetter(d, why) => {
                let me = self.clone();
                tokio::spawn(async move { me.dead_letter(id, d, why).await });
            }
        }
    }

    async fn dead_letter(self: Arc<Self>, id: String, mut d: Delivery, why: String) {
        let published = match d.reply.take() {
            Some(r) => {
                let _ = r.send(Err(why.clone()));
                Ok(())
            }
            None => self.outlet.dead_letter(&id, &d.kind, d.body.clone(), &why).await,
        };
        match published {
            Ok(()) => {
                self.counts.dead.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("computebridge_dead_letters_total").increment(1);
                tracing::warn!(task = %id, %why, "dead-lettered");
                if let Err(e) = d.ack.ack().await {
                    tracing::warn!(task = %id, error = %e, "acknowledgement");
                }
                self.room.notify_waiters();
            }
            Err(e) => {
                // kept: tried again after a backoff (the dead letters may come back)
                tracing::warn!(task = %id, error = %e, "dead letter not published");
                self.requeue(d);
            }
        }
    }

    /// Puts a task back whose result (or dead letter) could not be published.
    fn requeue(self: &Arc<Self>, d: Delivery) {
        let now = Instant::now();
        let (id, kind) = (d.id.clone(), d.kind.clone());
        if self.inner().leases.submit(id, kind, d, 1, now).is_err() {
            tracing::warn!("a task put back was held again meanwhile");
        }
        self.counts.retries.fetch_add(1, Ordering::Relaxed);
        self.pump(now);
    }

    async fn finished(self: Arc<Self>, w: WorkerId, done: proto::Done) {
        let taken = {
            let mut g = self.inner();
            let started = g.leases.started(&done.id);
            let taken = g.leases.done(&w, &done.id);
            if let (Some(t), true) = (started, taken.is_some()) {
                metrics::histogram!("computebridge_task_seconds").record(t.elapsed().as_secs_f64());
            }
            taken
        };
        let Some(d) = taken else {
            tracing::debug!(task = %done.id, "a late or unknown result: not taken");
            return;
        };
        self.room.notify_waiters();
        self.pump(Instant::now());
        let body = match done.data.body(self.cfg.max_body) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(task = %done.id, error = %e, "a result that does not decompress");
                self.requeue(d);
                return;
            }
        };
        let t0 = Instant::now();
        let mut d = d;
        let published = match d.reply.take() {
            Some(r) => {
                let _ = r.send(Ok(body));
                Ok(())
            }
            None => self.outlet.result(&done.id, &d.kind, body).await,
        };
        match published {
            Ok(()) => {
                if let Err(e) = d.ack.ack().await {
                    // redelivered by the broker later: the result's id makes it harmless
                    tracing::warn!(task = %done.id, error = %e, "acknowledgement");
                }
                self.counts.done.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("computebridge_tasks_done_total").increment(1);
                metrics::histogram!("computebridge_publish_seconds").record(t0.elapsed().as_secs_f64());
            }
            Err(e) => {
                tracing::warn!(task = %done.id, error = %e, "result not published");
                self.requeue(d);
            }
        }
    }

    async fn timer(me: std::sync::Weak<Bridge>, notify: Arc<Notify>) {
        loop {
            let told = notify.notified();
            let next = {
                let Some(b) = me.upgrade() else { return };
                let next = b.inner().leases.next_deadline();
                let now = Instant::now();
                if next.is_some_and(|t| t <= now) {
                    let expired = b.inner().leases.expire(now);
                    for (w, id, fate) in expired {
                        tracing::warn!(worker = w, task = %id, "no result within the deadline");
                        b.fate(id, fate);
                    }
                    b.pump(now);
                    continue;
                }
                next
            };
            // woken at least every minute: a bridge dropped meanwhile ends this
            let sleep = next.map_or(Duration::from_secs(60), |t| t.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = told => {}
                () = tokio::time::sleep(sleep.min(Duration::from_secs(60))) => {}
            }
        }
    }

    /// Serves one worker: `frames` its messages in, `out` its messages out (binary WebSocket
    /// messages). Returns why it ended (a `bye` with the reason is sent before, when the bridge
    /// closed it).
    pub async fn serve_worker<S>(self: &Arc<Self>, frames: S, out: mpsc::Sender<Bytes>) -> Closed
    where
        S: Stream<Item = Bytes> + Send + Unpin,
    {
        let mut frames = frames;
        let silent = self.cfg.heartbeat * 3;
        // the hello
        let hello = match tokio::time::timeout(silent, frames.next()).await {
            Err(_) => return self.refuse(&out, Closed::Silent(silent)).await,
            Ok(None) => return Closed::Gone,
            Ok(Some(b)) => match Frame::decode(&b, self.cfg.max_frame) {
                Ok(Frame::Hello(h)) => h,
                Ok(f) => return self.refuse(&out, Closed::OutOfPlace(format!("{} before hello", f.kind()))).await,
                Err(e) => return self.refuse(&out, e.into()).await,
            },
        };
        let welcome = Frame::Welcome(proto::Welcome {
            heartbeat: self.cfg.heartbeat.as_millis() as u64,
            max_frame: self.cfg.max_frame as u64,
            zstd_threshold: self.cfg.zstd_threshold as u64,
        });
        if out.send(welcome.encode()).await.is_err() {
            return Closed::Gone;
        }
        let w = self.next_worker.fetch_add(1, Ordering::Relaxed);
        {
            let mut g = self.inner();
            g.leases.add_worker(w, hello.capabilities.clone(), hello.concurrency);
            g.out.insert(w, out.clone());
        }
        tracing::info!(worker = w, name = %hello.worker, concurrency = hello.concurrency, capabilities = ?hello.capabilities, "worker connected");
        metrics::gauge!("computebridge_workers").increment(1.0);
        self.room.notify_waiters();
        self.pump(Instant::now());
        let why = self.worker_loop(w, &mut frames, &out).await;
        // gone: its tasks to others
        let fates = {
            let mut g = self.inner();
            g.out.remove(&w);
            g.leases.remove_worker(&w, Instant::now())
        };
        metrics::gauge!("computebridge_workers").decrement(1.0);
        tracing::info!(worker = w, name = %hello.worker, reason = %why, tasks = fates.len(), "worker left");
        for (id, f) in fates {
            self.fate(id, f);
        }
        self.timer.notify_one();
        self.pump(Instant::now());
        why
    }

    async fn worker_loop<S>(self: &Arc<Self>, w: WorkerId, frames: &mut S, out: &mpsc::Sender<Bytes>) -> Closed
    where
        S: Stream<Item = Bytes> + Send + Unpin,
    {
        let silent = self.cfg.heartbeat * 3;
        let mut ping = tokio::time::interval(self.cfg.heartbeat);
        ping.tick().await;
        let mut heard = Instant::now();
        loop {
            let b = tokio::select! {
                b = frames.next() => b,
                _ = ping.tick() => {
                    if heard.elapsed() > silent {
                        return self.refuse(out, Closed::Silent(silent)).await;
                    }
                    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                    let _ = out.try_send(Frame::Ping(t).encode());
                    continue;
                }
            };
            let Some(b) = b else { return Closed::Gone };
            heard = Instant::now();
            match Frame::decode(&b, self.cfg.max_frame) {
                Ok(Frame::Result(d)) => {
                    tokio::spawn(self.clone().finished(w, d));
                }
                Ok(Frame::Error(f)) => {
                    let fate = self.inner().leases.failed(&w, &f.id, f.message.clone(), f.retry, Instant::now());
                    if let Some(fate) = fate {
                        tracing::info!(worker = w, task = %f.id, error = %f.message, retry = f.retry, "task failed");
                        self.fate(f.id, fate);
                        self.room.notify_waiters();
                        self.pump(Instant::now());
                    }
                }
                Ok(Frame::Ping(t)) => {
                    let _ = out.try_send(Frame::Pong(t).encode());
                }
                Ok(Frame::Pong(_)) => {}
                Ok(Frame::Bye(_)) => return Closed::Gone,
                Ok(f) => return self.refuse(out, Closed::OutOfPlace(format!("a worker sends no {}", f.kind()))).await,
                Err(e) => return self.refuse(out, e.into()).await,
            }
        }
    }

    async fn refuse(&self, out: &mpsc::Sender<Bytes>, why: Closed) -> Closed {
        self.counts.refused.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("computebridge_workers_refused_total").increment(1);
        let _ = tokio::time::timeout(Duration::from_secs(1), out.send(Frame::Bye(why.to_string()).encode())).await;
        why
    }
}
