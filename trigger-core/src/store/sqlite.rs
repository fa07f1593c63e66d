//! The SQLite store: the [`Core`] in memory, every change written through to SQLite before the
//! call returns, and everything read back at start. One process per database file (the
//! embedded default of the trigger service); use [`super::RedisStore`] for several instances.
//! Tasks that were running when the process died run again (at-least-once); the processed and
//! failed counters are kept too. A live task's unique key holds until the task finishes after a
//! restart (its TTL is not kept).

use super::{BoxFuture, Store};
use crate::config::Config;
use crate::core::{Ack, Core, Lease};
use crate::error::{Error, Result};
use crate::task::{DailyStat, Millis, NewTask, QueueInfo, TaskInfo, TaskState};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// The [`Core`] in memory, every change written through to SQLite before the call returns,
/// and everything read back at start. One process per database file. Tasks that were running
/// when the process died run again (at-least-once); the processed and failed counters are kept
/// too.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    core: Arc<Mutex<Core>>,
    /// one writer at a time, so a task's rows are written in the order its changes happened
    write: Arc<tokio::sync::Mutex<()>>,
    pool: SqlitePool,
    notify: Arc<Notify>,
}

impl SqliteStore {
    /// Opens (creating if missing) `url` (`sqlite://path` or `sqlite::memory:`) and loads what
    /// it holds.
    ///
    /// # Errors
    /// [`Error::Store`] when the database cannot be opened or read.
    pub async fn open(url: &str, cfg: Config, now: Millis) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
        // this crate owns trigger_task, trigger_queue and trigger_stats (versions 110001..)
        zero_sql::shared(sqlx::migrate!("migrations/sqlite-store")).run(&pool).await?;
        let mut core = Core::new(cfg);
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT info, payload FROM trigger_task").fetch_all(&pool).await?;
        for (info, payload) in rows {
            let mut t: TaskInfo = serde_json::from_str(&info).map_err(|e| Error::Store(format!("stored task: {e}")))?;
            t.payload = payload;
            core.restore(t, now);
        }
        let queues: Vec<(String, i64)> =
            sqlx::query_as("SELECT queue, paused FROM trigger_queue").fetch_all(&pool).await?;
        for (q, paused) in queues {
            core.ensure_queue(&q);
            core.set_paused(&q, paused != 0)?;
        }
        // day -1 holds the totals
        let stats: Vec<(String, i64, i64, i64)> =
            sqlx::query_as("SELECT queue, day, processed, failed FROM trigger_stats").fetch_all(&pool).await?;
        for (q, day, p, f) in stats {
            core.restore_counters(&q, (day >= 0).then_some(day), p, f);
        }
        // restored tasks that were active are pending again: write that down
        core.take_changed();
        Ok(SqliteStore {
            core: Arc::new(Mutex::new(core)),
            write: Arc::default(),
            pool,
            notify: Arc::new(Notify::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `op` on the core and writes the tasks it changed, in one transaction.
    async fn mutate<T>(&self, op: impl FnOnce(&mut Core) -> T) -> Result<T> {
        let _w = self.write.lock().await;
        let (out, changed) = {
            let mut c = self.lock();
            let out = op(&mut c);
            (out, c.take_changed())
        };
        if !changed.is_empty() {
            let mut tx = self.pool.begin().await?;
            for (queue, id, t) in changed {
                match t {
                    Some(mut t) => {
                        let payload = std::mem::take(&mut t.payload);
                        let info = serde_json::to_string(&t).map_err(|e| Error::Store(e.to_string()))?;
                        sqlx::query(
                            "INSERT OR REPLACE INTO trigger_task (queue, id, info, payload) VALUES (?, ?, ?, ?)",
                        )
                        .bind(&queue)
                        .bind(&id)
                        .bind(info)
                        .bind(payload)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM trigger_task WHERE queue = ? AND id = ?")
                            .bind(&queue)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
        }
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn enqueue(&self, t: NewTask, now: Millis) -> BoxFuture<'_, Result<TaskInfo>> {
        Box::pin(async move {
            let r = self.mutate(|c| c.enqueue(t, now)).await?;
            self.notify.notify_one();
            r
        })
    }
    fn enqueue_many(&self, ts: Vec<NewTask>, now: Millis) -> BoxFuture<'_, Result<Vec<Result<TaskInfo>>>> {
        Box::pin(async move {
            let r = self.mutate(|c| ts.into_iter().map(|t| c.enqueue(t, now)).collect()).await?;
            self.notify.notify_one();
            Ok(r)
        })
    }
    fn dequeue(&self, max: usize, now: Millis) -> BoxFuture<'_, Result<Vec<Lease>>> {
        Box::pin(self.mutate(move |c| c.dequeue(max, now)))
    }
    fn extend(&self, running: Vec<(String, String)>, now: Millis) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(std::future::ready(Ok(self.lock().extend(running, now))))
    }
    fn ack(&self, acks: Vec<Ack>, now: Millis) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let counters = self
                .mutate(move |c| {
                    let mut queues: Vec<String> = acks.iter().map(|a| a.queue.clone()).collect();
                    queues.sort();
                    queues.dedup();
                    for a in acks {
                        c.ack(a, now);
                    }
                    queues.into_iter().filter_map(|q| Some((c.counters(&q, now)?, q))).collect::<Vec<_>>()
                })
                .await?;
            for (c, q) in counters {
                for (d, p, f) in [(c.day, c.processed, c.failed), (-1, c.processed_total, c.failed_total)] {
                    sqlx::query(
                        "INSERT OR REPLACE INTO trigger_stats (queue, day, processed, failed) VALUES (?, ?, ?, ?)",
                    )
                    .bind(&q)
                    .bind(d)
                    .bind(p)
                    .bind(f)
                    .execute(&self.pool)
                    .await?;
                }
            }
            self.notify.notify_one();
            Ok(())
        })
    }
    fn next_due(&self) -> BoxFuture<'_, Result<Option<Millis>>> {
        let t = self.lock().poll_timeout();
        Box::pin(std::future::ready(Ok(t)))
    }
    fn changed(&self) -> BoxFuture<'_, ()> {
        let n = self.notify.clone();
        Box::pin(async move { n.notified().await })
    }
    fn task<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskInfo>> {
        let r = self.lock().task(queue, id);
        Box::pin(std::future::ready(r))
    }
    fn delete<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.mutate(|c| c.delete(queue, id)).await? })
    }
    fn archive<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.mutate(|c| c.archive(queue, id, now)).await? })
    }
    fn run<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let r = self.mutate(|c| c.run(queue, id, now)).await?;
            self.notify.notify_one();
            r
        })
    }
    fn set_paused<'a>(&'a self, queue: &'a str, paused: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let _w = self.write.lock().await;
            self.lock().set_paused(queue, paused)?;
            sqlx::query("INSERT OR REPLACE INTO trigger_queue (queue, paused) VALUES (?, ?)")
                .bind(queue)
                .bind(i64::from(paused))
                .execute(&self.pool)
                .await?;
            self.notify.notify_one();
            Ok(())
        })
    }
    fn delete_all<'a>(&'a self, queue: &'a str, state: TaskState) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { self.mutate(|c| c.delete_all(queue, state)).await? })
    }
    fn queues(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        let r = self.lock().queues();
        Box::pin(std::future::ready(Ok(r)))
    }
    fn list<'a>(
        &'a self,
        queue: &'a str,
        state: TaskState,
        page_size: usize,
        page: usize,
    ) -> BoxFuture<'a, Result<Vec<TaskInfo>>> {
        let r = self.lock().list(queue, state, page_size, page);
        Box::pin(std::future::ready(r))
    }
    fn info<'a>(&'a self, queue: &'a str, now: Millis) -> BoxFuture<'a, Result<QueueInfo>> {
        let r = self.lock().info(queue, now);
        Box::pin(std::future::ready(r))
    }
    fn history<'a>(&'a self, queue: &'a str, days: u32, now: Millis) -> BoxFuture<'a, Result<Vec<DailyStat>>> {
        let r = self.lock().history(queue, days, now);
        Box::pin(std::future::ready(r))
    }
}
