//! Plan tasks through the `trigger` binary (SQLite default) and a real streamevent in this
//! process: items run through HandlerPlanTaskEvent, finished batches and plans reach
//! NotifyPlanEvent, callbacks finish items whose dispatch failed, bad requests store nothing.

use std::time::{Duration, Instant};
use trigger_svc::pb;

mod common;
use common::{client, code, free_port, spawn_trigger, streamevent, tempdir, Guard};

fn start(dir: &std::path::Path, streamevent: &str, port: u16) -> Guard {
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nLog: {{Level: warn}}\n\
         DB: {{DataSource: 'sqlite://{}/t.db'}}\n\
         StreamEventConf: {{Endpoints: ['{streamevent}'], Timeout: 2000}}\n\
         PlanTask: {{DataSource: '', Concurrency: 4, LeaseSeconds: 300, IdleMinMillis: 50, IdleMaxMillis: 100}}\n\
         GracePeriod: 1s\n",
        dir.display()
    );
    spawn_trigger(dir, "t", &yaml)
}

/// Daily at 08:00 over the two days before today, kept with skip_time_filter (so due now).
fn past_plan(id: &str, items: &[&str]) -> pb::CreatePlanTaskReq {
    let now = trigger_core::driver::now();
    let day = 86_400_000;
    let today =
        trigger_core::rule::parse_time(&format!("{} 00:00:00", &trigger_core::rule::format_time(now)[..10])).unwrap();
    pb::CreatePlanTaskReq {
        dept_code: "d1".into(),
        plan_id: id.into(),
        plan_name: format!("name {id}"),
        r#type: "inspect".into(),
        start_time: trigger_core::rule::format_time(today - 2 * day),
        end_time: trigger_core::rule::format_time(today - 1000),
        rule: Some(pb::PlanRulePb { freq: 3, hours: vec![8], minutes: vec![0], ..Default::default() }),
        exec_items: items
            .iter()
            .map(|i| pb::CreatePlanExecItemPb {
                item_id: (*i).into(),
                item_name: format!("item {i}"),
                point_id: format!("pt-{i}"),
                payload: format!(r#"{{"item":"{i}"}}"#),
                ..Default::default()
            })
            .collect(),
        skip_time_filter: true,
        batch_num_prefix: "B".into(),
        ..Default::default()
    }
}

async fn wait<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_runs_through_streamevent_and_reports_its_end() {
    let dir = tempdir();
    let port = free_port();
    let (se, db) = streamevent().await;
    let _svc = start(&dir, &se, port);
    let mut c = client(port).await;

    let made = c.create_plan_task(past_plan("p1", &["a", "b"])).await.unwrap().into_inner();
    assert_eq!((made.plan_id.as_str(), made.batch_cnt, made.exec_cnt), ("p1", 2, 4));
    assert_eq!(code(&c.create_plan_task(past_plan("p1", &["a"])).await.unwrap_err()), "102103");

    let events = wait("PLAN_FINISHED at streamevent", async || {
        let ev = db.events("plan_event").await.unwrap();
        ev.iter().any(|(_, p)| p.contains("PLAN_FINISHED")).then_some(ev)
    })
    .await;
    let kinds: Vec<String> = events
        .iter()
        .map(|(_, p)| serde_json::from_str::<serde_json::Value>(p).unwrap()["eventType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, vec!["BATCH_FINISHED", "BATCH_FINISHED", "PLAN_FINISHED"]);
    let tasks = db.events("plan_task").await.unwrap();
    assert_eq!(tasks.len(), 4, "each item once");
    let first: serde_json::Value = serde_json::from_str(&tasks[0].1).unwrap();
    assert_eq!(first["planId"], "p1");
    assert!(first["PointId"].as_str().unwrap().starts_with("pt-"), "{first}");
    assert!(first["payload"].as_str().unwrap().starts_with(r#"{"item""#), "{first}");
    assert!(first["planTriggerTime"].as_str().unwrap().ends_with("08:00:00"), "{first}");

    let plan = c
        .get_plan(pb::GetPlanReq { plan_id: "p1".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!((plan.id, plan.status, plan.scan_flg, plan.progress), (made.id, 1, 1, 100.0));
    assert!(plan.rrule_str.contains("FREQ=DAILY"), "{}", plan.rrule_str);
    assert_eq!(plan.rule.unwrap().hours, vec![8]);
    assert!(!plan.schedule_description.is_empty());
    let batches = c
        .list_plan_batches(pb::ListPlanBatchesReq { plan_id: "p1".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batches.total, 2);
    let b = &batches.plan_batches[0];
    assert_eq!((b.exec_cnt, b.status_count_map.get("200").copied()), (2, Some(2)));
    assert!(b.batch_name.starts_with("name p1@") && b.batch_num.starts_with('B') && !b.finished_time.is_empty());
    let got =
        c.get_plan_batch(pb::GetPlanBatchReq { batch_id: b.batch_id.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(got.into_inner().plan_batch.unwrap().id, b.id);
    let items = c
        .list_plan_exec_items(pb::ListPlanExecItemsReq {
            plan_id: "p1".into(),
            item_id: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(items.total, 2);
    assert!(items
        .plan_exec_items
        .iter()
        .all(|i| i.status == 200 && i.trigger_count == 1 && i.last_result == "completed"));
    let one = c
        .get_plan_exec_item(pb::GetPlanExecItemReq {
            exec_id: items.plan_exec_items[0].exec_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.plan_exec_item[0].point_id, "pt-a");
    let logs = c
        .list_plan_exec_logs(pb::ListPlanExecLogsReq { plan_id: "p1".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(logs.total, 4);
    let log = c
        .get_plan_exec_log(pb::GetPlanExecLogReq { id: logs.plan_exec_logs[0].id.clone() })
        .await
        .unwrap()
        .into_inner()
        .plan_exec_log
        .unwrap();
    assert_eq!((log.plan_name.as_str(), log.message.as_str()), ("name p1", "recorded"));
    let dash = c
        .get_exec_item_dashboard(pb::GetExecItemDashboardReq { dept_code: "d1".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dash.stats.len(), 1);
    assert_eq!((dash.stats[0].total, dash.stats[0].finished.unwrap().total), (4, 4));
    let listed =
        c.list_plans(pb::ListPlansReq { plan_name: "p1".into(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!((listed.total, listed.plans[0].progress), (1, 100.0));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dispatch_waits_for_a_callback_and_states_are_enforced() {
    let dir = tempdir();
    let port = free_port();
    // nothing listens there: every dispatch fails and the item stays running under its lease
    let _svc = start(&dir, "http://127.0.0.1:1", port);
    let mut c = client(port).await;
    c.create_plan_task(past_plan("p2", &["x"])).await.unwrap();
    let list = async |c: &mut common::Client| {
        c.list_plan_exec_items(pb::ListPlanExecItemsReq { plan_id: "p2".into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .plan_exec_items
    };
    let running = wait("two dispatch failures", async || {
        let l = list(&mut c).await;
        l.iter().all(|i| i.status == 100 && i.last_result == "dispatch_failed").then_some(l)
    })
    .await;
    assert_eq!(running.len(), 2);
    let pause = pb::PausePlanReq { plan_id: "p2".into(), reason: "stop".into(), ..Default::default() };
    let resume = pb::ResumePlanReq { plan_id: "p2".into(), ..Default::default() };
    let terminate = pb::TerminatePlanReq { plan_id: "p2".into(), reason: "stop".into(), ..Default::default() };
    assert_eq!(code(&c.terminate_plan(terminate.clone()).await.unwrap_err()), "105102", "items are running");
    let exec_id = |i: usize| running[i].exec_id.clone();
    let pause_item = |i: usize| pb::PausePlanExecItemReq { exec_id: exec_id(i), ..Default::default() };
    assert_eq!(code(&c.pause_plan_exec_item(pause_item(0)).await.unwrap_err()), "105102");
    let run = pb::RunPlanExecItemReq { exec_id: exec_id(0), ..Default::default() };
    assert_eq!(code(&c.run_plan_exec_item(run).await.unwrap_err()), "105102");

    let done = |i: usize, r: &str| pb::CallbackPlanExecItemReq {
        exec_id: running[i].exec_id.clone(),
        exec_result: r.into(),
        message: "by callback".into(),
        ..Default::default()
    };
    assert_eq!(code(&c.callback_plan_exec_item(done(0, "finished")).await.unwrap_err()), "101103");
    c.callback_plan_exec_item(done(0, "completed")).await.unwrap();
    assert_eq!(
        code(&c.callback_plan_exec_item(done(0, "completed")).await.unwrap_err()),
        "105102",
        "not running any more"
    );
    let mut delay = done(1, "delayed");
    delay.delay_config =
        Some(pb::DelayConfigPb { next_trigger_time: "2099-01-01 00:00:00".into(), delay_reason: "busy".into() });
    c.callback_plan_exec_item(delay).await.unwrap();
    let after = list(&mut c).await;
    let by_id = |id: &str| after.iter().find(|i| i.exec_id == id).unwrap().clone();
    let (a, b) = (by_id(&running[0].exec_id), by_id(&running[1].exec_id));
    assert_eq!((a.status, a.last_message.as_str()), (200, "by callback"));
    assert_eq!((b.status, b.next_trigger_time.as_str()), (10, "2099-01-01 00:00:00"));
    assert!(b.last_reason.starts_with("busy, by callback, 下次重试时间"), "{}", b.last_reason);

    // pause and resume the delayed item, then terminate the plan: nothing runs any more
    c.pause_plan_exec_item(pause_item(1)).await.unwrap();
    c.resume_plan_exec_item(pb::ResumePlanExecItemReq { exec_id: exec_id(1), ..Default::default() }).await.unwrap();
    c.pause_plan(pause).await.unwrap();
    let plan = c
        .get_plan(pb::GetPlanReq { plan_id: "p2".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!((plan.status, plan.paused_reason.as_str(), plan.progress), (2, "stop", 50.0));
    c.resume_plan(resume.clone()).await.unwrap();
    c.terminate_plan(terminate).await.unwrap();
    let plan =
        c.get_plan(pb::GetPlanReq { id: plan.id, ..Default::default() }).await.unwrap().into_inner().plan.unwrap();
    assert_eq!((plan.status, plan.terminated_reason.as_str()), (3, "stop"));
    assert_eq!(code(&c.resume_plan(resume).await.unwrap_err()), "105102");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plan_requests_are_refused_and_store_nothing() {
    let dir = tempdir();
    let port = free_port();
    let _svc = start(&dir, "http://127.0.0.1:1", port);
    let mut c = client(port).await;
    type Edit = Box<dyn Fn(&mut pb::CreatePlanTaskReq)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("101103", Box::new(|r| r.plan_id.clear())),
        ("101103", Box::new(|r| r.dept_code.clear())),
        ("101103", Box::new(|r| r.exec_items.clear())),
        ("101103", Box::new(|r| r.rule = None)),
        ("101103", Box::new(|r| r.rule.as_mut().unwrap().hours.clear())),
        ("101103", Box::new(|r| r.rule.as_mut().unwrap().freq = 9)),
        ("101103", Box::new(|r| r.start_time = "yesterday".into())),
        ("101103", Box::new(|r| r.end_time = "2010-01-01 00:00:00".into())),
        ("101103", Box::new(|r| r.interval_type = 7)),
        ("101103", Box::new(|r| r.description = "d".repeat(201))),
        ("101101", Box::new(|r| r.skip_time_filter = false)),
        (
            "101101",
            Box::new(|r| {
                r.exec_items = (0..2600)
                    .map(|i| pb::CreatePlanExecItemPb { item_id: i.to_string(), ..Default::default() })
                    .collect()
            }),
        ),
    ];
    for (want, f) in &cases {
        let mut r = past_plan("bad", &["a"]);
        f(&mut r);
        let e = c.create_plan_task(r).await.unwrap_err();
        assert_eq!(code(&e), *want, "{e:?}");
    }
    let none = pb::PausePlanReq::default();
    assert_eq!(code(&c.pause_plan(none).await.unwrap_err()), "101103");
    let long = pb::PausePlanReq { plan_id: "x".into(), reason: "r".repeat(201), ..Default::default() };
    let e = c.pause_plan(long).await.unwrap_err();
    assert_eq!((e.code(), code(&e).as_str()), (tonic::Code::InvalidArgument, "101103"));
    assert_eq!(e.message(), "invalid PausePlanReq.Reason: value length must be at most 200 runes");
    let missing = pb::PausePlanReq { plan_id: "missing".into(), ..Default::default() };
    assert_eq!(code(&c.pause_plan(missing).await.unwrap_err()), "102102");
    c.resume_plan(pb::ResumePlanReq { plan_id: "missing".into(), ..Default::default() })
        .await
        .expect("resuming a missing plan is a no-op");
    // ids are strings on the wire: one that no plan of ours has is not found
    let e = c.get_plan(pb::GetPlanReq { id: "0192f0c1-uuid".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(code(&e), "102102");
    let e = c
        .get_plan_exec_item(pb::GetPlanExecItemReq { exec_id: "nope".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.code(), code(&e).as_str()), (tonic::Code::NotFound, "102102"));
    let ints = pb::ListPlanExecLogsReq { exec_result: vec![1], ..Default::default() };
    assert_eq!(code(&c.list_plan_exec_logs(ints).await.unwrap_err()), "101103");
    let page = pb::ListPlansReq { page_size: 5000, ..Default::default() };
    assert_eq!(code(&c.list_plans(page).await.unwrap_err()), "101103");
    assert_eq!(c.list_plans(pb::ListPlansReq::default()).await.unwrap().into_inner().total, 0, "nothing stored");
    std::fs::remove_dir_all(&dir).ok();
}
