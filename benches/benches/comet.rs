//! The device comet (`socketio_cluster::comet`, as the comet and msgbus services run it), in a
//! child process of its own (this binary re-run): a comet serving WebSocket and UDP, and a bus
//! storing uploads in RabbitMQ (127.0.0.1:5672) with publisher confirms.
//!
//! 1. memory: the comet's RSS before and after N UDP devices and N WebSocket terminals logged in
//!    at once (the devices' sessions stay until their timeout after their sockets close), per
//!    terminal;
//! 2. uploads: D UDP devices sending uploads as fast as their window allows (W unacknowledged
//!    each, resent after a timeout), every one acknowledged only once RabbitMQ confirmed it;
//!    the messages counted in the queue afterwards. Beside it, the ceiling of a plain `lapin`
//!    publisher with confirms (the same window in total, the same bodies) into another queue.
//!
//! `cargo bench -p zero-benches --bench comet`: 10,000 + 10,000 terminals; 1,000 devices x 5 s.
//! Under `cargo test`: 500 + 500; 50 devices x 1 s. RabbitMQ must run (scripts/test's machine).

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use socketio_cluster::comet::client::{Terminal, UdpTerminal};
use socketio_cluster::comet::packet::{Kind, Packet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD: &str = "COMET_BENCH_CHILD";
const RABBIT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn props() -> lapin::ConnectionProperties {
    lapin::ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current())
}

/// The child: a bus (uploads into `queue`) and a comet on WebSocket and UDP; prints its ports.
fn child(queue: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use socketio_cluster::comet::{bus::Bus, node::Comet, node::CometConfig};
        let conf: msgbus_svc::Config = zero_svc::config::merge_str(
            msgbus_svc::DEFAULTS,
            Some(&format!("RabbitMq: {{Url: '{RABBIT}', RoutingKey: {queue}, Queue: {queue}}}\n")),
            &[],
        )
        .unwrap();
        let store = Arc::new(msgbus_svc::store::Rabbit::new(conf.rabbit_mq.clone(), &[]));
        store.check().await.expect("RabbitMQ");
        let bus = Bus::new(store, Duration::from_secs(5));
        let bl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bus_addr = bl.local_addr().unwrap().to_string();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(bus.grpc())
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(bl).with_nodelay(Some(true))),
        );
        let cfg = CometConfig { node: "bench".into(), session_timeout: Duration::from_secs(600), ..Default::default() };
        let comet =
            Comet::new(cfg, zero_edge::auth::JwtAuth::new("", "", 0), socketio_cluster::registry::fixed(&[bus_addr]));
        let udp = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let udp_port = udp.local_addr().unwrap().port();
        tokio::spawn(comet.clone().serve_udp(udp));
        let wl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_port = wl.local_addr().unwrap().port();
        let app = comet.router("/ws");
        tokio::spawn(async move { axum::serve(wl, app).await });
        println!("ports {ws_port} {udp_port}");
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
    });
}

async fn queue_len(ch: &lapin::Channel, q: &str) -> u32 {
    let opts = QueueDeclareOptions { passive: true, ..Default::default() };
    ch.queue_declare(q, opts, FieldTable::default()).await.map(|q| q.message_count()).unwrap_or(0)
}

/// Sends uploads from `dev` for `secs` with `window` unacknowledged: how many were acked.
async fn device(dev: UdpTerminal, id: i64, window: u32, secs: f64) -> u64 {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let body = vec![b'k'; 64];
    let mut next = 1u32;
    let mut unacked: std::collections::BTreeMap<u32, Instant> = Default::default();
    let mut acked = 0u64;
    loop {
        let now = Instant::now();
        if now < until {
            while unacked.len() < window as usize {
                let _ = dev.send(&Packet::upload(next, id, body.clone())).await;
                unacked.insert(next, now);
                next += 1;
            }
        } else if unacked.is_empty() {
            return acked;
        }
        // resend what waited too long (a lost datagram)
        for (seq, at) in unacked.iter_mut() {
            if now.duration_since(*at) > Duration::from_millis(500) {
                let _ = dev.send(&Packet::upload(*seq, id, body.clone())).await;
                *at = now;
            }
        }
        match dev.next_within(Duration::from_millis(100)).await {
            Ok(p) if p.kind == Kind::Ack => {
                if unacked.remove(&p.seq).is_some() {
                    acked += 1;
                }
            }
            Ok(_) => {}
            Err(_) if now > until + Duration::from_secs(10) => return acked,
            Err(_) => {}
        }
    }
}

