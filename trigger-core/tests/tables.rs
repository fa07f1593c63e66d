//! The tables trigger-core owns, on each backend it takes: its migrations create them, running
//! them again is a no-op, they share a database with streamevent's (each owner's versions in
//! `_sqlx_migrations`), and the holiday source and cron log stores work on them.

use sqlx::Row as _;
use testkit::db::TempDb;
use trigger_core::cron_log::{CronExecLog, CronRun};
use trigger_core::holiday::store::HolidayStore;
use trigger_core::holiday::{DayKind, Source};
use trigger_core::Error;

fn source(date: &str, t: &str) -> Source {
    Source {
        date: date.into(),
        name: "劳动节".into(),
        r#type: t.into(),
        note: "n".into(),
        is_festival_day: false,
        enabled: true,
    }
}

async fn check(url: &str) {
    // streamevent first, trigger-core beside it, then both again
    let se = streamevent::store::Db::connect(url).await.unwrap();
    se.migrate().await.unwrap();
    let db = trigger_core::plan::store::open(url).await.unwrap();
    trigger_core::plan::store::open(url).await.unwrap();
    se.migrate().await.unwrap();
    let versions = db.applied_versions().await.unwrap();
    let ours: Vec<i64> = versions.iter().copied().filter(|v| *v > 100_000).collect();
    assert_eq!(ours, [100_001, 100_002, 100_003], "{url}");
    assert!(versions.iter().any(|v| *v < 100_000), "{url}: streamevent's rows stay: {versions:?}");
    for table in ["plan", "plan_batch", "plan_exec_item", "plan_exec_log", "cron_exec_log", "holiday_source"] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(db.pool())
            .await
            .unwrap_or_else(|e| panic!("{url}: {table}: {e}"))
            .get(0);
        assert_eq!(n, 0, "{url}: {table}");
    }

    let h = HolidayStore::open(db.clone()).await.unwrap();
    for (date, t) in [("2031-05-03", "holiday"), ("2031-05-03", "holiday"), ("2031-04-27", "workday")] {
        h.save(&source(date, t), 1).await.unwrap();
    }
    assert_eq!(h.sources(Some(2031), false).await.unwrap().len(), 2, "{url}: saving a date twice keeps one row");
    let day = |d: &str| h.calendar().query(trigger_core::holiday::date(d).unwrap()).kind;
    assert_eq!(day("2031-05-03"), DayKind::StatutoryHoliday, "{url}");
    assert_eq!(day("2031-04-27"), DayKind::MakeupWorkday, "{url}: a Sunday worked");
    h.set_enabled("2031-04-27", false, 2).await.unwrap();
    assert_eq!(day("2031-04-27"), DayKind::Weekend, "{url}: disabled");
    assert_eq!(h.sources(Some(2031), true).await.unwrap().len(), 2);
    assert!(matches!(h.set_enabled("2031-04-28", true, 3).await, Err(Error::NotFound(_))));
    assert!(matches!(h.save(&source("2031-5-3", "holiday"), 4).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(h.save(&source("2031-05-04", "weekend"), 4).await, Err(Error::InvalidArgument(_))));
    // a second instance sees the rows once it reloads
    let other = HolidayStore::open(trigger_core::plan::store::open(url).await.unwrap()).await.unwrap();
    assert_eq!(
        other.calendar().query(trigger_core::holiday::date("2031-05-03").unwrap()).kind,
        DayKind::StatutoryHoliday
    );

    let log = CronExecLog::new(db.clone());
    let run = |ok: bool, text: &str| CronRun {
        trace_id: "t".into(),
        job_id: "j1".into(),
        task_code: "c1".into(),
        task_name: "n".into(),
        scheduled: 1_767_225_600_000,
        start: 1_767_225_601_000,
        end: 1_767_225_602_000,
        ok,
        text: text.into(),
    };
    log.write(&run(false, "rpc error: unavailable")).await.unwrap();
    log.write(&run(true, "done")).await.unwrap();
    assert_eq!(log.runs("j1").await.unwrap(), [run(false, "rpc error: unavailable"), run(true, "done")], "{url}");
    let row = sqlx::query("SELECT scheduled_time, cost_ms FROM cron_exec_log ORDER BY id")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(zero_sql::text(&row, "scheduled_time").unwrap(), "2026-01-01 08:00:00", "{url}: Shanghai time");
    assert_eq!(row.get::<i64, _>("cost_ms"), 1000);
    db.pool().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_postgres_and_mariadb() {
    for t in TempDb::all("trigger_tables").await {
        check(&t.url).await;
    }
}
