//! Fresh `streamevent` databases for the tests: a SQLite file, and a new database on the PostgreSQL and
//! MariaDB servers running on loopback (`TEST_PG_URL`, `TEST_MYSQL_URL` override the admin
//! URLs). Each is dropped by [`TestDb::cleanup`].

use crate::db::{unique, TempDb};
use streamevent::store::Db;

/// A migrated (or not) database of one backend, dropped by [`TestDb::cleanup`].
pub struct TestDb {
    /// `sqlite`, `postgres` or `mysql`.
    pub name: &'static str,
    /// Its URL.
    pub url: String,
    /// A pool on it.
    pub db: Db,
    tmp: Option<TempDb>,
    _dir: Option<std::path::PathBuf>,
}

impl TestDb {
    /// A SQLite file in a fresh directory, migrated.
    pub async fn sqlite() -> TestDb {
        TestDb::sqlite_with(true).await
    }

    /// Without this crate's migrations when `migrate` is false (a database that upstream made).
    pub async fn sqlite_with(migrate: bool) -> TestDb {
        let dir = std::env::temp_dir().join(unique("se_sqlite"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("test.db").display());
        let db = Db::connect(&url).await.unwrap();
        if migrate {
            db.migrate().await.unwrap();
        }
        TestDb { name: "sqlite", url, db, tmp: None, _dir: Some(dir) }
    }

    /// A fresh PostgreSQL database, migrated.
    pub async fn postgres() -> TestDb {
        TestDb::postgres_with(true).await
    }

    /// Without this crate's migrations when `migrate` is false (a database that upstream made).
    pub async fn postgres_with(migrate: bool) -> TestDb {
        TestDb::server("postgres", TempDb::postgres("se_test").await, migrate).await
    }

    /// A fresh MariaDB database, migrated.
    pub async fn mysql() -> TestDb {
        TestDb::mysql_with(true).await
    }

    /// Without this crate's migrations when `migrate` is false (a database that upstream made).
    pub async fn mysql_with(migrate: bool) -> TestDb {
        TestDb::server("mysql", TempDb::mysql("se_test").await, migrate).await
    }

    async fn server(name: &'static str, tmp: TempDb, migrate: bool) -> TestDb {
        let db = Db::connect(&tmp.url).await.unwrap();
        if migrate {
            db.migrate().await.unwrap();
        }
        TestDb { name, url: tmp.url.clone(), db, tmp: Some(tmp), _dir: None }
    }

    /// One unmigrated database of each backend.
    pub async fn all_unmigrated() -> Vec<TestDb> {
        vec![TestDb::sqlite_with(false).await, TestDb::postgres_with(false).await, TestDb::mysql_with(false).await]
    }

    /// One migrated database of each backend.
    pub async fn all() -> Vec<TestDb> {
        vec![TestDb::sqlite().await, TestDb::postgres().await, TestDb::mysql().await]
    }

    /// Closes the pool and drops the database.
    pub async fn cleanup(self) {
        let TestDb { db, tmp, _dir, .. } = self;
        match &db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
            Db::MySql(p) => p.close().await,
        }
        drop(tmp);
        if let Some(d) = _dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Our streamevent gRPC service on `db`, on `127.0.0.1:port` (0: a free port), until the
/// returned sender fires or is dropped; returns the port.
///
/// # Panics
/// When the port cannot be bound.
pub async fn serve(db: Db, port: u16) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("a loopback port");
    let port = l.local_addr().expect("bound").port();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = streamevent::server::Service::new(db, std::time::Duration::from_secs(60));
    tokio::spawn(zero_svc::grpc::serve(l, svc.into_server(), &[streamevent::pb::FILE_DESCRIPTOR_SET], async move {
        let _ = rx.await;
    }));
    (port, stop)
}

/// The payloads (JSON) of the inbound events of `kind` (`mqtt`, `kafka`, `ws`) stored in a
/// SQLite `db`.
///
/// # Panics
/// On another backend or a failed query.
pub async fn inbound(db: &Db, kind: &str) -> Vec<serde_json::Value> {
    use sqlx::Row as _;
    let Db::Sqlite(pool) = db else { panic!("inbound: a SQLite database") };
    let rows =
        sqlx::query("SELECT payload FROM inbound_event WHERE kind = ?").bind(kind).fetch_all(pool).await.unwrap();
    rows.iter().map(|r| serde_json::from_str(&r.get::<String, _>("payload")).unwrap()).collect()
}

/// A migrated SQLite streamevent database in `dir` (`se.db`), for a test that serves it with
/// [`serve`] and reads it back with [`inbound`].
pub async fn sqlite_in(dir: &std::path::Path) -> Db {
    let db = Db::connect(&format!("sqlite://{}/se.db", dir.display())).await.expect("a SQLite database");
    db.migrate().await.expect("migrated");
    db
}
