//! The `oss` table (this service owns it: migrations 400001-499999): object storage templates,
//! one per `(tenant_id, oss_code)`, on SQLite, PostgreSQL or MySQL. Lookups by code are cached and
//! the cache is dropped on every change made here (and entries expire after a minute, for changes
//! made by another instance).

use sqlx::Row as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zero_sql::{is_unique_violation, Db};

/// One template.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Oss {
    pub id: String,
    pub tenant_id: String,
    pub category: i64,
    pub oss_code: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub bucket_name: String,
    pub app_id: String,
    pub region: String,
    pub remark: String,
    pub status: i64,
    /// ms since the epoch.
    pub create_time: i64,
    /// ms since the epoch.
    pub update_time: i64,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row.
    #[error("oss {0} not found")]
    NotFound(String),
    /// Another row has this `(tenant_id, oss_code)`.
    #[error("oss code {1:?} exists for tenant {0:?}")]
    Duplicate(String, String),
    /// A bad argument (an unknown `order_by` column).
    #[error("{0}")]
    Invalid(String),
    /// The database.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

const COLS: &str = "id, tenant_id, category, oss_code, endpoint, access_key, secret_key, bucket_name, app_id, \
                    region, remark, status, create_time, update_time";

/// Columns `order_by` may name.
const ORDERABLE: &[&str] =
    &["id", "tenant_id", "category", "oss_code", "bucket_name", "status", "create_time", "update_time"];

/// How long a cached lookup is trusted.
const CACHE_TTL: Duration = Duration::from_secs(60);

/// Templates by `(tenant_id, oss_code)`, with when they were read.
type Cache = Arc<Mutex<HashMap<(String, String), (Instant, Oss)>>>;

