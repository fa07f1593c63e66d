//! The `trigger` binary against the local Redis: callbacks through the gRPC API, bad
//! arguments, and `kill -9` under load followed by a restart (every task runs at least once).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trigger_svc::pb;

mod common;
use common::{client, code, free_port, spawn_trigger, Guard, Prefix};

const REDIS: &str = "127.0.0.1:6379";

fn start(dir: &std::path::Path, prefix: &str, port: u16) -> Guard {
    start_with(dir, &format!("Redis: {{Host: '{REDIS}', Pass: '', Key: {prefix}}}\nDB: {{DataSource: ''}}"), port)
}

fn start_with(dir: &std::path::Path, store: &str, port: u16) -> Guard {
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nLog: {{Level: warn}}\n{store}\n\
         Engine: {{LeaseMs: 2000, Backoff: {{Kind: fixed, Ms: 200}}}}\n\
         Worker: {{Concurrency: 20, PollMs: 10}}\nGracePeriod: 1s\n"
    );
    spawn_trigger(dir, "trigger", &yaml)
}

/// An HTTP server recording `msgId`s; answers 200 after `delay`.
async fn http_server(delay: Duration) -> (String, Arc<Mutex<HashMap<String, (u32, serde_json::Value)>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Arc<Mutex<HashMap<String, (u32, serde_json::Value)>>> = Arc::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = l.accept().await.unwrap();
            let seen = s2.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        tokio::time::sleep(delay).await;
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        let id = v["msgId"].as_str().unwrap_or_default().to_owned();
                        seen.lock().unwrap().entry(id).or_insert((0, v.clone())).0 += 1;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_inspection_and_bad_arguments() {
    let dir = std::env::temp_dir().join(format!("trigger-svc-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = Prefix(format!("trigger-svc-test-{}", uuid::Uuid::now_v7().simple()));
    let port = free_port();
    let _svc = start(&dir, &prefix.0, port);
    let mut c = client(port).await;
    let (url, seen) = http_server(Duration::ZERO).await;

    let r = c
        .send_trigger(pb::SendTriggerReq {
            url: url.clone(),
            msg_id: "m-1".into(),
            body: r#"{"order": 42}"#.into(),
            process_in: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.queue.as_str(), r.id.as_str()), ("critical", "m-1"));
    assert_eq!(r.trace_id.len(), 32);
    let info =
        c.get_task_info(pb::GetTaskInfoReq { queue: "critical".into(), id: "m-1".into() }).await.unwrap().into_inner();
    assert_eq!(info.task_info.unwrap().state, 3, "scheduled (asynq 3)");
    let t0 = Instant::now();
    loop {
        if seen.lock().unwrap().contains_key("m-1") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "callback not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(t0.elapsed() >= Duration::from_millis(700), "ran before its process_in");
    let body = seen.lock().unwrap()["m-1"].1.clone();
    assert_eq!(body, serde_json::json!({"msgId": "m-1", "Msg": {"order": 42}}));
    // completed, kept (retention), listed
    tokio::time::sleep(Duration::from_millis(200)).await;
    let done =
        c.get_task_info(pb::GetTaskInfoReq { queue: "critical".into(), id: "m-1".into() }).await.unwrap().into_inner();
    let done = done.task_info.unwrap();
    assert_eq!((done.state, done.result.as_str()), (6, "success"));
    let list = c
        .list_completed_tasks(pb::ListCompletedTasksReq { queue: "critical".into(), page_size: 10, page_num: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.tasks_info.len(), 1);
    assert_eq!(list.queue_info.unwrap().processed_total, 1);
    assert_eq!(c.queues(pb::QueuesReq {}).await.unwrap().into_inner().queues, ["critical"]);
    // a duplicate id is refused
    let dup = c.send_trigger(pb::SendTriggerReq { url: url.clone(), msg_id: "m-1".into(), ..Default::default() }).await;
    assert_eq!(code(&dup.unwrap_err()), "102103");

    // bad arguments: clear codes, nothing stored
    let bad = [
        (pb::SendTriggerReq { url: String::new(), ..Default::default() }, "101102"),
        (pb::SendTriggerReq { url: "ftp://x/y".into(), ..Default::default() }, "101103"),
        (pb::SendTriggerReq { url: url.clone(), body: "{not json".into(), ..Default::default() }, "101103"),
        (
            pb::SendTriggerReq { url: url.clone(), trigger_time: "2001-01-01 00:00:00".into(), ..Default::default() },
            "101101",
        ),
        (pb::SendTriggerReq { url: url.clone(), trigger_time: "tomorrow".into(), ..Default::default() }, "101103"),
        (pb::SendTriggerReq { url: url.clone(), max_retry: -2, ..Default::default() }, "101103"),
        (
            pb::SendTriggerReq { url: url.clone(), body: format!("\"{}\"", "x".repeat(2 << 20)), ..Default::default() },
            "101103",
        ),
    ];
    for (req, want) in bad {
        let e = c.send_trigger(req).await.unwrap_err();
        assert_eq!(code(&e), want, "{e:?}");
    }
    let e = c
        .send_proto_trigger(pb::SendProtoTriggerReq {
            grpc_server: "nacos://u@h:8848/svc".into(),
            method: "/a.B/C".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "101103");
    let e = c
        .send_proto_trigger(pb::SendProtoTriggerReq {
            grpc_server: "h:1".into(),
            method: "C".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "101103");
    let e = c.get_queue_info(pb::GetQueueInfoReq { queue: "nope".into() }).await.unwrap_err();
    assert_eq!((e.code(), code(&e).as_str()), (tonic::Code::NotFound, "102102"));
    let e = c.historical_stats(pb::HistoricalStatsReq { queue: "critical".into(), n: 91 }).await.unwrap_err();
    assert_eq!(code(&e), "101103");
    let e = c
        .list_pending_tasks(pb::ListPendingTasksReq { queue: "critical".into(), page_size: 501, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "101103");
    let q = c.get_queue_info(pb::GetQueueInfoReq { queue: "critical".into() }).await.unwrap().into_inner();
    let q = q.queue_info.unwrap();
    assert_eq!((q.size, q.completed), (0, 1), "nothing stored by the refused calls");

    // Invoke: HTTP and gRPC calls at once (the gRPC target is this service's own health check)
    let http = |id: &str, url: String| pb::InvokeTaskPb {
        id: id.into(),
        protocol: "http".into(),
        url,
        http_method: "POST".into(),
        body: r#"{"msgId": "inv-1"}"#.into(),
        timeout: 2000,
        ..Default::default()
    };
    let grpc = |id: &str, method: &str| pb::InvokeTaskPb {
        id: id.into(),
        protocol: "grpc".into(),
        grpc_server: format!("127.0.0.1:{port}"),
        method: method.into(),
        timeout: 2000,
        ..Default::default()
    };
    let dead = free_port();
    let res = c
        .invoke(pb::InvokeReq {
            tasks: vec![
                http("h-ok", url.clone()),
                http("h-down", format!("http://127.0.0.1:{dead}/x")),
                grpc("g-ok", "/grpc.health.v1.Health/Check"),
                grpc("g-missing", "/grpc.health.v1.Health/Nope"),
            ],
            max_concurrency: 2,
            debug: false,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let by: HashMap<&str, &pb::InvokeTaskResultPb> = res.iter().map(|r| (r.id.as_str(), r)).collect();
    assert!(by["h-ok"].success && by["h-ok"].status_code == 200 && by["h-ok"].data == b"ok", "{:?}", by["h-ok"]);
    assert!(seen.lock().unwrap().contains_key("inv-1"), "the HTTP call reached the server with its body");
    assert!(!by["h-down"].success && !by["h-down"].error.is_empty());
    // HealthCheckResponse{status: SERVING} = 08 01
    assert!(by["g-ok"].success && by["g-ok"].data == [8, 1], "{:?}", by["g-ok"]);
    assert_eq!((by["g-missing"].success, by["g-missing"].status_code), (false, tonic::Code::Unimplemented as i32));
    let e = c
        .invoke(pb::InvokeReq {
            tasks: vec![pb::InvokeTaskPb { protocol: "ftp".into(), ..Default::default() }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "101103");
    assert_eq!(code(&c.invoke(pb::InvokeReq::default()).await.unwrap_err()), "101103", "tasks: min_items 1");

    // ids: {prefix}{yyyyMMddHHmmss}{seq >= 4 digits}, from the shared Redis counter
    let a =
        c.next_id(pb::NextIdReq { out_desc_type: "ORD".into(), separate: true }).await.unwrap().into_inner().next_id;
    let b = c
        .batch_next_id(pb::BatchNextIdReq { out_desc_type: "ORD".into(), separate: true, count: 3 })
        .await
        .unwrap()
        .into_inner()
        .next_ids;
    assert!(a.starts_with("ORD") && a.len() == 3 + 14 + 4 && a[3..].bytes().all(|x| x.is_ascii_digit()), "{a}");
    let seq = |s: &str| s[17..].parse::<u64>().unwrap();
    assert_eq!(b.iter().map(|x| seq(x)).collect::<Vec<_>>(), [seq(&a) + 1, seq(&a) + 2, seq(&a) + 3]);
    let d = c.next_id(pb::NextIdReq::default()).await.unwrap().into_inner().next_id;
    assert!(d.starts_with('O'), "default prefix: {d}");
    let e = c.batch_next_id(pb::BatchNextIdReq { count: 0, ..Default::default() }).await.unwrap_err();
    assert_eq!(code(&e), "101103");
    let e = c.next_id(pb::NextIdReq { out_desc_type: "x".repeat(65), separate: true }).await.unwrap_err();
    assert_eq!(code(&e), "101103");

    // plan dates from a rule
    let rule = pb::PlanRulePb { freq: 3, hours: vec![9], minutes: vec![30], ..Default::default() };
    let dates = c
        .calc_plan_task_date(pb::CalcPlanTaskDateReq {
            start_time: "2026-05-01 00:00:00".into(),
            end_time: "2026-05-03 23:59:59".into(),
            rule: Some(rule.clone()),
            exclude_dates: vec!["2026-05-02".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dates.plan_dates, ["2026-05-01 09:30:00", "2026-05-03 09:30:00"]);
    assert!(dates.rrule_str.contains("RRULE:FREQ=DAILY;"), "{}", dates.rrule_str);
    assert_eq!(dates.schedule_description, "每天 09:30");
    let bad_rule = pb::PlanRulePb { freq: 9, ..rule };
    let e = c
        .calc_plan_task_date(pb::CalcPlanTaskDateReq { rule: Some(bad_rule), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "101103");
    let e = c.calc_plan_task_date(pb::CalcPlanTaskDateReq::default()).await.unwrap_err();
    assert_eq!((code(&e).as_str(), e.message()), ("101103", "invalid CalcPlanTaskDateReq.Rule: value is required"));
    let h = c.historical_stats(pb::HistoricalStatsReq { queue: "critical".into(), n: 2 }).await.unwrap().into_inner();
    assert_eq!(h.daily_stat[0].processed, 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("trigger-svc-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = Prefix(format!("trigger-svc-test-{}", uuid::Uuid::now_v7().simple()));
    let port = free_port();
    let mut svc = start(&dir, &prefix.0, port);
    let mut c = client(port).await;
    // each callback takes 50 ms; 20 at a time: 300 tasks need ~0.75 s of work
    let (url, seen) = http_server(Duration::from_millis(50)).await;
    let n = 300;
    for i in 0..n {
        c.send_trigger(pb::SendTriggerReq { url: url.clone(), msg_id: format!("k{i}"), ..Default::default() })
            .await
            .unwrap();
    }
    // kill -9 mid-stream
    while seen.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    svc.0.kill().unwrap();
    svc.0.wait().unwrap();
    let at_kill = seen.lock().unwrap().len();
    assert!(at_kill < n, "killed too late to prove anything");
    let _svc = start(&dir, &prefix.0, port);
    let mut c = client(port).await;
    let t0 = Instant::now();
    loop {
        let done = seen.lock().unwrap().len();
        if done == n {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "only {done}/{n} callbacks arrived after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // every task ran at least once; the queue drains completely
    let seen = seen.lock().unwrap().clone();
    assert!((0..n).all(|i| seen.get(&format!("k{i}")).is_some_and(|(k, _)| *k >= 1)));
    let t1 = Instant::now();
    loop {
        let q = c.get_queue_info(pb::GetQueueInfoReq { queue: "critical".into() }).await.unwrap().into_inner();
        if q.queue_info.unwrap().size == 0 {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(10), "tasks left in the queue");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The embedded default (SQLite, no Redis): tasks survive `kill -9`, and the ones that were due
/// run after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_default_survives_kill_9() {
    let dir = std::env::temp_dir().join(format!("trigger-svc-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = format!("DB: {{DataSource: 'sqlite://{}/t.db'}}", dir.display());
    let port = free_port();
    let mut svc = start_with(&dir, &store, port);
    let mut c = client(port).await;
    let (url, seen) = http_server(Duration::ZERO).await;
    c.send_trigger(pb::SendTriggerReq {
        url: url.clone(),
        msg_id: "later".into(),
        process_in: 3600,
        ..Default::default()
    })
    .await
    .unwrap();
    c.send_trigger(pb::SendTriggerReq { url: url.clone(), msg_id: "soon".into(), process_in: 1, ..Default::default() })
        .await
        .unwrap();
    svc.0.kill().unwrap();
    svc.0.wait().unwrap();
    assert!(seen.lock().unwrap().is_empty());
    let _svc = start_with(&dir, &store, port);
    let mut c = client(port).await;
    let later = c.get_task_info(pb::GetTaskInfoReq { queue: "critical".into(), id: "later".into() }).await.unwrap();
    assert_eq!(later.into_inner().task_info.unwrap().state, 3, "still scheduled");
    let t0 = Instant::now();
    while !seen.lock().unwrap().contains_key("soon") {
        assert!(t0.elapsed() < Duration::from_secs(10), "the due task did not run after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::remove_dir_all(&dir).ok();
}
