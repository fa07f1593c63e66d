//! A UDP comet and a WebSocket comet with a message bus and etcd on loopback; the device talks
//! to its comet through the test's own UDP relay, which drops and duplicates datagrams: every
//! message the device sends reaches the phone exactly once (resent until acked, duplicates
//! dropped by sequence and acked again), the phone's messages reach the device, and packets
//! before a login or malformed get their refusal.

use socketio_cluster::comet::client::{Terminal, UdpTerminal};
use socketio_cluster::comet::packet::{Kind, Packet, Reason};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::etcd::Etcd;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

const SECRET: &str = "comet-udp-secret-0123456789abcdef";
const T: Duration = Duration::from_secs(10);

fn token(id: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    zero_edge::auth::JwtAuth::new(SECRET, "", 3600).issue(&id.to_string(), [], now).unwrap().access_token
}

struct Svc {
    port: u16,
    _file: ConfigFile,
    _child: testkit::process::ChildGuard,
}

fn comet(etcd: &str, mode: &str) -> Svc {
    let (grpc, ws, udp) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nEtcd: {{Hosts: ['{etcd}'], Key: comet.rpc}}\nPrometheus: {{ListenOn: ''}}\n\
         Mode: {mode}\nUdp: {{ListenOn: '127.0.0.1:{udp}'}}\nHttp: {{ListenOn: '127.0.0.1:{ws}', Path: /ws}}\n\
         JwtAuth: {{AccessSecret: {SECRET}}}\nDiscovery: {{Hosts: ['{etcd}'], Key: msgbus.rpc}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("comet.yaml", &yaml);
    let child = spawn(env!("CARGO_BIN_EXE_comet"), &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(20));
    Svc { port: if mode == "udp" { udp } else { ws }, _file: file, _child: child }
}

fn msgbus(etcd: &str) -> Svc {
    let grpc = free_port();
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nEtcd: {{Hosts: ['{etcd}'], Key: msgbus.rpc}}\nPrometheus: {{ListenOn: ''}}\n\
         Discovery: {{Hosts: ['{etcd}'], Key: comet.rpc}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("msgbus.yaml", &yaml);
    let child = spawn(&workspace_bin("msgbus"), &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(20));
    Svc { port: grpc, _file: file, _child: child }
}

/// A lossy link: datagrams from the device to the comet are dropped (1 in 5) or duplicated (1 in
/// 3), the comet's answers dropped (1 in 5); off when `lossy` is false. Counts what it did.
struct Relay {
    addr: SocketAddr,
    lossy: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    duplicated: Arc<AtomicU64>,
}

async fn relay(comet: SocketAddr) -> Relay {
    let front = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let back = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(comet).await.unwrap();
    let (lossy, dropped, duplicated) =
        (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let device: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();
    let addr = front.local_addr().unwrap();
    // xorshift: the same faults every run
    let dice = Arc::new(std::sync::Mutex::new(0x9e37_79b9_7f4a_7c15u64));
    let roll = move |d: &std::sync::Mutex<u64>| {
        let mut x = d.lock().unwrap();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x % 15
    };
    {
        let (front, back, lossy, dropped, duplicated, device, dice) = (
            front.clone(),
            back.clone(),
            lossy.clone(),
            dropped.clone(),
            duplicated.clone(),
            device.clone(),
            dice.clone(),
        );
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                *device.lock().unwrap() = Some(from);
                let r = roll(&dice);
                if lossy.load(Relaxed) && r < 3 {
                    dropped.fetch_add(1, Relaxed);
                    continue;
                }
                let _ = back.send(&buf[..n]).await;
                if lossy.load(Relaxed) && r >= 10 {
                    duplicated.fetch_add(1, Relaxed);
                    let _ = back.send(&buf[..n]).await;
                }
            }
        });
    }
    {
        let (lossy, dropped) = (lossy.clone(), dropped.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = back.recv(&mut buf).await {
                if lossy.load(Relaxed) && roll(&dice) < 3 {
                    dropped.fetch_add(1, Relaxed);
                    continue;
                }
                let to = *device.lock().unwrap();
                if let Some(to) = to {
                    let _ = front.send_to(&buf[..n], to).await;
                }
            }
        });
    }
    Relay { addr, lossy, dropped, duplicated }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_over_a_lossy_udp_link_and_a_phone_over_websocket() {
    let etcd = Etcd::start();
    let _bus = msgbus(&etcd.addr);
    let ws = comet(&etcd.addr, "ws");
    let udp = comet(&etcd.addr, "udp");
    let comet_addr: SocketAddr = format!("127.0.0.1:{}", udp.port).parse().unwrap();

    // before a login, and garbage: refused, nothing kept
    let stranger = UdpTerminal::connect(&comet_addr.to_string()).await.unwrap();
    let r =
        stranger.request(&Packet::message(5, -4001, 1, b"x".to_vec()), Duration::from_millis(300), 10).await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::NotLoggedIn), "{r:?}");
    stranger.send_raw(b"hello?").await.unwrap();
    let r = stranger.next_within(T).await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::Malformed), "{r:?}");
    let r = stranger.request(&Packet::login(-4001, "forged"), Duration::from_millis(300), 10).await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::BadToken), "{r:?}");

    let phone = Terminal::connect(&format!("ws://127.0.0.1:{}/ws", ws.port)).await.unwrap();
    assert_eq!(phone.login(1001, &token(1001)).await.unwrap().kind, Kind::LoginOk);

    let link = relay(comet_addr).await;
    let device = UdpTerminal::connect(&link.addr.to_string()).await.unwrap();
    let every = Duration::from_millis(150);
    let ok = device.request(&Packet::login(-4001, token(-4001)), every, 40).await.unwrap();
    assert_eq!(ok.kind, Kind::LoginOk, "{ok:?}");

    // 60 messages, each resent until acked (the bus may not know the phone yet: resent then too)
    let n = 60u32;
    for seq in 1..=n {
        let deadline = Instant::now() + T;
        loop {
            let a = device.request(&Packet::message(seq, -4001, 1001, format!("m{seq}")), every, 40).await.unwrap();
            match a.kind {
                Kind::Ack => break,
                _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                _ => panic!("message {seq}: {a:?}"),
            }
        }
    }
    let mut got: HashMap<String, usize> = HashMap::new();
    while let Ok(p) = phone.next_within(Duration::from_secs(1)).await {
        assert_eq!((p.kind, p.from), (Kind::Message, -4001));
        *got.entry(String::from_utf8_lossy(&p.payload).into_owned()).or_default() += 1;
    }
    assert_eq!(got.len(), n as usize, "every message reached the phone: {got:?}");
    assert!(got.values().all(|c| *c == 1), "none twice: {got:?}");
    let (dropped, duplicated) = (link.dropped.load(Relaxed), link.duplicated.load(Relaxed));
    assert!(dropped > 5 && duplicated > 5, "the link did drop ({dropped}) and duplicate ({duplicated})");

    // the phone's messages reach the device (its address as the comet saw it)
    link.lossy.store(false, Relaxed);
    for seq in 1..=5u32 {
        phone.send(Packet::message(seq, 1001, -4001, format!("cmd{seq}"))).unwrap();
        let a = phone.next_within(T).await.unwrap();
        assert_eq!((a.kind, a.seq), (Kind::Ack, seq), "{a:?}");
        // (acks of duplicated datagrams from the lossy phase may still be queued: skipped)
        let p = loop {
            let p = device.next_within(T).await.unwrap();
            if p.kind != Kind::Ack {
                break p;
            }
        };
        assert_eq!((p.kind, p.from, &p.payload[..]), (Kind::Message, 1001, format!("cmd{seq}").as_bytes()));
    }
    // heartbeats keep the session; a heartbeat from elsewhere with the same id is refused
    let hb = device.request(&Packet::heartbeat(-4001, 900), every, 10).await.unwrap();
    assert_eq!(hb.kind, Kind::HeartbeatAck);
    let r = stranger.request(&Packet::heartbeat(-4001, 901), every, 10).await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::NotLoggedIn), "another address is not the session: {r:?}");
}

