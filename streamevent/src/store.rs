//! Storage: one [`Db`] over SQLite (the embedded default: a file, no server), PostgreSQL or
//! MySQL/MariaDB, with migrations for each; the point-mapping table behind a TTL cache
//! ([`MappingStore`]); and the record of inbound events the non-IEC RPCs receive.
//!
//! ```no_run
//! # async fn run() -> streamevent::error::Result<()> {
//! use streamevent::store::{Db, MappingStore};
//! use std::time::Duration;
//! let db = Db::connect("sqlite://streamevent.db").await?; // or postgres://..., mysql://...
//! db.migrate().await?;
//! let store = MappingStore::new(db, Duration::from_secs(24 * 3600));
//! let pm = store.lookup("330KV", 1, 4004).await?;
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A connection pool to one of the supported databases.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite (file or memory).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
    /// MySQL or MariaDB.
    MySql(MySqlPool),
}

/// Runs the same code for whichever pool `$db` holds, with SQL written using `?` placeholders
/// (turned into `$1..` for PostgreSQL by [`Db::sql`]).
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
            $crate::store::Db::MySql($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The Go platform's DSNs as sqlx URLs (`file:path?…` SQLite, go-sql-driver's
/// `user:pass@tcp(host:port)/db?…` MySQL): [`zero_sql::go_dsn_url`], shared by every store.
pub use zero_sql::go_dsn_url;

impl Db {
    /// Connects: `sqlite://path` (created if missing), `sqlite::memory:`, `postgres://...`,
    /// `mysql://...` (MariaDB too), and the Go platform's DSNs ([`go_dsn_url`]).
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown scheme, [`Error::Db`] when the connection fails.
    pub async fn connect(url: &str) -> Result<Db> {
        let go_dsn = go_dsn_url(url).map_err(|e| Error::Config(e.to_string()))?;
        let url = go_dsn.as_deref().unwrap_or(url);
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                // WAL + NORMAL: a committed row survives a crash of the process (not of the
                // machine's power), without an fsync per transaction
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .pragma("cache_size", "-65536")
                // the writer checkpoints only past ~400 MB of WAL: under a steady insert load
                // [`Db::spawn_checkpointer`] checkpoints beside it instead (a checkpoint on the
                // commit path stalled every writer: 213 k rows/s and p99 5 s measured, 263 k
                // and p99 139 ms without)
                .pragma("wal_autocheckpoint", "100000")
                .busy_timeout(Duration::from_secs(5));
            let max = if url.contains(":memory:") { 1 } else { 4 };
            Ok(Db::Sqlite(SqlitePoolOptions::new().max_connections(max).connect_with(opts).await?))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Db::Postgres(PgPoolOptions::new().max_connections(8).connect(url).await?))
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            let url = url.replacen("mariadb:", "mysql:", 1);
            Ok(Db::MySql(MySqlPoolOptions::new().max_connections(8).connect(&url).await?))
        } else {
            Err(Error::Config(format!("unsupported database URL {url:?}: use sqlite:, postgres: or mysql:")))
        }
    }

    /// SQLite (a file): checkpoints the WAL every `every` on a connection of its own, passively
    /// (never waiting for the writer), so that a writer under a steady load does not pay for
    /// the checkpoints in its commits. Stops when the returned task is aborted. `None` for
    /// other databases, an in-memory SQLite, or outside a tokio runtime.
    pub fn spawn_checkpointer(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let Db::Sqlite(pool) = self else { return None };
        let file = pool.connect_options().get_filename().to_string_lossy().into_owned();
        if file.is_empty() || file.contains(":memory:") || file.contains("sqlx-in-memory") {
            return None;
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let pool = pool.clone();
        Some(handle.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    return;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                    tracing::debug!(error = %e, "WAL checkpoint");
                }
            }
        }))
    }

    /// Applies this crate's migrations.
    ///
    /// # Errors
    /// [`Error::Migrate`].
    pub async fn migrate(&self) -> Result<()> {
        match self {
            // versions 1–99999 are this crate's (see the zero_sql docs); other owners' rows in a
            // shared database are left alone
            Db::Sqlite(p) => zero_sql::shared(sqlx::migrate!("migrations/sqlite")).run(p).await?,
            Db::Postgres(p) => zero_sql::shared(sqlx::migrate!("migrations/postgres")).run(p).await?,
            Db::MySql(p) => zero_sql::shared(sqlx::migrate!("migrations/mysql")).run(p).await?,
        }
        Ok(())
    }

    /// The backend's name.
    pub fn kind(&self) -> &'static str {
        self.backend().name()
    }

    /// The backend.
    pub fn backend(&self) -> zero_sql::Kind {
        match self {
            Db::Sqlite(_) => zero_sql::Kind::Sqlite,
            Db::Postgres(_) => zero_sql::Kind::Postgres,
            Db::MySql(_) => zero_sql::Kind::Mysql,
        }
    }

    /// `sql` with `?` placeholders rewritten for this backend ([`zero_sql::Kind::sql`]).
    pub(crate) fn sql(&self, sql: &str) -> String {
        self.backend().sql(sql).into_owned()
    }

    /// Records an inbound event (the RPCs other than PushChunkAsdu store what they receive).
    ///
    /// # Errors
    /// [`Error::Db`].
    pub async fn record_event(&self, kind: &str, key: &str, payload: &str) -> Result<()> {
        let sql = self.sql("INSERT INTO inbound_event (kind, event_key, payload, received_at) VALUES (?, ?, ?, ?)");
        let now = chrono::Utc::now().timestamp_millis();
        with_pool!(self, p => {
            sqlx::query(&sql).bind(kind).bind(key).bind(payload).bind(now).execute(p).await?;
        });
        Ok(())
    }

    /// Records a batch of inbound events of one kind in one transaction: all or none, so a batch
    /// a caller sends again after a failure is never half there twice.
    ///
    /// # Errors
    /// [`Error::Db`] (nothing recorded then).
    pub async fn record_events(&self, kind: &str, items: &[(String, String)]) -> Result<()> {
        // multi-row INSERTs of 500 rows (2,000 parameters: under every backend's limit)
        let now = chrono::Utc::now().timestamp_millis();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for part in items.chunks(500) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO inbound_event (kind, event_key, payload, received_at) ");
                qb.push_values(part, |mut b, (key, payload)| {
                    b.push_bind(kind).push_bind(key).push_bind(payload).push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Inbound events of `kind`, oldest first, as (key, payload).
    ///
    /// # Errors
    /// [`Error::Db`].
    pub async fn events(&self, kind: &str) -> Result<Vec<(String, String)>> {
        let sql = self.sql("SELECT event_key, payload FROM inbound_event WHERE kind = ? ORDER BY id");
        Ok(with_pool!(self, p => sqlx::query_as::<_, (String, String)>(&sql).bind(kind).fetch_all(p).await?))
    }
}

/// A row of `device_point_mapping`.
#[derive(Debug, Clone, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct PointMapping {
    /// String UUID.
    pub id: String,
    /// Station id ([`crate::msg::station_id`]).
    pub tag_station: String,
    /// Common address.
    pub coa: i32,
    /// Information object address.
    pub ioa: i32,
    /// Device id.
    pub device_id: String,
    /// Device name.
    pub device_name: String,
    /// Comma list of table types (`yx,yc`).
    pub td_table_type: String,
    /// 1: publish this point; 0: drop it.
    pub enable_push: i32,
    /// 1: store raw rows of it; 0: do not.
    pub enable_raw_insert: i32,
    /// Free text.
    pub description: String,
    /// Extension 1.
    pub ext_1: String,
    /// Extension 2.
    pub ext_2: String,
    /// Extension 3.
    pub ext_3: String,
    /// Extension 4.
    pub ext_4: String,
    /// Extension 5.
    pub ext_5: String,
    /// The row's numeric id (the int64 `id` the gRPC surface reports and looks up); 0 until stored.
    #[sqlx(default)]
    pub num_id: i64,
    /// When the row was created, Unix microseconds; 0 until stored.
    #[sqlx(default)]
    pub create_us: i64,
    /// When the row was last written, Unix microseconds; 0 until stored.
    #[sqlx(default)]
    pub update_us: i64,
}

impl PointMapping {
    /// A mapping with push and raw insert enabled.
    pub fn new(tag_station: &str, coa: i32, ioa: i32) -> PointMapping {
        PointMapping {
            id: uuid::Uuid::now_v7().simple().to_string(),
            tag_station: tag_station.to_owned(),
            coa,
            ioa,
            enable_push: 1,
            enable_raw_insert: 1,
            ..Default::default()
        }
    }

    /// As the `pm` object of a message.
    pub fn to_json(&self) -> crate::msg::PointMappingJson {
        crate::msg::PointMappingJson {
            device_id: self.device_id.clone(),
            device_name: self.device_name.clone(),
            td_table_type: self.td_table_type.clone(),
            ext1: self.ext_1.clone(),
            ext2: self.ext_2.clone(),
            ext3: self.ext_3.clone(),
            ext4: self.ext_4.clone(),
            ext5: self.ext_5.clone(),
        }
    }
}

const COLUMNS: &str = "id, tag_station, coa, ioa, device_id, device_name, td_table_type, enable_push, \
                       enable_raw_insert, description, ext_1, ext_2, ext_3, ext_4, ext_5";

/// What a lookup selects: the written columns, the numeric id and both times as Unix microseconds.
fn select_list(db: &Db) -> String {
    let us = |col: &str| match db {
        Db::Sqlite(_) => format!("CAST(ROUND((julianday({col}) - 2440587.5) * 86400000000.0) AS INTEGER)"),
        Db::Postgres(_) => format!("CAST(EXTRACT(EPOCH FROM {col}) * 1000000 AS BIGINT)"),
        Db::MySql(_) => format!("CAST(UNIX_TIMESTAMP({col}) * 1000000 AS SIGNED)"),
    };
    format!("{COLUMNS}, num_id, {} AS create_us, {} AS update_us", us("create_time"), us("update_time"))
}

/// The backend's current time, for `update_time`.
fn now_expr(db: &Db) -> &'static str {
    match db {
        Db::Sqlite(_) => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        Db::Postgres(_) => "now()",
        Db::MySql(_) => "CURRENT_TIMESTAMP(6)",
    }
}

