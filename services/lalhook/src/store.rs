//! `hls_ts_files` on SQLite, PostgreSQL or MySQL (this service owns the table: migrations
//! 300001-399999, one directory per backend for the auto-increment id). One row per `ts_file`:
//! a segment notified twice is one row (upsert), a late `open` never undoes a `close`. Writes go
//! through one writer that commits what arrived together in one transaction (group commit) and
//! answers each caller once its row is committed.

use sqlx::Row as _;
use tokio::sync::{mpsc, oneshot};
use zero_sql::{Db, Kind};

/// A segment row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Segment {
    /// `open` or `close`.
    pub event: String,
    /// The stream.
    pub stream_name: String,
    /// LAL's working directory.
    pub cwd: String,
    /// The segment's file as LAL names it (the key).
    pub ts_file: String,
    /// The live playlist.
    pub live_m3u8_file: String,
    /// The recording playlist (`None`: none).
    pub record_m3u8_file: Option<String>,
    /// LAL's segment number.
    pub ts_id: i64,
    /// The segment's time (ms).
    pub ts_timestamp: i64,
    /// Seconds (`None` until closed).
    pub duration: Option<f64>,
    /// LAL's server id.
    pub server_id: String,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The writer is gone (shutting down).
    #[error("the writer stopped")]
    Stopped,
}

type Job = (Segment, oneshot::Sender<Result<(), String>>);

/// The table.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    writes: mpsc::Sender<Job>,
}

/// Rows per transaction at most.
const GROUP: usize = 512;

const COLS: &str = "event, stream_name, cwd, ts_file, live_m3u8_file, record_m3u8_file, ts_id, ts_timestamp, \
                    duration, server_id, create_time, update_time, is_deleted, version";

/// `yyyy-MM-dd HH:mm:ss` now in Asia/Shanghai, as the Go service writes its times.
fn now_text() -> String {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    chrono::Utc::now().with_timezone(&shanghai).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The insert of `rows` rows; `conflict` is what a known `ts_file` does.
fn insert_sql(kind: Kind, rows: usize, conflict: &str) -> String {
    let t = if kind == Kind::Postgres { "CAST(? AS TIMESTAMP)" } else { "?" };
    // no NULL is ever bound (sqlx's Any driver sends PostgreSQL a NULL with a type of its own):
    // an empty record playlist and a zero duration become NULL here
    let values = format!("(?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, NULLIF(?, 0.0), ?, {t}, {t}, 0, 0)");
    let all = vec![values.as_str(); rows.max(1)].join(", ");
    let sql = format!("INSERT INTO hls_ts_files ({COLS}) VALUES {all} {conflict}");
    kind.sql(&sql).into_owned()
}

/// The upsert of `rows` rows (distinct `ts_file`s): the newest notification wins, except that a
/// segment once closed stays closed with its duration (a late `open` cannot undo it).
fn upsert_sql(kind: Kind, rows: usize) -> String {
    let (new, old, head) = match kind {
        Kind::Mysql => ("VALUES({c})", "hls_ts_files.{c}", "ON DUPLICATE KEY UPDATE"),
        _ => ("excluded.{c}", "hls_ts_files.{c}", "ON CONFLICT (ts_file) DO UPDATE SET"),
    };
    let n = |c: &str| new.replace("{c}", c);
    let o = |c: &str| old.replace("{c}", c);
    let set = format!(
        "{head} event = CASE WHEN {oe} = 'close' THEN {oe} ELSE {ne} END, \
         duration = COALESCE({nd}, {od}), stream_name = {ns}, cwd = {nc}, live_m3u8_file = {nl}, \
         record_m3u8_file = COALESCE({nr}, {or}), ts_id = {ni}, ts_timestamp = {nt}, server_id = {nv}, \
         update_time = {nu}, version = {ov} + 1",
        oe = o("event"),
        ne = n("event"),
        nd = n("duration"),
        od = o("duration"),
        ns = n("stream_name"),
        nc = n("cwd"),
        nl = n("live_m3u8_file"),
        nr = n("record_m3u8_file"),
        or = o("record_m3u8_file"),
        ni = n("ts_id"),
        nt = n("ts_timestamp"),
        nv = n("server_id"),
        nu = n("update_time"),
        ov = o("version"),
    );
    insert_sql(kind, rows, &set)
}

/// The insert of a segment only when its `ts_file` is new.
fn insert_new_sql(kind: Kind) -> String {
    match kind {
        Kind::Mysql => insert_sql(kind, 1, "").replacen("INSERT INTO", "INSERT IGNORE INTO", 1),
        _ => insert_sql(kind, 1, "ON CONFLICT (ts_file) DO NOTHING"),
    }
}

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    s: &'q Segment,
    now: &'q str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&s.event)
        .bind(&s.stream_name)
        .bind(&s.cwd)
        .bind(&s.ts_file)
        .bind(&s.live_m3u8_file)
        .bind(s.record_m3u8_file.as_deref().unwrap_or(""))
        .bind(s.ts_id)
        .bind(s.ts_timestamp)
        .bind(s.duration.unwrap_or(0.0))
        .bind(&s.server_id)
        .bind(now)
        .bind(now)
}

