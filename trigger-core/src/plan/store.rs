//! Plans in SQL: SQLite (the embedded default), PostgreSQL or MySQL/MariaDB, through sqlx's
//! `Any` driver, with the upstream tables (`plan`, `plan_batch`, `plan_exec_item`,
//! `plan_exec_log`; times as ms since the epoch). Every state change is a guarded update
//! (`WHERE status = …`, and `version` for claims), so several instances can share one database.

use super::{
    apply_result, item, new_pk, status, Applied, Batch, Built, ExecItem, ExecLog, Key, Plan, PlanEvent, Reply, Via,
    BATCH_FINISHED, PLAN_FINISHED,
};
use crate::error::{Error, Result};
use crate::task::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;
use zero_sql::Db;

const PLAN_COLS: &str = "id, plan_id, plan_name, type, group_id, recurrence_rule, rrule_str, start_time, end_time, status, \
    scan_flg, terminated_reason, paused_time, paused_reason, finished_time, description, ext_1, ext_2, ext_3, ext_4, ext_5, \
    dept_code, create_user, update_user, create_time, update_time, is_deleted, version";
const BATCH_COLS: &str = "id, plan_pk, plan_id, batch_id, batch_name, batch_num, status, scan_flg, plan_trigger_time, \
    terminated_reason, paused_time, paused_reason, finished_time, ext_1, ext_2, ext_3, ext_4, ext_5, dept_code, create_time, \
    update_time, is_deleted, version";
const ITEM_COLS: &str = "id, plan_pk, plan_id, batch_pk, batch_id, exec_id, item_id, item_type, item_name, item_row_id, \
    point_id, payload, request_timeout, plan_trigger_time, next_trigger_time, last_trigger_time, trigger_count, status, \
    last_result, last_message, last_reason, terminated_reason, paused_time, paused_reason, ext_1, ext_2, ext_3, ext_4, ext_5, \
    dept_code, create_time, update_time, is_deleted, version";
const LOG_COLS: &str = "id, plan_pk, plan_id, plan_name, batch_pk, batch_id, item_pk, exec_id, item_id, item_type, \
    item_name, point_id, trigger_time, trace_id, exec_result, message, reason, create_time, is_deleted";

/// A bound value.
#[derive(Debug, Clone)]
enum V {
    I(i64),
    N(Option<i64>),
    S(String),
    NS(Option<String>),
}

type Q<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_all<'q>(mut q: Q<'q>, vals: &'q [V]) -> Q<'q> {
    for v in vals {
        q = match v {
            V::I(i) => q.bind(*i),
            V::N(n) => q.bind(*n),
            V::S(s) => q.bind(s.as_str()),
            V::NS(s) => q.bind(s.as_deref()),
        };
    }
    q
}

/// A text column (MySQL TEXT comes through `Any` as a blob).
fn txt(r: &AnyRow, c: &str) -> Result<String> {
    zero_sql::text(r, c).map_err(|e| Error::Store(format!("{c}: {e}")))
}

fn ext(r: &AnyRow) -> Result<[String; 5]> {
    Ok([txt(r, "ext_1")?, txt(r, "ext_2")?, txt(r, "ext_3")?, txt(r, "ext_4")?, txt(r, "ext_5")?])
}

fn i32_of(row: &AnyRow, c: &str) -> Result<i32> {
    Ok(row.try_get::<i64, _>(c)? as i32)
}

fn plan_row(r: &AnyRow) -> Result<Plan> {
    Ok(Plan {
        id: r.try_get("id")?,
        plan_id: txt(r, "plan_id")?,
        plan_name: txt(r, "plan_name")?,
        plan_type: txt(r, "type")?,
        group_id: txt(r, "group_id")?,
        description: txt(r, "description")?,
        recurrence_rule: txt(r, "recurrence_rule")?,
        rrule_str: txt(r, "rrule_str")?,
        start_time: r.try_get("start_time")?,
        end_time: r.try_get("end_time")?,
        status: i32_of(r, "status")?,
        scan_flg: i32_of(r, "scan_flg")?,
        terminated_reason: txt(r, "terminated_reason")?,
        paused_time: r.try_get("paused_time")?,
        paused_reason: txt(r, "paused_reason")?,
        finished_time: r.try_get("finished_time")?,
        ext: ext(r)?,
        dept_code: txt(r, "dept_code")?,
        create_user: txt(r, "create_user")?,
        update_user: txt(r, "update_user")?,
        create_time: r.try_get("create_time")?,
        update_time: r.try_get("update_time")?,
    })
}

fn plan_vals(p: &Plan) -> Vec<V> {
    let mut v = vec![
        V::I(p.id),
        V::S(p.plan_id.clone()),
        V::S(p.plan_name.clone()),
        V::S(p.plan_type.clone()),
        V::S(p.group_id.clone()),
        V::S(p.recurrence_rule.clone()),
        V::S(p.rrule_str.clone()),
        V::I(p.start_time),
        V::I(p.end_time),
        V::I(p.status.into()),
        V::I(p.scan_flg.into()),
        V::S(p.terminated_reason.clone()),
        V::N(p.paused_time),
        V::S(p.paused_reason.clone()),
        V::N(p.finished_time),
        V::S(p.description.clone()),
    ];
    v.extend(p.ext.iter().cloned().map(V::S));
    v.extend([
        V::S(p.dept_code.clone()),
        V::S(p.create_user.clone()),
        V::S(p.update_user.clone()),
        V::I(p.create_time),
        V::I(p.update_time),
        V::I(0),
        V::I(0),
    ]);
    v
}

fn batch_row(r: &AnyRow) -> Result<Batch> {
    Ok(Batch {
        id: r.try_get("id")?,
        plan_pk: r.try_get("plan_pk")?,
        plan_id: txt(r, "plan_id")?,
        batch_id: txt(r, "batch_id")?,
        batch_name: txt(r, "batch_name")?,
        batch_num: txt(r, "batch_num")?,
        status: i32_of(r, "status")?,
        scan_flg: i32_of(r, "scan_flg")?,
        plan_trigger_time: r.try_get("plan_trigger_time")?,
        terminated_reason: txt(r, "terminated_reason")?,
        paused_time: r.try_get("paused_time")?,
        paused_reason: txt(r, "paused_reason")?,
        finished_time: r.try_get("finished_time")?,
        ext: ext(r)?,
        dept_code: txt(r, "dept_code")?,
        create_time: r.try_get("create_time")?,
        update_time: r.try_get("update_time")?,
    })
}

