//! The plan scanner: claims due items (several instances may share the database), hands them to
//! a [`PlanHandler`], records the results and reports finished batches and plans.

use super::store::{log_of, Claimed, PlanStore};
use super::{apply_result, Batch, ExecItem, Plan, PlanEvent, Reply, Via};
use crate::driver::now;
use crate::store::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;

/// One item handed to the handler.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// The item (running).
    pub item: ExecItem,
    /// Its plan.
    pub plan: Plan,
    /// Its batch.
    pub batch: Batch,
    /// Trace id of this dispatch (also in its log row).
    pub trace_id: String,
    /// How long the handler has.
    pub timeout: Duration,
}

/// Why a [`PlanHandler`] could not run an item or deliver an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// Nothing is configured to run it (no endpoint).
    #[error("no handler configured: {0}")]
    Unconfigured(String),
    /// The handler was called and answered with an error: its status name and message.
    #[error("{status}: {message}")]
    Failed {
        /// The status (a gRPC code name, an HTTP status).
        status: String,
        /// What the handler said.
        message: String,
    },
}

/// What runs the items: the service calls streamevent (`HandlerPlanTaskEvent`,
/// `NotifyPlanEvent`).
pub trait PlanHandler: Send + Sync + 'static {
    /// Runs one item; `Err` is a dispatch failure (the item is dispatched again after its lease).
    fn handle(&self, d: &Dispatch) -> BoxFuture<'_, Result<Reply, HandlerError>>;
    /// Reports a finished batch or plan (failures are only logged). A scanner calls it from one
    /// task, one event at a time, in the order the results were committed: a plan's
    /// PLAN_FINISHED comes after the BATCH_FINISHED of every batch this scanner finished.
    /// Events of results applied elsewhere (another instance, `CallbackPlanExecItem` through
    /// [`PlanStore::callback`]) are delivered by whoever applied them, in no order relative to
    /// these.
    fn notify(&self, e: PlanEvent) -> BoxFuture<'_, Result<(), HandlerError>>;
}

/// Scanner settings.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// How long a claim holds an item (default 5 min); a handler call never outlives it.
    pub lease: Duration,
    /// Pause after a scan that found nothing: at random between these (default 1-2 s).
    pub idle: (Duration, Duration),
    /// Pause after a scan that dispatched something (default 10 ms).
    pub busy: Duration,
    /// Items handled at once by this instance (default 4).
    pub concurrency: usize,
    /// Handler timeout for items without their own (default 120 s)...
    pub default_timeout: Duration,
    /// ...plus this grace (default 120 s).
    pub grace: Duration,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            lease: Duration::from_secs(300),
            idle: (Duration::from_secs(1), Duration::from_secs(2)),
            busy: Duration::from_millis(10),
            concurrency: 4,
            default_timeout: Duration::from_secs(120),
            grace: Duration::from_secs(120),
        }
    }
}

impl ScanConfig {
    fn timeout_of(&self, it: &ExecItem) -> Duration {
        let own = u64::try_from(it.request_timeout).ok().filter(|&ms| ms > 0).map(Duration::from_millis);
        let t = own.unwrap_or(self.default_timeout) + self.grace;
        t.min(self.lease.saturating_sub(Duration::from_secs(1)).max(Duration::from_millis(100)))
    }
}

/// What the dispatches of one scanner share to report events in the order their results were
/// committed: a result is stored and its events queued under `order`, and one task delivers the
/// queue. (Two finishers of one plan's last batches commit in turn on the plan's row lock, but
/// their tasks could otherwise deliver in any order: PLAN_FINISHED before the other batch's
/// BATCH_FINISHED.)
#[derive(Clone)]
struct Outlet {
    order: Arc<tokio::sync::Mutex<()>>,
    events: mpsc::UnboundedSender<PlanEvent>,
}

