//! The compute bridge (`trigger_core::compute` as the computebridge service runs it: its
//! WebSocket endpoint and its NATS JetStream consumer and outlet), with a minimal Rust worker
//! (tokio-tungstenite, the protocol's frames echoed) and the peers in the same run:
//!
//! 1. direct: small tasks given to the bridge in process (`Bridge::run`, W in flight) for D
//!    seconds, each answered by the Rust worker over a loopback WebSocket: the protocol's and the
//!    bridge's own cost, in tasks/s (results really received);
//! 2. through NATS JetStream (127.0.0.1:4222): N small tasks published, consumed by the bridge,
//!    answered by the worker, each result published to JetStream before the task's ack: tasks/s
//!    until the bridge counted N done; beside it the broker's own ceiling for the same messages
//!    (N published with pipelined acks, then consumed and acked by a pull consumer);
//! 3. the Python worker (`bindings/compute-worker`, from the tree) on the direct path;
//! 4. a 100 MiB float64 body through the bridge and the Rust worker (direct, zstd off) beside a
//!    plain WebSocket echo of the same bytes (an axum echo endpoint, the same client library).
//!
//! `cargo bench -p zero-benches --bench computebridge`; under `cargo test`: small numbers.

use async_nats::jetstream;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use trigger_core::compute::bridge::{BoxFuture, Bridge, BridgeConfig, Outlet};
use trigger_core::compute::proto::{Done, Frame, Hello, Payload};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NATS: &str = "nats://127.0.0.1:4222";

/// Drops results (the direct path answers its caller).
struct Nowhere;

impl Outlet for Nowhere {
    fn result<'a>(&'a self, _: &'a str, _: &'a str, _: Bytes) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn dead_letter<'a>(&'a self, _: &'a str, _: &'a str, _: Bytes, _: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn config() -> BridgeConfig {
    BridgeConfig { max_frame: 300 << 20, max_body: 300 << 20, zstd_threshold: 0, ..Default::default() }
}

/// Serves the bridge's worker endpoint on loopback: its URL.
async fn serve(bridge: Arc<Bridge>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/worker", l.local_addr().unwrap());
    let app = computebridge_svc::ws::router(bridge, "/worker", 300 << 20);
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

/// The minimal Rust worker: echoes each task's body as its result.
async fn rust_worker(url: &str, concurrency: u32) {
    let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(400 << 20))
        .max_frame_size(Some(400 << 20));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(cfg), true).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    let hello = Hello { worker: "rust".into(), capabilities: vec![], concurrency, version: 1 };
    tx.send(Message::Binary(Frame::Hello(hello).encode())).await.unwrap();
    tokio::spawn(async move {
        while let Some(Ok(m)) = rx.next().await {
            let Message::Binary(b) = m else { continue };
            let out = match Frame::decode(&b, usize::MAX) {
                Ok(Frame::Task(t)) => {
                    Frame::Result(Done { id: t.id, data: Payload { bytes: t.data.bytes, zstd: t.data.zstd } })
                }
                Ok(Frame::Ping(t)) => Frame::Pong(t),
                _ => continue,
            };
            if tx.send(Message::Binary(out.encode())).await.is_err() {
                return;
            }
        }
    });
}

async fn until_workers(b: &Bridge, n: usize) {
    while b.stats().workers < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Small tasks through `Bridge::run` with `window` in flight for `secs`: results per second
/// (`echo`: each result must be its task's body).
async fn direct(b: &Arc<Bridge>, window: usize, secs: f64, echo: bool) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..window {
        let (b, done) = (b.clone(), done.clone());
        tasks.spawn(async move {
            let mut k = 0u64;
            while Instant::now() < until {
                let r = b.run(format!("d{w}-{k}"), String::new(), Bytes::from_static(b"\x81\xa1x\x01")).await;
                let r = r.expect("a result");
                assert!(!echo || r.as_ref() == b"\x81\xa1x\x01");
                done.fetch_add(1, Relaxed);
                k += 1;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    done.load(Relaxed) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (secs, n, window) = if full { (5.0, 200_000, 2048) } else { (0.5, 2_000, 64) };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // 1. direct, the Rust worker
        let b = Bridge::new(config(), Arc::new(Nowhere));
        let url = serve(b.clone()).await;
        rust_worker(&url, window as u32).await;
        until_workers(&b, 1).await;
        let rate = direct(&b, window, secs, true).await;
        println!("computebridge/direct_rust_worker: {rate:.0} tasks/s (target 50,000)");

        // 4. 100 MiB through the bridge vs a plain WebSocket echo
        let mb = if full { 100 } else { 4 };
        let big = Bytes::from(vec![0x5au8; mb << 20]);
        let t0 = Instant::now();
        let back = b.run("big".into(), String::new(), big.clone()).await.unwrap();
        let bridge_secs = t0.elapsed().as_secs_f64();
        assert_eq!(back.len(), big.len());
        let echo_secs = plain_echo(&big).await;
        println!(
            "computebridge/array_{mb}MiB: bridge {:.0} ms, plain WebSocket echo {:.0} ms: {:.2}x the echo's speed (target >= 0.5x)",
            bridge_secs * 1e3,
            echo_secs * 1e3,
            echo_secs / bridge_secs
        );

        // 3. the Python worker on the direct path
        let pb = Bridge::new(config(), Arc::new(Nowhere));
        let purl = serve(pb.clone()).await;
        let mut py = std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../services/computebridge/tests/worker.py"))
            .args([purl.as_str(), "py", "64", "raw"])
            .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/../bindings/compute-worker"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3");
        until_workers(&pb, 1).await;
        let py_rate = direct(&pb, 64, secs, false).await;
        let _ = py.kill();
        let _ = py.wait();
        println!("computebridge/direct_python_worker: {py_rate:.0} tasks/s");

        // 2. through NATS JetStream, beside its own ceiling
        nats(n, window).await;
    });
}

/// The same bytes through an axum WebSocket echo endpoint: seconds for one round trip.
async fn plain_echo(big: &Bytes) -> f64 {
    use axum::extract::ws::{Message as AxMessage, WebSocketUpgrade};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", l.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::get(|ws: WebSocketUpgrade| async move {
            ws.max_message_size(400 << 20).max_frame_size(400 << 20).on_upgrade(|mut s| async move {
                while let Some(Ok(m)) = s.recv().await {
                    if let AxMessage::Binary(b) = m {
                        if s.send(AxMessage::Binary(b)).await.is_err() {
                            return;
                        }
                    }
                }
            })
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await });
    let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(400 << 20))
        .max_frame_size(Some(400 << 20));
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(cfg), true).await.unwrap();
    let t0 = Instant::now();
    ws.send(Message::Binary(big.clone())).await.unwrap();
    loop {
        if let Some(Ok(Message::Binary(b))) = ws.next().await {
            assert_eq!(b.len(), big.len());
            return t0.elapsed().as_secs_f64();
        }
    }
}

