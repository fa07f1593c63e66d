//! What every SQL store of the platform shares, written once:
//!
//! - [`Db`]: one sqlx `Any` pool over SQLite (the embedded default), PostgreSQL or MySQL/MariaDB,
//!   opened from a URL or from the Go platform's DSN ([`go_dsn_url`]), with the per-backend
//!   session settings every store wants (SQLite WAL and busy timeout, MySQL `READ COMMITTED`);
//! - [`Kind::sql`]: statements are written once with `?` placeholders and rewritten to `$1`, `$2`…
//!   for PostgreSQL;
//! - [`Db::migrate`] and [`shared`]: each table has one owner crate that creates and migrates it
//!   with sqlx migrations, and several owners can share one database: each numbers its
//!   migrations in a range of its own and ignores the others' rows in `_sqlx_migrations`
//!   (streamevent 1–99999, trigger-core 100001–199999, the bridgemodbus service
//!   200001–299999); a version two owners use is refused with `VersionMismatch`, not skipped;
//! - small row helpers ([`text`], [`like_pattern`], [`is_unique_violation`]).
//!
//! Stores that need a backend's own API (streamevent's PostgreSQL `COPY`) keep typed pools and
//! still use [`Kind::sql`], [`go_dsn_url`] and [`shared`].
//!
//! # Example
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = zero_sql::Db::connect("sqlite::memory:").await.unwrap();
//! sqlx::query("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL)").execute(db.pool()).await.unwrap();
//! let sql = db.sql("INSERT INTO t (id, name) VALUES (?, ?)");
//! sqlx::query(&sql).bind(1_i64).bind("a").execute(db.pool()).await.unwrap();
//! assert_eq!(zero_sql::Kind::Postgres.sql("a = ? AND b = '?'"), "a = $1 AND b = '?'");
//! # });
//! ```

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Row};
use std::borrow::Cow;

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Kind {
    /// The backend a URL names (`sqlite:`, `postgres:`/`postgresql:`, `mysql:`/`mariadb:`).
    ///
    /// ```
    /// use zero_sql::Kind;
    /// assert_eq!(Kind::of_url("postgresql://u@h/db"), Some(Kind::Postgres));
    /// assert_eq!(Kind::of_url("redis://h"), None);
    /// ```
    pub fn of_url(url: &str) -> Option<Kind> {
        if url.starts_with("sqlite:") {
            Some(Kind::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Kind::Postgres)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Some(Kind::Mysql)
        } else {
            None
        }
    }

    /// The backend's short name (`sqlite`, `postgres`, `mysql`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }

    /// `sql` with its `?` placeholders as this backend wants them: `$1`, `$2`… on PostgreSQL,
    /// unchanged elsewhere. A `?` inside a quoted literal or identifier (`'…'`, `"…"`, `` `…` ``)
    /// is not a placeholder and stays.
    pub fn sql(self, sql: &str) -> Cow<'_, str> {
        if self != Kind::Postgres || !sql.contains('?') {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0u32;
        let mut quote: Option<char> = None;
        for c in sql.chars() {
            match (quote, c) {
                (None, '\'' | '"' | '`') => quote = Some(c),
                (Some(q), _) if c == q => quote = None,
                (None, '?') => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                    continue;
                }
                _ => {}
            }
            out.push(c);
        }
        Cow::Owned(out)
    }
}

/// The Go platform's DSNs as sqlx URLs: `file:path?…` (SQLite; the parent directory is created)
/// and go-sql-driver's `user:pass@tcp(host:port)/db?params` (MySQL; the password may hold `@`,
/// `charset` is kept, Go-only parameters such as `parseTime` and `loc` are dropped). `None` when
/// `dsn` is already a URL or no Go DSN.
///
/// # Errors
/// The directory of a `file:` DSN cannot be created.
///
/// # Examples
/// ```
/// use zero_sql::go_dsn_url;
/// assert_eq!(
///     go_dsn_url("root:p@ss@tcp(localhost:33069)/zero?charset=utf8mb4&parseTime=true&loc=Asia%2FShanghai").unwrap(),
///     Some("mysql://root:p%40ss@localhost:33069/zero?charset=utf8mb4".to_string())
/// );
/// assert_eq!(go_dsn_url("postgres://u@h/db").unwrap(), None);
/// ```
pub fn go_dsn_url(dsn: &str) -> std::io::Result<Option<String>> {
    if let Some(rest) = dsn.strip_prefix("file:") {
        let path = rest.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        }
        return Ok(Some(format!("sqlite://{path}")));
    }
    if dsn.contains("://") {
        return Ok(None);
    }
    // [user[:password]@][net[(addr)]]/dbname[?params]; the password may hold '@'
    let Some((before, after)) = dsn.split_once("@tcp(").or_else(|| dsn.split_once("@unix(")) else {
        return Ok(None);
    };
    let Some((addr, rest)) = after.split_once(')') else { return Ok(None) };
    let rest = rest.trim_start_matches('/');
    let (db, params) = rest.split_once('?').unwrap_or((rest, ""));
    let (user, pass) = before.split_once(':').unwrap_or((before, ""));
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let auth = if pass.is_empty() { enc(user) } else { format!("{}:{}", enc(user), enc(pass)) };
    let keep: Vec<&str> = params.split('&').filter(|p| p.starts_with("charset=")).collect();
    let query = if keep.is_empty() { String::new() } else { format!("?{}", keep.join("&")) };
    Ok(Some(format!("mysql://{auth}@{addr}/{db}{query}")))
}