/// UDP -> HTTP: with `Udp.PlatformUrl` a device's messages are POSTed to the platform (a server
/// in this test) and acknowledged once it answered 2xx; a refusal (500) is refused to the device
/// with "unavailable", the resend is posted again; a resend after the ack is acked, not posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_messages_posted_to_the_platform() {
    use axum::extract::State;
    use std::sync::Mutex;
    type Seen = Arc<Mutex<Vec<serde_json::Value>>>;
    let seen: Seen = Arc::default();
    let fail_next = Arc::new(AtomicBool::new(false));
    let app =
        axum::Router::new()
            .route(
                "/device",
                axum::routing::post(
                    |State((seen, fail)): State<(Seen, Arc<AtomicBool>)>,
                     axum::Json(v): axum::Json<serde_json::Value>| async move {
                        if fail.swap(false, Relaxed) {
                            return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        seen.lock().unwrap().push(v);
                        axum::http::StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state((seen.clone(), fail_next.clone()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });

    let (grpc, http, udp) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nMode: udp\n\
         Udp: {{ListenOn: '127.0.0.1:{udp}', PlatformUrl: 'http://{web}/device'}}\n\
         Http: {{ListenOn: '127.0.0.1:{http}', Path: /ws}}\nJwtAuth: {{AccessSecret: {SECRET}}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("comet.yaml", &yaml);
    let _comet = spawn(env!("CARGO_BIN_EXE_comet"), &file.path, &[]);
    wait_listening(http, Duration::from_secs(20));

    let device = UdpTerminal::connect(&format!("127.0.0.1:{udp}")).await.unwrap();
    let every = Duration::from_millis(300);
    assert_eq!(device.request(&Packet::login(-6001, token(-6001)), every, 20).await.unwrap().kind, Kind::LoginOk);
    let m1 = Packet::message(1, -6001, 1001, b"{\"kwh\":1.5}".to_vec());
    assert_eq!(device.request(&m1, every, 10).await.unwrap().kind, Kind::Ack);
    fail_next.store(true, Relaxed);
    let m2 = Packet::message(2, -6001, 1001, b"{\"kwh\":1.6}".to_vec());
    let r = device.request(&m2, every, 10).await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::Unavailable), "the platform said 500: {r:?}");
    assert_eq!(device.request(&m2, every, 10).await.unwrap().kind, Kind::Ack, "sent again: posted");
    assert_eq!(device.request(&m1, every, 10).await.unwrap().kind, Kind::Ack, "a resend after the ack: acked");
    let posted = seen.lock().unwrap().clone();
    assert_eq!(
        posted,
        vec![
            serde_json::json!({"from": -6001, "to": 1001, "seq": 1, "payload": "{\"kwh\":1.5}"}),
            serde_json::json!({"from": -6001, "to": 1001, "seq": 2, "payload": "{\"kwh\":1.6}"}),
        ],
        "each message posted once"
    );
}
