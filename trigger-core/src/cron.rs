//! RRULE cron jobs with leases (spec §6.3): every occurrence of a job fires once however many
//! instances share the store. An instance claims a due job by moving its `next_run` to a lease
//! deadline (remembering the occurrence it claimed); on success it completes the claim by
//! setting the next occurrence, guarded by the lease value, so a late instance whose lease was
//! taken over cannot complete twice. An instance that dies holding a claim loses it when the
//! lease runs out; another instance then fires the same occurrence, and the occurrences that
//! fell due meanwhile follow, late, as long as they are within the max delay.

use crate::error::{Error, Result};
use crate::store::BoxFuture;
use crate::task::Millis;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A parsed RRULE set (`DTSTART` + `RRULE`/`RDATE`/`EXDATE`, RFC 5545).
#[derive(Debug, Clone)]
pub struct Schedule(rrule::RRuleSet);

impl Schedule {
    /// Parses an RRULE set text.
    ///
    /// # Examples
    /// ```
    /// let s = trigger_core::cron::Schedule::parse("DTSTART:20260101T000000Z\nRRULE:FREQ=HOURLY").unwrap();
    /// let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    /// assert_eq!(s.next_after(t0), Some(t0 + 3_600_000));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming what the rule gets wrong.
    pub fn parse(text: &str) -> Result<Schedule> {
        text.parse::<rrule::RRuleSet>()
            .map(Schedule)
            .map_err(|e| Error::InvalidArgument(format!("rrule {text:?}: {e}")))
    }

    /// The last occurrence at or before `t`, looking at no more than `scan` occurrences.
    pub fn last_at_or_before(&self, t: Millis, scan: u16) -> Option<Millis> {
        self.0.clone().all(scan).dates.into_iter().map(|d| d.timestamp_millis()).take_while(|&ms| ms <= t).last()
    }

    /// The next `n` occurrences strictly after `t`.
    pub fn upcoming(&self, t: Millis, n: u16) -> Vec<Millis> {
        let Some(after) = chrono::DateTime::from_timestamp_millis(t) else { return vec![] };
        let after = after.with_timezone(&rrule::Tz::UTC);
        self.0
            .clone()
            .after(after)
            .all(n.saturating_add(1))
            .dates
            .into_iter()
            .map(|d| d.timestamp_millis())
            .filter(|&ms| ms > t)
            .take(usize::from(n))
            .collect()
    }

    /// The first occurrence strictly after `t`, if any.
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        let after = chrono::DateTime::from_timestamp_millis(t)?.with_timezone(&rrule::Tz::UTC);
        self.0.clone().after(after).all(3).dates.into_iter().map(|d| d.timestamp_millis()).find(|&ms| ms > t)
    }
}

/// A cron job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CronJob {
    /// Id.
    pub job_id: String,
    /// Unique code.
    pub task_code: String,
    /// The RRULE set text.
    pub rrule: String,
    /// Lease while an occurrence runs (ms); 0 for the engine default.
    pub lock_timeout_ms: i64,
    /// An occurrence later than this (ms) is skipped; 0 for the engine default.
    pub max_delay_ms: i64,
    /// Payload handed to the handler.
    pub payload: String,
    /// Higher first when several jobs are due.
    #[serde(default)]
    pub priority: i32,
    /// Whatever else the caller keeps with the job (the scheduler does not read it).
    #[serde(default)]
    pub meta: serde_json::Value,
}

/// A claimed occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The job.
    pub job: CronJob,
    /// The occurrence's planned time.
    pub scheduled: Millis,
    /// The lease deadline (the claim's identity when completing).
    pub lease_until: Millis,
}

/// What the handler said about an occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CronOutcome {
    /// Done: move to the next occurrence.
    Success,
    /// The job is unknown downstream: delete it.
    TaskNotFound,
    /// Failed: leave the lease to run out and fire the same occurrence again.
    Retry,
}