/// The cache key upstream uses: `pm:{tag_station}:{coa}:{ioa}` (decimal IOA).
pub fn cache_key(tag_station: &str, coa: i32, ioa: i32) -> String {
    format!("pm:{tag_station}:{coa}:{ioa}")
}

/// Cached lookups by station, then (coa, ioa): when each was made, and what it found. Keyed by
/// parts, not by the upstream key text, so that a lookup (one per point received) formats and
/// allocates nothing.
type Cache = HashMap<String, HashMap<(i32, i32), (Instant, Option<Arc<PointMapping>>)>>;

/// The parts of an upstream cache key `pm:{tag_station}:{coa}:{ioa}`.
fn key_parts(key: &str) -> Option<(&str, i32, i32)> {
    let rest = key.strip_prefix("pm:")?;
    let (rest, ioa) = rest.rsplit_once(':')?;
    let (station, coa) = rest.rsplit_once(':')?;
    Some((station, coa.parse().ok()?, ioa.parse().ok()?))
}

/// Point mappings with a TTL cache of lookups (negative results cached too).
#[derive(Debug)]
pub struct MappingStore {
    db: Db,
    ttl: Duration,
    cache: Mutex<Cache>,
}

impl MappingStore {
    /// A store over `db` caching lookups for `ttl` (upstream: 24 h).
    pub fn new(db: Db, ttl: Duration) -> MappingStore {
        MappingStore { db, ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The mapping of a point, through the cache.
    ///
    /// # Errors
    /// [`Error::Db`] (not cached).
    pub async fn lookup(&self, tag_station: &str, coa: i32, ioa: i32) -> Result<Option<Arc<PointMapping>>> {
        if let Some((at, v)) = self.cache().get(tag_station).and_then(|m| m.get(&(coa, ioa))) {
            if at.elapsed() < self.ttl {
                return Ok(v.clone());
            }
        }
        let v = self.get(tag_station, coa, ioa).await?.map(Arc::new);
        self.cache().entry(tag_station.to_owned()).or_default().insert((coa, ioa), (Instant::now(), v.clone()));
        Ok(v)
    }

    /// The mappings of several points of one station and common address, through the cache:
    /// one lock and one clock reading for all of them (what one received ASDU needs), the
    /// misses fetched afterwards. One result per IOA, in order.
    ///
    /// # Errors
    /// [`Error::Db`] for a miss that could not be fetched.
    pub async fn lookup_many(
        &self,
        tag_station: &str,
        coa: i32,
        ioas: impl IntoIterator<Item = i32>,
    ) -> Result<Vec<Option<Arc<PointMapping>>>> {
        let now = Instant::now();
        let mut out = vec![];
        let mut missing = vec![];
        {
            let cache = self.cache();
            let by_point = cache.get(tag_station);
            for (k, ioa) in ioas.into_iter().enumerate() {
                match by_point.and_then(|m| m.get(&(coa, ioa))) {
                    Some((at, v)) if now.saturating_duration_since(*at) < self.ttl => out.push(v.clone()),
                    _ => {
                        out.push(None);
                        missing.push((k, ioa));
                    }
                }
            }
        }
        for (k, ioa) in missing {
            out[k] = self.lookup(tag_station, coa, ioa).await?;
        }
        Ok(out)
    }

    /// The mapping of a point straight from the database.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub async fn get(&self, tag_station: &str, coa: i32, ioa: i32) -> Result<Option<PointMapping>> {
        let sql = self.db.sql(&format!(
            "SELECT {} FROM device_point_mapping WHERE tag_station = ? AND coa = ? AND ioa = ? AND is_deleted = 0",
            select_list(&self.db)
        ));
        Ok(
            with_pool!(&self.db, p => sqlx::query_as::<_, PointMapping>(&sql).bind(tag_station).bind(coa).bind(ioa).fetch_optional(p).await?),
        )
    }

    /// The mapping whose numeric id ([`PointMapping::num_id`]) is `num_id`, straight from the
    /// database.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub async fn get_by_num_id(&self, num_id: i64) -> Result<Option<PointMapping>> {
        let sql = self.db.sql(&format!(
            "SELECT {} FROM device_point_mapping WHERE num_id = ? AND is_deleted = 0",
            select_list(&self.db)
        ));
        Ok(with_pool!(&self.db, p => sqlx::query_as::<_, PointMapping>(&sql).bind(num_id).fetch_optional(p).await?))
    }

