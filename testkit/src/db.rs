//! Throwaway databases on the PostgreSQL and MariaDB servers running on loopback
//! (`TEST_PG_URL`, `TEST_MYSQL_URL` override the admin URLs), and SQLite files in a fresh
//! directory: created for one test, dropped when the guard drops.

use sqlx::Connection;

/// The admin URL of the loopback PostgreSQL.
pub fn pg_admin() -> String {
    std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The admin URL of the loopback MariaDB.
pub fn mysql_admin() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A database created for one test; dropped (with its connections) on drop.
#[derive(Debug)]
pub struct TempDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    admin: String,
}

/// `{prefix}_{pid}_{n}`: unique in this process (a counter) and across processes (the pid),
/// usable as a database or directory name.
pub(crate) fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{t}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn with_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("an admin URL with a database");
    format!("{base}/{db}")
}

impl TempDb {
    /// A new PostgreSQL database.
    ///
    /// # Panics
    /// When the server cannot be reached: the test needs it.
    pub async fn postgres(prefix: &str) -> TempDb {
        let admin = pg_admin();
        let name = unique(prefix);
        let mut c = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("CREATE DATABASE");
        TempDb { url: with_db(&admin, &name), name, admin }
    }

    /// A new MariaDB database.
    ///
    /// # Panics
    /// When the server cannot be reached: the test needs it.
    pub async fn mysql(prefix: &str) -> TempDb {
        let admin = mysql_admin();
        let name = unique(prefix);
        let mut c = sqlx::MySqlConnection::connect(&admin).await.expect("MariaDB on 127.0.0.1:3306");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("CREATE DATABASE");
        TempDb { url: with_db(&admin, &name), name, admin }
    }

    /// A SQLite file in a new directory (removed on drop).
    pub fn sqlite(prefix: &str) -> TempDb {
        let name = unique(prefix);
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDb { url: format!("sqlite://{}", dir.join("test.db").display()), name, admin: String::new() }
    }

    /// One of each: SQLite, PostgreSQL, MariaDB.
    pub async fn all(prefix: &str) -> Vec<TempDb> {
        vec![TempDb::sqlite(prefix), TempDb::postgres(prefix).await, TempDb::mysql(prefix).await]
    }

    async fn drop_now(admin: String, name: String) {
        if admin.starts_with("postgres") {
            if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
            }
        } else if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut c).await;
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if self.admin.is_empty() {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.name));
            return;
        }
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // a runtime of its own: drop may run inside or outside the test's runtime
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(TempDb::drop_now(admin, name));
            }
        })
        .join();
    }
}