/// A stored job with its schedule state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The job.
    pub job: CronJob,
    /// Next run, or the lease deadline while an occurrence is claimed; `None`: exhausted or
    /// disabled.
    pub next_run: Option<Millis>,
    /// The planned time of the occurrence in flight, if one is.
    pub scheduled: Option<Millis>,
    /// When an occurrence last completed.
    pub last_run: Option<Millis>,
    /// The planned time of that occurrence.
    pub last_scheduled_run: Option<Millis>,
}

/// Where cron jobs live.
pub trait CronStore: Send + Sync + 'static {
    /// Creates or replaces a job, due next at `next_run` (`None`: exhausted).
    fn save(&self, job: CronJob, next_run: Option<Millis>) -> BoxFuture<'_, Result<()>>;
    /// Claims the earliest due job, leased for its `lock_timeout_ms` (or `default_lease_ms`),
    /// at least `min_lease_ms`.
    fn claim(&self, now: Millis, default_lease_ms: i64, min_lease_ms: i64) -> BoxFuture<'_, Result<Option<Claim>>>;
    /// Completes a claim at `now`: next occurrence at `next_run`, last run recorded. False
    /// when the lease was lost.
    fn complete(&self, claim: &Claim, next_run: Option<Millis>, now: Millis) -> BoxFuture<'_, Result<bool>>;
    /// Deletes a job.
    fn delete<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// A job and its schedule state.
    fn get<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<Option<StoredJob>>>;
    /// Every job.
    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJob>>>;
    /// Records a run outside the schedule (a manual run) as the last run, at `at`.
    fn record_run<'a>(&'a self, job_id: &'a str, at: Millis) -> BoxFuture<'a, Result<()>>;
}

#[derive(Debug, Default)]
struct MemInner {
    jobs: HashMap<String, CronJob>,
    next: HashMap<String, Millis>,
    scheduled: HashMap<String, Millis>,
    last: HashMap<String, (Millis, Millis)>,
}

impl MemInner {
    fn stored(&self, id: &str) -> Option<StoredJob> {
        let job = self.jobs.get(id)?.clone();
        let last = self.last.get(id);
        Some(StoredJob {
            job,
            next_run: self.next.get(id).copied(),
            scheduled: self.scheduled.get(id).copied(),
            last_run: last.map(|l| l.0),
            last_scheduled_run: last.map(|l| l.1),
        })
    }
}

fn lease_for(job: &CronJob, default_lease_ms: i64, min_lease_ms: i64) -> i64 {
    let l = if job.lock_timeout_ms > 0 { job.lock_timeout_ms } else { default_lease_ms };
    // upstream truncates leases to whole seconds
    (l.max(min_lease_ms) / 1000 * 1000).max(1000)
}

/// Cron jobs in this process's memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryCron(Arc<Mutex<MemInner>>);

