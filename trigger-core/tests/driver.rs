//! The worker pool with real callbacks: an HTTP server (hyper) and a gRPC server (tonic's
//! health service) on loopback, over the memory store and a real Redis.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trigger_core::callback::{Callbacks, GrpcTask, HttpTask, GRPC_TASK, HTTP_TASK};
use trigger_core::driver::{self, now, WorkerConfig};
use trigger_core::store::{MemoryStore, RedisStore, Store};
use trigger_core::task::{Backoff, NewTask, TaskState};
use trigger_core::Config;

const REDIS: &str = "redis://127.0.0.1:6379/0";

#[derive(Default)]
struct Seen {
    /// path -> bodies received
    bodies: HashMap<String, Vec<serde_json::Value>>,
}

/// An HTTP server: `/ok` answers 200, `/flaky` 500 twice then 200, `/gone` 404, `/slow` sleeps.
async fn http_server() -> (String, Arc<Mutex<Seen>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = l.accept().await.unwrap();
            let seen = s2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        let n = {
                            let mut s = seen.lock().unwrap();
                            let e = s.bodies.entry(path.clone()).or_default();
                            e.push(v);
                            e.len()
                        };
                        let status = match path.as_str() {
                            "/ok" => 200,
                            "/flaky" if n > 2 => 200,
                            "/flaky" => 500,
                            "/slow" => {
                                tokio::time::sleep(Duration::from_secs(5)).await;
                                200
                            }
                            _ => 404,
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"{}")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// A real tonic server (the health service) to call by raw bytes.
async fn grpc_server() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l)),
    );
    addr.to_string()
}

fn http_task(id: &str, url: String, msg: serde_json::Value) -> NewTask {
    let p = HttpTask { msg_id: String::new(), url, msg: Some(msg), ..Default::default() };
    NewTask::new("critical", HTTP_TASK, serde_json::to_vec(&p).unwrap()).with_id(id)
}