/// `url` (or a Go DSN) as a sqlx URL and its backend.
///
/// # Errors
/// [`sqlx::Error::Configuration`] for an unknown scheme or a `file:` directory that cannot be made.
pub fn resolve(url: &str) -> Result<(Kind, String), sqlx::Error> {
    let go = go_dsn_url(url).map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
    let url = go.unwrap_or_else(|| url.to_owned());
    match Kind::of_url(&url) {
        Some(k) => Ok((k, url)),
        None => Err(sqlx::Error::Configuration(format!("{url:?}: not sqlite://, postgres:// or mysql://").into())),
    }
}

/// `m` set to leave other owners' migrations in the same database alone (sqlx refuses a
/// database holding versions it does not know by default).
pub fn shared(mut m: Migrator) -> Migrator {
    m.set_ignore_missing(true);
    m
}

/// A pool and its backend.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    kind: Kind,
}

impl Db {
    /// Connects to `url` (or a Go DSN): `sqlite://file` (created when missing, WAL, 5 s busy
    /// timeout), `sqlite::memory:` (one connection), `postgres://…`, `mysql://…` (MariaDB too;
    /// sessions in `READ COMMITTED`, so counts in a transaction see rows other sessions committed
    /// meanwhile, as on PostgreSQL).
    ///
    /// # Errors
    /// [`sqlx::Error::Configuration`] for an unknown scheme; the connection's error.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let (kind, url) = resolve(url)?;
        let memory = url.contains(":memory:");
        let url = if kind == Kind::Sqlite && !memory && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Executor as _;
                    match kind {
                        Kind::Sqlite => {
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            if !memory {
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                            }
                        }
                        Kind::Mysql => {
                            conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await?;
                        }
                        Kind::Postgres => {}
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

    /// The backend.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// [`Kind::sql`] for this pool's backend.
    pub fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        self.kind.sql(sql)
    }

    /// Applies one owner's migrations, written in the SQL all three backends share
    /// (`sqlx::migrate!("./migrations")`); rows of other owners in `_sqlx_migrations` are left
    /// alone (versions: see the crate docs). An owner whose SQL differs by backend keeps a typed
    /// pool per backend and runs its own directories through [`shared`]. Safe to run from several processes at once (sqlx takes the
    /// database's advisory lock on PostgreSQL and MySQL).
    ///
    /// # Errors
    /// A migration failed, or a version this owner applied earlier has changed (also when another
    /// owner applied the same version).
    pub async fn migrate(&self, m: Migrator) -> Result<(), MigrateError> {
        shared(m).run(&self.pool).await
    }

    /// The versions applied to this database by every owner, in order.
    ///
    /// # Errors
    /// The query failed (no migration ever ran: the table is missing).
    pub async fn applied_versions(&self) -> Result<Vec<i64>, sqlx::Error> {
        let rows = sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(&self.pool).await?;
        rows.iter().map(|r| r.try_get::<i64, _>(0)).collect()
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
/// `LIKE ? ESCAPE '!'` (valid on all three backends).
///
/// ```
/// assert_eq!(zero_sql::like_pattern("a%b_c!"), "%a!%b!_c!!%");
/// ```
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
    use proptest::prelude::*;

    #[test]
    fn placeholders() {
        assert_eq!(Kind::Sqlite.sql("a = ? AND b = ?"), "a = ? AND b = ?");
        assert_eq!(Kind::Mysql.sql("a = ?"), "a = ?");
        assert_eq!(Kind::Postgres.sql("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(
            Kind::Postgres.sql("a = '?' AND \"c?\" = ? AND b LIKE 'x''?'"),
            "a = '?' AND \"c?\" = $1 AND b LIKE 'x''?'"
        );
        assert!(matches!(Kind::Postgres.sql("SELECT 1"), Cow::Borrowed(_)));
    }

    proptest! {
        /// Every `?` outside quotes becomes `$n` with n counting up, nothing else changes.
        #[test]
        fn rewrite_numbers_every_bare_mark(parts in proptest::collection::vec("[a-z =,()]{0,6}", 0..12)) {
            let sql = parts.join("?");
            let pg = Kind::Postgres.sql(&sql).into_owned();
            let marks = parts.len().saturating_sub(1);
            let expected: String = parts
                .iter()
                .enumerate()
                .map(|(i, p)| if i + 1 < parts.len() { format!("{p}${}", i + 1) } else { p.clone() })
                .collect();
            prop_assert_eq!(pg, expected);
            prop_assert_eq!(Kind::Sqlite.sql(&sql).matches('?').count(), marks);
        }
    }

    #[test]
    fn go_dsns() {
        let dir = std::env::temp_dir().join(format!("zero_sql_dsn_{}", std::process::id()));
        let file = dir.join("a.db");
        let url = go_dsn_url(&format!("file:{}?cache=shared", file.display())).unwrap().unwrap();
        assert_eq!(url, format!("sqlite://{}", file.display()));
        assert!(dir.is_dir(), "the parent directory is made");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(go_dsn_url("u@tcp(h:1)/d").unwrap().as_deref(), Some("mysql://u@h:1/d"));
        assert_eq!(go_dsn_url("not a dsn").unwrap(), None);
        assert!(matches!(resolve("redis://x"), Err(sqlx::Error::Configuration(_))));
        assert_eq!(resolve("u:p@tcp(h:1)/d").unwrap().0, Kind::Mysql);
    }
}