impl MemoryCron {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CronStore for MemoryCron {
    fn save(&self, job: CronJob, next_run: Option<Millis>) -> BoxFuture<'_, Result<()>> {
        let mut m = self.lock();
        match next_run {
            Some(n) => m.next.insert(job.job_id.clone(), n),
            None => m.next.remove(&job.job_id),
        };
        m.scheduled.remove(&job.job_id);
        m.jobs.insert(job.job_id.clone(), job);
        Box::pin(std::future::ready(Ok(())))
    }
    fn claim(&self, now: Millis, default_lease_ms: i64, min_lease_ms: i64) -> BoxFuture<'_, Result<Option<Claim>>> {
        let mut m = self.lock();
        let due = m
            .next
            .iter()
            .filter(|(_, &t)| t <= now)
            .max_by_key(|(id, &t)| (m.jobs.get(*id).map_or(0, |j| j.priority), std::cmp::Reverse(t)))
            .map(|(id, &t)| (id.clone(), t));
        let out = due.and_then(|(id, old)| {
            let job = m.jobs.get(&id)?.clone();
            let lease_ms = lease_for(&job, default_lease_ms, min_lease_ms);
            let scheduled = *m.scheduled.entry(id.clone()).or_insert(old);
            m.next.insert(id, now + lease_ms);
            Some(Claim { job, scheduled, lease_until: now + lease_ms })
        });
        Box::pin(std::future::ready(Ok(out)))
    }
    fn complete(&self, claim: &Claim, next_run: Option<Millis>, now: Millis) -> BoxFuture<'_, Result<bool>> {
        let mut m = self.lock();
        let id = &claim.job.job_id;
        let ok = m.next.get(id) == Some(&claim.lease_until);
        if ok {
            m.scheduled.remove(id);
            m.last.insert(id.clone(), (now, claim.scheduled));
            match next_run {
                Some(n) => m.next.insert(id.clone(), n),
                None => m.next.remove(id),
            };
        }
        Box::pin(std::future::ready(Ok(ok)))
    }
    fn delete<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<()>> {
        let mut m = self.lock();
        m.jobs.remove(job_id);
        m.next.remove(job_id);
        m.scheduled.remove(job_id);
        m.last.remove(job_id);
        Box::pin(std::future::ready(Ok(())))
    }
    fn get<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<Option<StoredJob>>> {
        let r = self.lock().stored(job_id);
        Box::pin(std::future::ready(Ok(r)))
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJob>>> {
        let m = self.lock();
        let r = m.jobs.keys().filter_map(|id| m.stored(id)).collect();
        Box::pin(std::future::ready(Ok(r)))
    }
    fn record_run<'a>(&'a self, job_id: &'a str, at: Millis) -> BoxFuture<'a, Result<()>> {
        let mut m = self.lock();
        if m.jobs.contains_key(job_id) {
            let prev = m.last.get(job_id).map_or(at, |l| l.1);
            m.last.insert(job_id.to_owned(), (at, prev));
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Cron jobs in Redis, shared by every instance. Keys `prefix:{cron}:jobs` (hash of job JSON),
/// `prefix:{cron}:due` (zset: next run or lease deadline), `prefix:{cron}:sched` (hash: the
/// occurrence a claim holds): one hash tag, one Cluster slot.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisCron {
    conn: redis::aio::ConnectionManager,
    base: String,
    claim: Arc<redis::Script>,
    complete: Arc<redis::Script>,
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisCron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCron").field("base", &self.base).finish_non_exhaustive()
    }
}

#[cfg(feature = "redis")]
const CLAIM: &str = r#"
local base, now, deflease, minlease = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', base .. 'due', '-inf', now, 'WITHSCORES', 'LIMIT', 0, 16)
if #due == 0 then return false end
-- the highest priority among the earliest due, earliest first among equals
local id, old, job, best = nil, nil, nil, nil
for i = 1, #due, 2 do
  local j = redis.call('HGET', base .. 'jobs', due[i])
  if not j then
    redis.call('ZREM', base .. 'due', due[i])
  else
    local p = tonumber(cjson.decode(j).priority) or 0
    if best == nil or p > best then
      id, old, job, best = due[i], due[i + 1], j, p
    end
  end
end
if not id then return false end
local lease = tonumber(cjson.decode(job).lock_timeout_ms) or 0
if lease <= 0 then lease = deflease end
if lease < minlease then lease = minlease end
lease = math.floor(lease / 1000) * 1000
if lease < 1000 then lease = 1000 end
local sched = redis.call('HGET', base .. 'sched', id)
if not sched then
  sched = old
  redis.call('HSET', base .. 'sched', id, sched)
end
redis.call('ZADD', base .. 'due', now + lease, id)
return {job, tostring(sched), tostring(now + lease)}
"#;

#[cfg(feature = "redis")]
const COMPLETE: &str = r#"
local base, id, lease, nxt, now = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local cur = redis.call('ZSCORE', base .. 'due', id)
if not cur or tonumber(cur) ~= tonumber(lease) then return 0 end
local sched = redis.call('HGET', base .. 'sched', id) or ''
redis.call('HSET', base .. 'last', id, now .. ',' .. sched)
redis.call('HDEL', base .. 'sched', id)
if nxt < 0 then
  redis.call('ZREM', base .. 'due', id)
else
  redis.call('ZADD', base .. 'due', nxt, id)
end
return 1
"#;

#[cfg(feature = "redis")]
impl RedisCron {
    /// Connects to `url`; keys start with `prefix`.
    ///
    /// # Errors
    /// [`Error::Store`] when Redis cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisCron> {
        let conn = redis::aio::ConnectionManager::new(redis::Client::open(url)?).await?;
        Ok(RedisCron {
            conn,
            base: format!("{prefix}:{{cron}}:"),
            claim: Arc::new(redis::Script::new(CLAIM)),
            complete: Arc::new(redis::Script::new(COMPLETE)),
        })
    }
}

