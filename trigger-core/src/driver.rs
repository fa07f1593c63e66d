//! The tokio side: a worker pool that takes due tasks from a [`Store`], runs each through a
//! handler under its timeout, and reports the outcomes in batches. Running tasks' leases are
//! renewed by heartbeats, so a crashed process's tasks return to the retry set once their
//! lease runs out, while a live worker keeps long tasks.

use crate::core::{Ack, Lease};
use crate::store::Store;
use crate::task::{Millis, Outcome};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

/// The wall clock in ms since the epoch (the only clock the crate reads, here in the driver).
pub fn now() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

/// Worker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Tasks run at once (asynq's default 20).
    pub concurrency: usize,
    /// Longest idle wait before asking the store again (ms): bounds the lateness of a task
    /// enqueued by another process. Default 10 ms.
    pub poll_ms: u64,
    /// Heartbeat period (ms); keep it well under the store's lease. Default 10 s.
    pub heartbeat_ms: u64,
    /// How long shutdown waits for running tasks (ms) before leaving them to lease expiry.
    pub grace_ms: u64,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig { concurrency: 20, poll_ms: 10, heartbeat_ms: 10_000, grace_ms: 30_000 }
    }
}

type Running = Arc<Mutex<HashMap<(String, String), tokio::task::AbortHandle>>>;

/// Runs the worker pool until `shutdown`, then lets running tasks finish for
/// [`WorkerConfig::grace_ms`].
pub async fn run<S, H, F>(store: S, handler: H, cfg: WorkerConfig, shutdown: impl Future<Output = ()>)
where
    S: Store + Clone,
    H: Fn(Lease) -> F + Send + Sync + 'static,
    F: Future<Output = Outcome> + Send + 'static,
{
    let handler = Arc::new(handler);
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Ack>();
    // outcomes go to the store from their own task, batched, while this loop keeps dequeuing
    let reporter = tokio::spawn(reporter(store.clone(), ack_rx));
    let running: Running = Arc::default();
    let mut heartbeat = tokio::time::interval(Duration::from_millis(cfg.heartbeat_ms.max(1)));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        let free = slots.available_permits();
        let mut full_batch = false;
        if free > 0 {
            match store.dequeue(free, now()).await {
                Ok(leases) => {
                    full_batch = leases.len() == free;
                    for lease in leases {
                        spawn_one(lease, &handler, &slots, &ack_tx, &running);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "dequeue failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        if full_batch && slots.available_permits() > 0 {
            continue;
        }
        let t = now();
        let due = store.next_due().await.ok().flatten().unwrap_or(Millis::MAX);
        let wait = Duration::from_millis(due.saturating_sub(t).clamp(0, cfg.poll_ms as Millis) as u64);
        let idle = slots.available_permits() > 0;
        // every slot busy: wait until a batch's worth is free again (or poll_ms has passed),
        // so that one dequeue round trip fetches many tasks
        let batch = u32::try_from((cfg.concurrency / 4).clamp(1, 64)).unwrap_or(1);
        let freed = async {
            let _ = tokio::time::timeout(Duration::from_millis(cfg.poll_ms.max(1)), slots.acquire_many(batch)).await;
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = freed, if !idle => {}
            _ = store.changed(), if idle => {}
            _ = tokio::time::sleep(wait), if idle => {}
            _ = heartbeat.tick() => beat(&store, &running).await,
        }
    }
    // shutdown: no new work; running tasks get the grace period, then their outcomes are reported
    let all = u32::try_from(cfg.concurrency.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_millis(cfg.grace_ms), slots.acquire_many(all)).await;
    for (_, h) in running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain() {
        h.abort();
    }
    drop(ack_tx);
    let _ = reporter.await;
}

async fn reporter<S: Store>(store: S, mut rx: mpsc::UnboundedReceiver<Ack>) {
    let mut acks = Vec::new();
    while let Some(a) = rx.recv().await {
        acks.push(a);
        while let Ok(a) = rx.try_recv() {
            acks.push(a);
        }
        report(&store, &mut acks).await;
    }
}

fn spawn_one<H, F>(
    lease: Lease,
    handler: &Arc<H>,
    slots: &Arc<Semaphore>,
    ack_tx: &mpsc::UnboundedSender<Ack>,
    running: &Running,
) where
    H: Fn(Lease) -> F + Send + Sync + 'static,
    F: Future<Output = Outcome> + Send + 'static,
{
    let Ok(permit) = slots.clone().try_acquire_owned() else { return };
    let key = (lease.task.queue.clone(), lease.task.id.clone());
    let budget = Duration::from_millis(lease.run_until.saturating_sub(now()).max(0) as u64);
    let fut = handler(lease);
    let tx = ack_tx.clone();
    let reg = running.clone();
    let k = key.clone();
    let mut map = running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let h = tokio::spawn(async move {
        let outcome = match tokio::time::timeout(budget, fut).await {
            Ok(o) => o,
            Err(_) => Outcome::retry("task timed out"),
        };
        reg.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&k);
        let _ = tx.send(Ack { queue: k.0, id: k.1, outcome });
        drop(permit);
    });
    map.insert(key, h.abort_handle());
}

async fn report<S: Store>(store: &S, acks: &mut Vec<Ack>) {
    let batch = std::mem::take(acks);
    let mut backoff = Duration::from_millis(50);
    // the outcome must reach the store; a store outage delays it (the lease covers the wait)
    for _ in 0..10 {
        match store.ack(batch.clone(), now()).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, n = batch.len(), "reporting outcomes failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    tracing::error!(n = batch.len(), "outcomes not reported: the tasks will run again after their lease");
}

async fn beat<S: Store>(store: &S, running: &Running) {
    let ids: Vec<(String, String)> =
        running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).keys().cloned().collect();
    if ids.is_empty() {
        return;
    }
    match store.extend(ids, now()).await {
        Ok(lost) => {
            let mut map = running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for k in lost {
                if let Some(h) = map.remove(&k) {
                    tracing::warn!(queue = %k.0, id = %k.1, "lease lost; stopping the task");
                    h.abort();
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
    }
}
