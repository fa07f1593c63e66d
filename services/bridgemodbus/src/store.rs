//! The `modbus_slave_config` table (spec §10) over SQLite, PostgreSQL or MySQL: one row per
//! device, keyed by its unique `modbus_code`. Times are kept as milliseconds since the epoch and
//! shown as Asia/Shanghai datetimes.

use sqlx::any::AnyRow;
use sqlx::Row;
use zero_svc::db::{is_unique_violation, like_pattern, text, Db};

const COLS: &str = "id, create_time, update_time, modbus_code, slave_address, slave, timeout, idle_timeout, \
    link_recovery_timeout, protocol_recovery_timeout, connect_delay, enable_tls, tls_cert_file, tls_key_file, \
    tls_ca_file, status, remark";

/// Status of an enabled device.
pub const ENABLED: i64 = 1;
/// Status of a disabled device (its data RPCs are refused).
pub const DISABLED: i64 = 2;

/// One device row (the fields of `PbModbusConfig`; times in ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct Config {
    pub id: String,
    pub create_time: i64,
    pub update_time: i64,
    pub modbus_code: String,
    pub slave_address: String,
    pub slave: i64,
    pub timeout: i64,
    pub idle_timeout: i64,
    pub link_recovery_timeout: i64,
    pub protocol_recovery_timeout: i64,
    pub connect_delay: i64,
    pub enable_tls: i64,
    pub tls_cert_file: String,
    pub tls_key_file: String,
    pub tls_ca_file: String,
    pub status: i64,
    pub remark: String,
}

fn row(r: &AnyRow) -> Result<Config, sqlx::Error> {
    Ok(Config {
        id: text(r, "id")?,
        create_time: r.try_get("create_time")?,
        update_time: r.try_get("update_time")?,
        modbus_code: text(r, "modbus_code")?,
        slave_address: text(r, "slave_address")?,
        slave: r.try_get("slave")?,
        timeout: r.try_get("timeout")?,
        idle_timeout: r.try_get("idle_timeout")?,
        link_recovery_timeout: r.try_get("link_recovery_timeout")?,
        protocol_recovery_timeout: r.try_get("protocol_recovery_timeout")?,
        connect_delay: r.try_get("connect_delay")?,
        enable_tls: r.try_get("enable_tls")?,
        tls_cert_file: text(r, "tls_cert_file")?,
        tls_key_file: text(r, "tls_key_file")?,
        tls_ca_file: text(r, "tls_ca_file")?,
        status: r.try_get("status")?,
        remark: text(r, "remark")?,
    })
}

/// Milliseconds since the epoch.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new primary key: a SimpleUUID (UUID v7 as 32 hex digits, spec §0.3; upstream ids are strings; v7 text
/// sorts by creation time, so "newest first" is `ORDER BY id DESC`).
fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the settings columns, `slave_address` to `remark`, in table order.
fn bind_settings<'q>(q: Query<'q>, c: &'q Config) -> Query<'q> {
    q.bind(&c.slave_address)
        .bind(c.slave)
        .bind(c.timeout)
        .bind(c.idle_timeout)
        .bind(c.link_recovery_timeout)
        .bind(c.protocol_recovery_timeout)
        .bind(c.connect_delay)
        .bind(c.enable_tls)
        .bind(&c.tls_cert_file)
        .bind(&c.tls_key_file)
        .bind(&c.tls_ca_file)
        .bind(c.status)
        .bind(&c.remark)
}