#[cfg(feature = "redis")]
impl CronStore for RedisCron {
    fn save(&self, job: CronJob, next_run: Option<Millis>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let json = serde_json::to_string(&job).map_err(|e| Error::Store(e.to_string()))?;
            let mut p = redis::pipe();
            p.atomic().cmd("HSET").arg(format!("{}jobs", self.base)).arg(&job.job_id).arg(json);
            p.cmd("HDEL").arg(format!("{}sched", self.base)).arg(&job.job_id);
            match next_run {
                Some(n) => p.cmd("ZADD").arg(format!("{}due", self.base)).arg(n).arg(&job.job_id),
                None => p.cmd("ZREM").arg(format!("{}due", self.base)).arg(&job.job_id),
            };
            let _: () = p.query_async(&mut self.conn.clone()).await?;
            Ok(())
        })
    }
    fn claim(&self, now: Millis, default_lease_ms: i64, min_lease_ms: i64) -> BoxFuture<'_, Result<Option<Claim>>> {
        Box::pin(async move {
            let r: Option<(String, String, String)> = self
                .claim
                .key(&self.base)
                .arg(now)
                .arg(default_lease_ms)
                .arg(min_lease_ms)
                .invoke_async(&mut self.conn.clone())
                .await?;
            let Some((job, sched, lease)) = r else { return Ok(None) };
            let job: CronJob = serde_json::from_str(&job).map_err(|e| Error::Store(e.to_string()))?;
            let n = |s: &str| s.parse::<f64>().map(|f| f as Millis).unwrap_or(0);
            Ok(Some(Claim { job, scheduled: n(&sched), lease_until: n(&lease) }))
        })
    }
    fn complete(&self, claim: &Claim, next_run: Option<Millis>, now: Millis) -> BoxFuture<'_, Result<bool>> {
        let id = claim.job.job_id.clone();
        let lease = claim.lease_until;
        Box::pin(async move {
            let ok: i64 = self
                .complete
                .key(&self.base)
                .arg(id)
                .arg(lease)
                .arg(next_run.unwrap_or(-1))
                .arg(now)
                .invoke_async(&mut self.conn.clone())
                .await?;
            Ok(ok == 1)
        })
    }
    fn delete<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let _: () = redis::pipe()
                .atomic()
                .cmd("HDEL")
                .arg(format!("{}jobs", self.base))
                .arg(job_id)
                .cmd("ZREM")
                .arg(format!("{}due", self.base))
                .arg(job_id)
                .cmd("HDEL")
                .arg(format!("{}sched", self.base))
                .arg(job_id)
                .cmd("HDEL")
                .arg(format!("{}last", self.base))
                .arg(job_id)
                .query_async(&mut self.conn.clone())
                .await?;
            Ok(())
        })
    }
    fn get<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<Option<StoredJob>>> {
        Box::pin(async move { Ok(self.load(&[job_id.to_owned()]).await?.pop()) })
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJob>>> {
        Box::pin(async move {
            let ids: Vec<String> =
                redis::cmd("HKEYS").arg(format!("{}jobs", self.base)).query_async(&mut self.conn.clone()).await?;
            self.load(&ids).await
        })
    }
    fn record_run<'a>(&'a self, job_id: &'a str, at: Millis) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let key = format!("{}last", self.base);
            let prev: Option<String> =
                redis::cmd("HGET").arg(&key).arg(job_id).query_async(&mut self.conn.clone()).await?;
            let sched = prev.as_deref().and_then(|p| p.split_once(',')).map_or("", |(_, s)| s).to_owned();
            let _: i64 = redis::cmd("HSET")
                .arg(&key)
                .arg(job_id)
                .arg(format!("{at},{sched}"))
                .query_async(&mut self.conn.clone())
                .await?;
            Ok(())
        })
    }
}