impl Store {
    /// Connects, applies this service's migrations, and starts the writer.
    ///
    /// # Errors
    /// The database cannot be reached or a migration failed.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let db = Db::connect(url).await?;
        let migrations = match db.kind() {
            Kind::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Kind::Postgres => sqlx::migrate!("./migrations/postgres"),
            Kind::Mysql => sqlx::migrate!("./migrations/mysql"),
        };
        db.migrate(migrations).await.map_err(|e| StoreError::Db(e.into()))?;
        let (writes, rx) = mpsc::channel(4 * GROUP);
        tokio::spawn(writer(db.clone(), rx));
        Ok(Store { db, writes })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Inserts or updates the row of `s.ts_file`; returns once it is committed.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn upsert(&self, s: Segment) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writes.send((s, tx)).await.map_err(|_| StoreError::Stopped)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Db(sqlx::Error::Protocol(e))),
            Err(_) => Err(StoreError::Stopped),
        }
    }

    /// Inserts the segments whose `ts_file` is new (the reconcile scan); how many were new.
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_new(&self, segments: &[Segment]) -> Result<u64, StoreError> {
        let sql = insert_new_sql(self.db.kind());
        let now = now_text();
        let mut tx = self.db.pool().begin().await?;
        let mut added = 0;
        for s in segments {
            added += bind(sqlx::query(&sql), s, &now).execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// The `ts_file`s known for `stream`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn known_files(&self, stream: &str) -> Result<Vec<String>, StoreError> {
        let sql = self.db.sql("SELECT ts_file FROM hls_ts_files WHERE stream_name = ?");
        let rows = sqlx::query(&sql).bind(stream).fetch_all(self.db.pool()).await?;
        Ok(rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
    }

    /// The segments of `stream` within `[start, end]` (ms, inclusive, either open), of `event`
    /// when given; `newest_first` as the list API orders them (time, then id), else in play
    /// order.
    ///
    /// # Errors
    /// Database errors.
    pub async fn segments(
        &self,
        stream: &str,
        start: Option<i64>,
        end: Option<i64>,
        event: Option<&str>,
        newest_first: bool,
    ) -> Result<Vec<Segment>, StoreError> {
        let mut sql = String::from(
            "SELECT event, stream_name, cwd, ts_file, live_m3u8_file, record_m3u8_file, ts_id, ts_timestamp, \
             duration, server_id FROM hls_ts_files WHERE stream_name = ? AND is_deleted = 0",
        );
        if start.is_some() {
            sql.push_str(" AND ts_timestamp >= ?");
        }
        if end.is_some() {
            sql.push_str(" AND ts_timestamp <= ?");
        }
        if event.is_some() {
            sql.push_str(" AND event = ?");
        }
        sql.push_str(if newest_first {
            " ORDER BY ts_timestamp DESC, ts_id DESC"
        } else {
            " ORDER BY ts_timestamp ASC, ts_id ASC"
        });
        let sql = self.db.sql(&sql);
        let mut q = sqlx::query(&sql).bind(stream);
        if let Some(s) = start {
            q = q.bind(s);
        }
        if let Some(e) = end {
            q = q.bind(e);
        }
        if let Some(e) = event {
            q = q.bind(e);
        }
        let rows = q.fetch_all(self.db.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(Segment {
                    event: r.try_get(0)?,
                    stream_name: r.try_get(1)?,
                    cwd: r.try_get(2)?,
                    ts_file: r.try_get(3)?,
                    live_m3u8_file: r.try_get(4)?,
                    record_m3u8_file: r.try_get(5)?,
                    ts_id: r.try_get(6)?,
                    ts_timestamp: r.try_get(7)?,
                    duration: r.try_get(8)?,
                    server_id: r.try_get(9)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Db)
    }
}

/// Rows per statement at most (12 parameters each: well within every backend's limit).
const ROWS_PER_STATEMENT: usize = 256;

/// The group as statements of distinct `ts_file`s (PostgreSQL refuses a row that one statement
/// would update twice), in arrival order.
fn statements(group: &[Job]) -> Vec<Vec<&Segment>> {
    let mut out: Vec<Vec<&Segment>> = Vec::new();
    let mut seen: Vec<std::collections::HashSet<&str>> = Vec::new();
    let mut last = 0;
    for (s, _) in group {
        // after the last statement that holds this ts_file, so the order per file is kept
        let after = seen.iter().rposition(|set| set.contains(s.ts_file.as_str())).map_or(last, |i| i + 1).max(last);
        let i = (after..out.len()).find(|i| out[*i].len() < ROWS_PER_STATEMENT).unwrap_or_else(|| {
            out.push(Vec::new());
            seen.push(Default::default());
            out.len() - 1
        });
        out[i].push(s);
        seen[i].insert(s.ts_file.as_str());
        last = after.min(i);
    }
    out
}

/// Commits what arrived together in one transaction (multi-row upserts); a group that fails is
/// retried one row at a time, so one bad row fails only its own caller.
async fn writer(db: Db, mut rx: mpsc::Receiver<Job>) {
    let one = upsert_sql(db.kind(), 1);
    let mut group: Vec<Job> = Vec::with_capacity(GROUP);
    while let Some(first) = rx.recv().await {
        group.push(first);
        while group.len() < GROUP {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let now = now_text();
        let together = async {
            let mut tx = db.pool().begin().await?;
            for rows in statements(&group) {
                let sql = upsert_sql(db.kind(), rows.len());
                let q = rows.iter().fold(sqlx::query(&sql), |q, s| bind(q, s, &now));
                q.execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await;
        metrics::histogram!("lalhook_commit_rows").record(group.len() as f64);
        match together {
            Ok(()) => {
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(_) => {
                for (s, reply) in group.drain(..) {
                    let r = bind(sqlx::query(&one), &s, &now).execute(db.pool()).await;
                    let _ = reply.send(r.map(|_| ()).map_err(|e| e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(f: &str) -> Job {
        (Segment { ts_file: f.into(), ..Default::default() }, oneshot::channel().0)
    }

    #[test]
    fn a_file_twice_goes_to_a_later_statement() {
        let group: Vec<Job> = ["a", "b", "a", "c", "a", "d"].into_iter().map(job).collect();
        let st = statements(&group);
        let names: Vec<Vec<&str>> = st.iter().map(|s| s.iter().map(|x| x.ts_file.as_str()).collect()).collect();
        assert_eq!(names, [vec!["a", "b"], vec!["a", "c"], vec!["a", "d"]]);
        let many: Vec<Job> = (0..600).map(|i| job(&i.to_string())).collect();
        assert_eq!(statements(&many).iter().map(Vec::len).collect::<Vec<_>>(), [256, 256, 88]);
    }
}