async fn wait_state(s: &impl Store, q: &str, id: &str, want: TaskState) {
    for _ in 0..200 {
        match s.task(q, id).await {
            Ok(t) if t.state == want => return,
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    panic!("{id} never reached {want:?}: {:?}", s.task(q, id).await);
}

async fn wait_gone(s: &impl Store, q: &str, id: &str) {
    for _ in 0..200 {
        if s.task(q, id).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} still stored: {:?}", s.task(q, id).await);
}

async fn callbacks_decide<S: Store + Clone>(store: S) {
    let (base, seen) = http_server().await;
    let grpc = grpc_server().await;
    let cb = Callbacks::new();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(driver::run(
        store.clone(),
        move |l| {
            let cb = cb.clone();
            async move { cb.run(l).await }
        },
        WorkerConfig::default(),
        async {
            let _ = stop_rx.await;
        },
    ));
    let t0 = now();
    store.enqueue(http_task("ok", format!("{base}/ok"), serde_json::json!({"a": 1})), t0).await.unwrap();
    store.enqueue(http_task("flaky", format!("{base}/flaky"), serde_json::json!("x")), t0).await.unwrap();
    store.enqueue(http_task("gone", format!("{base}/gone"), serde_json::json!(null)), t0).await.unwrap();
    let check = GrpcTask {
        grpc_server: grpc.clone(),
        method: "/grpc.health.v1.Health/Check".into(),
        payload: String::new(), // an empty HealthCheckRequest: the server's overall status
        request_timeout: 2000,
        ..Default::default()
    };
    let missing = GrpcTask { method: "/grpc.health.v1.Health/Nope".into(), ..check.clone() };
    for (id, p) in [("rpc-ok", &check), ("rpc-missing", &missing)] {
        let t =
            NewTask::new("critical", GRPC_TASK, serde_json::to_vec(p).unwrap()).with_id(id).with_retention_ms(60_000);
        store.enqueue(t, t0).await.unwrap();
    }

    wait_gone(&store, "critical", "ok").await;
    wait_gone(&store, "critical", "flaky").await;
    wait_state(&store, "critical", "gone", TaskState::Archived).await;
    wait_state(&store, "critical", "rpc-ok", TaskState::Completed).await;
    wait_state(&store, "critical", "rpc-missing", TaskState::Archived).await;
    let _ = stop_tx.send(());
    worker.await.unwrap();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    // the upstream body: {"msgId": <task id when none given>, "Msg": <msg>}
    assert_eq!(seen.bodies["/ok"], [serde_json::json!({"msgId": "ok", "Msg": {"a": 1}})]);
    assert_eq!(seen.bodies["/flaky"].len(), 3, "two failures retried, then success");
    assert_eq!(seen.bodies["/gone"].len(), 1, "a 404 is not retried");
    let gone = store.task("critical", "gone").await.unwrap();
    assert_eq!(gone.last_err, "fail,httpCode error: 404");
    let ok = store.task("critical", "rpc-ok").await.unwrap();
    assert_eq!(ok.result, b"success");
    let missing = store.task("critical", "rpc-missing").await.unwrap();
    assert!(
        missing.last_err.contains("Unimplemented") || missing.last_err.contains("not implemented"),
        "{}",
        missing.last_err
    );
}

fn fast_retry() -> Config {
    Config { backoff: Backoff::Fixed { ms: 100 }, ..Config::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_on_memory_store() {
    callbacks_decide(MemoryStore::new(fast_retry())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_on_redis_store() {
    let prefix = format!("trigger-test-{}", uuid::Uuid::now_v7());
    let s = RedisStore::connect(REDIS, &prefix, fast_retry()).await.expect("Redis on 127.0.0.1:6379");
    callbacks_decide(s).await;
    cleanup(&prefix);
}

fn cleanup(prefix: &str) {
    let mut c = redis::Client::open(REDIS).unwrap().get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut c).unwrap();
    for k in keys {
        let _: i64 = redis::cmd("DEL").arg(k).query(&mut c).unwrap();
    }
}

/// A worker that dies with tasks in hand (its future dropped: no ack, no heartbeat) loses
/// them to lease expiry; a second worker on the same Redis then runs every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_tasks_run_after_its_lease() {
    let prefix = format!("trigger-test-{}", uuid::Uuid::now_v7());
    let cfg = Config { lease_ms: 1000, backoff: Backoff::Fixed { ms: 0 }, ..Config::default() };
    let s = RedisStore::connect(REDIS, &prefix, cfg).await.unwrap();
    let ran: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    for i in 0..200 {
        s.enqueue(NewTask::new("default", "noop", vec![]).with_id(format!("t{i}")), now()).await.unwrap();
    }
    // worker 1 hangs on every task, then is killed
    let w1 = tokio::spawn(driver::run(
        s.clone(),
        |_l| async {
            std::future::pending::<()>().await;
            trigger_core::task::Outcome::success("")
        },
        WorkerConfig { concurrency: 50, ..WorkerConfig::default() },
        std::future::pending(),
    ));
    testkit::wait::until("worker 1 to hold all 50 tasks", Duration::from_secs(10), || {
        let s = s.clone();
        async move { (s.info("default", now()).await.unwrap().active == 50).then_some(()) }
    })
    .await;
    w1.abort();
    let r2 = ran.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let w2 = tokio::spawn(driver::run(
        s.clone(),
        move |l| {
            let r = r2.clone();
            async move {
                *r.lock().unwrap().entry(l.task.id).or_default() += 1;
                trigger_core::task::Outcome::success("")
            }
        },
        WorkerConfig::default(),
        async {
            let _ = stop_rx.await;
        },
    ));
    for _ in 0..100 {
        if ran.lock().unwrap().len() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    w2.await.unwrap();
    let ran = ran.lock().unwrap().len();
    assert_eq!(ran, 200, "every task ran");
    let info = s.info("default", now()).await.unwrap();
    assert_eq!((info.size, info.failed_total), (0, 50), "the 50 lost ones counted as failed attempts");
    cleanup(&prefix);
}