/// job JSON, next run, scheduled, `last_run,last_scheduled`
#[cfg(feature = "redis")]
type RedisRow = (Option<String>, Option<f64>, Option<String>, Option<String>);

#[cfg(feature = "redis")]
impl RedisCron {
    async fn load(&self, ids: &[String]) -> Result<Vec<StoredJob>> {
        let mut p = redis::pipe();
        for id in ids {
            p.cmd("HGET").arg(format!("{}jobs", self.base)).arg(id);
            p.cmd("ZSCORE").arg(format!("{}due", self.base)).arg(id);
            p.cmd("HGET").arg(format!("{}sched", self.base)).arg(id);
            p.cmd("HGET").arg(format!("{}last", self.base)).arg(id);
        }
        let v: Vec<RedisRow> = p.query_async(&mut self.conn.clone()).await?;
        let mut out = vec![];
        for (job, next, sched, last) in v {
            let Some(job) = job else { continue };
            let job: CronJob = serde_json::from_str(&job).map_err(|e| Error::Store(e.to_string()))?;
            let (lr, ls) = last
                .as_deref()
                .and_then(|l| l.split_once(','))
                .map_or((None, None), |(a, b)| (a.parse().ok(), b.parse::<f64>().ok().map(|f| f as Millis)));
            out.push(StoredJob {
                job,
                next_run: next.map(|f| f as Millis),
                scheduled: sched.and_then(|s| s.parse::<f64>().ok()).map(|f| f as Millis),
                last_run: lr,
                last_scheduled_run: ls,
            });
        }
        Ok(out)
    }
}

/// Scheduler settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronConfig {
    /// Lease when a job sets none (ms). Upstream: 5 min.
    pub default_lease_ms: i64,
    /// Shortest lease (ms). Upstream: 30 s.
    pub min_lease_ms: i64,
    /// Skip an occurrence this late (ms) when the job sets none. Upstream: 30 min.
    pub default_max_delay_ms: i64,
    /// Idle scan period (ms); after a claim the scan repeats at once. Upstream: 2 s.
    pub scan_ms: u64,
}

impl Default for CronConfig {
    fn default() -> CronConfig {
        CronConfig { default_lease_ms: 300_000, min_lease_ms: 30_000, default_max_delay_ms: 1_800_000, scan_ms: 2000 }
    }
}

/// Creates or replaces `job` in `store`, first due at its first occurrence after `now`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a bad RRULE (nothing stored); store errors.
pub async fn save_job<S: CronStore + ?Sized>(store: &S, job: CronJob, now: Millis) -> Result<Option<Millis>> {
    let next = Schedule::parse(&job.rrule)?.next_after(now);
    store.save(job, next).await?;
    Ok(next)
}

