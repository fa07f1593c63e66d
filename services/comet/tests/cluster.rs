//! Two comets, a message bus, etcd (Debian `etcd-server`) and RabbitMQ on loopback: a phone on
//! one comet and a device on the other message each other; the device's uploads land in
//! RabbitMQ once each (a consumer in the test counts them), a resent one acknowledged again but
//! not stored twice; a second login of the device on the other comet replaces the first (told,
//! closed) and messages follow it; bad tokens, malformed packets, unknown targets and packets
//! before a login are refused with their reason, and nothing else is disturbed.

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use socketio_cluster::comet::client::Terminal;
use socketio_cluster::comet::packet::{Kind, Packet, Reason};
use socketio_cluster::pb::comet as pb;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use testkit::etcd::Etcd;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

const SECRET: &str = "comet-test-secret-0123456789abcdef";
const RABBIT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const T: Duration = Duration::from_secs(10);

fn token(id: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    zero_edge::auth::JwtAuth::new(SECRET, "", 3600).issue(&id.to_string(), [], now).unwrap().access_token
}

struct Svc {
    port: u16,
    grpc: u16,
    /// The metrics port (the dashboard).
    metrics: u16,
    _file: ConfigFile,
    _child: testkit::process::ChildGuard,
}

fn comet(etcd: &str) -> Svc {
    let (grpc, ws, metrics) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nEtcd: {{Hosts: ['{etcd}'], Key: comet.rpc}}\nPrometheus: {{ListenOn: '127.0.0.1:{metrics}'}}\n\
         Http: {{ListenOn: '127.0.0.1:{ws}', Path: /ws}}\nJwtAuth: {{AccessSecret: {SECRET}}}\n\
         Discovery: {{Hosts: ['{etcd}'], Key: msgbus.rpc}}\nMaxPayload: 512\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("comet.yaml", &yaml);
    let child = spawn(env!("CARGO_BIN_EXE_comet"), &file.path, &[]);
    wait_listening(ws, Duration::from_secs(20));
    wait_listening(grpc, Duration::from_secs(20));
    Svc { port: ws, grpc, metrics, _file: file, _child: child }
}

