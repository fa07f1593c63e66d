//! Cron jobs through the `trigger` binary: the RPCs on the SQLite default, and three instances
//! on one Redis calling a real streamevent (in process, SQLite) - each occurrence once, and a
//! killed instance's work taken over after the lease.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use trigger_svc::pb;

mod common;
use common::{client, code, free_port, spawn_trigger, streamevent, tempdir, Guard, Prefix};

fn start(dir: &std::path::Path, name: &str, store: &str, streamevent: &str, port: u16) -> Guard {
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nLog: {{Level: warn}}\n{store}\n\
         StreamEventConf: {{Endpoints: ['{streamevent}'], Timeout: 2000}}\n\
         CronTask: {{MaxDelay: 60s, LeaseSeconds: 3, MinLeaseSeconds: 1, ScanMillis: 20}}\n\
         GracePeriod: 1s\n"
    );
    spawn_trigger(dir, name, &yaml)
}

fn daily_at_nine() -> pb::PlanRulePb {
    pb::PlanRulePb { freq: 3, hours: vec![9], minutes: vec![0], ..Default::default() }
}

fn create(code: &str) -> pb::CreateCronJobReq {
    pb::CreateCronJobReq {
        task_code: code.into(),
        task_name: format!("name {code}"),
        r#type: "report".into(),
        dept_code: "d1".into(),
        start_time: "2026-01-01 00:00:00".into(),
        end_time: "2099-12-31 23:59:59".into(),
        rule: Some(daily_at_nine()),
        payload: r#"{"k": 1}"#.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_job_rpcs_on_the_sqlite_default() {
    let dir = tempdir();
    let port = free_port();
    let store = format!("DB: {{DataSource: 'sqlite://{}/t.db'}}", dir.display());
    let _svc = start(&dir, "a", &store, "http://127.0.0.1:1", port);
    let mut c = client(port).await;

    let made = c.create_cron_job(create("c1")).await.unwrap().into_inner();
    assert_eq!(made.job_id.len(), 32);
    assert!(made.next_run.ends_with("09:00:00"), "{}", made.next_run);
    assert_eq!(made.group_id.len(), 36, "a new UUID group");
    assert_eq!(code(&c.create_cron_job(create("c1")).await.unwrap_err()), "102103");

    // refused, and nothing stored
    let mut no_hours = create("c2");
    no_hours.rule = Some(pb::PlanRulePb { freq: 3, minutes: vec![0], ..Default::default() });
    assert_eq!(code(&c.create_cron_job(no_hours).await.unwrap_err()), "101103");
    let mut bad_freq = create("c2");
    bad_freq.rule = Some(pb::PlanRulePb { freq: 17, ..daily_at_nine() });
    assert_eq!(code(&c.create_cron_job(bad_freq).await.unwrap_err()), "101103");
    let mut not_json = create("c2");
    not_json.payload = "{oops".into();
    assert_eq!(code(&c.create_cron_job(not_json).await.unwrap_err()), "101103");
    let mut no_type = create("c2");
    no_type.r#type.clear();
    // the upstream validate rule (type: min_len 1) refuses it before the handler runs
    let e = c.create_cron_job(no_type).await.unwrap_err();
    assert_eq!(
        (code(&e).as_str(), e.message()),
        ("101103", "invalid CreateCronJobReq.Type: value length must be at least 1 runes")
    );
    let mut past_range = create("c2");
    past_range.end_time = "2025-01-01 00:00:00".into();
    assert_eq!(code(&c.create_cron_job(past_range).await.unwrap_err()), "101103");
    let all = c.list_cron_jobs(pb::ListCronJobsReq::default()).await.unwrap().into_inner();
    assert_eq!(all.total, 1);

    let got =
        c.get_cron_job(pb::GetCronJobReq { job_id: made.job_id.clone() }).await.unwrap().into_inner().cron_job.unwrap();
    assert_eq!((got.task_code.as_str(), got.status, got.payload.as_str()), ("c1", 1, r#"{"k": 1}"#));
    assert!(got.rrule_str.contains("RRULE:FREQ=DAILY"), "{}", got.rrule_str);
    assert_eq!(got.schedule_description, "每天 09:00");

    let p = c
        .preview_cron_job_schedule(pb::PreviewCronJobScheduleReq { job_id: made.job_id.clone(), count: 3 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.execution_times.len(), 3);
    assert!(p.execution_times.windows(2).all(|w| w[0] < w[1]) && p.execution_times[0] == got.next_run);
    let e = c
        .preview_cron_job_schedule(pb::PreviewCronJobScheduleReq { job_id: made.job_id.clone(), count: 101 })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "101103");

    // update, disable, enable, submit, filters, delete
    let up = pb::UpdateCronJobReq {
        job_id: made.job_id.clone(),
        task_name: "renamed".into(),
        start_time: "2026-01-01 00:00:00".into(),
        rule: Some(pb::PlanRulePb { hours: vec![18], ..daily_at_nine() }),
        ..Default::default()
    };
    let u = c.update_cron_job(up).await.unwrap().into_inner();
    assert!(u.next_run.ends_with("18:00:00") && u.task_code == "c1");
    c.disable_cron_job(pb::DisableCronJobReq { job_id: made.job_id.clone() }).await.unwrap();
    let off =
        c.get_cron_job(pb::GetCronJobReq { job_id: made.job_id.clone() }).await.unwrap().into_inner().cron_job.unwrap();
    assert_eq!((off.status, off.next_run.as_str(), off.task_name.as_str()), (0, "", "renamed"));
    let listed = c
        .list_cron_jobs(pb::ListCronJobsReq { status: vec![0], task_name: "ren".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total, 1);
    c.enable_cron_job(pb::EnableCronJobReq { job_id: made.job_id.clone() }).await.unwrap();
    let on =
        c.get_cron_job(pb::GetCronJobReq { job_id: made.job_id.clone() }).await.unwrap().into_inner().cron_job.unwrap();
    assert!(on.status == 1 && on.next_run.ends_with("18:00:00"));
    let mut again = create("c1");
    again.task_name = "submitted".into();
    let s = c.submit_cron_job(submit(&again)).await.unwrap().into_inner();
    assert_eq!(s.job_id, made.job_id, "submit keeps the job id");
    let mut other_type = create("c1");
    other_type.r#type = "changed".into();
    assert_eq!(code(&c.submit_cron_job(submit(&other_type)).await.unwrap_err()), "101103");
    // a manual run against an unreachable streamevent: one failed cron_exec_log row
    c.run_cron_job(pb::RunCronJobReq { job_id: made.job_id.clone() }).await.unwrap();
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/t.db", dir.display())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let row: (String, String, i64, String) = loop {
        let r = sqlx::query_as("SELECT job_id, task_code, status, error_message FROM cron_exec_log")
            .fetch_optional(&db)
            .await
            .unwrap();
        if let Some(r) = r {
            break r;
        }
        assert!(Instant::now() < deadline, "no cron_exec_log row");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((row.0.as_str(), row.1.as_str(), row.2), (made.job_id.as_str(), "c1", 0));
    assert!(row.3.contains("rpc error"), "{}", row.3);
    c.delete_cron_job(pb::DeleteCronJobReq { job_id: made.job_id.clone() }).await.unwrap();
    c.delete_cron_job(pb::DeleteCronJobReq { job_id: made.job_id.clone() }).await.unwrap();
    let e = c.get_cron_job(pb::GetCronJobReq { job_id: made.job_id.clone() }).await.unwrap_err();
    assert_eq!((e.code(), code(&e).as_str()), (tonic::Code::NotFound, "102102"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Occurrences `n` seconds apart from about 3 s from now, as specified times of a job whose
/// own rule fires once a year.
fn every_second_job(code: &str, n: usize) -> (pb::CreateCronJobReq, Vec<String>) {
    let base = (trigger_core::driver::now() / 1000 + 3) * 1000;
    let times: Vec<String> = (0..n).map(|i| trigger_core::rule::format_time(base + i as i64 * 1000)).collect();
    let year = &times[0][..4];
    let req = pb::CreateCronJobReq {
        task_code: code.into(),
        task_name: code.into(),
        r#type: "t".into(),
        dept_code: "d".into(),
        start_time: format!("{year}-01-01 00:00:00"),
        end_time: format!("{year}-12-31 23:59:59"),
        rule: Some(pb::PlanRulePb {
            freq: 0,
            month: vec![1],
            day: vec![1],
            hours: vec![0],
            minutes: vec![0],
            ..Default::default()
        }),
        specified_times: times.clone(),
        ..Default::default()
    };
    (req, times)
}

async fn fired(db: &streamevent::store::Db, job_id: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (key, payload) in db.events("cron_job").await.unwrap() {
        if key == job_id {
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
            *out.entry(v["scheduledTime"].as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_redis_fire_each_occurrence_once_and_take_over() {
    let dir = tempdir();
    let prefix = Prefix(format!("trigger-cron-{}", uuid::Uuid::now_v7().simple()));
    let store = format!("Redis: {{Host: '127.0.0.1:6379', Pass: '', Key: {}}}\nDB: {{DataSource: ''}}", prefix.0);
    let (se, db) = streamevent().await;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut procs: Vec<Guard> =
        ports.iter().enumerate().map(|(i, p)| start(&dir, &format!("i{i}"), &store, &se, *p)).collect();
    let mut c = client(ports[0]).await;
    for p in &ports[1..] {
        client(*p).await;
    }

    // 1. three instances: each occurrence exactly once
    let (req, times) = every_second_job("three", 5);
    let job = c.create_cron_job(req).await.unwrap().into_inner().job_id;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fired(&db, &job).await.len() < times.len() {
        assert!(Instant::now() < deadline, "fired so far: {:?}", fired(&db, &job).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let f = fired(&db, &job).await;
    assert_eq!(f.len(), times.len());
    for t in &times {
        assert_eq!(f.get(t), Some(&1), "occurrence {t}: {f:?}");
    }

    // 2. kill -9 one instance while occurrences are due: every occurrence still fires (the dead
    //    instance's claim is taken over once its 3 s lease runs out), at most once more
    let (req, times) = every_second_job("kill", 6);
    let job = c.create_cron_job(req).await.unwrap().into_inner().job_id;
    while fired(&db, &job).await.is_empty() {
        assert!(Instant::now() < deadline + Duration::from_secs(20), "nothing fired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut killed = procs.remove(1);
    killed.0.kill().unwrap();
    killed.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fired(&db, &job).await.len() < times.len() {
        assert!(Instant::now() < deadline, "after the kill, fired: {:?}", fired(&db, &job).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let f = fired(&db, &job).await;
    for t in &times {
        assert!(matches!(f.get(t), Some(1 | 2)), "occurrence {t}: {f:?}");
    }
    let stored = c.get_cron_job(pb::GetCronJobReq { job_id: job }).await.unwrap().into_inner().cron_job.unwrap();
    assert!(!stored.last_run.is_empty());

    // 3. RunCronJob calls the handler once now, even for a disabled job, and records the run
    let (req, _) = every_second_job("manual", 1);
    let job = c.create_cron_job(req).await.unwrap().into_inner().job_id;
    c.disable_cron_job(pb::DisableCronJobReq { job_id: job.clone() }).await.unwrap();
    let trace = c.run_cron_job(pb::RunCronJobReq { job_id: job.clone() }).await.unwrap().into_inner().trace_id;
    assert_eq!(trace.len(), 32);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let j = c.get_cron_job(pb::GetCronJobReq { job_id: job.clone() }).await.unwrap().into_inner().cron_job.unwrap();
        if !j.last_run.is_empty() && fired(&db, &job).await.values().sum::<usize>() == 1 {
            assert_eq!((j.status, j.next_run.as_str()), (0, ""), "still disabled");
            break;
        }
        assert!(Instant::now() < deadline, "manual run not recorded: {j:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// SubmitCronJobReq has CreateCronJobReq's fields under the same numbers: the same bytes.
fn submit(r: &pb::CreateCronJobReq) -> pb::SubmitCronJobReq {
    use prost::Message;
    pb::SubmitCronJobReq::decode(r.encode_to_vec().as_slice()).unwrap()
}