/// The table.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    cache: Cache,
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The `ORDER BY` of `order_by` (`"create_time desc"`, `"oss_code"`; empty: newest first), from
/// known columns only.
///
/// # Errors
/// [`StoreError::Invalid`] naming what is not allowed.
pub fn order_clause(order_by: &str) -> Result<String, StoreError> {
    let words: Vec<&str> = order_by.split_whitespace().collect();
    let (col, dir) = match words.as_slice() {
        [] => return Ok("create_time DESC, id DESC".into()),
        [c] => (*c, "ASC"),
        [c, d] if d.eq_ignore_ascii_case("asc") => (*c, "ASC"),
        [c, d] if d.eq_ignore_ascii_case("desc") => (*c, "DESC"),
        _ => return Err(StoreError::Invalid(format!("order_by {order_by:?}: \"<column> [asc|desc]\""))),
    };
    let col = col.to_ascii_lowercase();
    if !ORDERABLE.contains(&col.as_str()) {
        return Err(StoreError::Invalid(format!("order_by {col:?}: one of {ORDERABLE:?}")));
    }
    Ok(format!("{col} {dir}, id {dir}"))
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the columns `tenant_id` to `status`, in table order.
fn bind_settings<'q>(q: Query<'q>, o: &'q Oss) -> Query<'q> {
    q.bind(&o.tenant_id)
        .bind(o.category)
        .bind(&o.oss_code)
        .bind(&o.endpoint)
        .bind(&o.access_key)
        .bind(&o.secret_key)
        .bind(&o.bucket_name)
        .bind(&o.app_id)
        .bind(&o.region)
        .bind(&o.remark)
        .bind(o.status)
}

fn row(r: &sqlx::any::AnyRow) -> Result<Oss, sqlx::Error> {
    Ok(Oss {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        category: r.try_get(2)?,
        oss_code: r.try_get(3)?,
        endpoint: r.try_get(4)?,
        access_key: r.try_get(5)?,
        secret_key: r.try_get(6)?,
        bucket_name: r.try_get(7)?,
        app_id: r.try_get(8)?,
        region: r.try_get(9)?,
        remark: r.try_get(10)?,
        status: r.try_get(11)?,
        create_time: r.try_get(12)?,
        update_time: r.try_get(13)?,
    })
}

impl Store {
    /// Connects and applies this service's migration.
    ///
    /// # Errors
    /// The database cannot be reached or the migration failed.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let db = Db::connect(url).await?;
        db.migrate(sqlx::migrate!("./migrations")).await.map_err(|e| StoreError::Db(e.into()))?;
        Ok(Store { db, cache: Default::default() })
    }

    fn forget(&self) {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    fn duplicate(o: &Oss, e: sqlx::Error) -> StoreError {
        if is_unique_violation(&e) {
            StoreError::Duplicate(o.tenant_id.clone(), o.oss_code.clone())
        } else {
            StoreError::Db(e)
        }
    }

    /// Inserts `o` with a new id (a SimpleUUID); the id.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`], [`StoreError::Db`].
    pub async fn create(&self, o: &Oss) -> Result<String, StoreError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let now = now_millis();
        let sql = self
            .db
            .sql(&format!("INSERT INTO oss ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .into_owned();
        bind_settings(sqlx::query(&sql).bind(&id), o)
            .bind(now)
            .bind(now)
            .execute(self.db.pool())
            .await
            .map_err(|e| Store::duplicate(o, e))?;
        self.forget();
        Ok(id)
    }

    /// Replaces the row `o.id` (all but its creation time).
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Duplicate`], [`StoreError::Db`].
    pub async fn update(&self, o: &Oss) -> Result<(), StoreError> {
        let sql = self.db.sql(
            "UPDATE oss SET tenant_id = ?, category = ?, oss_code = ?, endpoint = ?, access_key = ?, secret_key = ?, \
             bucket_name = ?, app_id = ?, region = ?, remark = ?, status = ?, update_time = ? WHERE id = ?",
        );
        let done = bind_settings(sqlx::query(&sql), o)
            .bind(now_millis())
            .bind(&o.id)
            .execute(self.db.pool())
            .await
            .map_err(|e| Store::duplicate(o, e))?;
        self.forget();
        if done.rows_affected() == 0 {
            // MySQL counts only changed rows: an update to the same values is no miss
            return match self.get(&o.id).await {
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
        }
        Ok(())
    }

    /// Removes the row `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Db`].
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let sql = self.db.sql("DELETE FROM oss WHERE id = ?");
        let done = sqlx::query(&sql).bind(id).execute(self.db.pool()).await?;
        self.forget();
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    /// The row `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Db`].
    pub async fn get(&self, id: &str) -> Result<Oss, StoreError> {
        let sql = self.db.sql(&format!("SELECT {COLS} FROM oss WHERE id = ?")).into_owned();
        match sqlx::query(&sql).bind(id).fetch_optional(self.db.pool()).await? {
            Some(r) => Ok(row(&r)?),
            None => Err(StoreError::NotFound(id.to_owned())),
        }
    }

    /// The template of `(tenant_id, oss_code)`, cached.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Db`].
    pub async fn by_code(&self, tenant_id: &str, oss_code: &str) -> Result<Oss, StoreError> {
        let key = (tenant_id.to_owned(), oss_code.to_owned());
        if let Some((at, o)) = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            if at.elapsed() < CACHE_TTL {
                return Ok(o.clone());
            }
        }
        let sql = self.db.sql(&format!("SELECT {COLS} FROM oss WHERE tenant_id = ? AND oss_code = ?")).into_owned();
        let o = match sqlx::query(&sql).bind(tenant_id).bind(oss_code).fetch_optional(self.db.pool()).await? {
            Some(r) => row(&r)?,
            None => return Err(StoreError::NotFound(format!("{tenant_id}/{oss_code}"))),
        };
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, (Instant::now(), o.clone()));
        Ok(o)
    }

    /// A page (1-based; `page_size` 0: 10, at most 1000) of the rows of `tenant_id` (empty: all)
    /// and `category` (0: all), and how many there are.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] (`order_by`), [`StoreError::Db`].
    pub async fn list(
        &self,
        page: i64,
        page_size: i64,
        order_by: &str,
        tenant_id: &str,
        category: i64,
    ) -> Result<(Vec<Oss>, i64), StoreError> {
        let order = order_clause(order_by)?;
        let size = if page_size <= 0 { 10 } else { page_size.min(1000) };
        let offset = (page.max(1) - 1).saturating_mul(size);
        let mut filter = String::from(" WHERE 1 = 1");
        if !tenant_id.is_empty() {
            filter.push_str(" AND tenant_id = ?");
        }
        if category != 0 {
            filter.push_str(" AND category = ?");
        }
        let count_sql = self.db.sql(&format!("SELECT COUNT(*) FROM oss{filter}")).into_owned();
        let list_sql =
            self.db.sql(&format!("SELECT {COLS} FROM oss{filter} ORDER BY {order} LIMIT ? OFFSET ?")).into_owned();
        let mut count = sqlx::query(&count_sql);
        let mut list = sqlx::query(&list_sql);
        if !tenant_id.is_empty() {
            count = count.bind(tenant_id);
            list = list.bind(tenant_id);
        }
        if category != 0 {
            count = count.bind(category);
            list = list.bind(category);
        }
        let total: i64 = count.fetch_one(self.db.pool()).await?.try_get(0)?;
        let rows = list.bind(size).bind(offset).fetch_all(self.db.pool()).await?;
        Ok((rows.iter().map(row).collect::<Result<_, _>>()?, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_names_known_columns_only() {
        assert_eq!(order_clause("").unwrap(), "create_time DESC, id DESC");
        assert_eq!(order_clause("oss_code").unwrap(), "oss_code ASC, id ASC");
        assert_eq!(order_clause("Create_Time DESC").unwrap(), "create_time DESC, id DESC");
        assert!(order_clause("secret_key").is_err());
        assert!(order_clause("id; DROP TABLE oss").is_err());
        assert!(order_clause("id desc, status").is_err());
    }
}
