//! A cluster found through etcd (Debian `etcd-server`, started here on loopback): three `socketgtw`
//! gateways register in go-zero's format (`socketgtw.rpc/<leaseID>` → `host:port`), two
//! `socketpush` nodes discover them. With real `socket.io-client` sessions on every gateway:
//! a room broadcast through either push node reaches exactly the room's members and nobody else,
//! and only the gateways holding the room are called; a gateway killed with SIGKILL in the middle
//! of a broadcast run is reported failed while the others deliver, every call returning within
//! the deadline; its key leaves etcd with its lease and the push nodes forget it; restarted, it
//! registers again and its members are reached; a gateway stopped gracefully leaves etcd at once.

use socketpush_svc::pb;
use socketpush_svc::pb::socket_push_client::SocketPushClient;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use testkit::etcd::Etcd;
use testkit::port::free_port;
use testkit::process::ChildGuard;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};
use testkit::socketio::SioLoad;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_socketpush");
const SECRET: &str = "sample-accesssecret";

struct Gateway {
    grpc: u16,
    http: u16,
    _file: ConfigFile,
    proc: ChildGuard,
}

impl Gateway {
    fn start(etcd: &str, grpc: u16, http: u16) -> Gateway {
        let yaml = format!(
            "ListenOn: 127.0.0.1:{grpc}\nHttp: {{Host: 127.0.0.1, Port: {http}}}\nJwtAuth: {{AccessSecret: {SECRET}}}\n\
             Etcd: {{Hosts: ['{etcd}'], Key: socketgtw.rpc}}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 2s\n"
        );
        let file = ConfigFile::new("socketgtw.yaml", &yaml);
        let proc = spawn(&workspace_bin("socketgtw"), &file.path, &[]);
        wait_listening(grpc, Duration::from_secs(30));
        wait_listening(http, Duration::from_secs(30));
        Gateway { grpc, http, _file: file, proc }
    }

    fn node(&self) -> String {
        format!("127.0.0.1:{}", self.grpc)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }
}

fn push_node(etcd: &str) -> (u16, ConfigFile, ChildGuard) {
    let port = free_port();
    // the upstream client section with go-zero's Etcd instead of Endpoints
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nJwtAuth: {{AccessSecret: {SECRET}, PrevAccessSecret: '', AccessExpire: 3600}}\n\
         SocketGtwConf:\n  Endpoints: []\n  Etcd:\n    Hosts: ['{etcd}']\n    Key: socketgtw.rpc\n  Timeout: 2000\n\
         Prometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("socketpush.yaml", &yaml);
    let proc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    (port, file, proc)
}

/// What etcd holds under `socketgtw.rpc/`, read with the etcd client directly.
async fn registered(etcd: &str) -> BTreeMap<String, String> {
    let mut c = etcd_client::Client::connect([etcd], None).await.unwrap();
    let got = c.get("socketgtw.rpc/", Some(etcd_client::GetOptions::new().with_prefix())).await.unwrap();
    got.kvs().iter().map(|kv| (kv.key_str().unwrap().to_owned(), kv.value_str().unwrap().to_owned())).collect()
}

fn values(m: &BTreeMap<String, String>) -> BTreeSet<String> {
    m.values().cloned().collect()
}