fn batch_vals(b: &Batch) -> Vec<V> {
    let mut v = vec![
        V::I(b.id),
        V::I(b.plan_pk),
        V::S(b.plan_id.clone()),
        V::S(b.batch_id.clone()),
        V::S(b.batch_name.clone()),
        V::S(b.batch_num.clone()),
        V::I(b.status.into()),
        V::I(b.scan_flg.into()),
        V::I(b.plan_trigger_time),
        V::S(b.terminated_reason.clone()),
        V::N(b.paused_time),
        V::S(b.paused_reason.clone()),
        V::N(b.finished_time),
    ];
    v.extend(b.ext.iter().cloned().map(V::S));
    v.extend([V::S(b.dept_code.clone()), V::I(b.create_time), V::I(b.update_time), V::I(0), V::I(0)]);
    v
}

fn item_row(r: &AnyRow) -> Result<ExecItem> {
    Ok(ExecItem {
        id: r.try_get("id")?,
        plan_pk: r.try_get("plan_pk")?,
        plan_id: txt(r, "plan_id")?,
        batch_pk: r.try_get("batch_pk")?,
        batch_id: txt(r, "batch_id")?,
        exec_id: txt(r, "exec_id")?,
        item_id: txt(r, "item_id")?,
        item_type: txt(r, "item_type")?,
        item_name: txt(r, "item_name")?,
        item_row_id: i32_of(r, "item_row_id")?,
        point_id: txt(r, "point_id")?,
        payload: txt(r, "payload")?,
        request_timeout: r.try_get("request_timeout")?,
        plan_trigger_time: r.try_get("plan_trigger_time")?,
        next_trigger_time: r.try_get("next_trigger_time")?,
        last_trigger_time: r.try_get("last_trigger_time")?,
        trigger_count: i32_of(r, "trigger_count")?,
        status: i32_of(r, "status")?,
        last_result: txt(r, "last_result")?,
        last_message: txt(r, "last_message")?,
        last_reason: txt(r, "last_reason")?,
        terminated_reason: txt(r, "terminated_reason")?,
        paused_time: r.try_get("paused_time")?,
        paused_reason: txt(r, "paused_reason")?,
        ext: ext(r)?,
        dept_code: txt(r, "dept_code")?,
        create_time: r.try_get("create_time")?,
        update_time: r.try_get("update_time")?,
        version: r.try_get("version")?,
    })
}

fn item_vals(i: &ExecItem) -> Vec<V> {
    let mut v = vec![
        V::I(i.id),
        V::I(i.plan_pk),
        V::S(i.plan_id.clone()),
        V::I(i.batch_pk),
        V::S(i.batch_id.clone()),
        V::S(i.exec_id.clone()),
        V::S(i.item_id.clone()),
        V::S(i.item_type.clone()),
        V::S(i.item_name.clone()),
        V::I(i.item_row_id.into()),
        V::S(i.point_id.clone()),
        V::S(i.payload.clone()),
        V::I(i.request_timeout),
        V::I(i.plan_trigger_time),
        V::I(i.next_trigger_time),
        V::N(i.last_trigger_time),
        V::I(i.trigger_count.into()),
        V::I(i.status.into()),
        V::S(i.last_result.clone()),
        V::S(i.last_message.clone()),
        V::S(i.last_reason.clone()),
        V::S(i.terminated_reason.clone()),
        V::N(i.paused_time),
        V::S(i.paused_reason.clone()),
    ];
    v.extend(i.ext.iter().cloned().map(V::S));
    v.extend([V::S(i.dept_code.clone()), V::I(i.create_time), V::I(i.update_time), V::I(0), V::I(0)]);
    v
}

fn log_row(r: &AnyRow) -> Result<ExecLog> {
    Ok(ExecLog {
        id: r.try_get("id")?,
        plan_pk: r.try_get("plan_pk")?,
        plan_id: txt(r, "plan_id")?,
        plan_name: txt(r, "plan_name")?,
        batch_pk: r.try_get("batch_pk")?,
        batch_id: txt(r, "batch_id")?,
        item_pk: r.try_get("item_pk")?,
        exec_id: txt(r, "exec_id")?,
        item_id: txt(r, "item_id")?,
        item_type: txt(r, "item_type")?,
        item_name: txt(r, "item_name")?,
        point_id: txt(r, "point_id")?,
        trigger_time: r.try_get("trigger_time")?,
        trace_id: txt(r, "trace_id")?,
        exec_result: txt(r, "exec_result")?,
        message: txt(r, "message")?,
        reason: txt(r, "reason")?,
        create_time: r.try_get("create_time")?,
    })
}

fn log_vals(l: &ExecLog) -> Vec<V> {
    vec![
        V::I(l.id),
        V::I(l.plan_pk),
        V::S(l.plan_id.clone()),
        V::S(l.plan_name.clone()),
        V::I(l.batch_pk),
        V::S(l.batch_id.clone()),
        V::I(l.item_pk),
        V::S(l.exec_id.clone()),
        V::S(l.item_id.clone()),
        V::S(l.item_type.clone()),
        V::S(l.item_name.clone()),
        V::S(l.point_id.clone()),
        V::I(l.trigger_time),
        V::S(l.trace_id.clone()),
        V::S(l.exec_result.clone()),
        V::S(l.message.clone()),
        V::S(l.reason.clone()),
        V::I(l.create_time),
        V::I(0),
    ]
}

fn insert_sql(table: &str, cols: &str) -> String {
    let n = cols.split(',').count();
    format!("INSERT INTO {table} ({cols}) VALUES ({})", vec!["?"; n].join(", "))
}

/// One page of a list.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// 1-based; 0 counts as 1.
    pub num: i64,
    /// Rows per page; 0: 20; at most 1000.
    pub size: i64,
}

impl Page {
    fn limit_offset(self) -> (i64, i64) {
        let size = if self.size <= 0 { 20 } else { self.size.min(1000) };
        (size, (self.num.max(1) - 1) * size)
    }
}

/// Filters of [`PlanStore::list_plans`] (empty fields do not filter).
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    /// Substring of plan_id.
    pub plan_id: String,
    /// Substring of plan_name.
    pub plan_name: String,
    /// Any of these states.
    pub status: Vec<i32>,
    /// Type.
    pub plan_type: String,
}

