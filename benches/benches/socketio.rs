//! The Socket.IO gateway (`socketio_cluster::gateway`, on socketioxide) against the Node
//! `socket.io` 4.8 server with default options (`benches/peers/socketio`), in the same run, with
//! the same real `socket.io-client` load processes (`testkit/js/sio-load.mjs`) on both:
//!
//! 1. room broadcast, 100-byte payload, the same bytes on the wire for both (the gateway's
//!    `SocketDown`): messages delivered per second, counted by the clients, from the first emit
//!    to the last receipt; and server CPU per delivered message (the server process's user +
//!    system time over the broadcast, from `/proc`);
//! 2. server memory per idle connection: RSS growth from before the clients to after they all
//!    joined the room, divided by the connections;
//! 3. connections per second: every session opened and joined, 100 handshakes in flight per load
//!    process.
//!
//! The gateway runs in this process with socketgtw's allocator (the system one), served as
//! socketgtw serves it (`socketio_cluster::serve`; its
//! runtime on 2 worker threads; nothing else runs here
//! during a measurement but the emit loop, which Node's server runs too), Node in its own.
//! `cargo bench -p zero-benches --bench socketio`: 1,000 clients x 1,000 messages and 10,000
//! clients x 100, and idle memory at 1,000 and 10,000. Under `cargo test`: 10,000 connections to
//! the gateway alone (all must join) and a 200 x 50 broadcast against both servers.

use socketio_cluster::gateway::{Gateway, GatewayConfig, NoHooks};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::socketio::SioLoad;

const PAYLOAD: usize = 100;
const PEER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/socketio");

/// User + system CPU time of a process, in microseconds.
fn cpu_us(pid: u32) -> u64 {
    (testkit::proc::cpu_secs(&pid.to_string()).expect("/proc stat") * 1e6) as u64
}

fn rss_kib(pid: u32) -> u64 {
    testkit::proc::rss_kib(&pid.to_string())
}

enum Server {
    Ours { gw: Gateway, rt: tokio::runtime::Runtime },
    Node { child: Child, stdin: ChildStdin, stdout: BufReader<std::process::ChildStdout> },
}