/// Runs the scheduler until `shutdown`: claims due jobs and calls `handler(job, scheduled)`
/// for each occurrence, one at a time per instance.
pub async fn run<S, H, F>(store: S, handler: H, cfg: CronConfig, shutdown: impl Future<Output = ()>)
where
    S: CronStore,
    H: Fn(CronJob, Millis) -> F + Send + Sync,
    F: Future<Output = CronOutcome> + Send,
{
    tokio::pin!(shutdown);
    loop {
        let now = crate::driver::now();
        let claimed = match store.claim(now, cfg.default_lease_ms, cfg.min_lease_ms).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cron claim failed");
                None
            }
        };
        let Some(claim) = claimed else {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(Duration::from_millis(cfg.scan_ms)) => continue,
            }
        };
        let schedule = match Schedule::parse(&claim.job.rrule) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(job = %claim.job.job_id, error = %e, "stored job has a bad rule; disabled");
                let _ = store.complete(&claim, None, now).await;
                continue;
            }
        };
        let max_delay = if claim.job.max_delay_ms > 0 { claim.job.max_delay_ms } else { cfg.default_max_delay_ms };
        let outcome = if now - claim.scheduled > max_delay {
            tracing::warn!(job = %claim.job.job_id, scheduled = claim.scheduled, "occurrence too late; skipped");
            CronOutcome::Success
        } else {
            let run = handler(claim.job.clone(), claim.scheduled);
            tokio::select! {
                o = run => o,
                _ = &mut shutdown => return,
            }
        };
        match outcome {
            CronOutcome::Success => {
                // the next occurrence after this one, even if already past: occurrences missed
                // while a lease ran out or no instance ran are fired late, up to the max delay
                // (upstream computes "next after now" and silently skips them)
                let done = crate::driver::now();
                let next = schedule.next_after(claim.scheduled.max(done - max_delay));
                if let Ok(false) = store.complete(&claim, next, done).await {
                    tracing::warn!(job = %claim.job.job_id, "lease lost before completion");
                }
            }
            CronOutcome::TaskNotFound => {
                let _ = store.delete(&claim.job.job_id).await;
            }
            CronOutcome::Retry => {}
        }
    }
}

/// Cron jobs in SQLite (the embedded default): one row per job; claims and completions are
/// compare-and-set updates on `next_run`, so even several processes on one file fire each
/// occurrence once.
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone)]
pub struct SqliteCron {
    pool: sqlx::SqlitePool,
}

#[cfg(feature = "sqlite")]
type Row = (String, Option<i64>, Option<i64>, Option<i64>, Option<i64>);

#[cfg(feature = "sqlite")]
impl SqliteCron {
    /// Opens (creating if missing) `url` (`sqlite://path` or `sqlite::memory:`).
    ///
    /// # Errors
    /// [`Error::Store`] when the database cannot be opened.
    pub async fn open(url: &str) -> Result<SqliteCron> {
        use std::str::FromStr as _;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let max = if url.contains(":memory:") { 1 } else { 4 };
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(max).connect_with(opts).await?;
        // this crate owns trigger_cron (versions 120001..)
        zero_sql::shared(sqlx::migrate!("migrations/sqlite-cron")).run(&pool).await?;
        Ok(SqliteCron { pool })
    }

    fn stored(r: Row) -> Result<StoredJob> {
        Ok(StoredJob {
            job: serde_json::from_str(&r.0).map_err(|e| Error::Store(e.to_string()))?,
            next_run: r.1,
            scheduled: r.2,
            last_run: r.3,
            last_scheduled_run: r.4,
        })
    }
}