fn msgbus(etcd: &str, queue: &str) -> Svc {
    let (grpc, metrics) = (free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nEtcd: {{Hosts: ['{etcd}'], Key: msgbus.rpc}}\nPrometheus: {{ListenOn: '127.0.0.1:{metrics}'}}\n\
         Discovery: {{Hosts: ['{etcd}'], Key: comet.rpc}}\n\
         RabbitMq: {{Url: '{RABBIT}', RoutingKey: {queue}, Queue: {queue}}}\n\
         Events: {{RoutingKey: {queue}-presence, Queue: {queue}-presence}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("msgbus.yaml", &yaml);
    let child = spawn(&workspace_bin("msgbus"), &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(20));
    Svc { port: grpc, grpc, metrics, _file: file, _child: child }
}

/// A figure of the first panel's view.
fn stat(view: &serde_json::Value, label: &str) -> String {
    let stats = view["stats"].as_array().map(Vec::as_slice).unwrap_or_default();
    stats.iter().find(|s| s["label"] == label).and_then(|s| s["value"].as_str()).unwrap_or_default().to_owned()
}

/// The first panel of the dashboard on `port` once `ready` holds for it.
async fn panel(port: u16, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let v = testkit::http::dashboard_views(port, "", |v| ready(&v["panels"][0]["view"])).await;
    v["panels"][0]["view"].clone()
}

async fn terminal(c: &Svc, id: i64) -> Terminal {
    let t = Terminal::connect(&format!("ws://127.0.0.1:{}/ws", c.port)).await.unwrap();
    let ok = t.login(id, &token(id)).await.unwrap();
    assert_eq!(ok.kind, Kind::LoginOk, "{ok:?}");
    t
}

/// Sends `p` until the answer is no "unknown target" (the bus learns of logins asynchronously).
async fn deliver(t: &Terminal, p: Packet) -> Packet {
    let deadline = Instant::now() + T;
    loop {
        t.send(p.clone()).unwrap();
        let a = t.next_within(T).await.unwrap();
        match a.refusal() {
            Some((Reason::UnknownTarget | Reason::Unavailable, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => return a,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn phones_and_devices_across_comets_uploads_in_rabbitmq_and_refusals() {
    let etcd = Etcd::start();
    let queue = format!("comet-test-{}", std::process::id());
    let bus = msgbus(&etcd.addr, &queue);
    let (a, b) = (comet(&etcd.addr), comet(&etcd.addr));

    let phone = terminal(&a, 1001).await;
    let plug = terminal(&b, -2001).await;

    // phone (comet A) -> device (comet B), acknowledged once delivered
    let ack = deliver(&phone, Packet::message(1, 1001, -2001, b"{\"on\":true}".to_vec())).await;
    assert_eq!((ack.kind, ack.seq), (Kind::Ack, 1), "{ack:?}");
    let got = plug.next_within(T).await.unwrap();
    assert_eq!((got.kind, got.from, got.to, &got.payload[..]), (Kind::Message, 1001, -2001, &b"{\"on\":true}"[..]));
    // device -> phone
    let ack = deliver(&plug, Packet::message(1, -2001, 1001, b"{\"on\":1}".to_vec())).await;
    assert_eq!(ack.kind, Kind::Ack, "{ack:?}");
    let got = phone.next_within(T).await.unwrap();
    assert_eq!((got.kind, got.from, &got.payload[..]), (Kind::Message, -2001, &b"{\"on\":1}"[..]));

    // where is the device: the bus knows its comet
    let mut bc = pb::bus_client::BusClient::connect(format!("http://127.0.0.1:{}", bus.grpc)).await.unwrap();
    let w = bc.r#where(pb::WhereReq { id: -2001 }).await.unwrap().into_inner();
    assert!(w.online && w.login.unwrap().node.ends_with(&format!(":{}", b.grpc)), "on comet B");

    // uploads: 20, one of them sent twice (its ack "lost"): acked 21 times, stored 20 times
    for seq in 100..120u32 {
        plug.send(Packet::upload(seq, -2001, format!("kwh={seq}"))).unwrap();
        let a = plug.next_within(T).await.unwrap();
        assert_eq!((a.kind, a.seq), (Kind::Ack, seq), "{a:?}");
    }
    plug.send(Packet::upload(105, -2001, "kwh=105")).unwrap();
    let again = plug.next_within(T).await.unwrap();
    assert_eq!((again.kind, again.seq), (Kind::Ack, 105), "a duplicate is acked again: {again:?}");

    let conn = lapin::Connection::connect(
        RABBIT,
        lapin::ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current()),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let opts = QueueDeclareOptions { durable: true, ..Default::default() };
    ch.queue_declare(queue.as_str(), opts, FieldTable::default()).await.unwrap();
    let mut consumer =
        ch.basic_consume(queue.as_str(), "test", BasicConsumeOptions::default(), FieldTable::default()).await.unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
        let id = d.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
        *seen.entry(id).or_default() += 1;
        let v: serde_json::Value = serde_json::from_slice(&d.data).unwrap();
        assert_eq!(v["from"], -2001);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert_eq!(seen.len(), 20, "each upload stored: {seen:?}");
    assert!(seen.values().all(|n| *n == 1), "none stored twice: {seen:?}");
    assert!(seen.contains_key("-2001:105"));

    // refusals, each with its reason; the sessions go on
    let x = Terminal::connect(&format!("ws://127.0.0.1:{}/ws", a.port)).await.unwrap();
    let r = x.login(-3001, &token(-9999)).await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::BadToken), "another terminal's token: {r:?}");
    let r = x.login(-3001, "not a token").await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::BadToken), "{r:?}");
    x.send(Packet::heartbeat(-3001, 1)).unwrap();
    assert_eq!(x.next_within(T).await.unwrap().refusal().map(|r| r.0), Some(Reason::NotLoggedIn));
    x.send(Packet::message(1, -3001, 1001, b"x".to_vec())).unwrap();
    assert_eq!(x.next_within(T).await.unwrap().refusal().map(|r| r.0), Some(Reason::NotLoggedIn));
    x.send_raw(b"{\"not\":\"a packet\"}".to_vec()).unwrap();
    assert_eq!(x.next_within(T).await.unwrap().refusal().map(|r| r.0), Some(Reason::Malformed));
    x.send(Packet::message(1, -3001, 1001, vec![b'x'; 600])).unwrap();
    assert_eq!(x.next_within(T).await.unwrap().refusal().map(|r| r.0), Some(Reason::TooLarge));
    phone.send(Packet::message(2, 1001, -777, b"?".to_vec())).unwrap();
    let r = phone.next_within(T).await.unwrap();
    assert_eq!(r.refusal().map(|r| r.0), Some(Reason::UnknownTarget), "{r:?}");
    phone.send(Packet::heartbeat(1001, 3)).unwrap();
    assert_eq!(phone.next_within(T).await.unwrap().kind, Kind::HeartbeatAck, "the session goes on");

    // the device logs in again on comet A: the session on B is told and closed
    let plug2 = terminal(&a, -2001).await;
    let told = plug.next_within(T).await.unwrap();
    assert_eq!(told.kind, Kind::Replaced, "{told:?}");
    assert!(plug.next_within(T).await.is_err(), "closed");
    let deadline = Instant::now() + T;
    loop {
        let w = bc.r#where(pb::WhereReq { id: -2001 }).await.unwrap().into_inner();
        if w.login.as_ref().is_some_and(|l| l.node.ends_with(&format!(":{}", a.grpc))) {
            break;
        }
        assert!(Instant::now() < deadline, "the bus never saw the move: {w:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ack = deliver(&phone, Packet::message(4, 1001, -2001, b"off".to_vec())).await;
    assert_eq!(ack.kind, Kind::Ack, "{ack:?}");
    assert_eq!(&plug2.next_within(T).await.unwrap().payload[..], b"off", "the message follows the device");

    // the presence events, published once each to RabbitMQ: both logins of the device, the
    // replaced one's offline, the phone's online
    let presence = format!("{queue}-presence");
    let mut events = ch
        .basic_consume(presence.as_str(), "test-presence", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let mut got: HashMap<String, usize> = HashMap::new();
    let mut seen: Vec<(i64, bool, String)> = vec![];
    while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(2), events.next()).await {
        let id = d.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
        *got.entry(id).or_default() += 1;
        let v: serde_json::Value = serde_json::from_slice(&d.data).unwrap();
        seen.push((v["id"].as_i64().unwrap(), v["online"].as_bool().unwrap(), v["node"].as_str().unwrap().to_owned()));
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert!(got.values().all(|n| *n == 1), "each event once: {got:?}");
    let on = |id: i64, port: u16| seen.iter().any(|(i, o, n)| *i == id && *o && n.ends_with(&format!(":{port}")));
    let off = |id: i64, port: u16| seen.iter().any(|(i, o, n)| *i == id && !*o && n.ends_with(&format!(":{port}")));
    assert!(on(1001, a.grpc) && on(-2001, b.grpc) && on(-2001, a.grpc), "{seen:?}");
    assert!(off(-2001, b.grpc), "the replaced session's offline: {seen:?}");
    assert!(!off(1001, a.grpc), "the phone is still online: {seen:?}");

    // the dashboards: comet A holds the phone and the device now, and counted the refusals;
    // the bus knows both on A and counted the stored uploads and the target not online
    let va = panel(a.metrics, |v| stat(v, "terminals online") == "2").await;
    assert_eq!(va["title"], "Device comet", "{va}");
    assert_eq!(stat(&va, "mode"), "ws");
    assert_eq!(stat(&va, "buses"), "1", "{va}");
    assert!(stat(&va, "refused").parse::<u64>().unwrap() >= 6, "{va}");
    assert!(stat(&va, "messages acked").parse::<u64>().unwrap() >= 2, "{va}");
    let vb = panel(b.metrics, |v| stat(v, "terminals online") == "0").await;
    assert!(stat(&vb, "duplicates dropped").parse::<u64>().unwrap() >= 1, "the resent upload: {vb}");
    let vbus = panel(bus.metrics, |v| stat(v, "terminals online") == "2").await;
    assert_eq!(vbus["title"], "Message bus", "{vbus}");
    assert_eq!(stat(&vbus, "uploads stored"), "20", "{vbus}");
    assert_eq!(stat(&vbus, "store"), "RabbitMQ connected", "{vbus}");
    assert!(stat(&vbus, "targets not online").parse::<u64>().unwrap() >= 1, "{vbus}");
    let rows = vbus["tables"][0]["rows"].as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["cells"][0].as_str().unwrap().ends_with(&format!(":{}", a.grpc)) && r["cells"][1] == "2"),
        "{vbus}"
    );

    let _ = ch.queue_delete(queue.as_str(), QueueDeleteOptions::default()).await;
    let _ = ch.queue_delete(presence.as_str(), QueueDeleteOptions::default()).await;
}