impl Server {
    fn ours() -> (Server, String) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        // queues long enough for a whole run: Node's are unbounded
        let cfg = GatewayConfig { max_buffer: 4096, ..GatewayConfig::default() };
        let (gw, url) = rt.block_on(async {
            let (layer, gw) = Gateway::layer(cfg, NoHooks);
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", l.local_addr().unwrap());
            // as socketgtw serves it
            let write_timeout = Duration::from_secs(10);
            tokio::spawn(socketio_cluster::serve::serve(l, layer, write_timeout, std::future::pending()));
            (gw, url)
        });
        (Server::Ours { gw, rt }, url)
    }

    fn node() -> (Server, String) {
        assert!(
            std::path::Path::new(PEER_DIR).join("node_modules/socket.io").exists(),
            "the Node socket.io peer is not installed: scripts/test runs npm install in benches/peers/socketio"
        );
        let port = testkit::port::free_port();
        let mut child = Command::new("node")
            .current_dir(PEER_DIR)
            .args(["server.mjs", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.contains("listening"), "{line}");
        (Server::Node { child, stdin, stdout }, format!("http://127.0.0.1:{port}"))
    }

    fn pid(&self) -> u32 {
        match self {
            Server::Ours { .. } => std::process::id(),
            Server::Node { child, .. } => child.id(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Server::Ours { .. } => "gateway",
            Server::Node { .. } => "node",
        }
    }

    /// Emits `n` messages to room `r`, yielding after each (as the Node peer does).
    fn broadcast(&mut self, n: usize) {
        let payload = "x".repeat(PAYLOAD);
        match self {
            Server::Ours { gw, rt } => rt.block_on(async {
                for i in 0..n {
                    gw.broadcast_room("r", "news", &payload, &format!("m{i}")).await.unwrap();
                    tokio::task::yield_now().await;
                }
            }),
            Server::Node { stdin, stdout, .. } => {
                writeln!(stdin, "bcast r {n} {PAYLOAD}").unwrap();
                let mut line = String::new();
                stdout.read_line(&mut line).unwrap();
                assert!(line.contains("sent"), "{line}");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Node { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The client side: `procs` load processes sharing `clients` sessions, all in room `r`.
struct Clients {
    loads: Vec<SioLoad>,
    per: Vec<usize>,
    rt: tokio::runtime::Runtime,
    /// Sessions opened and joined per second.
    conn_per_s: f64,
}

impl Clients {
    fn open(url: &str, clients: usize, procs: usize) -> Clients {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let per: Vec<usize> = (0..procs).map(|i| clients / procs + usize::from(i < clients % procs)).collect();
        let t0 = Instant::now();
        let loads = rt.block_on(futures_util::future::join_all(
            per.iter().map(|&n| SioLoad::start(url, None, Some("r"), n, "websocket")),
        ));
        let secs = t0.elapsed().as_secs_f64();
        Clients { loads, per, rt, conn_per_s: clients as f64 / secs }
    }

    /// Waits until every session got `n` messages.
    fn wait_each(&mut self, n: u64) {
        let (loads, per) = (&mut self.loads, &self.per);
        self.rt.block_on(async {
            for (l, &k) in loads.iter_mut().zip(per) {
                l.wait(k as u64 * n, Duration::from_secs(600)).await;
            }
            for l in loads.iter_mut() {
                let c = l.count().await;
                assert_eq!(c["min"].as_u64(), Some(n), "every session got every message: {}", c["min"]);
            }
        });
    }
}

struct Idle {
    kib_per_conn: f64,
    conn_per_s: f64,
}

/// Memory per idle connection and connections per second at `clients`.
fn idle(make: fn() -> (Server, String), clients: usize) -> Idle {
    let (server, url) = make();
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(server.pid());
    let c = Clients::open(&url, clients, clients.div_ceil(2500));
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib(server.pid());
    let kib_per_conn = after.saturating_sub(before) as f64 / clients as f64;
    println!(
        "socketio/idle_{clients}: {}: {kib_per_conn:.1} KiB per idle connection, {:.0} connections/s",
        server.name(),
        c.conn_per_s
    );
    Idle { kib_per_conn, conn_per_s: c.conn_per_s }
}

struct Broadcast {
    msgs_per_s: f64,
    cpu_us_per_msg: f64,
}

fn broadcast(make: fn() -> (Server, String), clients: usize, messages: usize) -> Broadcast {
    let (mut server, url) = make();
    let mut c = Clients::open(&url, clients, clients.div_ceil(2500).max(2));
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = cpu_us(server.pid());
    let t0 = Instant::now();
    server.broadcast(messages);
    c.wait_each(messages as u64);
    let secs = t0.elapsed().as_secs_f64();
    let delivered = (clients * messages) as f64;
    let cpu = cpu_us(server.pid()).saturating_sub(cpu0) as f64;
    let b = Broadcast { msgs_per_s: delivered / secs, cpu_us_per_msg: cpu / delivered };
    println!(
        "socketio/room_broadcast_{clients}x{messages}: {}: {:.0} msgs/s delivered, {:.2} us server CPU per message",
        server.name(),
        b.msgs_per_s,
        b.cpu_us_per_msg
    );
    b
}

fn compare(clients: usize, messages: usize) {
    let ours = broadcast(Server::ours, clients, messages);
    let node = broadcast(Server::node, clients, messages);
    println!(
        "socketio/room_broadcast_{clients}x{messages}: gateway vs node: {:.2}x msgs/s (target >= 1.5x), CPU per message {:.2} of node's (target <= 0.33)",
        ours.msgs_per_s / node.msgs_per_s,
        ours.cpu_us_per_msg / node.cpu_us_per_msg
    );
}

fn compare_idle(clients: usize) {
    let ours = idle(Server::ours, clients);
    let node = idle(Server::node, clients);
    println!(
        "socketio/idle_{clients}: gateway {:.1} KiB/conn (target <= 8), node {:.1} KiB/conn; connections/s {:.0} vs {:.0}",
        ours.kib_per_conn, node.kib_per_conn, ours.conn_per_s, node.conn_per_s
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    // `cargo bench --bench socketio -- idle` runs the cases whose name holds "idle"
    let filter = args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_default();
    let run = |name: &str| name.contains(filter.as_str());
    if full {
        if run("idle_1000") {
            compare_idle(1_000);
        }
        if run("idle_10000") {
            compare_idle(10_000);
        }
        if run("room_broadcast_1000x1000") {
            compare(1_000, 1_000);
        }
        if run("room_broadcast_10000x100") {
            compare(10_000, 100);
        }
    } else {
        // the test suite's 10,000 connections on one gateway node (each must open and join)
        let i = idle(Server::ours, 10_000);
        assert!(i.conn_per_s > 0.0);
        compare(200, 50);
    }
}