/// Filters of [`PlanStore::list_batches`].
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    /// Plan key.
    pub plan_pk: i64,
    /// Plan id.
    pub plan_id: String,
    /// Batch id.
    pub batch_id: String,
    /// Any of these states.
    pub status: Vec<i32>,
    /// Plan type.
    pub plan_type: String,
}

/// Filters of [`PlanStore::list_items`].
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Key.
    pub id: i64,
    /// Exec id.
    pub exec_id: String,
    /// Plan id.
    pub plan_id: String,
    /// Batch id.
    pub batch_id: String,
    /// Substring of item_id.
    pub item_id: String,
    /// Substring of item_name.
    pub item_name: String,
    /// Any of these states.
    pub status: Vec<i32>,
}

/// Filters of [`PlanStore::list_logs`].
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Plan id.
    pub plan_id: String,
    /// Batch id.
    pub batch_id: String,
    /// Item id.
    pub item_id: String,
    /// Exec id.
    pub exec_id: String,
    /// Trigger time from (ms; 0: open).
    pub start: Millis,
    /// Trigger time to (ms; 0: open).
    pub end: Millis,
    /// Any of these results.
    pub exec_result: Vec<String>,
}

/// A claimed item with its plan and batch.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The item as claimed (running, its lease in `next_trigger_time`).
    pub item: ExecItem,
    /// Its plan.
    pub plan: Plan,
    /// Its batch.
    pub batch: Batch,
}

/// One row of [`PlanStore::dashboard`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashStat {
    /// Plan type.
    pub plan_type: String,
    /// Items.
    pub total: i64,
    /// Completed or terminated.
    pub finished: i64,
    /// Of which terminated.
    pub terminated: i64,
    /// Not finished.
    pub pending: i64,
    /// Of which delayed.
    pub delayed: i64,
}

/// What [`PlanStore::create`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The plan's key.
    pub id: i64,
    /// Batches.
    pub batch_cnt: i64,
    /// Execution items.
    pub exec_cnt: i64,
}

/// Builds `WHERE` clauses with their values.
#[derive(Default)]
struct Where {
    sql: Vec<String>,
    vals: Vec<V>,
}

impl Where {
    fn eq_s(&mut self, col: &str, v: &str) -> &mut Self {
        if !v.is_empty() {
            self.sql.push(format!("{col} = ?"));
            self.vals.push(V::S(v.to_owned()));
        }
        self
    }
    fn eq_i(&mut self, col: &str, v: i64) -> &mut Self {
        if v != 0 {
            self.sql.push(format!("{col} = ?"));
            self.vals.push(V::I(v));
        }
        self
    }
    fn like(&mut self, col: &str, v: &str) -> &mut Self {
        if !v.is_empty() {
            // `!` escapes the wildcards in every one of the three databases
            self.sql.push(format!("{col} LIKE ? ESCAPE '!'"));
            let esc = v.replace('!', "!!").replace('%', "!%").replace('_', "!_");
            self.vals.push(V::S(format!("%{esc}%")));
        }
        self
    }
    fn any_i(&mut self, col: &str, v: &[i32]) -> &mut Self {
        if !v.is_empty() {
            self.sql.push(format!("{col} IN ({})", vec!["?"; v.len()].join(", ")));
            self.vals.extend(v.iter().map(|&x| V::I(x.into())));
        }
        self
    }
    fn any_s(&mut self, col: &str, v: &[String]) -> &mut Self {
        if !v.is_empty() {
            self.sql.push(format!("{col} IN ({})", vec!["?"; v.len()].join(", ")));
            self.vals.extend(v.iter().cloned().map(V::S));
        }
        self
    }
    fn cmp(&mut self, col: &str, op: &str, v: i64) -> &mut Self {
        if v != 0 {
            self.sql.push(format!("{col} {op} ?"));
            self.vals.push(V::I(v));
        }
        self
    }
    fn text(&self) -> String {
        let mut s = String::from(" WHERE is_deleted = 0");
        for c in &self.sql {
            s.push_str(" AND ");
            s.push_str(c);
        }
        s
    }
}

/// The plan tables in one database.
#[derive(Debug, Clone)]
pub struct PlanStore {
    db: Db,
}

/// Connects to `url` (`sqlite://file`, `sqlite::memory:`, `postgres://…`, `mysql://…`, or a Go
/// DSN) and applies this crate's SQL migrations (`migrations/plan/`, one portable set, versions
/// 100001..): the plan tables, `cron_exec_log` ([`crate::cron_log`]) and `holiday_source`
/// ([`crate::holiday`]), which this crate owns.
///
/// # Errors
/// [`Error::Store`] when the database cannot be reached or a migration fails.
pub async fn open(url: &str) -> Result<Db> {
    let db = Db::connect(url).await?;
    db.migrate(sqlx::migrate!("migrations/plan")).await?;
    Ok(db)
}

fn key_clause(k: &Key, code_col: &str) -> (String, V) {
    match k {
        Key::Id(id) => ("id = ?".into(), V::I(*id)),
        Key::Code(c) => (format!("{code_col} = ?"), V::S(c.clone())),
    }
}

impl PlanStore {
    /// Connects to `url` and migrates ([`open`]).
    ///
    /// # Errors
    /// [`Error::Store`] when the database cannot be reached or a migration fails.
    pub async fn connect(url: &str) -> Result<PlanStore> {
        Ok(PlanStore { db: open(url).await? })
    }

    /// The plans of a database that [`open`] migrated.
    pub fn new(db: Db) -> PlanStore {
        PlanStore { db }
    }

    /// The database, for the other tables this crate keeps beside the plans
    /// ([`crate::cron_log::CronExecLog`], [`crate::holiday::store::HolidayStore`]).
    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn exec(&self, ex: &mut sqlx::AnyConnection, sql: &str, vals: &[V]) -> Result<u64> {
        let sql = self.db.sql(sql);
        Ok(bind_all(sqlx::query(&sql), vals).execute(ex).await?.rows_affected())
    }

    async fn rows(&self, sql: &str, vals: &[V]) -> Result<Vec<AnyRow>> {
        let sql = self.db.sql(sql);
        Ok(bind_all(sqlx::query(&sql), vals).fetch_all(self.db.pool()).await?)
    }

    async fn rows_in(&self, ex: &mut sqlx::AnyConnection, sql: &str, vals: &[V]) -> Result<Vec<AnyRow>> {
        let sql = self.db.sql(sql);
        Ok(bind_all(sqlx::query(&sql), vals).fetch_all(ex).await?)
    }

