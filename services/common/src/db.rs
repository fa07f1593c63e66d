//! One SQL pool for a service's own tables, over whichever database its `DataSource` names:
//! `sqlite://file` (created when missing; WAL, busy timeout), `sqlite::memory:`, `postgres://…`
//! or `mysql://…` (MariaDB too), or the Go platform's DSN of either, through sqlx's `Any` driver. Statements are written with `?`
//! placeholders; [`Db::sql`] rewrites them for PostgreSQL.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = zero_svc::db::Db::connect("sqlite::memory:").await.unwrap();
//! db.execute_ddl(&["CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL)"]).await.unwrap();
//! let sql = db.sql("INSERT INTO t (id, name) VALUES (?, ?)");
//! sqlx::query(&sql).bind(1_i64).bind("a").execute(db.pool()).await.unwrap();
//! # });
//! ```

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::borrow::Cow;

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

/// A pool and its database kind.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    kind: Kind,
}

impl Db {
    /// Connects (SQLite files are created when missing).
    ///
    /// # Errors
    /// The URL names no supported database, or it cannot be reached.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        // the Go platform's DSNs (`file:…` SQLite, `user:pass@tcp(host:port)/db` MySQL)
        let go = streamevent::store::go_dsn_url(url).map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
        let url = go.as_deref().unwrap_or(url);
        let kind = if url.starts_with("sqlite:") {
            Kind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Kind::Postgres
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Kind::Mysql
        } else {
            return Err(sqlx::Error::Configuration(format!("{url:?}: not sqlite://, postgres:// or mysql://").into()));
        };
        let memory = url.contains(":memory:");
        let url: Cow<str> = if kind == Kind::Sqlite && !memory && !url.contains("mode=") {
            Cow::Owned(format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' }))
        } else {
            Cow::Borrowed(url)
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Executor as _;
                    if kind == Kind::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        if !memory {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Db { pool, kind })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The database kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Runs `CREATE … IF NOT EXISTS` statements.
    ///
    /// # Errors
    /// A statement failed.
    pub async fn execute_ddl(&self, ddl: &[&str]) -> Result<(), sqlx::Error> {
        for d in ddl {
            sqlx::query(d).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// `sql` with its `?` placeholders as this database wants them (`$1`, `$2`… on PostgreSQL).
    pub fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        if self.kind != Kind::Postgres {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }
}

/// A text column (MySQL `TEXT` comes through `Any` as bytes).
///
/// # Errors
/// The column is missing or not text.
pub fn text(row: &AnyRow, col: &str) -> Result<String, sqlx::Error> {
    match row.try_get::<String, _>(col) {
        Ok(s) => Ok(s),
        Err(e) => match row.try_get::<Vec<u8>, _>(col) {
            Ok(b) => String::from_utf8(b).map_err(|u| sqlx::Error::Decode(Box::new(u))),
            Err(_) => Err(e),
        },
    }
}

/// `text` as a `LIKE` pattern matching it anywhere, with `%`, `_` and `!` escaped for
/// `LIKE ? ESCAPE '!'` (valid on all three databases).
pub fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Whether an error is a unique-key violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn placeholders_patterns_and_errors() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        assert_eq!(db.kind(), Kind::Sqlite);
        assert_eq!(db.sql("a = ? AND b = ?"), "a = ? AND b = ?");
        let pg = Db { pool: db.pool.clone(), kind: Kind::Postgres };
        assert_eq!(pg.sql("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(like_pattern("a%b_c!"), "%a!%b!_c!!%");
        db.execute_ddl(&["CREATE TABLE t (k VARCHAR(20) NOT NULL UNIQUE)"]).await.unwrap();
        for k in ["50%", "500", "x_y", "xzy"] {
            sqlx::query("INSERT INTO t (k) VALUES (?)").bind(k).execute(db.pool()).await.unwrap();
        }
        let dup = sqlx::query("INSERT INTO t (k) VALUES (?)").bind("500").execute(db.pool()).await.unwrap_err();
        assert!(is_unique_violation(&dup));
        let n = |p: &str| {
            let db = db.clone();
            let p = like_pattern(p);
            async move {
                let rows = sqlx::query("SELECT k FROM t WHERE k LIKE ? ESCAPE '!'")
                    .bind(p)
                    .fetch_all(db.pool())
                    .await
                    .unwrap();
                rows.iter().map(|r| text(r, "k").unwrap()).collect::<Vec<_>>()
            }
        };
        assert_eq!(n("0%").await, ["50%"]);
        assert_eq!(n("_").await, ["x_y"]);
        assert!(matches!(Db::connect("redis://x").await, Err(sqlx::Error::Configuration(_))));
    }
}