#[cfg(feature = "sqlite")]
impl CronStore for SqliteCron {
    fn save(&self, job: CronJob, next_run: Option<Millis>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let json = serde_json::to_string(&job).map_err(|e| Error::Store(e.to_string()))?;
            sqlx::query(
                "INSERT INTO trigger_cron (job_id, job, next_run, sched) VALUES (?, ?, ?, NULL) \
                 ON CONFLICT(job_id) DO UPDATE SET job = excluded.job, next_run = excluded.next_run, sched = NULL",
            )
            .bind(&job.job_id)
            .bind(json)
            .bind(next_run)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }
    fn claim(&self, now: Millis, default_lease_ms: i64, min_lease_ms: i64) -> BoxFuture<'_, Result<Option<Claim>>> {
        Box::pin(async move {
            let due: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT job_id, job, next_run FROM trigger_cron WHERE next_run <= ? ORDER BY next_run LIMIT 16",
            )
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
            let mut best: Option<(CronJob, i64)> = None;
            for (_, j, next) in due {
                let job: CronJob = serde_json::from_str(&j).map_err(|e| Error::Store(e.to_string()))?;
                if best.as_ref().is_none_or(|(b, _)| job.priority > b.priority) {
                    best = Some((job, next));
                }
            }
            let Some((job, old)) = best else { return Ok(None) };
            let lease = lease_for(&job, default_lease_ms, min_lease_ms);
            let done = sqlx::query(
                "UPDATE trigger_cron SET next_run = ?, sched = COALESCE(sched, ?) WHERE job_id = ? AND next_run = ?",
            )
            .bind(now + lease)
            .bind(old)
            .bind(&job.job_id)
            .bind(old)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(None); // another instance was first
            }
            let sched: Option<i64> = sqlx::query_scalar("SELECT sched FROM trigger_cron WHERE job_id = ?")
                .bind(&job.job_id)
                .fetch_one(&self.pool)
                .await?;
            Ok(Some(Claim { job, scheduled: sched.unwrap_or(old), lease_until: now + lease }))
        })
    }
    fn complete(&self, claim: &Claim, next_run: Option<Millis>, now: Millis) -> BoxFuture<'_, Result<bool>> {
        let id = claim.job.job_id.clone();
        let lease = claim.lease_until;
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE trigger_cron SET next_run = ?, last_run = ?, last_sched = sched, sched = NULL \
                 WHERE job_id = ? AND next_run = ?",
            )
            .bind(next_run)
            .bind(now)
            .bind(id)
            .bind(lease)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
    fn delete<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM trigger_cron WHERE job_id = ?").bind(job_id).execute(&self.pool).await?;
            Ok(())
        })
    }
    fn get<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<Option<StoredJob>>> {
        Box::pin(async move {
            let r: Option<Row> =
                sqlx::query_as("SELECT job, next_run, sched, last_run, last_sched FROM trigger_cron WHERE job_id = ?")
                    .bind(job_id)
                    .fetch_optional(&self.pool)
                    .await?;
            r.map(Self::stored).transpose()
        })
    }
    fn record_run<'a>(&'a self, job_id: &'a str, at: Millis) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query("UPDATE trigger_cron SET last_run = ? WHERE job_id = ?")
                .bind(at)
                .bind(job_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJob>>> {
        Box::pin(async move {
            let rows: Vec<Row> =
                sqlx::query_as("SELECT job, next_run, sched, last_run, last_sched FROM trigger_cron ORDER BY job_id")
                    .fetch_all(&self.pool)
                    .await?;
            rows.into_iter().map(Self::stored).collect()
        })
    }
}

/// A shared store is a store (so a service can hold `Arc<dyn CronStore>`).
impl<S: CronStore + ?Sized> CronStore for Arc<S> {
    fn save(&self, job: CronJob, next_run: Option<Millis>) -> BoxFuture<'_, Result<()>> {
        (**self).save(job, next_run)
    }
    fn claim(&self, now: Millis, default_lease_ms: i64, min_lease_ms: i64) -> BoxFuture<'_, Result<Option<Claim>>> {
        (**self).claim(now, default_lease_ms, min_lease_ms)
    }
    fn complete(&self, claim: &Claim, next_run: Option<Millis>, now: Millis) -> BoxFuture<'_, Result<bool>> {
        (**self).complete(claim, next_run, now)
    }
    fn delete<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<()>> {
        (**self).delete(job_id)
    }
    fn get<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<Option<StoredJob>>> {
        (**self).get(job_id)
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJob>>> {
        (**self).list()
    }
    fn record_run<'a>(&'a self, job_id: &'a str, at: Millis) -> BoxFuture<'a, Result<()>> {
        (**self).record_run(job_id, at)
    }
}