    async fn count(&self, ex: &mut sqlx::AnyConnection, sql: &str, vals: &[V]) -> Result<i64> {
        let rows = self.rows_in(ex, sql, vals).await?;
        Ok(rows.first().map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0))
    }

    /// Stores a built plan in one transaction.
    ///
    /// # Errors
    /// [`Error::Exists`] when the plan id is taken; [`Error::Store`].
    pub async fn create(&self, built: &Built) -> Result<Created> {
        let mut tx = self.db.pool().begin().await?;
        let now = built.plan.create_time;
        let mut plan = built.plan.clone();
        plan.id = new_pk(now);
        let taken =
            self.count(&mut tx, "SELECT COUNT(*) FROM plan WHERE plan_id = ?", &[V::S(plan.plan_id.clone())]).await?;
        if taken > 0 {
            return Err(Error::Exists(format!("plan {:?}", plan.plan_id)));
        }
        if let Err(e) = self.exec(&mut tx, &insert_sql("plan", PLAN_COLS), &plan_vals(&plan)).await {
            // a concurrent create of the same plan id loses on the unique index
            drop(tx);
            let mut c = self.db.pool().acquire().await?;
            let key = [V::S(plan.plan_id.clone())];
            let again = self.count(&mut c, "SELECT COUNT(*) FROM plan WHERE plan_id = ?", &key).await.unwrap_or(0);
            return Err(if again > 0 { Error::Exists(format!("plan {:?}", plan.plan_id)) } else { e });
        }
        let batch_sql = insert_sql("plan_batch", BATCH_COLS);
        let item_sql = insert_sql("plan_exec_item", ITEM_COLS);
        let mut exec_cnt = 0;
        for (b, items) in &built.batches {
            let mut b = b.clone();
            b.id = new_pk(now);
            b.plan_pk = plan.id;
            self.exec(&mut tx, &batch_sql, &batch_vals(&b)).await?;
            for it in items {
                let mut it = it.clone();
                it.id = new_pk(now);
                it.plan_pk = plan.id;
                it.batch_pk = b.id;
                self.exec(&mut tx, &item_sql, &item_vals(&it)).await?;
                exec_cnt += 1;
            }
        }
        tx.commit().await?;
        Ok(Created { id: plan.id, batch_cnt: built.batches.len() as i64, exec_cnt })
    }

    async fn one<T>(&self, table: &str, cols: &str, k: &Key, code: &str, f: fn(&AnyRow) -> Result<T>) -> Result<T> {
        let (w, v) = key_clause(k, code);
        let rows = self.rows(&format!("SELECT {cols} FROM {table} WHERE {w} AND is_deleted = 0"), &[v]).await?;
        match rows.first() {
            Some(r) => f(r),
            None => Err(Error::NotFound(format!("{table} {k:?}"))),
        }
    }

    /// The plan with key `k`.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Store`].
    pub async fn plan(&self, k: &Key) -> Result<Plan> {
        self.one("plan", PLAN_COLS, k, "plan_id", plan_row).await
    }

    /// The batch with key `k`.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Store`].
    pub async fn batch(&self, k: &Key) -> Result<Batch> {
        self.one("plan_batch", BATCH_COLS, k, "batch_id", batch_row).await
    }

    /// The item with key `k`.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Store`].
    pub async fn item(&self, k: &Key) -> Result<ExecItem> {
        self.one("plan_exec_item", ITEM_COLS, k, "exec_id", item_row).await
    }

    /// The log row `id`.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Store`].
    pub async fn log(&self, id: i64) -> Result<ExecLog> {
        self.one("plan_exec_log", LOG_COLS, &Key::Id(id), "id", log_row).await
    }

    async fn page<T>(
        &self,
        table: &str,
        cols: &str,
        w: &Where,
        order: &str,
        page: Page,
        f: fn(&AnyRow) -> Result<T>,
    ) -> Result<(i64, Vec<T>)> {
        let (limit, offset) = page.limit_offset();
        let mut conn = self.db.pool().acquire().await?;
        let total = self.count(&mut conn, &format!("SELECT COUNT(*) FROM {table}{}", w.text()), &w.vals).await?;
        let mut vals = w.vals.clone();
        vals.extend([V::I(limit), V::I(offset)]);
        let sql = format!("SELECT {cols} FROM {table}{} ORDER BY {order} LIMIT ? OFFSET ?", w.text());
        let rows = self.rows_in(&mut conn, &sql, &vals).await?;
        Ok((total, rows.iter().map(f).collect::<Result<_>>()?))
    }

    /// Plans, newest first, with the total count.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn list_plans(&self, f: &PlanFilter, page: Page) -> Result<(i64, Vec<Plan>)> {
        let mut w = Where::default();
        w.like("plan_id", &f.plan_id)
            .like("plan_name", &f.plan_name)
            .any_i("status", &f.status)
            .eq_s("type", &f.plan_type);
        self.page("plan", PLAN_COLS, &w, "id DESC", page, plan_row).await
    }

    /// Batches in time order, with the total count.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn list_batches(&self, f: &BatchFilter, page: Page) -> Result<(i64, Vec<Batch>)> {
        let mut w = Where::default();
        w.eq_i("plan_pk", f.plan_pk)
            .eq_s("plan_id", &f.plan_id)
            .eq_s("batch_id", &f.batch_id)
            .any_i("status", &f.status);
        if !f.plan_type.is_empty() {
            w.sql.push("plan_pk IN (SELECT id FROM plan WHERE type = ?)".into());
            w.vals.push(V::S(f.plan_type.clone()));
        }
        self.page("plan_batch", BATCH_COLS, &w, "plan_trigger_time, id", page, batch_row).await
    }

    /// Items in due order, with the total count.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn list_items(&self, f: &ItemFilter, page: Page) -> Result<(i64, Vec<ExecItem>)> {
        let mut w = Where::default();
        w.eq_i("id", f.id)
            .eq_s("exec_id", &f.exec_id)
            .eq_s("plan_id", &f.plan_id)
            .eq_s("batch_id", &f.batch_id)
            .like("item_id", &f.item_id)
            .like("item_name", &f.item_name)
            .any_i("status", &f.status);
        self.page("plan_exec_item", ITEM_COLS, &w, "plan_trigger_time, item_row_id, id", page, item_row).await
    }

    /// Log rows, newest first, with the total count.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn list_logs(&self, f: &LogFilter, page: Page) -> Result<(i64, Vec<ExecLog>)> {
        let mut w = Where::default();
        w.eq_s("plan_id", &f.plan_id)
            .eq_s("batch_id", &f.batch_id)
            .eq_s("item_id", &f.item_id)
            .eq_s("exec_id", &f.exec_id)
            .cmp("trigger_time", ">=", f.start)
            .cmp("trigger_time", "<=", f.end)
            .any_s("exec_result", &f.exec_result);
        self.page("plan_exec_log", LOG_COLS, &w, "id DESC", page, log_row).await
    }

    /// Item counts by state, of a batch (`batch_pk`) or a plan (`plan_pk`).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn status_counts(&self, col: StatusOf, pk: i64) -> Result<Vec<(i32, i64)>> {
        Ok(self.status_counts_of(col, &[pk]).await?.remove(&pk).unwrap_or_default())
    }

    /// [`PlanStore::status_counts`] of many batches or plans in one query (a listed page).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn status_counts_of(
        &self,
        col: StatusOf,
        pks: &[i64],
    ) -> Result<std::collections::HashMap<i64, Vec<(i32, i64)>>> {
        let mut out = std::collections::HashMap::new();
        if pks.is_empty() {
            return Ok(out);
        }
        let c = match col {
            StatusOf::Batch => "batch_pk",
            StatusOf::Plan => "plan_pk",
        };
        let sql = format!(
            "SELECT {c} AS pk, status, COUNT(*) AS n FROM plan_exec_item WHERE {c} IN ({}) AND is_deleted = 0 \
             GROUP BY {c}, status ORDER BY status",
            vec!["?"; pks.len()].join(", ")
        );
        let vals: Vec<V> = pks.iter().map(|&p| V::I(p)).collect();
        for r in self.rows(&sql, &vals).await? {
            let pk: i64 = r.try_get("pk")?;
            out.entry(pk).or_insert_with(Vec::new).push((i32_of(&r, "status")?, r.try_get::<i64, _>("n")?));
        }
        Ok(out)
    }

    /// Progress of a plan, 0..100: completed items / all items.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn progress(&self, plan_pk: i64) -> Result<f32> {
        Ok(progress_of(&self.status_counts(StatusOf::Plan, plan_pk).await?))
    }

    /// Item counts per plan type (`GetExecItemDashboard`); empty filters match all.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn dashboard(&self, dept_code: &str, plan_type: &str) -> Result<Vec<DashStat>> {
        let mut sql = String::from(
            "SELECT p.type AS t, i.status AS s, COUNT(*) AS n FROM plan_exec_item i JOIN plan p ON p.id = i.plan_pk \
             WHERE i.is_deleted = 0 AND p.is_deleted = 0",
        );
        let mut vals = vec![];
        if !dept_code.is_empty() {
            sql.push_str(" AND p.dept_code = ?");
            vals.push(V::S(dept_code.into()));
        }
        if !plan_type.is_empty() {
            sql.push_str(" AND p.type = ?");
            vals.push(V::S(plan_type.into()));
        }
        sql.push_str(" GROUP BY p.type, i.status ORDER BY p.type");
        let mut out: Vec<DashStat> = vec![];
        for r in self.rows(&sql, &vals).await? {
            let t = txt(&r, "t")?;
            let s = i32_of(&r, "s")?;
            let n: i64 = r.try_get("n")?;
            if out.last().is_none_or(|d| d.plan_type != t) {
                out.push(DashStat { plan_type: t, ..DashStat::default() });
            }
            let d = out.last_mut().expect("pushed");
            d.total += n;
            if item::is_final(s) {
                d.finished += n;
                if s == item::TERMINATED {
                    d.terminated += n;
                }
            } else {
                d.pending += n;
                if s == item::DELAYED {
                    d.delayed += n;
                }
            }
        }
        Ok(out)
    }

    /// Pauses an enabled plan and its enabled unfinished batches (a paused plan stays paused).
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Refused`] for a terminated plan; [`Error::Store`].
    pub async fn pause_plan(&self, k: &Key, reason: &str, user: &str, now: Millis) -> Result<()> {
        let p = self.plan(k).await?;
        match p.status {
            status::PAUSED => return Ok(()),
            status::TERMINATED => return Err(Error::Refused(format!("plan {} is terminated", p.plan_id))),
            _ => {}
        }
        let mut tx = self.db.pool().begin().await?;
        self.exec(
            &mut tx,
            "UPDATE plan SET status = 2, paused_time = ?, paused_reason = ?, update_user = ?, update_time = ?, version = version + 1 \
             WHERE id = ? AND status = 1",
            &[V::I(now), V::S(reason.into()), V::S(user.into()), V::I(now), V::I(p.id)],
        )
        .await?;
        self.exec(
            &mut tx,
            "UPDATE plan_batch SET status = 2, paused_time = ?, paused_reason = ?, update_time = ?, version = version + 1 \
             WHERE plan_pk = ? AND status = 1 AND finished_time IS NULL",
            &[V::I(now), V::S(reason.into()), V::I(now), V::I(p.id)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resumes a paused plan and its paused batches; a missing or enabled plan is left as is.
    ///
    /// # Errors
    /// [`Error::Refused`] for a terminated plan; [`Error::Store`].
    pub async fn resume_plan(&self, k: &Key, user: &str, now: Millis) -> Result<()> {
        let p = match self.plan(k).await {
            Ok(p) => p,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if p.status == status::TERMINATED {
            return Err(Error::Refused(format!("plan {} is terminated", p.plan_id)));
        }
        let mut tx = self.db.pool().begin().await?;
        self.exec(
            &mut tx,
            "UPDATE plan SET status = 1, paused_time = NULL, paused_reason = '', update_user = ?, update_time = ?, \
             version = version + 1 WHERE id = ? AND status = 2",
            &[V::S(user.into()), V::I(now), V::I(p.id)],
        )
        .await?;
        self.exec(
            &mut tx,
            "UPDATE plan_batch SET status = 1, paused_time = NULL, paused_reason = '', update_time = ?, version = version + 1 \
             WHERE plan_pk = ? AND status = 2",
            &[V::I(now), V::I(p.id)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Terminates a plan and its unfinished batches (items are left as they are) and returns the
    /// PLAN_FINISHED event, unless the plan had finished already.
    ///
    /// # Errors
    /// [`Error::Refused`] while one of its items is running; [`Error::NotFound`]; [`Error::Store`].
    pub async fn terminate_plan(&self, k: &Key, reason: &str, user: &str, now: Millis) -> Result<Option<PlanEvent>> {
        let p = self.plan(k).await?;
        if p.status == status::TERMINATED {
            return Ok(None);
        }
        let mut tx = self.db.pool().begin().await?;
        // batches before the plan: the lock order of finish aggregation
        self.exec(
            &mut tx,
            "UPDATE plan_batch SET status = 3, terminated_reason = ?, finished_time = ?, update_time = ?, version = version + 1 \
             WHERE plan_pk = ? AND finished_time IS NULL",
            &[V::S(reason.into()), V::I(now), V::I(now), V::I(p.id)],
        )
        .await?;
        let n = self
            .exec(
                &mut tx,
                "UPDATE plan SET status = 3, terminated_reason = ?, finished_time = COALESCE(finished_time, ?), update_user = ?, \
                 update_time = ?, version = version + 1 WHERE id = ? AND status <> 3 AND NOT EXISTS \
                 (SELECT 1 FROM plan_exec_item WHERE plan_pk = ? AND status = 100 AND is_deleted = 0)",
                &[V::S(reason.into()), V::I(now), V::S(user.into()), V::I(now), V::I(p.id), V::I(p.id)],
            )
            .await?;
        if n == 0 {
            return Err(Error::Refused(format!("plan {} has running items", p.plan_id)));
        }
        tx.commit().await?;
        Ok(p.finished_time.is_none().then(|| PlanEvent {
            event_type: PLAN_FINISHED,
            plan_id: p.plan_id,
            plan_type: p.plan_type,
            batch_id: String::new(),
        }))
    }

    /// Pauses an enabled unfinished batch.
    ///
    /// # Errors
    /// [`Error::Refused`] for a terminated or finished batch; [`Error::NotFound`]; [`Error::Store`].
    pub async fn pause_batch(&self, k: &Key, reason: &str, now: Millis) -> Result<()> {
        let b = self.batch(k).await?;
        if b.status == status::PAUSED {
            return Ok(());
        }
        if b.status == status::TERMINATED || b.finished_time.is_some() {
            return Err(Error::Refused(format!("batch {} has finished", b.batch_id)));
        }
        let mut c = self.db.pool().acquire().await?;
        self.exec(
            &mut c,
            "UPDATE plan_batch SET status = 2, paused_time = ?, paused_reason = ?, update_time = ?, version = version + 1 \
             WHERE id = ? AND status = 1",
            &[V::I(now), V::S(reason.into()), V::I(now), V::I(b.id)],
        )
        .await?;
        Ok(())
    }

    /// Resumes a paused batch.
    ///
    /// # Errors
    /// [`Error::Refused`] for a terminated batch; [`Error::NotFound`]; [`Error::Store`].
    pub async fn resume_batch(&self, k: &Key, now: Millis) -> Result<()> {
        let b = self.batch(k).await?;
        if b.status == status::TERMINATED {
            return Err(Error::Refused(format!("batch {} is terminated", b.batch_id)));
        }
        let mut c = self.db.pool().acquire().await?;
        self.exec(
            &mut c,
            "UPDATE plan_batch SET status = 1, paused_time = NULL, paused_reason = '', update_time = ?, version = version + 1 \
             WHERE id = ? AND status = 2",
            &[V::I(now), V::I(b.id)],
        )
        .await?;
        Ok(())
    }

    /// Terminates a batch (its items are left as they are) and returns BATCH_FINISHED, and
    /// PLAN_FINISHED when it was the plan's last unfinished batch.
    ///
    /// # Errors
    /// [`Error::Refused`] while one of its items is running; [`Error::NotFound`]; [`Error::Store`].
    pub async fn terminate_batch(&self, k: &Key, reason: &str, now: Millis) -> Result<Vec<PlanEvent>> {
        let b = self.batch(k).await?;
        if b.status == status::TERMINATED {
            return Ok(vec![]);
        }
        let p = self.plan(&Key::Id(b.plan_pk)).await?;
        let mut tx = self.db.pool().begin().await?;
        let n = self
            .exec(
                &mut tx,
                "UPDATE plan_batch SET status = 3, terminated_reason = ?, finished_time = COALESCE(finished_time, ?), \
                 update_time = ?, version = version + 1 WHERE id = ? AND status <> 3 AND NOT EXISTS \
                 (SELECT 1 FROM plan_exec_item WHERE batch_pk = ? AND status = 100 AND is_deleted = 0)",
                &[V::S(reason.into()), V::I(now), V::I(now), V::I(b.id), V::I(b.id)],
            )
            .await?;
        if n == 0 {
            return Err(Error::Refused(format!("batch {} has running items", b.batch_id)));
        }
        let mut events = vec![];
        if b.finished_time.is_none() {
            events.push(PlanEvent {
                event_type: BATCH_FINISHED,
                plan_id: p.plan_id.clone(),
                plan_type: p.plan_type.clone(),
                batch_id: b.batch_id.clone(),
            });
        }
        events.extend(self.finish_plan_if_done(&mut tx, &p, now).await?);
        tx.commit().await?;
        Ok(events)
    }

    /// Pauses a waiting or delayed item.
    ///
    /// # Errors
    /// [`Error::Refused`] in another state (running included); [`Error::NotFound`]; [`Error::Store`].
    pub async fn pause_item(&self, k: &Key, reason: &str, now: Millis) -> Result<()> {
        let it = self.item(k).await?;
        let mut c = self.db.pool().acquire().await?;
        let n = self
            .exec(
                &mut c,
                "UPDATE plan_exec_item SET status = 150, paused_time = ?, paused_reason = ?, update_time = ?, version = version + 1 \
                 WHERE id = ? AND status IN (0, 10)",
                &[V::I(now), V::S(reason.into()), V::I(now), V::I(it.id)],
            )
            .await?;
        if n == 0 {
            return Err(Error::Refused(format!(
                "item {} is in state {}, not waiting or delayed",
                it.exec_id, it.status
            )));
        }
        Ok(())
    }

    /// Resumes a paused item (it waits again).
    ///
    /// # Errors
    /// [`Error::Refused`] when it is not paused; [`Error::NotFound`]; [`Error::Store`].
    pub async fn resume_item(&self, k: &Key, now: Millis) -> Result<()> {
        let it = self.item(k).await?;
        let mut c = self.db.pool().acquire().await?;
        let n = self
            .exec(
                &mut c,
                "UPDATE plan_exec_item SET status = 0, paused_time = NULL, paused_reason = '', update_time = ?, \
                 version = version + 1 WHERE id = ? AND status = 150",
                &[V::I(now), V::I(it.id)],
            )
            .await?;
        if n == 0 {
            return Err(Error::Refused(format!("item {} is not paused", it.exec_id)));
        }
        Ok(())
    }

    /// Terminates an unfinished item and returns the finish events it causes.
    ///
    /// # Errors
    /// [`Error::Refused`] when it has finished; [`Error::NotFound`]; [`Error::Store`].
    pub async fn terminate_item(&self, k: &Key, reason: &str, now: Millis) -> Result<Vec<PlanEvent>> {
        let it = self.item(k).await?;
        let p = self.plan(&Key::Id(it.plan_pk)).await?;
        let mut tx = self.db.pool().begin().await?;
        self.lock(&mut tx, "plan_batch", it.batch_pk).await?;
        let n = self
            .exec(
                &mut tx,
                "UPDATE plan_exec_item SET status = 300, terminated_reason = ?, update_time = ?, version = version + 1 \
                 WHERE id = ? AND status NOT IN (200, 300)",
                &[V::S(reason.into()), V::I(now), V::I(it.id)],
            )
            .await?;
        if n == 0 {
            return Err(Error::Refused(format!("item {} has finished", it.exec_id)));
        }
        let events = self.aggregate(&mut tx, &p, it.batch_pk, now).await?;
        tx.commit().await?;
        Ok(events)
    }

    /// Makes a waiting or delayed item of an enabled plan and batch due now.
    ///
    /// # Errors
    /// [`Error::Refused`] otherwise; [`Error::NotFound`]; [`Error::Store`].
    pub async fn run_item(&self, k: &Key, now: Millis) -> Result<()> {
        let it = self.item(k).await?;
        let mut c = self.db.pool().acquire().await?;
        let n = self
            .exec(
                &mut c,
                "UPDATE plan_exec_item SET next_trigger_time = ?, update_time = ?, version = version + 1 \
                 WHERE id = ? AND status IN (0, 10) \
                 AND EXISTS (SELECT 1 FROM plan_batch b WHERE b.id = ? AND b.status = 1 AND b.is_deleted = 0) \
                 AND EXISTS (SELECT 1 FROM plan p WHERE p.id = ? AND p.status = 1 AND p.is_deleted = 0)",
                &[V::I(now), V::I(now), V::I(it.id), V::I(it.batch_pk), V::I(it.plan_pk)],
            )
            .await?;
        if n == 0 {
            return Err(Error::Refused(format!(
                "item {} cannot run now (state {}, or its plan or batch is not enabled)",
                it.exec_id, it.status
            )));
        }
        Ok(())
    }

    /// Claims one due item: waiting, delayed, or running with an expired lease, of an enabled
    /// plan and batch. The claim moves it to running with `next_trigger_time = now + lease_ms`
    /// (compare-and-set on its version), and marks its plan and batch scanned.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn claim(&self, now: Millis, lease_ms: i64) -> Result<Option<Claimed>> {
        let due = self
            .rows(
                "SELECT i.id AS id, i.version AS version FROM plan_exec_item i \
                 JOIN plan_batch b ON b.id = i.batch_pk JOIN plan p ON p.id = i.plan_pk \
                 WHERE i.is_deleted = 0 AND i.next_trigger_time <= ? AND i.status IN (0, 10, 100) \
                 AND b.status = 1 AND b.is_deleted = 0 AND p.status = 1 AND p.is_deleted = 0 \
                 ORDER BY i.next_trigger_time LIMIT 16",
                &[V::I(now)],
            )
            .await?;
        let mut cands: Vec<(i64, i64)> =
            due.iter().map(|r| Ok((r.try_get("id")?, r.try_get("version")?))).collect::<Result<_>>()?;
        // instances racing for the same rows spread out
        fastrand::shuffle(&mut cands);
        let mut c = self.db.pool().acquire().await?;
        for (id, version) in cands {
            let n = self
                .exec(
                    &mut c,
                    "UPDATE plan_exec_item SET status = 100, next_trigger_time = ?, last_trigger_time = ?, update_time = ?, \
                     version = version + 1 WHERE id = ? AND version = ? AND status IN (0, 10, 100) AND next_trigger_time <= ?",
                    &[V::I(now + lease_ms), V::I(now), V::I(now), V::I(id), V::I(version), V::I(now)],
                )
                .await?;
            if n == 0 {
                continue;
            }
            drop(c);
            let item = self.item(&Key::Id(id)).await?;
            let plan = self.plan(&Key::Id(item.plan_pk)).await?;
            let batch = self.batch(&Key::Id(item.batch_pk)).await?;
            let mut c = self.db.pool().acquire().await?;
            if plan.scan_flg == 0 {
                self.exec(&mut c, "UPDATE plan SET scan_flg = 1 WHERE id = ?", &[V::I(plan.id)]).await?;
            }
            if batch.scan_flg == 0 {
                self.exec(&mut c, "UPDATE plan_batch SET scan_flg = 1 WHERE id = ?", &[V::I(batch.id)]).await?;
            }
            return Ok(Some(Claimed { item, plan, batch }));
        }
        Ok(None)
    }

    /// Takes the row lock of a batch (or plan) for the rest of the transaction: finish
    /// aggregation counts the other rows only after every concurrent finisher of the same batch
    /// committed, so the last one to finish always sees the batch complete.
    async fn lock(&self, tx: &mut sqlx::AnyConnection, table: &str, id: i64) -> Result<()> {
        self.exec(tx, &format!("UPDATE {table} SET version = version + 1 WHERE id = ?"), &[V::I(id)]).await?;
        Ok(())
    }

    async fn finish_plan_if_done(
        &self,
        tx: &mut sqlx::AnyConnection,
        p: &Plan,
        now: Millis,
    ) -> Result<Option<PlanEvent>> {
        self.lock(tx, "plan", p.id).await?;
        let open = self
            .count(
                tx,
                "SELECT COUNT(*) FROM plan_batch WHERE plan_pk = ? AND finished_time IS NULL AND is_deleted = 0",
                &[V::I(p.id)],
            )
            .await?;
        if open > 0 {
            return Ok(None);
        }
        let n = self
            .exec(
                tx,
                "UPDATE plan SET finished_time = ?, update_time = ?, version = version + 1 WHERE id = ? AND finished_time IS NULL",
                &[V::I(now), V::I(now), V::I(p.id)],
            )
            .await?;
        Ok((n == 1).then(|| PlanEvent {
            event_type: PLAN_FINISHED,
            plan_id: p.plan_id.clone(),
            plan_type: p.plan_type.clone(),
            batch_id: String::new(),
        }))
    }

    /// Batch and plan finish aggregation after an item finished.
    async fn aggregate(
        &self,
        tx: &mut sqlx::AnyConnection,
        p: &Plan,
        batch_pk: i64,
        now: Millis,
    ) -> Result<Vec<PlanEvent>> {
        let open = self
            .count(
                tx,
                "SELECT COUNT(*) FROM plan_exec_item WHERE batch_pk = ? AND is_deleted = 0 AND status NOT IN (200, 300)",
                &[V::I(batch_pk)],
            )
            .await?;
        if open > 0 {
            return Ok(vec![]);
        }
        let n = self
            .exec(
                tx,
                "UPDATE plan_batch SET finished_time = ?, update_time = ?, version = version + 1 WHERE id = ? AND finished_time IS NULL",
                &[V::I(now), V::I(now), V::I(batch_pk)],
            )
            .await?;
        if n == 0 {
            return Ok(vec![]);
        }
        let rows = self.rows_in(tx, "SELECT batch_id FROM plan_batch WHERE id = ?", &[V::I(batch_pk)]).await?;
        let batch_id = rows.first().map(|r| txt(r, "batch_id")).transpose()?.unwrap_or_default();
        let mut events = vec![PlanEvent {
            event_type: BATCH_FINISHED,
            plan_id: p.plan_id.clone(),
            plan_type: p.plan_type.clone(),
            batch_id,
        }];
        events.extend(self.finish_plan_if_done(tx, p, now).await?);
        Ok(events)
    }

    /// Records `applied` for `it` (as read, running), writes `log` and aggregates. `None` when
    /// the item moved meanwhile (its lease was taken over, or another result came first).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn finish(
        &self,
        it: &ExecItem,
        plan: &Plan,
        applied: &Applied,
        mut log: ExecLog,
        now: Millis,
    ) -> Result<Option<Vec<PlanEvent>>> {
        let mut tx = self.db.pool().begin().await?;
        self.lock(&mut tx, "plan_batch", it.batch_pk).await?;
        let n = self
            .exec(
                &mut tx,
                "UPDATE plan_exec_item SET status = ?, next_trigger_time = ?, trigger_count = ?, last_result = ?, \
                 last_message = ?, last_reason = ?, terminated_reason = COALESCE(?, terminated_reason), update_time = ?, \
                 version = version + 1 WHERE id = ? AND version = ? AND status = 100",
                &[
                    V::I(applied.status.into()),
                    V::I(applied.next_trigger_time),
                    V::I(applied.trigger_count.into()),
                    V::S(applied.last_result.clone()),
                    V::S(applied.last_message.clone()),
                    V::S(applied.last_reason.clone()),
                    V::NS(applied.terminated_reason.clone()),
                    V::I(now),
                    V::I(it.id),
                    V::I(it.version),
                ],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        log.id = new_pk(now);
        log.create_time = now;
        self.exec(&mut tx, &insert_sql("plan_exec_log", LOG_COLS), &log_vals(&log)).await?;
        let events = if item::is_final(applied.status) {
            self.aggregate(&mut tx, plan, it.batch_pk, now).await?
        } else {
            vec![]
        };
        tx.commit().await?;
        Ok(Some(events))
    }

    /// Notes that dispatching `it` failed (the item stays running and is dispatched again when
    /// its lease runs out).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn dispatch_failed(&self, it: &ExecItem, message: &str, now: Millis) -> Result<()> {
        let mut c = self.db.pool().acquire().await?;
        self.exec(
            &mut c,
            "UPDATE plan_exec_item SET last_result = 'dispatch_failed', last_message = ?, update_time = ? \
             WHERE id = ? AND version = ? AND status = 100",
            &[V::S(super::clip(message, super::MAX_TEXT)), V::I(now), V::I(it.id), V::I(it.version)],
        )
        .await?;
        Ok(())
    }

    /// `CallbackPlanExecItem`: applies a caller's result to a running item.
    ///
    /// # Errors
    /// [`Error::Refused`] when the item is not running (or moved meanwhile); [`Error::NotFound`];
    /// [`Error::Store`].
    pub async fn callback(&self, k: &Key, reply: &Reply, now: Millis) -> Result<Vec<PlanEvent>> {
        let it = self.item(k).await?;
        if it.status != item::RUNNING {
            return Err(Error::Refused(format!("item {} is in state {}, not running", it.exec_id, it.status)));
        }
        let plan = self.plan(&Key::Id(it.plan_pk)).await?;
        let applied = apply_result(&it, reply, now, Via::Callback);
        let log = log_of(&it, &plan, now, "", reply);
        self.finish(&it, &plan, &applied, log, now)
            .await?
            .ok_or_else(|| Error::Refused(format!("item {} changed meanwhile", it.exec_id)))
    }
}

/// Which rows [`PlanStore::status_counts`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOf {
    /// The items of a batch.
    Batch,
    /// The items of a plan.
    Plan,
}

/// Progress 0..100 (completed items / all items) from a plan's [`PlanStore::status_counts`].
pub fn progress_of(counts: &[(i32, i64)]) -> f32 {
    let total: i64 = counts.iter().map(|c| c.1).sum();
    let done: i64 = counts.iter().filter(|c| c.0 == item::COMPLETED).map(|c| c.1).sum();
    if total == 0 {
        0.0
    } else {
        (done as f64 * 100.0 / total as f64) as f32
    }
}

/// The log row of one result.
pub fn log_of(it: &ExecItem, plan: &Plan, trigger_time: Millis, trace_id: &str, reply: &Reply) -> ExecLog {
    ExecLog {
        plan_pk: it.plan_pk,
        plan_id: it.plan_id.clone(),
        plan_name: plan.plan_name.clone(),
        batch_pk: it.batch_pk,
        batch_id: it.batch_id.clone(),
        item_pk: it.id,
        exec_id: it.exec_id.clone(),
        item_id: it.item_id.clone(),
        item_type: it.item_type.clone(),
        item_name: it.item_name.clone(),
        point_id: it.point_id.clone(),
        trigger_time,
        trace_id: trace_id.to_owned(),
        exec_result: reply.exec_result.clone(),
        message: super::clip(&reply.message, super::MAX_TEXT),
        reason: super::clip(&reply.reason, super::MAX_TEXT),
        ..ExecLog::default()
    }
}
