//! The long-connection frontend (`socketio_cluster::ws`, as the wsgate service runs it) with the
//! chat example behind it:
//!
//! 1. memory: the frontend in a process of its own (this binary, re-run as a child), its RSS
//!    before and after N idle authenticated connections, per connection;
//! 2. routed round trip: requests over the frontend (WebSocket frame -> chat's `Logic.Handle` ->
//!    reply frame) at a fixed total rate over many connections, beside the same calls made to
//!    the chat service directly over gRPC at the same rate: p50/p99 of each and the ratio;
//! 3. the transport's ceiling: the same client and frames against a WebSocket endpoint (axum, in a
//!    child process like the frontend) that answers each frame itself, at the same rate.
//!
//! `cargo bench -p zero-benches --bench wsgate`: 10,000 idle connections; 1,000 connections at
//! 50,000 requests/s for 5 s (`WSGATE_BENCH_RATES=20000,50000`: other rates). Under `cargo test`:
//! 1,000 connections; 50 at 2,000/s for 1 s.

use serde_json::json;
use socketio_cluster::pb::wsgate as pb;
use socketio_cluster::ws::client::Client;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHILD: &str = "WSGATE_BENCH_CHILD";

/// mimalloc, as the wsgate binary runs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The ceiling of the transport: a WebSocket endpoint (axum, as the frontend serves) answering
/// each frame itself with the same reply frame, no routing; in the child's place.
async fn echo() -> axum::Router {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use futures_util::{SinkExt, StreamExt};
    use socketio_cluster::ws::frame::Frame;
    let reply = bytes::Bytes::from(json!({"messages": []}).to_string());
    axum::Router::new().route(
        "/ws",
        axum::routing::get(move |ws: WebSocketUpgrade| async move {
            ws.read_buffer_size(1024).write_buffer_size(0).on_upgrade(move |socket| async move {
                let (mut sink, mut stream) = socket.split();
                while let Some(Ok(Message::Binary(b))) = stream.next().await {
                    let Ok(f) = Frame::decode_bytes(&b, 1 << 20) else { break };
                    let mut out = Frame::reply_to(&f, reply.clone());
                    out.flags |= socketio_cluster::ws::frame::flags::JSON;
                    if sink.send(Message::Binary(out.encode())).await.is_err() {
                        break;
                    }
                }
            })
        }),
    )
}

/// The child: a frontend routing the chat protocols to `chat` (or, for `echo`, the transport
/// alone), on a loopback port it prints.
fn child(chat: &str) {
    // as the wsgate binary runs (#[tokio::main]: a worker per core)
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use axum::serve::ListenerExt;
        use socketio_cluster::ws::{gate, routes};
        if chat == "echo" {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("listening {}", l.local_addr().unwrap().port());
            let l = l.tap_io(|t| {
                let _ = t.set_nodelay(true);
            });
            let app = echo().await;
            tokio::spawn(async move {
                let _ = axum::serve(l, app).await;
            });
            let _ = tokio::task::spawn_blocking(|| {
                let mut s = String::new();
                let _ = std::io::stdin().read_line(&mut s);
            })
            .await;
            return;
        }
        let r = Arc::new(routes::Routes::default());
        r.set_static(&[routes::AppConf {
            name: "chat.rpc".into(),
            endpoints: vec![chat.into()],
            protocols: vec![1001, 1002, 1003, 1004],
        }])
        .unwrap();
        let g = gate::Gate::new(
            gate::GateConfig { node: "bench".into(), ..Default::default() },
            r,
            zero_edge::auth::JwtAuth::new("", "", 0),
            socketio_cluster::registry::fixed(&[]),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening {}", l.local_addr().unwrap().port());
        let l = l.tap_io(|t| {
            let _ = t.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(l, g.router("/ws")).await;
        });
        // until the parent closes stdin
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
    });
}

