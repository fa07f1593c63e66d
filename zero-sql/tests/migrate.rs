//! Two owner crates migrate one database on each backend: both apply, re-running is a no-op, a
//! version that two owners use is refused; statements with `?` run on every backend.

use testkit::db::TempDb;
use zero_sql::Db;

async fn check(url: &str) {
    let db = Db::connect(url).await.unwrap();
    db.migrate(sqlx::migrate!("tests/data/owner_a")).await.unwrap();
    db.migrate(sqlx::migrate!("tests/data/owner_b")).await.unwrap();
    // again, in the other order: nothing to do, and neither owner trips over the other's rows
    db.migrate(sqlx::migrate!("tests/data/owner_b")).await.unwrap();
    db.migrate(sqlx::migrate!("tests/data/owner_a")).await.unwrap();
    assert_eq!(db.applied_versions().await.unwrap(), [1, 2, 100001], "{url}");
    let clash = db.migrate(sqlx::migrate!("tests/data/clash")).await.unwrap_err();
    assert!(matches!(clash, sqlx::migrate::MigrateError::VersionMismatch(1)), "{url}: {clash}");

    sqlx::query(&db.sql("INSERT INTO a_items (id, name, note) VALUES (?, ?, ?)"))
        .bind(7_i64)
        .bind("x?")
        .bind(Option::<String>::None)
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(&db.sql("INSERT INTO b_items (id) VALUES (?)")).bind(8_i64).execute(db.pool()).await.unwrap();
    let row = sqlx::query(&db.sql("SELECT name FROM a_items WHERE id = ? AND name LIKE ? ESCAPE '!'"))
        .bind(7_i64)
        .bind(zero_sql::like_pattern("?"))
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(zero_sql::text(&row, "name").unwrap(), "x?");
    let dup =
        sqlx::query(&db.sql("INSERT INTO b_items (id) VALUES (?)")).bind(8_i64).execute(db.pool()).await.unwrap_err();
    assert!(zero_sql::is_unique_violation(&dup), "{url}: {dup}");
}

#[tokio::test]
async fn sqlite_go_dsn() {
    let t = TempDb::sqlite("zero_sql");
    // the Go platform's DSN form of the same file
    check(&t.url.replace("sqlite://", "file:")).await;
}

#[tokio::test]
async fn postgres() {
    check(&TempDb::postgres("zero_sql").await.url).await;
}

#[tokio::test]
async fn mariadb() {
    check(&TempDb::mysql("zero_sql").await.url).await;
}
