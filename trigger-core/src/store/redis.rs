//! The Redis store. Layout per queue `q` (prefix `p`), every key tagged `{q}`:
//! `p:{q}:t:<id>` (hash: the task), `p:{q}:pending` (list), `p:{q}:scheduled`, `p:{q}:retry`
//! (zsets by due time), `p:{q}:active` (zset by lease end), `p:{q}:completed` (by expiry),
//! `p:{q}:archived` (by time), `p:{q}:paused`, `p:{q}:u:<unique key>` (with a TTL), and the
//! counters `p:{q}:processed:<day>`, `p:{q}:failed:<day>`, `*_total`. `p:queues` lists the queues.
//! Every transition is one Lua script, so instances sharing the Redis never see half a move.

use super::{BoxFuture, Store};
use crate::config::Config;
use crate::core::{validate, Ack, Lease};
use crate::error::{Error, Result};
use crate::task::{day_of, Backoff, DailyStat, Millis, NewTask, Outcome, QueueInfo, TaskInfo, TaskState};
use redis::aio::ConnectionManager;
use redis::Script;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

const PRELUDE: &str = include_str!("redis.lua");

const ENQUEUE: &str = r#"
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local out, push = {}, {}
for i = 0, n - 1 do
  local o = 3 + i * 10
  local id, kind, payload = ARGV[o], ARGV[o + 1], ARGV[o + 2]
  local maxr, timeout, deadline, retention = ARGV[o + 3], ARGV[o + 4], ARGV[o + 5], ARGV[o + 6]
  local unique, uttl, at = ARGV[o + 7], tonumber(ARGV[o + 8]), tonumber(ARGV[o + 9])
  local code = 1
  if redis.call('EXISTS', tkey(id)) == 1 then
    code = 2
  elseif unique ~= '' then
    local holder = redis.call('GET', base .. 'u:' .. unique)
    if holder then
      local st = redis.call('HGET', tkey(holder), 'state')
      if st and st ~= 'completed' and st ~= 'archived' then code = 3 end
    end
  end
  if code == 1 then
    if unique ~= '' then redis.call('SET', base .. 'u:' .. unique, id, 'PX', uttl) end
    local state = 'pending'
    if at > now then state = 'scheduled' else at = now end
    -- fields at their default (retried 0, no error, no unique key) are left out
    if unique ~= '' then
      redis.call('HSET', tkey(id), 'kind', kind, 'payload', payload, 'state', state, 'max_retry', maxr,
        'timeout', timeout, 'deadline', deadline, 'next_at', at, 'retention', retention, 'unique', unique)
    else
      redis.call('HSET', tkey(id), 'kind', kind, 'payload', payload, 'state', state, 'max_retry', maxr,
        'timeout', timeout, 'deadline', deadline, 'next_at', at, 'retention', retention)
    end
    if state == 'pending' then
      push[#push + 1] = id
    else
      redis.call('ZADD', base .. 'scheduled', at, id)
    end
  end
  out[#out + 1] = code
end
for i = 1, #push, 1000 do
  redis.call('RPUSH', base .. 'pending', unpack(push, i, math.min(i + 999, #push)))
end
return out
"#;

const DEQUEUE: &str = r#"
local now, max, lease, dto = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local bk, b1, b2, amax, attl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local rnd = tonumber(ARGV[10])
for _, z in ipairs({'scheduled', 'retry'}) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. z, '-inf', now, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', base .. z, id)
    redis.call('HSET', tkey(id), 'state', 'pending')
    redis.call('RPUSH', base .. 'pending', id)
  end
end
-- a lost worker's tasks retry
for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. 'active', '-inf', now, 'LIMIT', 0, 100)) do
  finish(id, 1, 'lease expired: worker lost', now, rnd, bk, b1, b2, amax)
end
flush_bulk()
for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. 'completed', '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', base .. 'completed', id)
  redis.call('DEL', tkey(id))
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. 'archived', '-inf', now - attl, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', base .. 'archived', id)
  redis.call('DEL', tkey(id))
end
if max == 0 or redis.call('EXISTS', base .. 'paused') == 1 then
  flush_counts(now)
  return {}
end
local out, leased = {}, {}
local ids = redis.call('LPOP', base .. 'pending', max)
if not ids then ids = {} end
for _, id in ipairs(ids) do
  local k = tkey(id)
  local f = redis.call('HMGET', k, 'kind', 'payload', 'max_retry', 'retried', 'last_err', 'last_failed_at',
    'timeout', 'deadline', 'next_at', 'retention', 'unique')
  if f[1] then
    local deadline = tonumber(f[8])
    if deadline >= 0 and deadline <= now then
      count(now, true)
      archive(id, 'deadline exceeded', now, amax)
    else
      redis.call('HSET', k, 'state', 'active')
      leased[#leased + 1] = now + lease
      leased[#leased + 1] = id
      local to = tonumber(f[7])
      if to < 0 then to = dto end
      local untl = now + to
      if deadline >= 0 and deadline < untl then untl = deadline end
      out[#out + 1] = {id, f[1], f[2], f[3], f[4] or '0', f[5] or '', f[6] or '', f[7], f[8], f[9], f[10],
        f[11] or '', tostring(untl)}
    end
  end
end
for i = 1, #leased, 1000 do
  redis.call('ZADD', base .. 'active', unpack(leased, i, math.min(i + 999, #leased)))
end
flush_counts(now)
flush_bulk()
return out
"#;

const ACK: &str = r#"
local now, bk, b1, b2, amax = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n = tonumber(ARGV[6])
for i = 0, n - 1 do
  local o = 7 + i * 4
  finish(ARGV[o], tonumber(ARGV[o + 1]), ARGV[o + 2], now, tonumber(ARGV[o + 3]), bk, b1, b2, amax)
end
flush_counts(now)
flush_bulk()
return n
"#;

const EXTEND: &str = r#"
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', tkey(id), 'state') == 'active' then
    redis.call('ZADD', base .. 'active', now + lease, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
"#;

/// op: delete | archive | run. Returns the task's state before, or '' when missing.
const ADMIN: &str = r#"
local op, id, now, amax = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HGET', tkey(id), 'state')
if not state then return '' end
if state == 'active' then return state end
if op == 'archive' and (state == 'archived' or state == 'completed') then return state end
if op == 'run' and (state == 'pending' or state == 'completed') then return state end
unindex(id, state)
if op == 'delete' then
  release_unique(id)
  redis.call('DEL', tkey(id))
elseif op == 'archive' then
  archive(id, redis.call('HGET', tkey(id), 'last_err') or '', now, amax)
else
  redis.call('HSET', tkey(id), 'state', 'pending', 'next_at', now)
  redis.call('RPUSH', base .. 'pending', id)
end
return 'ok:' .. state
"#;

const DELETE_ALL: &str = r#"
local z = base .. ARGV[1]
local ids = redis.call('ZRANGE', z, 0, -1)
for _, id in ipairs(ids) do redis.call('DEL', tkey(id)) end
redis.call('DEL', z)
return #ids
"#;

/// The Redis store. Cheap to clone; reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    cfg: Arc<Config>,
    scripts: Arc<Scripts>,
    known: Arc<Mutex<Known>>,
    wrr: Arc<Mutex<HashMap<String, i64>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Queues seen (set), in serving order, and when they were last read from Redis.
type Known = (HashSet<String>, Vec<String>, Millis);

/// Today's and total counters and the head of the pending list.
type Counters = (Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<String>);

struct Scripts {
    enqueue: Script,
    dequeue: Script,
    ack: Script,
    extend: Script,
    admin: Script,
    delete_all: Script,
}

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

fn backoff_args(b: Backoff) -> (i64, i64, i64) {
    match b {
        Backoff::Fixed { ms } => (1, ms, 0),
        Backoff::Exponential { base_ms, cap_ms } => (2, base_ms, cap_ms),
        _ => (0, 0, 0),
    }
}

fn num(v: &[u8]) -> i64 {
    std::str::from_utf8(v).ok().and_then(|s| s.parse::<f64>().ok()).map_or(0, |f| f as i64)
}

fn opt(v: i64) -> Option<i64> {
    (v >= 0).then_some(v)
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); keys start with `prefix` (e.g. `trigger`).
    ///
    /// # Errors
    /// [`Error::Store`] when Redis cannot be reached.
    pub async fn connect(url: &str, prefix: &str, cfg: Config) -> Result<RedisStore> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_owned(),
            cfg: Arc::new(cfg),
            scripts: Arc::new(Scripts {
                enqueue: script(ENQUEUE),
                dequeue: script(DEQUEUE),
                ack: script(ACK),
                extend: script(EXTEND),
                admin: script(ADMIN),
                delete_all: script(DELETE_ALL),
            }),
            known: Arc::new(Mutex::new((HashSet::new(), vec![], Millis::MIN))),
            wrr: Arc::default(),
        })
    }

    fn base(&self, queue: &str) -> String {
        format!("{}:{{{queue}}}:", self.prefix)
    }

    fn queues_key(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    async fn remember(&self, queue: &str) -> Result<()> {
        let new = {
            let mut k = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let new = k.0.insert(queue.to_owned());
            if new {
                k.1.push(queue.to_owned());
            }
            new
        };
        if new {
            let _: i64 =
                redis::cmd("SADD").arg(self.queues_key()).arg(queue).query_async(&mut self.conn.clone()).await?;
        }
        Ok(())
    }

    /// The queues to serve, refreshed from Redis once a second.
    async fn serve_order(&self, now: Millis) -> Result<Vec<String>> {
        let stale = {
            let k = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            now.saturating_sub(k.2) > 1000 || now < k.2
        };
        if stale {
            let mut qs: Vec<String> =
                redis::cmd("SMEMBERS").arg(self.queues_key()).query_async(&mut self.conn.clone()).await?;
            qs.sort();
            let mut k = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            k.0.extend(qs.iter().cloned());
            let mut all: Vec<String> = k.0.iter().cloned().collect();
            all.sort();
            k.1 = all;
            k.2 = now;
        }
        let qs = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone();
        if self.cfg.strict_priority {
            let mut qs = qs;
            qs.sort_by_key(|q| std::cmp::Reverse(self.cfg.weight(q)));
            return Ok(qs);
        }
        // smooth weighted round-robin decides which queue goes first this round
        let mut wrr = self.wrr.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: i64 = qs.iter().map(|q| i64::from(self.cfg.weight(q))).sum();
        for q in &qs {
            *wrr.entry(q.clone()).or_default() += i64::from(self.cfg.weight(q));
        }
        let mut order = qs;
        order.sort_by_key(|q| std::cmp::Reverse(wrr.get(q).copied().unwrap_or(0)));
        if let Some(first) = order.first() {
            *wrr.entry(first.clone()).or_default() -= total;
        }
        Ok(order)
    }

    fn parse(queue: &str, id: &str, f: &HashMap<String, Vec<u8>>) -> Option<TaskInfo> {
        let g = |k: &str| f.get(k).map(Vec::as_slice).unwrap_or_default();
        let s = |k: &str| String::from_utf8_lossy(g(k)).into_owned();
        let state = TaskState::from_name(&s("state"))?;
        let retention = num(g("retention"));
        Some(TaskInfo {
            id: id.to_owned(),
            queue: queue.to_owned(),
            kind: s("kind"),
            payload: g("payload").to_vec(),
            state,
            max_retry: num(g("max_retry")) as u32,
            retried: num(g("retried")) as u32,
            last_err: s("last_err"),
            last_failed_at: f.get("last_failed_at").map(|v| num(v)),
            timeout_ms: opt(num(g("timeout"))),
            deadline: opt(num(g("deadline"))),
            next_process_at: num(g("next_at")),
            retention_ms: retention,
            completed_at: f.get("completed_at").map(|v| num(v)),
            result: g("result").to_vec(),
            unique_key: Some(s("unique")).filter(|u| !u.is_empty()),
            lease_until: None,
        })
    }

    async fn admin(&self, op: &str, queue: &str, id: &str, now: Millis) -> Result<()> {
        let r: String = self
            .scripts
            .admin
            .key(self.base(queue))
            .arg(op)
            .arg(id)
            .arg(now)
            .arg(self.cfg.archived_max)
            .invoke_async(&mut self.conn.clone())
            .await?;
        if r.is_empty() {
            return Err(Error::TaskNotFound { queue: queue.into(), id: id.into() });
        }
        if r.starts_with("ok:") {
            return Ok(());
        }
        let state = TaskState::from_name(&r).map_or("unknown", TaskState::name);
        let op = match op {
            "delete" => "delete",
            "archive" => "archive",
            _ => "run",
        };
        Err(Error::WrongState { id: id.into(), state, op })
    }

    async fn exists(&self, queue: &str) -> Result<()> {
        let yes: bool =
            redis::cmd("SISMEMBER").arg(self.queues_key()).arg(queue).query_async(&mut self.conn.clone()).await?;
        if yes {
            Ok(())
        } else {
            Err(Error::QueueNotFound(queue.to_owned()))
        }
    }

    async fn enqueue_batch(&self, ts: Vec<NewTask>, now: Millis) -> Result<Vec<Result<TaskInfo>>> {
        // validate first; group the valid ones by queue (one script call per queue)
        let mut out: Vec<Option<Result<TaskInfo>>> = Vec::with_capacity(ts.len());
        let mut by_queue: HashMap<String, Vec<(usize, NewTask)>> = HashMap::new();
        for (i, mut t) in ts.into_iter().enumerate() {
            match validate(&t, now, &self.cfg) {
                Ok(()) => {
                    if t.id.is_empty() {
                        t.id = uuid::Uuid::now_v7().to_string();
                    }
                    by_queue.entry(t.queue.clone()).or_default().push((i, t));
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        for (queue, items) in by_queue {
            self.remember(&queue).await?;
            let mut inv = self.scripts.enqueue.key(self.base(&queue));
            inv.arg(now).arg(items.len());
            for (_, t) in &items {
                inv.arg(&t.id)
                    .arg(&t.kind)
                    .arg(&t.payload)
                    .arg(t.max_retry)
                    .arg(t.timeout_ms.unwrap_or(-1))
                    .arg(t.deadline.unwrap_or(-1))
                    .arg(t.retention_ms)
                    .arg(t.unique_key.as_deref().unwrap_or(""))
                    .arg(t.unique_ttl_ms)
                    .arg(t.process_at.unwrap_or(-1));
            }
            let codes: Vec<i64> = inv.invoke_async(&mut self.conn.clone()).await?;
            for ((i, t), code) in items.into_iter().zip(codes) {
                out[i] = Some(match code {
                    1 => Ok(t.into_info(now)),
                    2 => Err(Error::TaskIdConflict(t.id)),
                    _ => Err(Error::Duplicate(t.unique_key.unwrap_or_default())),
                });
            }
        }
        Ok(out.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::Store("lost result".into())))).collect())
    }

    async fn dequeue_all(&self, max: usize, now: Millis) -> Result<Vec<Lease>> {
        let (bk, b1, b2) = backoff_args(self.cfg.backoff);
        let mut out = vec![];
        for queue in self.serve_order(now).await? {
            let want = max - out.len();
            let rows: Vec<Vec<Vec<u8>>> = self
                .scripts
                .dequeue
                .key(self.base(&queue))
                .arg(now)
                .arg(want)
                .arg(self.cfg.lease_ms)
                .arg(self.cfg.default_timeout_ms)
                .arg(bk)
                .arg(b1)
                .arg(b2)
                .arg(self.cfg.archived_max)
                .arg(self.cfg.archived_ttl_ms)
                .arg(fastrand::u32(..))
                .invoke_async(&mut self.conn.clone())
                .await?;
            for r in rows {
                if r.len() < 13 {
                    continue;
                }
                let s = |i: usize| String::from_utf8_lossy(&r[i]).into_owned();
                let id = s(0);
                out.push(Lease {
                    task: TaskInfo {
                        id,
                        queue: queue.clone(),
                        kind: s(1),
                        payload: r[2].clone(),
                        state: TaskState::Active,
                        max_retry: num(&r[3]) as u32,
                        retried: num(&r[4]) as u32,
                        last_err: s(5),
                        last_failed_at: (!r[6].is_empty()).then(|| num(&r[6])),
                        timeout_ms: opt(num(&r[7])),
                        deadline: opt(num(&r[8])),
                        next_process_at: num(&r[9]),
                        retention_ms: num(&r[10]),
                        completed_at: None,
                        result: vec![],
                        unique_key: Some(s(11)).filter(|u| !u.is_empty()),
                        lease_until: Some(now + self.cfg.lease_ms),
                    },
                    run_until: num(&r[12]),
                });
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    async fn ack_all(&self, acks: Vec<Ack>, now: Millis) -> Result<()> {
        let (bk, b1, b2) = backoff_args(self.cfg.backoff);
        let mut by_queue: HashMap<String, Vec<Ack>> = HashMap::new();
        for a in acks {
            by_queue.entry(a.queue.clone()).or_default().push(a);
        }
        for (queue, acks) in by_queue {
            let mut inv = self.scripts.ack.key(self.base(&queue));
            inv.arg(now).arg(bk).arg(b1).arg(b2).arg(self.cfg.archived_max).arg(acks.len());
            for a in &acks {
                let (code, text): (i64, &[u8]) = match &a.outcome {
                    Outcome::Success { result } => (0, result),
                    Outcome::Retry { error } => (1, error.as_bytes()),
                    Outcome::Archive { error } => (2, error.as_bytes()),
                };
                inv.arg(&a.id).arg(code).arg(text).arg(fastrand::u32(..));
            }
            let _: i64 = inv.invoke_async(&mut self.conn.clone()).await?;
        }
        Ok(())
    }

    async fn extend_all(&self, running: Vec<(String, String)>, now: Millis) -> Result<Vec<(String, String)>> {
        let mut by_queue: HashMap<String, Vec<String>> = HashMap::new();
        for (q, id) in running {
            by_queue.entry(q).or_default().push(id);
        }
        let mut lost = vec![];
        for (queue, ids) in by_queue {
            let mut inv = self.scripts.extend.key(self.base(&queue));
            inv.arg(now).arg(self.cfg.lease_ms);
            for id in &ids {
                inv.arg(id);
            }
            let l: Vec<String> = inv.invoke_async(&mut self.conn.clone()).await?;
            lost.extend(l.into_iter().map(|id| (queue.clone(), id)));
        }
        Ok(lost)
    }

    async fn get(&self, queue: &str, id: &str) -> Result<TaskInfo> {
        let b = self.base(queue);
        let (f, lease): (HashMap<String, Vec<u8>>, Option<f64>) = redis::pipe()
            .cmd("HGETALL")
            .arg(format!("{b}t:{id}"))
            .cmd("ZSCORE")
            .arg(format!("{b}active"))
            .arg(id)
            .query_async(&mut self.conn.clone())
            .await?;
        let mut t =
            Self::parse(queue, id, &f).ok_or_else(|| Error::TaskNotFound { queue: queue.into(), id: id.into() })?;
        t.lease_until = lease.filter(|_| t.state == TaskState::Active).map(|l| l as Millis);
        Ok(t)
    }

    async fn list_ids(&self, queue: &str, state: TaskState, page_size: usize, page: usize) -> Result<Vec<TaskInfo>> {
        self.exists(queue).await?;
        let base = self.base(queue);
        let start = page.saturating_mul(page_size) as i64;
        let stop = start + page_size as i64 - 1;
        if page_size == 0 {
            return Ok(vec![]);
        }
        let mut c = self.conn.clone();
        let ids: Vec<String> = match state {
            TaskState::Pending => {
                redis::cmd("LRANGE").arg(format!("{base}pending")).arg(start).arg(stop).query_async(&mut c).await?
            }
            TaskState::Archived => {
                redis::cmd("ZREVRANGE").arg(format!("{base}archived")).arg(start).arg(stop).query_async(&mut c).await?
            }
            s => {
                let z = if s == TaskState::Active { "active" } else { s.name() };
                redis::cmd("ZRANGE").arg(format!("{base}{z}")).arg(start).arg(stop).query_async(&mut c).await?
            }
        };
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(format!("{base}t:{id}"));
        }
        let maps: Vec<HashMap<String, Vec<u8>>> = pipe.query_async(&mut c).await?;
        Ok(ids.iter().zip(maps).filter_map(|(id, f)| Self::parse(queue, id, &f)).collect())
    }

    async fn queue_info(&self, queue: &str, now: Millis) -> Result<QueueInfo> {
        self.exists(queue).await?;
        let b = self.base(queue);
        let day = day_of(now);
        let mut c = self.conn.clone();
        let (pending, active, scheduled, retry, archived, completed, paused): (i64, i64, i64, i64, i64, i64, bool) =
            redis::pipe()
                .cmd("LLEN")
                .arg(format!("{b}pending"))
                .cmd("ZCARD")
                .arg(format!("{b}active"))
                .cmd("ZCARD")
                .arg(format!("{b}scheduled"))
                .cmd("ZCARD")
                .arg(format!("{b}retry"))
                .cmd("ZCARD")
                .arg(format!("{b}archived"))
                .cmd("ZCARD")
                .arg(format!("{b}completed"))
                .cmd("EXISTS")
                .arg(format!("{b}paused"))
                .query_async(&mut c)
                .await?;
        let (p, f, pt, ft, head): Counters = redis::pipe()
            .cmd("GET")
            .arg(format!("{b}processed:{day}"))
            .cmd("GET")
            .arg(format!("{b}failed:{day}"))
            .cmd("GET")
            .arg(format!("{b}processed_total"))
            .cmd("GET")
            .arg(format!("{b}failed_total"))
            .cmd("LINDEX")
            .arg(format!("{b}pending"))
            .arg(0)
            .query_async(&mut c)
            .await?;
        let latency_ms = match head {
            Some(id) => {
                let at: Option<i64> =
                    redis::cmd("HGET").arg(format!("{b}t:{id}")).arg("next_at").query_async(&mut c).await?;
                at.map_or(0, |a| (now - a).max(0))
            }
            None => 0,
        };
        Ok(QueueInfo {
            queue: queue.to_owned(),
            size: pending + active + scheduled + retry,
            pending,
            active,
            scheduled,
            retry,
            archived,
            completed,
            processed: p.unwrap_or(0),
            failed: f.unwrap_or(0),
            processed_total: pt.unwrap_or(0),
            failed_total: ft.unwrap_or(0),
            paused,
            latency_ms,
        })
    }
}

impl Store for RedisStore {
    fn enqueue(&self, t: NewTask, now: Millis) -> BoxFuture<'_, Result<TaskInfo>> {
        Box::pin(async move {
            self.enqueue_batch(vec![t], now).await?.pop().unwrap_or_else(|| Err(Error::Store("no result".into())))
        })
    }
    fn enqueue_many(&self, ts: Vec<NewTask>, now: Millis) -> BoxFuture<'_, Result<Vec<Result<TaskInfo>>>> {
        Box::pin(self.enqueue_batch(ts, now))
    }
    fn dequeue(&self, max: usize, now: Millis) -> BoxFuture<'_, Result<Vec<Lease>>> {
        Box::pin(self.dequeue_all(max, now))
    }
    fn extend(&self, running: Vec<(String, String)>, now: Millis) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(self.extend_all(running, now))
    }
    fn ack(&self, acks: Vec<Ack>, now: Millis) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.ack_all(acks, now))
    }
    fn next_due(&self) -> BoxFuture<'_, Result<Option<Millis>>> {
        // shared with other processes: the driver polls at its poll interval
        Box::pin(std::future::ready(Ok(None)))
    }
    fn changed(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }
    fn task<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskInfo>> {
        Box::pin(async move {
            self.exists(queue).await?;
            self.get(queue, id).await
        })
    }
    fn delete<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.exists(queue).await?;
            self.admin("delete", queue, id, 0).await
        })
    }
    fn archive<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.exists(queue).await?;
            self.admin("archive", queue, id, now).await
        })
    }
    fn run<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.exists(queue).await?;
            self.admin("run", queue, id, now).await
        })
    }
    fn set_paused<'a>(&'a self, queue: &'a str, paused: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.exists(queue).await?;
            let key = format!("{}paused", self.base(queue));
            let mut c = self.conn.clone();
            if paused {
                let _: () = redis::cmd("SET").arg(key).arg(1).query_async(&mut c).await?;
            } else {
                let _: i64 = redis::cmd("DEL").arg(key).query_async(&mut c).await?;
            }
            Ok(())
        })
    }
    fn delete_all<'a>(&'a self, queue: &'a str, state: TaskState) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            self.exists(queue).await?;
            if !matches!(state, TaskState::Completed | TaskState::Archived) {
                return Err(Error::InvalidArgument(format!("delete all {} tasks", state.name())));
            }
            let n: u64 = self
                .scripts
                .delete_all
                .key(self.base(queue))
                .arg(state.name())
                .invoke_async(&mut self.conn.clone())
                .await?;
            Ok(n)
        })
    }
    fn queues(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let mut qs: Vec<String> =
                redis::cmd("SMEMBERS").arg(self.queues_key()).query_async(&mut self.conn.clone()).await?;
            qs.sort();
            Ok(qs)
        })
    }
    fn list<'a>(
        &'a self,
        queue: &'a str,
        state: TaskState,
        page_size: usize,
        page: usize,
    ) -> BoxFuture<'a, Result<Vec<TaskInfo>>> {
        Box::pin(self.list_ids(queue, state, page_size, page))
    }
    fn info<'a>(&'a self, queue: &'a str, now: Millis) -> BoxFuture<'a, Result<QueueInfo>> {
        Box::pin(self.queue_info(queue, now))
    }
    fn history<'a>(&'a self, queue: &'a str, days: u32, now: Millis) -> BoxFuture<'a, Result<Vec<DailyStat>>> {
        Box::pin(async move {
            self.exists(queue).await?;
            let b = self.base(queue);
            let today = day_of(now);
            let mut pipe = redis::pipe();
            for k in 0..i64::from(days) {
                pipe.cmd("GET").arg(format!("{b}processed:{}", today - k));
                pipe.cmd("GET").arg(format!("{b}failed:{}", today - k));
            }
            let v: Vec<Option<i64>> = pipe.query_async(&mut self.conn.clone()).await?;
            Ok((0..i64::from(days))
                .map(|k| DailyStat {
                    day: today - k,
                    processed: v[(2 * k) as usize].unwrap_or(0),
                    failed: v[(2 * k + 1) as usize].unwrap_or(0),
                })
                .collect())
        })
    }
}
