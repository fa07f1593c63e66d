//! # trigger (service)
//!
//! `trigger.TriggerRpc` on :21006 (spec §6.1): delayed HTTP and gRPC callbacks with retries,
//! and the queue inspection RPCs, on [`trigger_core`]. With `Redis.Host` set, any number of
//! instances share the tasks (a crashed instance's tasks return after their lease); without it
//! one instance keeps them in SQLite (`DB.DataSource`, default `sqlite://trigger.db`).
//!
//! Upstream rules kept: queue `critical`, task id = `msg_id` or a new id, completed tasks kept
//! 7 days, `max_retry` 25 unless given, `trigger_time` (Asia/Shanghai `yyyy-MM-dd HH:mm:ss`) wins
//! over `process_in`, a past trigger time is 101101 and an unparsable one 101103, the HTTP body
//! `{"msgId", "Msg"}`. Not copied: retrying a callback that answered 4xx (archived at once), and
//! accepting discovery targets (`nacos://`, `etcd://`, `consul://`) that nothing resolves.

pub mod cron;
pub mod holiday;
pub mod ids;
pub mod plan;

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};
use trigger_core::callback::{grpc_endpoints, Callbacks, GrpcTask, HttpTask, GRPC_TASK, HTTP_TASK};
use trigger_core::driver::{self, now, WorkerConfig};
use trigger_core::store::{MemoryStore, RedisStore, SqliteStore, Store};
use trigger_core::task::{Millis, NewTask, QueueInfo, TaskInfo, TaskState};
use zero_svc::errcode::status;

/// The generated protocol (`package trigger`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("trigger");

    /// Encoded descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trigger_descriptor.bin"));
}

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/trigger.yaml");

/// The queue every callback task goes to (upstream).
pub const QUEUE: &str = "critical";

/// Configuration (see `etc/trigger.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address.
    pub listen_on: String,
    /// Logging.
    pub log: zero_svc::config::Log,
    /// Metrics endpoint.
    pub prometheus: zero_svc::config::Prometheus,
    /// Redis.
    pub redis: RedisCfg,
    /// Redis database number.
    #[serde(rename = "RedisDB")]
    pub redis_db: u32,
    /// The embedded store, used when `Redis.Host` is empty.
    #[serde(rename = "DB")]
    pub db: DbCfg,
    /// The engine.
    pub engine: trigger_core::Config,
    /// Workers.
    pub worker: Worker,
    /// Retention of completed tasks (s).
    pub retention_seconds: u64,
    /// streamevent, which handles cron occurrences.
    pub stream_event_conf: StreamEventConf,
    /// The cron scheduler.
    pub cron_task: CronTask,
    /// Plan tasks.
    pub plan_task: PlanTask,
    /// Shutdown grace (s).
    pub grace_period_seconds: u64,
}

/// `Redis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RedisCfg {
    /// `host:port`; empty for the in-memory store.
    pub host: String,
    /// Password.
    pub pass: String,
    /// Key prefix.
    pub key: String,
}

/// `DB`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DbCfg {
    /// `sqlite://path` (created if missing); empty keeps tasks in memory only.
    pub data_source: String,
}

/// `StreamEventConf`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamEventConf {
    /// gRPC endpoints (the first is used).
    pub endpoints: Vec<String>,
    /// Call timeout (ms).
    pub timeout: u64,
}

/// `CronTask`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CronTask {
    /// Skip an occurrence this late (s) unless the job sets its own.
    pub max_delay_seconds: i64,
    /// Lease of a claimed occurrence when the job sets none (s).
    pub lease_seconds: i64,
    /// Shortest lease (s).
    pub min_lease_seconds: i64,
    /// Idle scan period (ms).
    pub scan_millis: u64,
}

/// `PlanTask`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PlanTask {
    /// Where plans live: `sqlite://…`, `postgres://…` or `mysql://…`; empty: `DB.DataSource`
    /// (and when that is empty too, memory only).
    pub data_source: String,
    /// Items handled at once by this instance.
    pub concurrency: usize,
    /// How long a claim holds an item (s).
    pub lease_seconds: u64,
    /// Idle scan pause, picked at random between these (ms).
    pub idle_min_millis: u64,
    /// See `idle_min_millis`.
    pub idle_max_millis: u64,
}

impl PlanTask {
    /// The database URL of the plan store.
    pub fn url(&self, db: &DbCfg) -> String {
        if !self.data_source.is_empty() {
            self.data_source.clone()
        } else if !db.data_source.is_empty() {
            db.data_source.clone()
        } else {
            "sqlite::memory:".into()
        }
    }
}

/// `Worker`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Worker {
    /// Tasks at once.
    pub concurrency: usize,
    /// Idle poll interval (ms).
    pub poll_ms: u64,
}

