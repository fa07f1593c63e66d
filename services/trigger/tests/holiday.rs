//! The holiday RPCs through the `trigger` binary on its SQLite default: the embedded calendar,
//! source rows laid over it (kept across a restart), and refused arguments.

use trigger_svc::pb;

mod common;
use common::{client, code, free_port, spawn_trigger, tempdir, Guard};

fn start(dir: &std::path::Path, port: u16) -> Guard {
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nLog: {{Level: warn}}\n\
         DB: {{DataSource: 'sqlite://{}/t.db'}}\nStreamEventConf: {{Endpoints: [], Timeout: 2000}}\nGracePeriod: 1s\n",
        dir.display()
    );
    spawn_trigger(dir, "h", &yaml)
}

async fn day(c: &mut common::Client, date: &str) -> pb::HolidayDayPb {
    c.query_holiday(pb::QueryHolidayReq { date: date.into() }).await.unwrap().into_inner().day.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calendar_answers_and_source_rows_override_it() {
    let dir = tempdir();
    let port = free_port();
    let svc = start(&dir, port);
    let mut c = client(port).await;

    let years = c.list_holiday_years(pb::ListHolidayYearsReq {}).await.unwrap().into_inner().years;
    assert_eq!(years, (2023..=2046).collect::<Vec<_>>());
    let d = day(&mut c, "2025-01-29").await;
    assert_eq!((d.kind, d.name.as_str(), d.is_holiday, d.is_festival_day), (1, "春节", true, true));
    assert_eq!(day(&mut c, "2025-02-08").await.kind, 3, "a Saturday worked");
    assert_eq!(day(&mut c, "2025-03-08").await.kind, 2);
    assert_eq!(day(&mut c, "2025-03-07").await.kind, 4);
    assert!(
        !c.query_holiday(pb::QueryHolidayReq::default()).await.unwrap().into_inner().day.unwrap().date.is_empty(),
        "today"
    );

    let f = c
        .get_holiday_festival(pb::GetHolidayFestivalReq { year: 2025, name: "中秋".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(f.found);
    let f = f.festival.unwrap();
    assert_eq!((f.start_date.as_str(), f.end_date.as_str()), ("2025-10-01", "2025-10-08"));
    assert_eq!(f.makeup_workdays, vec!["2025-09-28", "2025-10-11"]);
    let none = c.get_holiday_festival(pb::GetHolidayFestivalReq { year: 2025, name: "圣诞".into() }).await.unwrap();
    assert!(!none.into_inner().found);
    let s = c.get_holiday_year_summary(pb::GetHolidayYearSummaryReq { year: 2024 }).await.unwrap().into_inner();
    assert!(s.found);
    assert_eq!(s.summary.unwrap().names.len(), 7);
    let spring = c
        .list_holiday_festivals(pb::ListHolidayFestivalsReq { start_year: 2023, end_year: 2046, name: "春节".into() })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(spring.len(), 24);

    // a bridge day in a projected year, then a makeup workday on a Sunday
    let save = |date: &str, t: &str| pb::SaveHolidaySourceReq {
        date: date.into(),
        name: "国庆节".into(),
        r#type: t.into(),
        note: "调整".into(),
        is_festival_day: false,
        enabled: true,
    };
    assert_eq!(day(&mut c, "2030-10-04").await.kind, 4, "a Friday, before");
    c.save_holiday_source(save("2030-10-04", "holiday")).await.unwrap();
    c.save_holiday_source(save("2030-09-29", "workday")).await.unwrap();
    let d = day(&mut c, "2030-10-04").await;
    assert_eq!((d.kind, d.note.as_str()), (1, "调整"));
    assert_eq!(day(&mut c, "2030-09-29").await.kind, 3);
    let rows = c.list_holiday_source(pb::ListHolidaySourceReq { year: 2030, include_disabled: false }).await.unwrap();
    assert_eq!(rows.into_inner().items.len(), 2);
    c.set_holiday_source_enabled(pb::SetHolidaySourceEnabledReq { date: "2030-09-29".into(), enabled: false })
        .await
        .unwrap();
    assert_eq!(day(&mut c, "2030-09-29").await.kind, 2, "disabled: a Sunday again");
    let all = c.list_holiday_source(pb::ListHolidaySourceReq { year: 2030, include_disabled: true }).await.unwrap();
    assert_eq!(all.into_inner().items.len(), 2);

    // refused
    let mut bad = save("2030/10/04", "holiday");
    assert_eq!(code(&c.save_holiday_source(bad.clone()).await.unwrap_err()), "101103");
    bad = save("2030-10-05", "vacation");
    assert_eq!(code(&c.save_holiday_source(bad).await.unwrap_err()), "101103");
    bad = save("2030-10-05", "holiday");
    bad.name.clear();
    assert_eq!(code(&c.save_holiday_source(bad).await.unwrap_err()), "101103");
    bad = save("2030-10-05", "holiday");
    bad.note = "n".repeat(129);
    assert_eq!(code(&c.save_holiday_source(bad).await.unwrap_err()), "101103");
    let missing = pb::SetHolidaySourceEnabledReq { date: "2031-01-01".into(), enabled: true };
    assert_eq!(code(&c.set_holiday_source_enabled(missing).await.unwrap_err()), "102102");
    assert_eq!(code(&c.query_holiday(pb::QueryHolidayReq { date: "tomorrow".into() }).await.unwrap_err()), "101103");
    let y0 = pb::GetHolidayFestivalReq { year: 0, name: "春节".into() };
    assert_eq!(code(&c.get_holiday_festival(y0).await.unwrap_err()), "101103");
    let rows = c.list_holiday_source(pb::ListHolidaySourceReq { year: 2030, include_disabled: true }).await.unwrap();
    assert_eq!(rows.into_inner().items.len(), 2, "nothing stored by the refused calls");

    // the rows outlive the process
    drop(svc);
    let port = free_port();
    let _svc = start(&dir, port);
    let mut c = client(port).await;
    assert_eq!(day(&mut c, "2030-10-04").await.kind, 1);
    assert_eq!(day(&mut c, "2030-09-29").await.kind, 2);
    std::fs::remove_dir_all(&dir).ok();
}