async fn nats(n: usize, window: usize) {
    let Ok(client) = async_nats::connect(NATS).await else {
        panic!("NATS on 127.0.0.1:4222 (scripts/test's machine)");
    };
    let js = jetstream::new(client);
    let name = format!("cbbench{}", std::process::id());
    let broker = computebridge_svc::config::Broker {
        kind: computebridge_svc::config::Kind::Nats,
        url: NATS.into(),
        tasks: format!("{name}.tasks"),
        stream: name.to_uppercase(),
        durable: format!("{name}-bridge"),
        results: format!("{name}.results"),
        dead_letters: format!("{name}.dead"),
    };
    let conn = computebridge_svc::broker::connect(&broker).await.unwrap();
    let (tx, rx) = tokio::sync::watch::channel(Some(conn.clone()));
    let outlet = computebridge_svc::outlet::Publish {
        conn: Some(rx),
        results: broker.results.clone(),
        dead_letters: broker.dead_letters.clone(),
        streamevent: None,
        timeout: Duration::from_secs(5),
    };
    let b = Bridge::new(config(), Arc::new(outlet));
    let url = serve(b.clone()).await;
    rust_worker(&url, window as u32).await;
    until_workers(&b, 1).await;
    let body = Bytes::from_static(b"\x81\xa1x\x01");
    let publish_all = |subject: String, ids: &'static str| {
        let js = js.clone();
        let body = body.clone();
        async move {
            let mut acks = std::collections::VecDeque::new();
            for i in 0..n {
                let mut h = async_nats::HeaderMap::new();
                h.insert(async_nats::header::NATS_MESSAGE_ID, format!("{ids}-{i}").as_str());
                acks.push_back(js.publish_with_headers(subject.clone(), h, body.clone()).await.unwrap());
                if acks.len() >= 4096 {
                    acks.pop_front().unwrap().await.unwrap();
                }
            }
            for a in acks {
                a.await.unwrap();
            }
        }
    };
    let t0 = Instant::now();
    let consume = {
        let (b, broker) = (b.clone(), broker.clone());
        tokio::spawn(
            async move { computebridge_svc::broker::consume(conn, &broker, b, Duration::from_secs(600)).await },
        )
    };
    publish_all(broker.tasks.clone(), "task").await;
    while b.stats().done < n as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    consume.abort();
    drop(tx);
    // the peer: the same messages published and consumed with acks, nothing between
    let stream = js.get_stream(name.to_uppercase()).await.unwrap();
    let peer_subject = format!("{name}.tasks");
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some(format!("{name}-peer")),
            filter_subject: peer_subject.clone(),
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .unwrap();
    let t0 = Instant::now();
    let consumed = Arc::new(AtomicU64::new(0));
    let reader = {
        let consumed = consumed.clone();
        tokio::spawn(async move {
            let mut msgs = consumer.messages().await.unwrap();
            while let Some(Ok(m)) = msgs.next().await {
                m.ack().await.unwrap();
                if consumed.fetch_add(1, Relaxed) + 1 == n as u64 {
                    return;
                }
            }
        })
    };
    // new ids: the deduplication window still holds the first run's
    publish_all(peer_subject, "peer").await;
    let _ = tokio::time::timeout(Duration::from_secs(120), reader).await;
    let peer = consumed.load(Relaxed) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "computebridge/nats_{n}: {rate:.0} tasks/s through the bridge (each result published to JetStream before the ack); \
         JetStream publish+consume alone {peer:.0} msgs/s: {:.2}x",
        rate / peer
    );
    let _ = js.delete_stream(name.to_uppercase()).await;
}
