//! Wiring: stores, workers, the cron scheduler, the plan scanner and the gRPC server.

use crate::config::Config;
use crate::rpc::Service;
use crate::{cron, holiday, ids, pb, plan};
use std::sync::Arc;
use std::time::Duration;
use trigger_core::callback::Callbacks;
use trigger_core::driver::{self, now, WorkerConfig};
use trigger_core::store::{MemoryStore, RedisStore, SqliteStore, Store};

/// Opens the configured store.
///
/// # Errors
/// [`zero_svc::Error::Config`] when Redis cannot be reached.
pub async fn open_store(cfg: &Config) -> Result<Arc<dyn Store>, zero_svc::Error> {
    if cfg.redis.host.is_empty() {
        if cfg.db.data_source.is_empty() {
            return Ok(Arc::new(MemoryStore::new(cfg.engine.clone())));
        }
        if !cfg.db.data_source.starts_with("sqlite:") {
            return Err(zero_svc::Error::Config(format!(
                "DB.DataSource {:?}: the task store takes sqlite: (or set Redis.Host)",
                cfg.db.data_source
            )));
        }
        let s = SqliteStore::open(&cfg.db.data_source, cfg.engine.clone(), now())
            .await
            .map_err(|e| zero_svc::Error::Config(format!("DB.DataSource {}: {e}", cfg.db.data_source)))?;
        return Ok(Arc::new(s));
    }
    let s = RedisStore::connect(&cfg.redis_url(), &cfg.redis.key, cfg.engine.clone())
        .await
        .map_err(|e| zero_svc::Error::Config(format!("Redis {}: {e}", cfg.redis.host)))?;
    Ok(Arc::new(s))
}

/// Opens the cron-job store: Redis when configured, else the SQLite file, else memory.
///
/// # Errors
/// [`zero_svc::Error::Config`] when the store cannot be opened.
pub async fn open_cron_store(cfg: &Config) -> Result<Arc<dyn trigger_core::cron::CronStore>, zero_svc::Error> {
    use trigger_core::cron::{MemoryCron, RedisCron, SqliteCron};
    let bad = |e: trigger_core::Error| zero_svc::Error::Config(format!("cron store: {e}"));
    if !cfg.redis.host.is_empty() {
        return Ok(Arc::new(RedisCron::connect(&cfg.redis_url(), &cfg.redis.key).await.map_err(bad)?));
    }
    if cfg.db.data_source.is_empty() {
        return Ok(Arc::new(MemoryCron::default()));
    }
    Ok(Arc::new(SqliteCron::open(&cfg.db.data_source).await.map_err(bad)?))
}

/// Publishes asynq's queue metrics (names as asynq's exporter, so dashboards carry over).
async fn queue_metrics(store: Arc<dyn Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let Ok(queues) = store.queues().await else { continue };
        let t = now();
        for q in queues {
            let Ok(i) = store.info(&q, t).await else { continue };
            for (state, n) in [
                ("active", i.active),
                ("pending", i.pending),
                ("scheduled", i.scheduled),
                ("retry", i.retry),
                ("archived", i.archived),
                ("completed", i.completed),
            ] {
                metrics::gauge!("asynq_queue_size", "queue" => q.clone(), "state" => state).set(n as f64);
            }
            metrics::gauge!("asynq_queue_latency_seconds", "queue" => q.clone()).set(i.latency_ms as f64 / 1000.0);
            metrics::gauge!("asynq_queue_paused_total", "queue" => q.clone()).set(if i.paused { 1.0 } else { 0.0 });
            metrics::counter!("asynq_tasks_processed_total", "queue" => q.clone()).absolute(i.processed_total as u64);
            metrics::counter!("asynq_tasks_failed_total", "queue" => q.clone()).absolute(i.failed_total as u64);
        }
    }
}

