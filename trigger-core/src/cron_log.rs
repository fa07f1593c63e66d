//! The `cron_exec_log` audit table (this crate's migration 100002, in the plan database): one
//! row per cron handler run, with upstream's columns (times as Shanghai `yyyy-MM-dd HH:mm:ss`).

use crate::error::{Error, Result};
use crate::rule::format_time;
use crate::task::Millis;
use zero_sql::Db;

/// One handler run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRun {
    /// The run's trace id.
    pub trace_id: String,
    /// The job.
    pub job_id: String,
    /// The job's task code.
    pub task_code: String,
    /// The job's task name.
    pub task_name: String,
    /// The occurrence it handled.
    pub scheduled: Millis,
    /// When the handler started.
    pub start: Millis,
    /// When it answered (or timed out).
    pub end: Millis,
    /// Whether it succeeded.
    pub ok: bool,
    /// The handler's message, or the error.
    pub text: String,
}

/// Writes [`CronRun`] rows.
#[derive(Debug, Clone)]
pub struct CronExecLog {
    db: Db,
}

impl CronExecLog {
    /// The log in `db`, which [`crate::plan::store::open`] migrated.
    pub fn new(db: Db) -> CronExecLog {
        CronExecLog { db }
    }

    /// Writes one row (`id` a new time-ordered key; the text goes to `message` on success and
    /// to `error_message` otherwise).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn write(&self, run: &CronRun) -> Result<()> {
        let (message, error) = if run.ok { (run.text.as_str(), "") } else { ("", run.text.as_str()) };
        let sql = self.db.sql(
            "INSERT INTO cron_exec_log (id, trace_id, job_id, task_code, task_name, scheduled_time, start_time, \
             end_time, cost_ms, status, message, error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&sql)
            .bind(crate::plan::new_pk(run.end))
            .bind(&run.trace_id)
            .bind(&run.job_id)
            .bind(&run.task_code)
            .bind(&run.task_name)
            .bind(format_time(run.scheduled))
            .bind(format_time(run.start))
            .bind(format_time(run.end))
            .bind(run.end - run.start)
            .bind(i64::from(run.ok))
            .bind(message)
            .bind(error)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The rows of one job, oldest first.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn runs(&self, job_id: &str) -> Result<Vec<CronRun>> {
        use sqlx::Row as _;
        let sql = self.db.sql(
            "SELECT trace_id, job_id, task_code, task_name, scheduled_time, start_time, end_time, status, message, \
             error_message FROM cron_exec_log WHERE job_id = ? ORDER BY id",
        );
        let rows = sqlx::query(&sql).bind(job_id).fetch_all(self.db.pool()).await?;
        let t = |r: &sqlx::any::AnyRow, c: &str| zero_sql::text(r, c).map_err(|e| Error::Store(format!("{c}: {e}")));
        let ms = |s: String| crate::rule::parse_time(&s);
        rows.iter()
            .map(|r| {
                let ok = r.try_get::<i64, _>("status")? != 0;
                Ok(CronRun {
                    trace_id: t(r, "trace_id")?,
                    job_id: t(r, "job_id")?,
                    task_code: t(r, "task_code")?,
                    task_name: t(r, "task_name")?,
                    scheduled: ms(t(r, "scheduled_time")?)?,
                    start: ms(t(r, "start_time")?)?,
                    end: ms(t(r, "end_time")?)?,
                    ok,
                    text: if ok { t(r, "message")? } else { t(r, "error_message")? },
                })
            })
            .collect()
    }
}