async fn deliver(handler: Arc<dyn PlanHandler>, mut events: mpsc::UnboundedReceiver<PlanEvent>) {
    while let Some(e) = events.recv().await {
        if let Err(err) = handler.notify(e.clone()).await {
            tracing::warn!(plan_id = %e.plan_id, batch_id = %e.batch_id, error = %err, "plan event not delivered");
        }
    }
}

async fn dispatch(store: PlanStore, handler: Arc<dyn PlanHandler>, out: Outlet, c: Claimed, timeout: Duration) {
    let trace_id = uuid::Uuid::now_v7().simple().to_string();
    let d = Dispatch { item: c.item, plan: c.plan, batch: c.batch, trace_id, timeout };
    let started = d.item.last_trigger_time.unwrap_or_else(now);
    let res = tokio::time::timeout(timeout, handler.handle(&d)).await;
    let at = now();
    let reply = match res {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => return failed(&store, &d.item, &e.to_string(), at).await,
        Err(_) => return failed(&store, &d.item, &format!("handler timed out after {timeout:?}"), at).await,
    };
    let applied = apply_result(&d.item, &reply, at, Via::Scanner);
    let log = log_of(&d.item, &d.plan, started, &d.trace_id, &reply);
    let finish = || async {
        let _order = out.order.lock().await;
        let stored = store.finish(&d.item, &d.plan, &applied, log.clone(), at).await;
        if let Ok(Some(events)) = &stored {
            for e in events {
                // the receiver lives until every dispatch ended
                let _ = out.events.send(e.clone());
            }
        }
        stored
    };
    // a transient store error (a deadlock victim, a busy SQLite file) is retried
    let mut stored = finish().await;
    for pause in [20, 100, 500] {
        if stored.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(pause)).await;
        stored = finish().await;
    }
    match stored {
        Ok(Some(_)) => {}
        Ok(None) => {
            tracing::info!(exec_id = %d.item.exec_id, "item moved while it ran (lease taken over); result dropped")
        }
        Err(e) => {
            tracing::warn!(exec_id = %d.item.exec_id, error = %e, "result not stored; the item runs again after its lease")
        }
    }
}

async fn failed(store: &PlanStore, it: &ExecItem, msg: &str, at: i64) {
    tracing::warn!(exec_id = %it.exec_id, error = %msg, "plan item dispatch failed; retried after its lease");
    if let Err(e) = store.dispatch_failed(it, msg, at).await {
        tracing::warn!(exec_id = %it.exec_id, error = %e, "dispatch failure not recorded");
    }
}

fn jitter(lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    lo + Duration::from_millis(fastrand::u64(0..=(hi - lo).as_millis() as u64))
}

/// Runs the scanner until `shutdown` resolves, then waits for the items in hand. `wake` cuts an
/// idle pause short (notify it when something became due, e.g. a new plan).
pub async fn run(
    store: PlanStore,
    handler: Arc<dyn PlanHandler>,
    cfg: ScanConfig,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut inflight = JoinSet::new();
    let (events, queued) = mpsc::unbounded_channel();
    let delivery = tokio::spawn(deliver(handler.clone(), queued));
    let out = Outlet { order: Arc::new(tokio::sync::Mutex::new(())), events };
    let lease_ms = cfg.lease.as_millis() as i64;
    let concurrency = cfg.concurrency.max(1);
    loop {
        let mut got = false;
        while inflight.len() < concurrency {
            match store.claim(now(), lease_ms).await {
                Ok(Some(c)) => {
                    got = true;
                    let timeout = cfg.timeout_of(&c.item);
                    inflight.spawn(dispatch(store.clone(), handler.clone(), out.clone(), c, timeout));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "plan scan failed");
                    break;
                }
            }
        }
        let pause = if inflight.len() >= concurrency {
            Duration::from_secs(3600)
        } else if got {
            cfg.busy
        } else {
            jitter(cfg.idle.0, cfg.idle.1)
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
            () = wake.notified() => {}
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    }
    while inflight.join_next().await.is_some() {}
    drop(out);
    let _ = delivery.await;
}
