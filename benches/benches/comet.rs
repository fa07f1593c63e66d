//! The device comet (`socketio_cluster::comet`, as the comet and msgbus services run it), in a
//! child process of its own (this binary re-run): a comet serving WebSocket and UDP, and a bus
//! storing uploads in RabbitMQ (127.0.0.1:5672) with publisher confirms.
//!
//! 1. memory: the comet's RSS before and after N UDP devices and N WebSocket terminals logged in
//!    at once (the devices' sessions stay until their timeout after their sockets close), per
//!    terminal;
//! 2. uploads: D UDP devices sending uploads as fast as their window allows (W unacknowledged
//!    each, resent after 2 s without an answer), every one acknowledged only once RabbitMQ confirmed it;
//!    the messages counted in the queue afterwards. Beside it, the ceiling of a plain `lapin`
//!    publisher with confirms (the same window in total, the same bodies) into another queue.
//!
//! The load is `cometbench`'s (the comet's load tool, as a library).
//!
//! `cargo bench -p zero-benches --bench comet`: 10,000 + 10,000 terminals; 1,000 devices x 5 s.
//! Under `cargo test`: 500 + 500; 50 devices x 1 s. RabbitMQ must run (scripts/test's machine).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD: &str = "COMET_BENCH_CHILD";
const RABBIT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

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
        let udp = Arc::new(Comet::bind_udp("127.0.0.1:0".parse().unwrap(), 4 << 20).unwrap());
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
    let pid = c.id();
    let (udp, ws) = (format!("127.0.0.1:{udp}"), format!("ws://127.0.0.1:{ws}/ws"));
    let auth = zero_edge::auth::JwtAuth::new("", "", 0);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // 1. memory: N UDP devices (their sockets closed after the login: the sessions stay),
        // then N WebSocket terminals held open
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = cometbench::rss_kib(pid);
        for k in 0..n {
            cometbench::udp_device(&udp, -(k as i64) - 1, &auth).await.unwrap();
        }
        let t0 = Instant::now();
        let mut terms = Vec::with_capacity(n);
        for k in 0..n {
            terms.push(cometbench::ws_terminal(&ws, k as i64 + 1, &auth).await.unwrap());
        }
        let ws_rate = n as f64 / t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = cometbench::rss_kib(pid);
        let per = after.saturating_sub(before) as f64 / (2 * n) as f64;
        println!(
            "comet/terminals_{n}_udp_{n}_ws: {per:.2} KiB per terminal (RSS {before} -> {after} KiB); {ws_rate:.0} WebSocket logins/s"
        );
        for t in &terms {
            t.close();
        }
        drop(terms);

        // 2. uploads through the comet and the bus into RabbitMQ, confirmed
        let ch = cometbench::rabbit(RABBIT).await.expect("RabbitMQ");
        let load = cometbench::Load { devices, first: 100_000, window, secs, ..Default::default() };
        let r = cometbench::uploads(&udp, &load, &auth).await;
        let stored = cometbench::queue_len(&ch, &queue).await;
        println!(
            "comet/uploads_{devices}x{window}: {} acknowledged, {stored} in RabbitMQ, {:.0} messages/s ({} resent; target 50,000)",
            r.acked,
            r.rate(),
            r.resent
        );
        assert!(u64::from(stored) >= r.acked, "every acknowledged upload is in RabbitMQ");

        // the peer: a plain lapin publisher with confirms, the same number in flight in total
        let in_flight = (devices * window as usize).min(8192);
        let peer = cometbench::lapin_peer(RABBIT, &format!("{queue}-peer"), in_flight, secs).await.unwrap();
        println!(
            "comet/lapin_peer_{in_flight}: {} confirmed, {} in RabbitMQ, {:.0} messages/s",
            peer.confirmed,
            peer.stored,
            peer.rate()
        );
        println!("comet/uploads_vs_lapin: {:.2}x the plain publisher's rate", r.rate() / peer.rate());
        assert!(r.acked > 0 && peer.confirmed > 0);
        let _ = ch.queue_delete(queue.as_str(), lapin::options::QueueDeleteOptions::default()).await;
    });
    drop(c.stdin.take());
    let _ = c.kill();
    let _ = c.wait();
}