/// `?, ?, …` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The table.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Connects and applies this crate's migrations (`migrations/`, portable SQL, versions
    /// 200001–299999: this service owns `modbus_slave_config`).
    ///
    /// # Errors
    /// The database cannot be reached or a migration failed.
    pub async fn connect(url: &str) -> Result<Store, sqlx::Error> {
        let db = Db::connect(url).await?;
        db.migrate(sqlx::migrate!("./migrations")).await?;
        Ok(Store { db })
    }

    /// Inserts `c` (its `modbus_code` new) or, for a known `modbus_code`, updates the row's
    /// `slave_address` and `slave` (what SaveConfig carries; the other settings stay); the id.
    ///
    /// # Errors
    /// Database errors.
    pub async fn save(&self, c: &Config) -> Result<String, sqlx::Error> {
        for _ in 0..3 {
            let now = now_millis();
            if let Some(old) = self.by_code(&c.modbus_code).await? {
                let sql = self
                    .db
                    .sql("UPDATE modbus_slave_config SET update_time = ?, slave_address = ?, slave = ? WHERE id = ?");
                sqlx::query(&sql)
                    .bind(now.max(old.update_time + 1))
                    .bind(&c.slave_address)
                    .bind(c.slave)
                    .bind(&old.id)
                    .execute(self.db.pool())
                    .await?;
                return Ok(old.id);
            }
            let id = new_id();
            let sql = self
                .db
                .sql(&format!(
                "INSERT INTO modbus_slave_config ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
                .into_owned();
            let q = sqlx::query(&sql).bind(&id).bind(now).bind(now).bind(&c.modbus_code);
            let r = bind_settings(q, c).execute(self.db.pool()).await;
            match r {
                Ok(_) => return Ok(id),
                // another save of the same code won the race: go round again
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(sqlx::Error::Protocol(format!("modbus_code {:?}: concurrent saves did not settle", c.modbus_code)))
    }

    /// Deletes rows by id (one query per 500); the codes of the rows deleted.
    ///
    /// # Errors
    /// Database errors.
    pub async fn delete(&self, ids: &[String]) -> Result<Vec<String>, sqlx::Error> {
        let mut codes = vec![];
        for chunk in ids.chunks(500) {
            let marks = marks(chunk.len());
            let sql =
                self.db.sql(&format!("SELECT modbus_code FROM modbus_slave_config WHERE id IN ({marks})")).into_owned();
            let rows =
                chunk.iter().fold(sqlx::query(&sql), |q, id| q.bind(id.as_str())).fetch_all(self.db.pool()).await?;
            let sql = self.db.sql(&format!("DELETE FROM modbus_slave_config WHERE id IN ({marks})")).into_owned();
            chunk.iter().fold(sqlx::query(&sql), |q, id| q.bind(id.as_str())).execute(self.db.pool()).await?;
            for r in &rows {
                codes.push(text(r, "modbus_code")?);
            }
        }
        Ok(codes)
    }

    /// The row of `code`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn by_code(&self, code: &str) -> Result<Option<Config>, sqlx::Error> {
        let sql = self.db.sql(&format!("SELECT {COLS} FROM modbus_slave_config WHERE modbus_code = ?")).into_owned();
        sqlx::query(&sql).bind(code).fetch_optional(self.db.pool()).await?.as_ref().map(row).transpose()
    }

    /// The rows of `codes` that exist, in the order asked, each once (one query per 500).
    ///
    /// # Errors
    /// Database errors.
    pub async fn by_codes(&self, codes: &[String]) -> Result<Vec<Config>, sqlx::Error> {
        let mut found = std::collections::HashMap::new();
        for chunk in codes.chunks(500) {
            let sql = self
                .db
                .sql(&format!("SELECT {COLS} FROM modbus_slave_config WHERE modbus_code IN ({})", marks(chunk.len())))
                .into_owned();
            let rows =
                chunk.iter().fold(sqlx::query(&sql), |q, c| q.bind(c.as_str())).fetch_all(self.db.pool()).await?;
            for r in &rows {
                let c = row(r)?;
                found.insert(c.modbus_code.clone(), c);
            }
        }
        // in the order asked; a code asked twice comes once
        Ok(codes.iter().filter_map(|c| found.remove(c)).collect())
    }

    /// A page (1-based) of rows whose code contains `keyword`, with `status` (0: any), newest
    /// first, and the total.
    ///
    /// # Errors
    /// Database errors.
    pub async fn page(
        &self,
        page: i64,
        size: i64,
        keyword: &str,
        status: i64,
    ) -> Result<(i64, Vec<Config>), sqlx::Error> {
        let mut wh = vec!["1 = 1"];
        if !keyword.is_empty() {
            wh.push("modbus_code LIKE ? ESCAPE '!'");
        }
        if status != 0 {
            wh.push("status = ?");
        }
        let wh = wh.join(" AND ");
        let pat = like_pattern(keyword);
        let count_sql = self.db.sql(&format!("SELECT COUNT(*) FROM modbus_slave_config WHERE {wh}")).into_owned();
        let mut q = sqlx::query(&count_sql);
        if !keyword.is_empty() {
            q = q.bind(pat.as_str());
        }
        if status != 0 {
            q = q.bind(status);
        }
        let total: i64 = q.fetch_one(self.db.pool()).await?.try_get(0)?;
        let sql = self
            .db
            .sql(&format!("SELECT {COLS} FROM modbus_slave_config WHERE {wh} ORDER BY id DESC LIMIT ? OFFSET ?"))
            .into_owned();
        let mut q = sqlx::query(&sql);
        if !keyword.is_empty() {
            q = q.bind(pat.as_str());
        }
        if status != 0 {
            q = q.bind(status);
        }
        let rows = q.bind(size).bind((page - 1) * size).fetch_all(self.db.pool()).await?;
        Ok((total, rows.iter().map(row).collect::<Result<_, _>>()?))
    }
}