fn main() {
    if let Ok(q) = std::env::var(CHILD) {
        child(&q);
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let (n, devices, window, secs) = if full { (10_000, 1_000, 8, 5.0) } else { (500, 50, 4, 1.0) };
    let queue = format!("comet-bench-{}", std::process::id());
    let mut c = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, &queue)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ports: Vec<u16> = line.split_whitespace().skip(1).map(|p| p.parse().unwrap()).collect();
    let (ws, udp) = (ports[0], ports[1]);
    let pid = c.id().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // 1. memory: N UDP devices (their sockets closed after the login: the sessions stay),
        // then N WebSocket terminals held open
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = testkit::proc::rss_kib(&pid);
        for k in 0..n {
            let d = UdpTerminal::connect(&format!("127.0.0.1:{udp}")).await.unwrap();
            let ok = d.request(&Packet::login(-(k as i64) - 1, ""), Duration::from_millis(500), 10).await.unwrap();
            assert_eq!(ok.kind, Kind::LoginOk);
        }
        let t0 = Instant::now();
        let mut terms = Vec::with_capacity(n);
        for k in 0..n {
            let t = Terminal::connect(&format!("ws://127.0.0.1:{ws}/ws")).await.unwrap();
            assert_eq!(t.login(k as i64 + 1, "").await.unwrap().kind, Kind::LoginOk);
            terms.push(t);
        }
        let ws_rate = n as f64 / t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = testkit::proc::rss_kib(&pid);
        let per = after.saturating_sub(before) as f64 / (2 * n) as f64;
        println!(
            "comet/terminals_{n}_udp_{n}_ws: {per:.2} KiB per terminal (RSS {before} -> {after} KiB); {ws_rate:.0} WebSocket logins/s"
        );
        for t in &terms {
            t.close();
        }
        drop(terms);

        // 2. uploads through the comet and the bus into RabbitMQ, confirmed
        let conn = lapin::Connection::connect(RABBIT, props()).await.expect("RabbitMQ");
        let ch = conn.create_channel().await.unwrap();
        let acked = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..devices {
            let acked = acked.clone();
            let id = -(100_000 + k as i64);
            tasks.spawn(async move {
                let d = UdpTerminal::connect(&format!("127.0.0.1:{udp}")).await.unwrap();
                let ok = d.request(&Packet::login(id, ""), Duration::from_millis(500), 20).await.unwrap();
                assert_eq!(ok.kind, Kind::LoginOk);
                acked.fetch_add(device(d, id, window, secs).await, Relaxed);
            });
        }
        while tasks.join_next().await.is_some() {}
        let took = t0.elapsed().as_secs_f64();
        let acked = acked.load(Relaxed);
        let stored = queue_len(&ch, &queue).await;
        let comet_rate = acked as f64 / took;
        println!(
            "comet/uploads_{devices}x{window}: {acked} acknowledged, {stored} in RabbitMQ, {comet_rate:.0} messages/s (target 50,000)"
        );
        assert!(u64::from(stored) >= acked, "every acknowledged upload is in RabbitMQ");

        // the peer: a plain lapin publisher with confirms, the same number in flight in total
        let peer_q = format!("{queue}-peer");
        let pch = conn.create_channel().await.unwrap();
        pch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        pch.queue_declare(peer_q.as_str(), QueueDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
            .await
            .unwrap();
        let in_flight = (devices * window as usize).min(8192);
        let body = serde_json::json!({"from": -1, "seq": 1, "flags": 1, "payload": "k".repeat(64)}).to_string();
        let t0 = Instant::now();
        let until = t0 + Duration::from_secs_f64(secs);
        let mut pending = std::collections::VecDeque::new();
        let mut confirmed = 0u64;
        while Instant::now() < until || !pending.is_empty() {
            while Instant::now() < until && pending.len() < in_flight {
                let props = lapin::BasicProperties::default().with_delivery_mode(2);
                let c = pch.basic_publish("", peer_q.as_str(), BasicPublishOptions::default(), body.as_bytes(), props).await.unwrap();
                pending.push_back(c);
            }
            if let Some(c) = pending.pop_front() {
                if matches!(c.await, Ok(lapin::publisher_confirm::Confirmation::Ack(_))) {
                    confirmed += 1;
                }
            }
        }
        let peer_rate = confirmed as f64 / t0.elapsed().as_secs_f64();
        let peer_stored = queue_len(&pch, &peer_q).await;
        println!("comet/lapin_peer_{in_flight}: {confirmed} confirmed, {peer_stored} in RabbitMQ, {peer_rate:.0} messages/s");
        println!("comet/uploads_vs_lapin: {:.2}x the plain publisher's rate", comet_rate / peer_rate);
        assert!(acked > 0 && confirmed > 0);
        let _ = ch.queue_delete(queue.as_str(), QueueDeleteOptions::default()).await;
        let _ = pch.queue_delete(peer_q.as_str(), QueueDeleteOptions::default()).await;
    });
    drop(c.stdin.take());
    let _ = c.kill();
    let _ = c.wait();
}