    /// Inserts a mapping, or updates the one with the same (station, coa, ioa); drops it from
    /// the cache.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub async fn upsert(&self, m: &PointMapping) -> Result<()> {
        let conflict = match self.db {
            Db::MySql(_) => "ON DUPLICATE KEY UPDATE device_id = VALUES(device_id), device_name = VALUES(device_name), \
                td_table_type = VALUES(td_table_type), enable_push = VALUES(enable_push), \
                enable_raw_insert = VALUES(enable_raw_insert), description = VALUES(description), ext_1 = VALUES(ext_1), \
                ext_2 = VALUES(ext_2), ext_3 = VALUES(ext_3), ext_4 = VALUES(ext_4), ext_5 = VALUES(ext_5), is_deleted = 0, \
                update_time = CURRENT_TIMESTAMP(6)",
            _ => "ON CONFLICT (tag_station, coa, ioa) DO UPDATE SET device_id = excluded.device_id, \
                device_name = excluded.device_name, td_table_type = excluded.td_table_type, \
                enable_push = excluded.enable_push, enable_raw_insert = excluded.enable_raw_insert, \
                description = excluded.description, ext_1 = excluded.ext_1, ext_2 = excluded.ext_2, \
                ext_3 = excluded.ext_3, ext_4 = excluded.ext_4, ext_5 = excluded.ext_5, is_deleted = 0",
        };
        let conflict = match self.db {
            Db::MySql(_) => conflict.to_owned(),
            _ => format!("{conflict}, update_time = {}", now_expr(&self.db)),
        };
        let sql = self.db.sql(&format!(
            "INSERT INTO device_point_mapping ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {conflict}"
        ));
        with_pool!(&self.db, p => {
            sqlx::query(&sql)
                .bind(&m.id).bind(&m.tag_station).bind(m.coa).bind(m.ioa).bind(&m.device_id).bind(&m.device_name)
                .bind(&m.td_table_type).bind(m.enable_push).bind(m.enable_raw_insert).bind(&m.description)
                .bind(&m.ext_1).bind(&m.ext_2).bind(&m.ext_3).bind(&m.ext_4).bind(&m.ext_5)
                .execute(p).await?;
        });
        self.invalidate(&m.tag_station, m.coa, m.ioa);
        Ok(())
    }

    /// One page (1-based) of mappings, newest id first, filtered by station, common address
    /// (when above 0) and device id (when not empty); with the total count.
    ///
    /// # Errors
    /// [`Error::Db`].
    pub async fn page(
        &self,
        page: i64,
        page_size: i64,
        tag_station: &str,
        coa: i32,
        device_id: &str,
    ) -> Result<(i64, Vec<PointMapping>)> {
        let mut cond = String::from("is_deleted = 0");
        if !tag_station.is_empty() {
            cond.push_str(" AND tag_station = ?");
        }
        if coa > 0 {
            cond.push_str(" AND coa = ?");
        }
        if !device_id.is_empty() {
            cond.push_str(" AND device_id = ?");
        }
        let count_sql = self.db.sql(&format!("SELECT COUNT(*) FROM device_point_mapping WHERE {cond}"));
        let list_sql = self.db.sql(&format!(
            "SELECT {} FROM device_point_mapping WHERE {cond} ORDER BY id DESC LIMIT ? OFFSET ?",
            select_list(&self.db)
        ));
        let size = page_size.clamp(1, 1000);
        let offset = (page.max(1) - 1) * size;
        with_pool!(&self.db, p => {
            let mut c = sqlx::query_scalar::<_, i64>(&count_sql);
            let mut l = sqlx::query_as::<_, PointMapping>(&list_sql);
            if !tag_station.is_empty() {
                c = c.bind(tag_station);
                l = l.bind(tag_station);
            }
            if coa > 0 {
                c = c.bind(coa);
                l = l.bind(coa);
            }
            if !device_id.is_empty() {
                c = c.bind(device_id);
                l = l.bind(device_id);
            }
            let total = c.fetch_one(p).await?;
            let rows = l.bind(size).bind(offset).fetch_all(p).await?;
            Ok((total, rows))
        })
    }

    /// Drops one point from the cache; true when it was there.
    pub fn invalidate(&self, tag_station: &str, coa: i32, ioa: i32) -> bool {
        self.cache().get_mut(tag_station).and_then(|m| m.remove(&(coa, ioa))).is_some()
    }

    /// Drops cache entries by their keys (`pm:{station}:{coa}:{ioa}`); returns how many existed.
    pub fn invalidate_keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> usize {
        keys.into_iter().filter_map(key_parts).filter(|(s, coa, ioa)| self.invalidate(s, *coa, *ioa)).count()
    }

    /// Empties the cache; returns how many entries it held.
    pub fn clear(&self) -> usize {
        let mut c = self.cache();
        let n = c.values().map(HashMap::len).sum();
        c.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_parse_back_into_their_parts() {
        for (s, coa, ioa) in [("330KV", 1, 4004), ("10_0_0_5_2404", 65535, 0), ("a:b:c", 2, 16_777_215)] {
            assert_eq!(key_parts(&cache_key(s, coa, ioa)), Some((s, coa, ioa)));
        }
        for bad in ["", "pm:", "pm:x:1", "pm:x:1:y", "x:1:2", "pm:x:y:2"] {
            assert_eq!(key_parts(bad), None, "{bad}");
        }
    }
}