/// Runs the service on `listener` until `shutdown`: the gRPC API and the workers.
///
/// # Errors
/// An unreachable Redis, or server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let store = open_store(&cfg).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let callbacks = Callbacks::new();
    let wcfg = WorkerConfig {
        concurrency: cfg.worker.concurrency.max(1),
        poll_ms: cfg.worker.poll_ms.max(1),
        heartbeat_ms: u64::try_from(cfg.engine.lease_ms / 3).unwrap_or(10_000).max(1),
        grace_ms: u64::try_from(cfg.base.grace_period.0.as_millis()).unwrap_or(u64::MAX),
    };
    let mut rx = stop_rx.clone();
    let workers = tokio::spawn(driver::run(
        store.clone(),
        move |lease| {
            let cb = callbacks.clone();
            async move { cb.run(lease).await }
        },
        wcfg,
        async move {
            let _ = rx.changed().await;
        },
    ));
    let stats = tokio::spawn(queue_metrics(store.clone()));
    let cron_store = open_cron_store(&cfg).await?;
    let handler = cron::Handler::new(
        &cfg.stream_event_conf.endpoints,
        Duration::from_millis(cfg.stream_event_conf.timeout.max(1)),
    )?;
    let ccfg = trigger_core::cron::CronConfig {
        default_lease_ms: cfg.cron_task.lease_seconds.saturating_mul(1000),
        min_lease_ms: cfg.cron_task.min_lease_seconds.saturating_mul(1000),
        default_max_delay_ms: i64::try_from(cfg.cron_task.max_delay.0.as_millis()).unwrap_or(i64::MAX),
        scan_ms: cfg.cron_task.scan_millis.max(1),
    };
    let plan_url = cfg.plan_task.url(&cfg.db);
    // trigger-core's plan database: plans, cron_exec_log and holiday_source, migrated by it
    let plan_db = trigger_core::plan::store::open(&plan_url)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("PlanTask store {plan_url}: {e}")))?;
    let plan_store = trigger_core::plan::store::PlanStore::new(plan_db.clone());
    let log = cron::ExecLog(Some(trigger_core::cron_log::CronExecLog::new(plan_db.clone())));
    let mut rx = stop_rx.clone();
    let (h, l) = (handler.clone(), log.clone());
    let scheduler = tokio::spawn(trigger_core::cron::run(
        cron_store.clone(),
        move |job, scheduled| {
            let (h, l) = (h.clone(), l.clone());
            async move { l.run(&h, &job, scheduled).await }
        },
        ccfg,
        async move {
            let _ = rx.changed().await;
        },
    ));
    let ids = if cfg.redis.host.is_empty() {
        ids::Sequences::Local(Arc::default())
    } else {
        let client =
            redis::Client::open(cfg.redis_url()).map_err(|e| zero_svc::Error::Config(format!("Redis: {e}")))?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| zero_svc::Error::Config(format!("Redis: {e}")))?;
        ids::Sequences::Redis { conn, key: cfg.redis.key.clone() }
    };
    let plan_events: Arc<dyn trigger_core::plan::scanner::PlanHandler> =
        Arc::new(crate::dispatch::StreamEventPlans::new(&cfg.stream_event_conf.endpoints)?);
    let wake = Arc::new(tokio::sync::Notify::new());
    let pt = &cfg.plan_task;
    let scfg = trigger_core::plan::scanner::ScanConfig {
        lease: Duration::from_secs(pt.lease_seconds.max(1)),
        idle: (
            Duration::from_millis(pt.idle_min_millis),
            Duration::from_millis(pt.idle_max_millis.max(pt.idle_min_millis)),
        ),
        busy: Duration::from_millis(10),
        concurrency: pt.concurrency.max(1),
        default_timeout: Duration::from_millis(cfg.stream_event_conf.timeout.max(1)),
        grace: Duration::from_secs(120),
    };
    let mut rx = stop_rx.clone();
    let plan_scanner = tokio::spawn(trigger_core::plan::scanner::run(
        plan_store.clone(),
        plan_events.clone(),
        scfg,
        wake.clone(),
        async move {
            let _ = rx.changed().await;
        },
    ));
    let holidays = trigger_core::holiday::store::HolidayStore::open(plan_db)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("holiday_source table: {e}")))?;
    let refresh = tokio::spawn(holidays.clone().refresh());
    let plans = plan::Plans { store: plan_store, wake, events: plan_events };
    let svc = Service::new(
        store,
        cron::Cron { store: cron_store, handler, log },
        plans,
        holiday::Holidays(holidays),
        ids,
        &cfg,
    );
    let svc = Arc::new(svc);
    // the Tasks panel on the metrics port: the same halves the gRPC API uses
    zero_svc::dashboard::Dashboard::new(cfg.base.dashboard.auth())
        .panel(crate::dashboard::Tasks::new(svc.clone()))
        .install();
    let mut rx = stop_rx.clone();
    let server = tokio::spawn(zero_svc::grpc::serve(
        listener,
        pb::trigger_rpc_server::TriggerRpcServer::from_arc(svc),
        &[pb::FILE_DESCRIPTOR_SET],
        async move {
            let _ = rx.changed().await;
        },
    ));
    shutdown.await;
    let _ = stop_tx.send(true);
    stats.abort();
    refresh.abort();
    let _ = scheduler.await;
    let grace_plans = cfg.base.grace_period.0 + Duration::from_secs(1);
    let _ = tokio::time::timeout(grace_plans, plan_scanner).await;
    let grace = cfg.base.grace_period.0 + Duration::from_secs(1);
    let _ = tokio::time::timeout(grace, workers).await;
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(zero_svc::Error::Serve(e.to_string())),
        Err(_) => Ok(()),
    }
}