fn header<T>(r: &tonic::Response<T>, k: &str) -> String {
    r.metadata().get(k).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

struct Pushed {
    delivered: u64,
    nodes: String,
    failed: String,
    took: Duration,
}

/// Broadcasts to room `r`; the members count `news` events, so the probes use another event.
async fn broadcast(api: &mut SocketPushClient<Channel>, req_id: &str) -> Pushed {
    let event = if req_id == "probe" { "probe" } else { "news" };
    let t0 = Instant::now();
    let r = api
        .broadcast_room(pb::BroadcastRoomReq {
            req_id: req_id.into(),
            room: "r".into(),
            event: event.into(),
            payload: r#"{"n":1}"#.into(),
        })
        .await
        .unwrap();
    Pushed {
        delivered: header(&r, "x-delivered").parse().unwrap(),
        nodes: header(&r, "x-nodes"),
        failed: header(&r, "x-failed-nodes"),
        took: t0.elapsed(),
    }
}

fn nodes(list: &[&Gateway]) -> String {
    let mut v: Vec<String> = list.iter().map(|g| g.node()).collect();
    v.sort();
    v.join(",")
}

/// Waits until a push to room `r` through `api` goes to exactly `want` (the index is current).
async fn wait_routes(api: &SocketPushClient<Channel>, want: &str) {
    testkit::wait::until(&format!("room r routed to {want}"), Duration::from_secs(20), || async {
        let mut api = api.clone();
        let p = broadcast(&mut api, "probe").await;
        (p.nodes == want && p.failed.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_found_through_etcd_delivers_to_exactly_the_members_and_survives_a_killed_gateway() {
    let etcd = Etcd::start();
    let (a, mut b, c) = (
        Gateway::start(&etcd.addr, free_port(), free_port()),
        Gateway::start(&etcd.addr, free_port(), free_port()),
        Gateway::start(&etcd.addr, free_port(), free_port()),
    );
    // go-zero's format: <Key>/<leaseID> -> host:port, one per gateway
    testkit::wait::until("3 gateways in etcd", Duration::from_secs(10), || async {
        (registered(&etcd.addr).await.len() == 3).then_some(())
    })
    .await;
    let reg = registered(&etcd.addr).await;
    for k in reg.keys() {
        let lease = k.strip_prefix("socketgtw.rpc/").expect("the service key prefix");
        assert!(lease.parse::<i64>().is_ok_and(|l| l > 0), "{k}: a decimal lease id");
    }
    assert_eq!(values(&reg), [a.node(), b.node(), c.node()].into_iter().collect());

    let (p1, _f1, _push1) = push_node(&etcd.addr);
    let (p2, _f2, _push2) = push_node(&etcd.addr);
    let mut api1 = SocketPushClient::connect(format!("http://127.0.0.1:{p1}")).await.unwrap();
    let mut api2 = SocketPushClient::connect(format!("http://127.0.0.1:{p2}")).await.unwrap();
    let gen = pb::GenTokenReq { uid: "u1".into(), payload: Default::default() };
    let token = api1.gen_token(gen).await.unwrap().into_inner().access_token;

    // members of r: 3 on A, 2 on B; others (room "other"): 1 on A, 2 on C
    let mut a_members = SioLoad::start(&a.url(), Some(&token), Some("r"), 3, "websocket").await;
    let mut b_members = SioLoad::start(&b.url(), Some(&token), Some("r"), 2, "polling").await;
    let mut a_others = SioLoad::start(&a.url(), Some(&token), Some("other"), 1, "websocket").await;
    let mut c_others = SioLoad::start(&c.url(), Some(&token), Some("other"), 2, "websocket").await;
    let (ab, a_only) = (nodes(&[&a, &b]), nodes(&[&a]));
    wait_routes(&api1, &ab).await;
    wait_routes(&api2, &ab).await;
    let (a0, b0) =
        (a_members.count().await["total"].as_u64().unwrap(), b_members.count().await["total"].as_u64().unwrap());

    // ten broadcasts alternating between the push nodes: every member gets each once, C is
    // never called, nobody else hears anything
    for i in 0..10 {
        let api = if i % 2 == 0 { &mut api1 } else { &mut api2 };
        let p = broadcast(api, &format!("b{i}")).await;
        assert_eq!((p.delivered, p.nodes.as_str(), p.failed.as_str()), (5, ab.as_str(), ""), "broadcast {i}");
    }
    a_members.wait(a0 + 30, Duration::from_secs(10)).await;
    b_members.wait(b0 + 20, Duration::from_secs(10)).await;
    for (name, load, n) in [("A", &mut a_members, 3), ("B", &mut b_members, 2)] {
        let got = load.count().await;
        let per: Vec<u64> = got["per"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(per.len(), n);
        assert!(per.iter().all(|&k| k == per[0]), "{name}: every member got the same pushes: {per:?}");
    }
    for load in [&mut a_others, &mut c_others] {
        assert_eq!(load.count().await["total"], 0, "a non-member heard a room broadcast");
    }

    // B dies without a word in the middle of a run of broadcasts through push node 2
    let run = tokio::spawn({
        let mut api = api2.clone();
        async move {
            let mut out = Vec::new();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(3) {
                out.push((t0.elapsed(), broadcast(&mut api, "run").await));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            out
        }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    b.proc.0.kill().unwrap();
    b.proc.0.wait().unwrap();
    let run = run.await.unwrap();
    let deadline = Duration::from_millis(250);
    let slowest = run.iter().map(|(_, p)| p.took).max().unwrap();
    // a dead node refuses at once, a silent one is cut at the deadline: no call waits longer
    // (the margin is for a loaded 2-core CI machine running debug builds)
    assert!(slowest < deadline + Duration::from_millis(750), "a call took {slowest:?}");
    assert!(run.iter().any(|(_, p)| p.failed.is_empty() && p.delivered == 5), "B delivered before the kill");
    let after: Vec<&Pushed> = run.iter().filter(|(_, p)| !p.failed.is_empty()).map(|(_, p)| p).collect();
    assert!(!after.is_empty(), "no call saw B fail");
    for p in &after {
        assert_eq!(p.failed, b.node(), "only B is reported failed");
        assert_eq!(p.delivered, 3, "A's members were still reached");
    }
    assert!(run.last().is_some_and(|(_, p)| p.failed == b.node()), "B stays failed while its key lives");

    // B's lease runs out (10 s): etcd drops its key and both push nodes forget it
    testkit::wait::until("B's key expired", Duration::from_secs(20), || async {
        (!values(&registered(&etcd.addr).await).contains(&b.node())).then_some(())
    })
    .await;
    wait_routes(&api1, &a_only).await;
    wait_routes(&api2, &a_only).await;

    // restarted on its ports, B registers again and its new members are reached
    b = Gateway::start(&etcd.addr, b.grpc, b.http);
    testkit::wait::until("B back in etcd", Duration::from_secs(10), || async {
        values(&registered(&etcd.addr).await).contains(&b.node()).then_some(())
    })
    .await;
    let mut b_new = SioLoad::start(&b.url(), Some(&token), Some("r"), 2, "websocket").await;
    wait_routes(&api1, &ab).await;
    wait_routes(&api2, &ab).await;
    let base = b_new.count().await["total"].as_u64().unwrap();
    let p = broadcast(&mut api1, "after").await;
    assert_eq!((p.delivered, p.failed.as_str()), (5, ""));
    b_new.wait(base + 2, Duration::from_secs(10)).await;

    // C stopped gracefully revokes its lease: its key goes at once, not after 10 s
    let t0 = Instant::now();
    let pid = c.proc.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    testkit::wait::until("C's key revoked", Duration::from_secs(5), || async {
        (!values(&registered(&etcd.addr).await).contains(&c.node())).then_some(())
    })
    .await;
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    drop(a);
}