/// This binary re-run as a child serving `what` (a chat address, or `echo`): the child and its URL.
fn spawn_child(what: &str) -> (std::process::Child, String) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, what)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("listening ").unwrap().parse().unwrap();
    (c, format!("ws://127.0.0.1:{port}/ws"))
}

fn quantile(v: &mut [u64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0
}

/// Runs `call` from `conns` tasks at `rate` calls/s in total for `secs`: (achieved/s, p50 ms, p99 ms, errors).
async fn paced<F, Fut>(conns: usize, rate: f64, secs: f64, call: F) -> (f64, f64, f64, u64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let lat: Arc<Mutex<Vec<u64>>> = Arc::default();
    let errors = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(conns as f64 / rate);
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..conns {
        let (call, lat, errors) = (call.clone(), lat.clone(), errors.clone());
        tasks.spawn(async move {
            tokio::time::sleep(period.mul_f64(k as f64 / conns as f64)).await;
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut mine = Vec::new();
            while Instant::now() < until {
                tick.tick().await;
                // latency from the planned send time: a late send counts (no coordinated omission)
                let t0 = Instant::now();
                if call(k).await {
                    mine.push(t0.elapsed().as_micros() as u64);
                } else {
                    errors.fetch_add(1, Relaxed);
                }
            }
            lat.lock().unwrap().extend(mine);
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut v = std::mem::take(&mut *lat.lock().unwrap());
    let n = v.len() as f64;
    (n / secs, quantile(&mut v, 0.5), quantile(&mut v, 0.99), errors.load(Relaxed))
}

fn main() {
    if let Ok(chat) = std::env::var(CHILD) {
        child(&chat);
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let (idle, conns, mut rates, secs) =
        if full { (10_000, 1_000, vec![10_000.0, 50_000.0], 5.0) } else { (1000, 50, vec![2_000.0], 1.0) };
    // WSGATE_BENCH_RATES=50000,20000: other rates (profiling one)
    if let Ok(v) = std::env::var("WSGATE_BENCH_RATES") {
        rates = v.split(',').filter_map(|r| r.trim().parse().ok()).collect();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // the chat service, in this process
    let chat = rt.block_on(async {
        let cfg: chat_svc::Config = zero_svc::config::merge_str(chat_svc::DEFAULTS, None, &[]).unwrap();
        let c = chat_svc::Chat::new(&cfg).await.unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(pb::logic_server::LogicServer::new(c))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true))),
        );
        addr
    });
    // the frontend, in a child process
    let (mut gate, url) = spawn_child(&chat);
    let pid = gate.id().to_string();

    rt.block_on(async {
        // 1. memory per idle connection
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = testkit::proc::rss_kib(&pid);
        let t0 = Instant::now();
        let mut clients = Vec::with_capacity(idle);
        for k in 0..idle {
            let c = Client::connect(&format!("{url}?uid=u{k}"), None).await.expect("connect");
            clients.push(Arc::new(c));
        }
        let connect_s = t0.elapsed().as_secs_f64();
        // each connection made one request: its session and buffers are in use, not just accepted
        let ping = socketio_cluster::ws::frame::Frame::request(socketio_cluster::ws::frame::PING, 0, vec![]);
        for c in &clients {
            c.request(ping.clone()).await.expect("ping");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = testkit::proc::rss_kib(&pid);
        let per = after.saturating_sub(before) as f64 / idle as f64;
        println!(
            "wsgate/idle_{idle}: {per:.2} KiB per connection (RSS {before} -> {after} KiB; target < 8); {:.0} connections/s",
            idle as f64 / connect_s
        );

        // 2. routed round trip vs a direct gRPC call, same rate
        let ch = tonic::transport::Endpoint::from_shared(format!("http://{chat}")).unwrap().tcp_nodelay(true).connect().await.unwrap();
        let direct = pb::logic_client::LogicClient::new(ch);
        // the transport's ceiling: the same connections' worth to an endpoint that answers itself
        let (mut echo_child, echo_url) = spawn_child("echo");
        let mut echoes = Vec::with_capacity(conns);
        for k in 0..conns {
            echoes.push(Arc::new(Client::connect(&format!("{echo_url}?uid=e{k}"), None).await.expect("connect")));
        }
        let echoes = Arc::new(echoes);
        // warm-up, not measured: each connection's first request (the frontend's channel to
        // chat, the room's first read) and the direct and echo paths' first calls; without it
        // the first rate's p99 carried ~60 ms of start-up
        let warm = json!({"room": "bench", "limit": 1});
        for c in clients.iter().take(conns).chain(echoes.iter()) {
            let _ = c.request_json(chat_svc::HISTORY, &warm).await;
        }
        let body: bytes::Bytes = warm.to_string().into();
        let _ = direct.clone().handle(pb::HandleReq { protocol: chat_svc::HISTORY, payload: body, json: true, ..Default::default() }).await;
        for rate in rates {
            let routed: Vec<Arc<Client>> = clients.iter().take(conns).cloned().collect();
            let req = json!({"room": "bench", "limit": 1});
            let (r_rate, r50, r99, r_err) = paced(conns, rate, secs, move |k| {
                let (c, req) = (routed[k].clone(), req.clone());
                async move { matches!(c.request_json(chat_svc::HISTORY, &req).await, Ok(f) if f.error_body().is_none()) }
            })
            .await;
            println!("wsgate/routed_{conns}x{rate:.0}: {r_rate:.0} requests/s, p50 {r50:.3} ms, p99 {r99:.3} ms, {r_err} errors");
            let body: bytes::Bytes = json!({"room": "bench", "limit": 1}).to_string().into();
            let d = direct.clone();
            let (d_rate, d50, d99, d_err) = paced(conns, rate, secs, move |_| {
                let (mut c, payload) = (d.clone(), body.clone());
                async move {
                    let r = c.handle(pb::HandleReq { protocol: chat_svc::HISTORY, payload, json: true, ..Default::default() }).await;
                    matches!(r, Ok(r) if r.get_ref().code == 0)
                }
            })
            .await;
            println!("wsgate/direct_{conns}x{rate:.0}: {d_rate:.0} calls/s, p50 {d50:.3} ms, p99 {d99:.3} ms, {d_err} errors");
            let echoes = echoes.clone();
            let (e_rate, e50, e99, e_err) = paced(conns, rate, secs, move |k| {
                let (c, req) = (echoes[k].clone(), json!({"room": "bench", "limit": 1}));
                async move { matches!(c.request_json(chat_svc::HISTORY, &req).await, Ok(f) if f.error_body().is_none()) }
            })
            .await;
            println!(
                "wsgate/echo_{conns}x{rate:.0}: {e_rate:.0} requests/s, p50 {e50:.3} ms, p99 {e99:.3} ms, {e_err} errors \
                 (the transport alone: the same client and frames, answered by the WebSocket endpoint itself)"
            );
            println!(
                "wsgate/routing_overhead_{rate:.0}: routed p99 {r99:.3} ms (target < 2) vs direct gRPC p99 {d99:.3} ms: {:.2}x; p50 {:.2}x; rate {:.2}x",
                r99 / d99,
                r50 / d50,
                r_rate / d_rate
            );
            println!(
                "wsgate/echo_ratio_{rate:.0}: routed p99 / echo p99 {:.2}x; routed rate / echo rate {:.2}x",
                r99 / e99,
                r_rate / e_rate
            );
            assert_eq!((r_err, d_err, e_err), (0, 0, 0), "no request failed");
            assert!(r_rate > 0.0 && d_rate > 0.0);
        }
        assert!(per > 0.0);
        for c in clients.iter().chain(echoes.iter()) {
            c.close();
        }
        drop(echo_child.stdin.take());
        let _ = echo_child.kill();
        let _ = echo_child.wait();
    });
    drop(gate.stdin.take());
    let _ = gate.kill();
    let _ = gate.wait();
}
