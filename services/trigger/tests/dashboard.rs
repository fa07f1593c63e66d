//! The trigger service's dashboard on its metrics port, with the real binary: no or a bad token
//! gets 401 and nothing of the page; in headless Chromium a queue is paused, a failed task
//! retried and a plan paused from the page, and the gRPC API then reports each change; a cron
//! job shows its next run. Screenshots under `target/screenshots/`.

mod common;

use common::{client, free_port, spawn_trigger, tempdir};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::http::get_text as get;
use trigger_svc::pb;

const SECRET: &str = "dashboard-test-secret-0123456789abcdef";

fn token() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    zero_edge::auth::JwtAuth::new(SECRET, "", 3600).issue("operator", [], now).unwrap().access_token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_tasks_and_plans_are_operated_from_the_page_and_the_api_sees_it() {
    let dir = tempdir();
    let (port, metrics) = (free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: 127.0.0.1:{metrics}}}\n\
         Dashboard: {{AccessSecret: {SECRET}}}\nDB: {{DataSource: ''}}\n\
         StreamEventConf: {{Endpoints: ['http://127.0.0.1:{}'], Timeout: 1000}}\n",
        free_port()
    );
    let _svc = spawn_trigger(&dir, "dashboard", &yaml);
    let mut c = client(port).await;

    // a callback that cannot be delivered (nothing listens): the task waits for its retry
    let closed = free_port();
    let sent = c
        .send_trigger(pb::SendTriggerReq {
            url: format!("http://127.0.0.1:{closed}/callback"),
            msg_id: "fails-once".into(),
            body: r#"{"order": 7}"#.into(),
            max_retry: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let task = |c: &mut pb::trigger_rpc_client::TriggerRpcClient<_>| {
        let mut c = c.clone();
        async move {
            c.get_task_info(pb::GetTaskInfoReq { queue: "critical".into(), id: "fails-once".into() })
                .await
                .unwrap()
                .into_inner()
                .task_info
                .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while task(&mut c).await.state != 4 {
        assert!(Instant::now() < deadline, "the task never went to retry: {:?}", task(&mut c).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // a plan with items to come, and a cron job
    let day = 86_400_000;
    let t = trigger_core::driver::now();
    let plan = c
        .create_plan_task(pb::CreatePlanTaskReq {
            dept_code: "d1".into(),
            plan_id: "inspect-1".into(),
            plan_name: "inspection".into(),
            r#type: "inspect".into(),
            start_time: trigger_core::rule::format_time(t + day),
            end_time: trigger_core::rule::format_time(t + 4 * day),
            rule: Some(pb::PlanRulePb { freq: 3, hours: vec![8], minutes: vec![0], ..Default::default() }),
            exec_items: ["a", "b"]
                .iter()
                .map(|i| pb::CreatePlanExecItemPb {
                    item_id: (*i).into(),
                    item_name: format!("item {i}"),
                    point_id: format!("pt-{i}"),
                    payload: "{}".into(),
                    ..Default::default()
                })
                .collect(),
            skip_time_filter: true,
            batch_num_prefix: "B".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let cron = c
        .create_cron_job(pb::CreateCronJobReq {
            task_code: "nightly".into(),
            task_name: "nightly report".into(),
            r#type: "report".into(),
            dept_code: "d1".into(),
            start_time: "2026-01-01 00:00:00".into(),
            end_time: "2099-12-31 23:59:59".into(),
            rule: Some(pb::PlanRulePb { freq: 3, hours: vec![9], minutes: vec![0], ..Default::default() }),
            payload: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // no token, a bad token: 401 and nothing of the page; the metrics stay open to scrapers
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(metrics, "/metrics").await.0 != 200 {
        assert!(Instant::now() < deadline, "no metrics endpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for path in [
        "/",
        "/api/dashboard",
        "/api/dashboard/events",
        "/?token=abc.def.ghi",
        "/api/dashboard/tasks/detail?key=queue:critical",
    ] {
        let (status, body) = get(metrics, path).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(!body.contains("critical") && !body.contains("<table"), "{path}: {body}");
    }
    let (status, body) = testkit::http::request_with(
        metrics,
        "POST",
        "/api/dashboard/tasks/action",
        &[("content-type", "application/json")],
        br#"{"action":"pause","key":"queue:critical"}"#,
    )
    .await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    let t = token();
    testkit::http::dashboard_views(metrics, &format!("?token={t}"), |v| {
        let text = v.to_string();
        text.contains("\"queue:critical\"") && text.contains("inspect-1") && text.contains("nightly")
    })
    .await;

    // a plan's detail: its batches with their items by state, and its items
    let (status, body) = get(metrics, &format!("/api/dashboard/tasks/detail?key=plan:{}&token={t}", plan.id)).await;
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    let batches = detail["tables"][0]["rows"].as_array().unwrap();
    assert_eq!(batches.len() as i64, plan.batch_cnt, "{detail}");
    assert!(batches.iter().all(|b| b["cells"][4] == "2" && b["cells"][8] == "0%"), "two waiting items each: {detail}");
    assert_eq!(detail["tables"][1]["title"], format!("Items ({0} shown of {0})", plan.exec_cnt), "{detail}");
    let items: std::collections::BTreeSet<&str> =
        detail["tables"][1]["rows"].as_array().unwrap().iter().map(|r| r["cells"][1].as_str().unwrap()).collect();
    assert_eq!(items, ["a", "b"].into(), "{detail}");

    // in Chromium
    let shots = testkit::browser::screenshot_dir();
    let task_key = "task:critical\u{1f}fails-once";
    let out = Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testkit/js/tasks.mjs"))
        .arg(format!("http://127.0.0.1:{metrics}/?token={t}"))
        .arg(&shots)
        .arg(task_key)
        .arg(format!("plan:{}", plan.id))
        .arg(format!("cron:{}", cron.job_id))
        .stderr(Stdio::inherit())
        .output()
        .expect("node (scripts/test installs playwright-core and chromium)");
    let text = String::from_utf8_lossy(&out.stdout);
    let done: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(done["step"], "done", "{done}");
    assert_eq!(done["errors"], serde_json::json!([]), "no console error: {done}");
    assert!(done["note"].as_str().unwrap().contains("fails-once"), "{done}");
    assert_eq!(done["cronNext"], serde_json::json!(cron.next_run), "the cron job's next run: {done}");
    assert!(done["overflow"].as_i64().unwrap() <= 0, "the page fits a phone's width: {done}");

    // what the page did, through the gRPC API: the queue paused, the task pending again (the
    // paused queue holds it), the plan paused
    let q = c
        .get_queue_info(pb::GetQueueInfoReq { queue: "critical".into() })
        .await
        .unwrap()
        .into_inner()
        .queue_info
        .unwrap();
    assert!(q.paused, "{q:?}");
    let info = task(&mut c).await;
    assert_eq!(info.state, 2, "pending after \"retry now\": {info:?}");
    assert_eq!(info.retried, 1, "{info:?}");
    let p = c.get_plan(pb::GetPlanReq { id: plan.id.clone(), plan_id: String::new() }).await.unwrap().into_inner();
    assert_eq!(p.plan.unwrap().status, 2, "paused");
    let _ = sent;
}