impl Config {
    /// The Redis URL of `Redis` and `RedisDB`.
    pub fn redis_url(&self) -> String {
        let auth = if self.redis.pass.is_empty() { String::new() } else { format!(":{}@", self.redis.pass) };
        format!("redis://{auth}{}/{}", self.redis.host, self.redis_db)
    }
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "trigger";
    const DEFAULTS: &'static str = DEFAULTS;
    fn listen_on(&self) -> &str {
        &self.listen_on
    }
    fn log_level(&self) -> &str {
        &self.log.level
    }
    fn prometheus(&self) -> &str {
        &self.prometheus.listen_on
    }
}

/// A lazily connecting streamevent client for the first of `endpoints` (none: `None`).
///
/// # Errors
/// An unusable endpoint URL.
pub fn streamevent_client(
    endpoints: &[String],
) -> Result<Option<streamevent::pb::stream_event_client::StreamEventClient<tonic::transport::Channel>>, String> {
    let Some(ep) = endpoints.first() else { return Ok(None) };
    let channel = tonic::transport::Endpoint::from_shared(ep.clone())
        .map_err(|e| format!("StreamEventConf.Endpoints {ep:?}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    Ok(Some(streamevent::pb::stream_event_client::StreamEventClient::new(channel)))
}

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

/// The gRPC service.
pub struct Service {
    store: Arc<dyn Store>,
    cron: cron::Cron,
    plans: plan::Plans,
    holidays: holiday::Holidays,
    ids: ids::Sequences,
    callbacks: Callbacks,
    retention_ms: i64,
    max_payload: usize,
}

fn to_status(e: trigger_core::Error) -> Status {
    status(e.code(), e.to_string())
}

fn missing(what: &str) -> Status {
    status(101_102, format!("{what} is required"))
}

fn invalid(what: String) -> Status {
    status(101_103, what)
}

/// Asia/Shanghai (no daylight saving).
fn shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// A datetime text (`yyyy-MM-dd HH:mm:ss`, Shanghai) of ms since the epoch.
pub fn datetime(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&shanghai()).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// When a task is due: `trigger_time` if set (must parse and not be past), else now +
/// `process_in` seconds.
fn due(trigger_time: &str, process_in: u64, now: Millis) -> Result<Millis, Status> {
    if trigger_time.is_empty() {
        let secs = i64::try_from(process_in).map_err(|_| invalid("process_in is too large".into()))?;
        return secs
            .checked_mul(1000)
            .and_then(|ms| now.checked_add(ms))
            .ok_or_else(|| invalid("process_in is too large".into()));
    }
    let t = chrono::NaiveDateTime::parse_from_str(trigger_time, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| invalid(format!("trigger_time {trigger_time:?} is not yyyy-MM-dd HH:mm:ss: {e}")))?;
    let at = t
        .and_local_timezone(shanghai())
        .single()
        .ok_or_else(|| invalid(format!("trigger_time {trigger_time:?}")))?
        .timestamp_millis();
    // the RPC's own second: a trigger_time equal to "now" to the second is not in the past
    if at < now - now.rem_euclid(1000) {
        return Err(status(101_101, format!("trigger_time {trigger_time} is in the past")));
    }
    Ok(at)
}

fn max_retry(n: i64) -> Result<u32, Status> {
    match n {
        n if n < 0 => Err(invalid(format!("max_retry {n} is negative"))),
        0 => Ok(trigger_core::task::DEFAULT_MAX_RETRY),
        n => u32::try_from(n).map_err(|_| invalid(format!("max_retry {n} is too large"))),
    }
}

fn simple_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn task_pb(t: &TaskInfo, now: Millis) -> pb::TaskInfoPb {
    let opt = |v: Option<Millis>| v.map(datetime).unwrap_or_default();
    pb::TaskInfoPb {
        id: t.id.clone(),
        queue: t.queue.clone(),
        r#type: t.kind.clone(),
        payload: String::from_utf8_lossy(&t.payload).into_owned(),
        state: t.state.code(),
        max_retry: i32::try_from(t.max_retry).unwrap_or(i32::MAX),
        retried: i32::try_from(t.retried).unwrap_or(i32::MAX),
        last_err: t.last_err.clone(),
        last_failed_at: opt(t.last_failed_at),
        timeout: t.timeout_ms.unwrap_or(0),
        deadline: opt(t.deadline),
        group: String::new(),
        next_process_at: datetime(t.next_process_at),
        is_orphaned: t.is_orphaned(now),
        retention: t.retention_ms,
        completed_at: opt(t.completed_at),
        result: String::from_utf8_lossy(&t.result).into_owned(),
    }
}

fn queue_pb(i: &QueueInfo, now: Millis) -> pb::QueueInfoPb {
    pb::QueueInfoPb {
        queue: i.queue.clone(),
        memory_usage: 0,
        latency: i.latency_ms,
        size: i.size,
        groups: 0,
        pending: i.pending,
        active: i.active,
        scheduled: i.scheduled,
        retry: i.retry,
        archived: i.archived,
        completed: i.completed,
        aggregating: 0,
        processed: i.processed,
        failed: i.failed,
        processed_total: i.processed_total,
        failed_total: i.failed_total,
        paused: i.paused,
        timestamp: datetime(now),
    }
}

fn need(v: &str, what: &str) -> Result<(), Status> {
    if v.is_empty() {
        Err(missing(what))
    } else {
        Ok(())
    }
}

impl Service {
    /// A service over `store` (tasks), `cron` (cron jobs), `plans` and `holidays`.
    pub fn new(
        store: Arc<dyn Store>,
        cron: cron::Cron,
        plans: plan::Plans,
        holidays: holiday::Holidays,
        ids: ids::Sequences,
        cfg: &Config,
    ) -> Service {
        Service {
            store,
            cron,
            plans,
            holidays,
            ids,
            callbacks: Callbacks::new(),
            retention_ms: i64::try_from(cfg.retention_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_payload: cfg.engine.max_payload_bytes,
        }
    }

    async fn enqueue(
        &self,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        retries: u32,
        at: Millis,
    ) -> Result<String, Status> {
        if payload.len() > self.max_payload {
            return Err(invalid(format!(
                "payload of {} bytes exceeds the limit of {}",
                payload.len(),
                self.max_payload
            )));
        }
        let id = if id.is_empty() { simple_id() } else { id.to_owned() };
        let t = NewTask::new(QUEUE, kind, payload)
            .with_id(id)
            .with_max_retry(retries)
            .with_process_at(at)
            .with_retention_ms(self.retention_ms);
        let info = self.store.enqueue(t, now()).await.map_err(to_status)?;
        metrics::counter!("asynq_tasks_enqueued_total", "queue" => QUEUE, "state" => info.state.name()).increment(1);
        Ok(info.id)
    }

    async fn list(&self, r: pb::ListTasksReq, state: Option<TaskState>) -> Result<Response<pb::ListTasksRes>, Status> {
        need(&r.queue, "queue")?;
        if !(0..=500).contains(&r.page_size) {
            return Err(invalid(format!("page_size {} is not within 0..500", r.page_size)));
        }
        if r.page_num < 0 {
            return Err(invalid(format!("page_num {} is negative", r.page_num)));
        }
        let size = if r.page_size == 0 { 30 } else { r.page_size as usize };
        let page = (r.page_num.max(1) - 1) as usize;
        let t = now();
        let info = self.store.info(&r.queue, t).await.map_err(to_status)?;
        // aggregating (task groups) is not a state this engine has: always empty
        let tasks = match state {
            Some(s) => self.store.list(&r.queue, s, size, page).await.map_err(to_status)?,
            None => vec![],
        };
        Ok(Response::new(pb::ListTasksRes {
            queue_info: Some(queue_pb(&info, t)),
            tasks_info: tasks.iter().map(|x| task_pb(x, t)).collect(),
        }))
    }
}

/// Checks one Invoke task before anything runs.
fn check_invoke(t: &pb::InvokeTaskPb, i: usize) -> Result<(), Status> {
    if t.timeout < 0 {
        return Err(invalid(format!("tasks[{i}].timeout is negative")));
    }
    match t.protocol.as_str() {
        "http" => {
            need(&t.url, &format!("tasks[{i}].url"))?;
            if !t.body.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(&t.body).is_err() {
                return Err(invalid(format!("tasks[{i}].body is not JSON")));
            }
        }
        "grpc" => {
            need(&t.grpc_server, &format!("tasks[{i}].grpc_server"))?;
            grpc_endpoints(&t.grpc_server).map_err(|e| invalid(format!("tasks[{i}]: {e}")))?;
            if !t.method.starts_with('/') || !t.method[1..].contains('/') {
                return Err(invalid(format!("tasks[{i}].method {:?} is not /package.Service/Method", t.method)));
            }
        }
        other => return Err(invalid(format!("tasks[{i}].protocol {other:?} is not http or grpc"))),
    }
    Ok(())
}

/// Runs one Invoke task.
async fn invoke_one(cb: Callbacks, t: pb::InvokeTaskPb) -> pb::InvokeResultPb {
    use base64::Engine as _;
    let timeout = Duration::from_millis(if t.timeout == 0 { 60_000 } else { t.timeout as u64 });
    let started = std::time::Instant::now();
    let (success, status_code, error, data) = if t.protocol == "http" {
        let headers = t.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match cb.http_raw(&t.http_method, &t.url, &headers, &t.body, timeout).await {
            Ok((s, body)) => {
                ((200..300).contains(&s), i32::from(s), String::new(), String::from_utf8_lossy(&body).into_owned())
            }
            Err(e) => (false, 0, e, String::new()),
        }
    } else {
        let result = match cb.channel(&t.grpc_server) {
            Ok(ch) => {
                trigger_core::callback::invoke_raw(ch, &t.method, t.payload.into(), &Default::default(), timeout).await
            }
            Err(e) => Err(Status::invalid_argument(e.to_string())),
        };
        match result {
            Ok(b) => (true, 0, String::new(), base64::engine::general_purpose::STANDARD.encode(b)),
            Err(s) => (false, s.code() as i32, s.message().to_owned(), String::new()),
        }
    };
    let cost = started.elapsed();
    pb::InvokeResultPb {
        id: t.id,
        success,
        status_code,
        error,
        data,
        cost_ms: cost.as_millis() as i64,
        cost_formatted: format!("{cost:.2?}"),
    }
}

impl Service {
    async fn next_ids(&self, prefix: &str, separate: bool, count: i32) -> Result<Vec<String>, Status> {
        if prefix.chars().count() > 64 {
            return Err(invalid("out_desc_type: at most 64 characters".into()));
        }
        if !(1..=10_000).contains(&count) {
            return Err(invalid(format!("count {count} is not within 1..10000")));
        }
        let prefix = if prefix.is_empty() { "O" } else { prefix };
        let counter = if separate { prefix } else { "P" };
        let t = now();
        let first = self.ids.reserve(counter, count as u64, t).await.map_err(|e| status(103_101, e))?;
        Ok((0..count as u64).map(|i| ids::format_id(prefix, t, first + i)).collect())
    }
}

#[tonic::async_trait]
impl pb::trigger_rpc_server::TriggerRpc for Service {
    async fn next_id(&self, req: Request<pb::NextIdReq>) -> Result<Response<pb::NextIdRes>, Status> {
        let r = req.into_inner();
        let id = self.next_ids(&r.out_desc_type, r.separate, 1).await?.pop().unwrap_or_default();
        Ok(Response::new(pb::NextIdRes { id }))
    }
    async fn batch_next_id(&self, req: Request<pb::BatchNextIdReq>) -> Result<Response<pb::BatchNextIdRes>, Status> {
        let r = req.into_inner();
        Ok(Response::new(pb::BatchNextIdRes { ids: self.next_ids(&r.out_desc_type, r.separate, r.count).await? }))
    }
    async fn create_cron_job(
        &self,
        req: Request<pb::CreateCronJobReq>,
    ) -> Result<Response<pb::CreateCronJobRes>, Status> {
        self.cron.create(req.into_inner()).await
    }
    async fn update_cron_job(
        &self,
        req: Request<pb::UpdateCronJobReq>,
    ) -> Result<Response<pb::UpdateCronJobRes>, Status> {
        self.cron.update(req.into_inner()).await
    }
    async fn submit_cron_job(
        &self,
        req: Request<pb::CreateCronJobReq>,
    ) -> Result<Response<pb::CreateCronJobRes>, Status> {
        self.cron.submit(req.into_inner()).await
    }
    async fn enable_cron_job(&self, req: Request<pb::JobIdReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.cron.set_enabled(&req.into_inner().job_id, true).await
    }
    async fn disable_cron_job(&self, req: Request<pb::JobIdReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.cron.set_enabled(&req.into_inner().job_id, false).await
    }
    async fn delete_cron_job(&self, req: Request<pb::JobIdReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.cron.delete(&req.into_inner().job_id).await
    }
    async fn run_cron_job(&self, req: Request<pb::JobIdReq>) -> Result<Response<pb::RunCronJobRes>, Status> {
        self.cron.run_now(&req.into_inner().job_id).await
    }
    async fn get_cron_job(&self, req: Request<pb::JobIdReq>) -> Result<Response<pb::GetCronJobRes>, Status> {
        self.cron.get(&req.into_inner().job_id).await
    }
    async fn list_cron_jobs(&self, req: Request<pb::ListCronJobsReq>) -> Result<Response<pb::ListCronJobsRes>, Status> {
        self.cron.list(req.into_inner()).await
    }
    async fn preview_cron_job_schedule(
        &self,
        req: Request<pb::PreviewCronJobScheduleReq>,
    ) -> Result<Response<pb::PreviewCronJobScheduleRes>, Status> {
        self.cron.preview(req.into_inner()).await
    }

    async fn calc_plan_task_date(
        &self,
        req: Request<pb::CalcPlanTaskDateReq>,
    ) -> Result<Response<pb::CalcPlanTaskDateRes>, Status> {
        use trigger_core::rule;
        let r = req.into_inner();
        let p = r.rule.ok_or_else(|| missing("rule"))?;
        let input = rule::RuleInput {
            start: r.start_time,
            end: r.end_time,
            rule: rule::PlanRule {
                freq: p.freq,
                month: p.month,
                day: p.day,
                week: p.week,
                hours: p.hours,
                minutes: p.minutes,
                interval: p.interval,
            },
            exclude_dates: r.exclude_dates,
            specified_times: r.specified_times,
            excluded_times: r.excluded_times,
        };
        // plans span at most 3 years (spec §6.2)
        let c = rule::calculate(&input, 3, now(), 10_000).map_err(to_status)?;
        Ok(Response::new(pb::CalcPlanTaskDateRes {
            plan_dates: c.dates.iter().map(|t| rule::format_time(*t)).collect(),
            schedule_description: c.description,
            rrule_str: c.rrule_str,
        }))
    }

    async fn query_holiday(&self, req: Request<pb::QueryHolidayReq>) -> Result<Response<pb::QueryHolidayRes>, Status> {
        self.holidays.query(req.into_inner())
    }
    async fn list_holiday_festivals(
        &self,
        req: Request<pb::ListHolidayFestivalsReq>,
    ) -> Result<Response<pb::ListHolidayFestivalsRes>, Status> {
        self.holidays.list_festivals(req.into_inner())
    }
    async fn get_holiday_festival(
        &self,
        req: Request<pb::GetHolidayFestivalReq>,
    ) -> Result<Response<pb::GetHolidayFestivalRes>, Status> {
        self.holidays.get_festival(req.into_inner())
    }
    async fn get_holiday_year_summary(
        &self,
        req: Request<pb::GetHolidayYearSummaryReq>,
    ) -> Result<Response<pb::GetHolidayYearSummaryRes>, Status> {
        self.holidays.summary(req.into_inner())
    }
    async fn list_holiday_years(
        &self,
        _req: Request<pb::ListHolidayYearsReq>,
    ) -> Result<Response<pb::ListHolidayYearsRes>, Status> {
        self.holidays.years()
    }
    async fn list_holiday_source(
        &self,
        req: Request<pb::ListHolidaySourceReq>,
    ) -> Result<Response<pb::ListHolidaySourceRes>, Status> {
        self.holidays.list_sources(req.into_inner()).await
    }
    async fn save_holiday_source(
        &self,
        req: Request<pb::SaveHolidaySourceReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.holidays.save_source(req.into_inner()).await
    }
    async fn set_holiday_source_enabled(
        &self,
        req: Request<pb::SetHolidaySourceEnabledReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.holidays.set_enabled(req.into_inner()).await
    }

    async fn create_plan_task(
        &self,
        req: Request<pb::CreatePlanTaskReq>,
    ) -> Result<Response<pb::CreatePlanTaskRes>, Status> {
        self.plans.create(req.into_inner()).await
    }
    async fn pause_plan(&self, req: Request<pb::PlanActionReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.plan_action(req.into_inner(), plan::Action::Pause).await
    }
    async fn resume_plan(&self, req: Request<pb::PlanActionReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.plan_action(req.into_inner(), plan::Action::Resume).await
    }
    async fn terminate_plan(&self, req: Request<pb::PlanActionReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.plan_action(req.into_inner(), plan::Action::Terminate).await
    }
    async fn pause_plan_batch(&self, req: Request<pb::PlanBatchActionReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.batch_action(req.into_inner(), plan::Action::Pause).await
    }
    async fn resume_plan_batch(&self, req: Request<pb::PlanBatchActionReq>) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.batch_action(req.into_inner(), plan::Action::Resume).await
    }
    async fn terminate_plan_batch(
        &self,
        req: Request<pb::PlanBatchActionReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.batch_action(req.into_inner(), plan::Action::Terminate).await
    }
    async fn pause_plan_exec_item(
        &self,
        req: Request<pb::PlanExecItemActionReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.item_action(req.into_inner(), plan::ItemAction::Pause).await
    }
    async fn resume_plan_exec_item(
        &self,
        req: Request<pb::PlanExecItemActionReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.item_action(req.into_inner(), plan::ItemAction::Resume).await
    }
    async fn terminate_plan_exec_item(
        &self,
        req: Request<pb::PlanExecItemActionReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.item_action(req.into_inner(), plan::ItemAction::Terminate).await
    }
    async fn run_plan_exec_item(
        &self,
        req: Request<pb::PlanExecItemActionReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.item_action(req.into_inner(), plan::ItemAction::Run).await
    }
    async fn callback_plan_exec_item(
        &self,
        req: Request<pb::CallbackPlanExecItemReq>,
    ) -> Result<Response<pb::EmptyRes>, Status> {
        self.plans.callback(req.into_inner()).await
    }
    async fn get_plan(&self, req: Request<pb::GetPlanReq>) -> Result<Response<pb::GetPlanRes>, Status> {
        self.plans.get_plan(req.into_inner()).await
    }
    async fn list_plans(&self, req: Request<pb::ListPlansReq>) -> Result<Response<pb::ListPlansRes>, Status> {
        self.plans.list_plans(req.into_inner()).await
    }
    async fn get_plan_batch(&self, req: Request<pb::GetPlanBatchReq>) -> Result<Response<pb::GetPlanBatchRes>, Status> {
        self.plans.get_batch(req.into_inner()).await
    }
    async fn list_plan_batches(
        &self,
        req: Request<pb::ListPlanBatchesReq>,
    ) -> Result<Response<pb::ListPlanBatchesRes>, Status> {
        self.plans.list_batches(req.into_inner()).await
    }
    async fn get_plan_exec_item(
        &self,
        req: Request<pb::GetPlanExecItemReq>,
    ) -> Result<Response<pb::GetPlanExecItemRes>, Status> {
        self.plans.get_item(req.into_inner()).await
    }
    async fn list_plan_exec_items(
        &self,
        req: Request<pb::ListPlanExecItemsReq>,
    ) -> Result<Response<pb::ListPlanExecItemsRes>, Status> {
        self.plans.list_items(req.into_inner()).await
    }
    async fn get_plan_exec_log(
        &self,
        req: Request<pb::GetPlanExecLogReq>,
    ) -> Result<Response<pb::GetPlanExecLogRes>, Status> {
        self.plans.get_log(req.into_inner()).await
    }
    async fn list_plan_exec_logs(
        &self,
        req: Request<pb::ListPlanExecLogsReq>,
    ) -> Result<Response<pb::ListPlanExecLogsRes>, Status> {
        self.plans.list_logs(req.into_inner()).await
    }
    async fn get_exec_item_dashboard(
        &self,
        req: Request<pb::GetExecItemDashboardReq>,
    ) -> Result<Response<pb::GetExecItemDashboardRes>, Status> {
        self.plans.dashboard(req.into_inner()).await
    }

    async fn invoke(&self, req: Request<pb::InvokeReq>) -> Result<Response<pb::InvokeRes>, Status> {
        let r = req.into_inner();
        if r.tasks.is_empty() {
            return Err(missing("tasks"));
        }
        if r.max_concurrency < 0 {
            return Err(invalid("max_concurrency is negative".into()));
        }
        for (i, t) in r.tasks.iter().enumerate() {
            check_invoke(t, i)?;
        }
        let limit = if r.max_concurrency == 0 { r.tasks.len() } else { r.max_concurrency as usize };
        let slots = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
        let handles: Vec<_> = r
            .tasks
            .into_iter()
            .map(|t| {
                let cb = self.callbacks.clone();
                let slots = slots.clone();
                tokio::spawn(async move {
                    let _permit = slots.acquire_owned().await;
                    invoke_one(cb, t).await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for h in handles {
            results.push(h.await.map_err(|e| status(100_998, e.to_string()))?);
        }
        Ok(Response::new(pb::InvokeRes { results }))
    }

    async fn send_trigger(&self, req: Request<pb::SendTriggerReq>) -> Result<Response<pb::SendTriggerRes>, Status> {
        let r = req.into_inner();
        need(&r.url, "url")?;
        match r.url.split_once("://") {
            Some(("http" | "https", rest)) if !rest.is_empty() => {}
            _ => return Err(invalid(format!("url {:?} is not an http(s) URL", r.url))),
        }
        let msg = if r.body.is_empty() {
            None
        } else {
            Some(serde_json::from_str(&r.body).map_err(|e| invalid(format!("body is not JSON: {e}")))?)
        };
        let at = due(&r.trigger_time, r.process_in, now())?;
        let retries = max_retry(r.max_retry)?;
        let trace_id = simple_id();
        let p = HttpTask {
            msg_id: r.msg_id.clone(),
            carrier: [("traceparent".to_owned(), format!("00-{trace_id}-{}-01", &simple_id()[..16]))].into(),
            msg,
            url: r.url,
            ..Default::default()
        };
        let payload = serde_json::to_vec(&p).map_err(|e| status(100_998, e.to_string()))?;
        let id = self.enqueue(&r.msg_id, HTTP_TASK, payload, retries, at).await?;
        Ok(Response::new(pb::SendTriggerRes { trace_id, queue: QUEUE.into(), id }))
    }

    async fn send_proto_trigger(
        &self,
        req: Request<pb::SendProtoTriggerReq>,
    ) -> Result<Response<pb::SendProtoTriggerRes>, Status> {
        use base64::Engine as _;
        let r = req.into_inner();
        need(&r.grpc_server, "grpc_server")?;
        need(&r.method, "method")?;
        grpc_endpoints(&r.grpc_server).map_err(|e| invalid(e.to_string()))?;
        if !r.method.starts_with('/') || !r.method[1..].contains('/') {
            return Err(invalid(format!("method {:?} is not /package.Service/Method", r.method)));
        }
        if r.request_timeout < 0 {
            return Err(invalid("request_timeout is negative".into()));
        }
        let at = due(&r.trigger_time, r.process_in, now())?;
        let retries = max_retry(r.max_retry)?;
        let trace_id = simple_id();
        let p = GrpcTask {
            msg_id: r.msg_id.clone(),
            carrier: [("traceparent".to_owned(), format!("00-{trace_id}-{}-01", &simple_id()[..16]))].into(),
            grpc_server: r.grpc_server,
            method: r.method,
            payload: base64::engine::general_purpose::STANDARD.encode(&r.payload),
            request_timeout: r.request_timeout as u64,
        };
        let payload = serde_json::to_vec(&p).map_err(|e| status(100_998, e.to_string()))?;
        let id = self.enqueue(&r.msg_id, GRPC_TASK, payload, retries, at).await?;
        Ok(Response::new(pb::SendProtoTriggerRes { trace_id, queue: QUEUE.into(), id }))
    }

    async fn queues(&self, _req: Request<pb::QueuesReq>) -> Result<Response<pb::QueuesRes>, Status> {
        Ok(Response::new(pb::QueuesRes { queues: self.store.queues().await.map_err(to_status)? }))
    }

    async fn get_queue_info(&self, req: Request<pb::GetQueueInfoReq>) -> Result<Response<pb::GetQueueInfoRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        let t = now();
        let i = self.store.info(&r.queue, t).await.map_err(to_status)?;
        Ok(Response::new(pb::GetQueueInfoRes { queue_info: Some(queue_pb(&i, t)) }))
    }

    async fn archive_task(&self, req: Request<pb::TaskReq>) -> Result<Response<pb::EmptyRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        need(&r.id, "id")?;
        self.store.archive(&r.queue, &r.id, now()).await.map_err(to_status)?;
        Ok(Response::new(pb::EmptyRes {}))
    }

    async fn delete_task(&self, req: Request<pb::TaskReq>) -> Result<Response<pb::EmptyRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        need(&r.id, "id")?;
        self.store.delete(&r.queue, &r.id).await.map_err(to_status)?;
        Ok(Response::new(pb::EmptyRes {}))
    }

    async fn run_task(&self, req: Request<pb::TaskReq>) -> Result<Response<pb::EmptyRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        need(&r.id, "id")?;
        self.store.run(&r.queue, &r.id, now()).await.map_err(to_status)?;
        Ok(Response::new(pb::EmptyRes {}))
    }

    async fn get_task_info(&self, req: Request<pb::TaskReq>) -> Result<Response<pb::GetTaskInfoRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        need(&r.id, "id")?;
        let t = self.store.task(&r.queue, &r.id).await.map_err(to_status)?;
        Ok(Response::new(pb::GetTaskInfoRes { task_info: Some(task_pb(&t, now())) }))
    }

    async fn delete_all_completed_tasks(&self, req: Request<pb::QueueReq>) -> Result<Response<pb::CountRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        let n = self.store.delete_all(&r.queue, TaskState::Completed).await.map_err(to_status)?;
        Ok(Response::new(pb::CountRes { count: n as i64 }))
    }

    async fn delete_all_archived_tasks(&self, req: Request<pb::QueueReq>) -> Result<Response<pb::CountRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        let n = self.store.delete_all(&r.queue, TaskState::Archived).await.map_err(to_status)?;
        Ok(Response::new(pb::CountRes { count: n as i64 }))
    }

    async fn historical_stats(
        &self,
        req: Request<pb::HistoricalStatsReq>,
    ) -> Result<Response<pb::HistoricalStatsRes>, Status> {
        let r = req.into_inner();
        need(&r.queue, "queue")?;
        if !(1..=90).contains(&r.n) {
            return Err(invalid(format!("n {} is not within 1..90", r.n)));
        }
        let days = self.store.history(&r.queue, r.n as u32, now()).await.map_err(to_status)?;
        let daily_stat = days
            .iter()
            .map(|d| pb::DailyStatPb {
                queue: r.queue.clone(),
                processed: d.processed,
                failed: d.failed,
                date: chrono::DateTime::from_timestamp(d.day * 86_400, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::HistoricalStatsRes { daily_stat }))
    }

    async fn list_active_tasks(&self, req: Request<pb::ListTasksReq>) -> Result<Response<pb::ListTasksRes>, Status> {
        self.list(req.into_inner(), Some(TaskState::Active)).await
    }
    async fn list_pending_tasks(&self, req: Request<pb::ListTasksReq>) -> Result<Response<pb::ListTasksRes>, Status> {
        self.list(req.into_inner(), Some(TaskState::Pending)).await
    }
    async fn list_scheduled_tasks(&self, req: Request<pb::ListTasksReq>) -> Result<Response<pb::ListTasksRes>, Status> {
        self.list(req.into_inner(), Some(TaskState::Scheduled)).await
    }
    async fn list_retry_tasks(&self, req: Request<pb::ListTasksReq>) -> Result<Response<pb::ListTasksRes>, Status> {
        self.list(req.into_inner(), Some(TaskState::Retry)).await
    }
    async fn list_archived_tasks(&self, req: Request<pb::ListTasksReq>) -> Result<Response<pb::ListTasksRes>, Status> {
        self.list(req.into_inner(), Some(TaskState::Archived)).await
    }
    async fn list_completed_tasks(&self, req: Request<pb::ListTasksReq>) -> Result<Response<pb::ListTasksRes>, Status> {
        self.list(req.into_inner(), Some(TaskState::Completed)).await
    }
    async fn list_aggregating_tasks(
        &self,
        req: Request<pb::ListTasksReq>,
    ) -> Result<Response<pb::ListTasksRes>, Status> {
        self.list(req.into_inner(), None).await
    }
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
        grace_ms: cfg.grace_period_seconds.saturating_mul(1000),
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
    )
    .map_err(zero_svc::Error::Config)?;
    let ccfg = trigger_core::cron::CronConfig {
        default_lease_ms: cfg.cron_task.lease_seconds.saturating_mul(1000),
        min_lease_ms: cfg.cron_task.min_lease_seconds.saturating_mul(1000),
        default_max_delay_ms: cfg.cron_task.max_delay_seconds.saturating_mul(1000),
        scan_ms: cfg.cron_task.scan_millis.max(1),
    };
    let plan_url = cfg.plan_task.url(&cfg.db);
    let plan_store = trigger_core::plan::store::PlanStore::connect(&plan_url)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("PlanTask store {plan_url}: {e}")))?;
    let log = cron::ExecLog::open(plan_store.clone())
        .await
        .map_err(|e| zero_svc::Error::Config(format!("cron_exec_log table: {e}")))?;
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
        Arc::new(plan::StreamEventPlans::new(&cfg.stream_event_conf.endpoints).map_err(zero_svc::Error::Config)?);
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
    let holidays = holiday::Holidays::open(plan_store.clone())
        .await
        .map_err(|e| zero_svc::Error::Config(format!("holiday_source table: {e}")))?;
    let refresh = tokio::spawn(holidays.clone().refresh());
    let plans = plan::Plans { store: plan_store, wake, events: plan_events };
    let svc = Service::new(store, cron::Cron { store: cron_store, handler, log }, plans, holidays, ids, &cfg);
    let mut rx = stop_rx.clone();
    let server = tokio::spawn(zero_svc::grpc::serve(
        listener,
        pb::trigger_rpc_server::TriggerRpcServer::new(svc),
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
    let grace_plans = Duration::from_secs(cfg.grace_period_seconds + 1);
    let _ = tokio::time::timeout(grace_plans, plan_scanner).await;
    let grace = Duration::from_secs(cfg.grace_period_seconds + 1);
    let _ = tokio::time::timeout(grace, workers).await;
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(zero_svc::Error::Serve(e.to_string())),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_time_rules() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.500+08:00").unwrap().timestamp_millis();
        assert_eq!(due("", 10, now).unwrap(), now + 10_000);
        assert_eq!(due("2026-01-02 03:04:05", 999, now).unwrap(), now - 500, "same second is not past");
        assert_eq!(due("2026-01-02 03:05:00", 0, now).unwrap(), now + 54_500);
        assert_eq!(zero_svc::errcode::reason(&due("2026-01-02 03:04:04", 0, now).unwrap_err()).unwrap(), "101101");
        assert_eq!(zero_svc::errcode::reason(&due("2026/01/02 03:04:04", 0, now).unwrap_err()).unwrap(), "101103");
        assert_eq!(datetime(now), "2026-01-02 03:04:05");
    }

    #[test]
    fn retries_default_to_asynqs() {
        assert_eq!(max_retry(0).unwrap(), 25);
        assert_eq!(max_retry(3).unwrap(), 3);
        assert!(max_retry(-1).is_err());
    }
}
