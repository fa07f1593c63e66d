//! Exactly one UDP comet pushes: three UDP comets (two of them candidates of the pusher election,
//! in etcd and, in the second test, in Redis on 127.0.0.1:6379; the third holding the device) are all given every push through the push API; one
//! answers "pushed", the device gets it once. The pusher is killed with SIGKILL mid-stream: a new
//! one is elected within the lease time (etcd's 10 s, the Redis election's 3 s), pushes go on, and a push retried through the new
//! pusher after the old one delivered it is not delivered twice: the device gets each push
//! exactly once.

use serde_json::json;
use socketio_cluster::comet::client::UdpTerminal;
use socketio_cluster::comet::packet::{Kind, Packet};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use testkit::etcd::Etcd;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

const SECRET: &str = "comet-pusher-secret-0123456789abcdef";

fn token(id: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    zero_edge::auth::JwtAuth::new(SECRET, "", 3600).issue(&id.to_string(), [], now).unwrap().access_token
}

struct Svc {
    udp: u16,
    http: u16,
    _file: ConfigFile,
    child: testkit::process::ChildGuard,
}

/// The election's Redis (empty: etcd's).
fn comet(etcd: &str, election: &str, redis: &str) -> Svc {
    let (grpc, http, udp) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nEtcd: {{Hosts: ['{etcd}'], Key: comet.rpc}}\nPrometheus: {{ListenOn: ''}}\n\
         Mode: udp\nUdp: {{ListenOn: '127.0.0.1:{udp}'}}\nHttp: {{ListenOn: '127.0.0.1:{http}', Path: /ws}}\n\
         Pusher: {{Election: '{election}', Redis: '{redis}', Lease: 3s}}\nJwtAuth: {{AccessSecret: {SECRET}}}\n\
         Discovery: {{Hosts: ['{etcd}'], Key: msgbus.rpc}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("comet.yaml", &yaml);
    let child = spawn(env!("CARGO_BIN_EXE_comet"), &file.path, &[]);
    wait_listening(http, Duration::from_secs(20));
    Svc { udp, http, _file: file, child }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_pusher_elected_in_etcd_and_a_takeover_without_duplicates() {
    one_pusher_and_a_takeover("", Duration::from_secs(14)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_pusher_elected_in_redis_and_a_takeover_without_duplicates() {
    one_pusher_and_a_takeover("redis://127.0.0.1:6379", Duration::from_secs(6)).await;
}

/// Election in `redis` (empty: etcd); the takeover after a SIGKILL `within`.
async fn one_pusher_and_a_takeover(redis: &str, within: Duration) {
    let etcd = Etcd::start();
    let bus_port = free_port();
    let bus_file = ConfigFile::new(
        "msgbus.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{bus_port}\nEtcd: {{Hosts: ['{e}'], Key: msgbus.rpc}}\nPrometheus: {{ListenOn: ''}}\n\
             Discovery: {{Hosts: ['{e}'], Key: comet.rpc}}\nGracePeriod: 1s\n",
            e = etcd.addr
        ),
    );
    let _bus = spawn(&workspace_bin("msgbus"), &bus_file.path, &[]);
    wait_listening(bus_port, Duration::from_secs(20));
    let election = format!("comet-pusher-{}-{}", std::process::id(), if redis.is_empty() { "etcd" } else { "redis" });
    let holder = comet(&etcd.addr, "", redis);
    let mut candidates = vec![comet(&etcd.addr, &election, redis), comet(&etcd.addr, &election, redis)];

    let device = UdpTerminal::connect(&format!("127.0.0.1:{}", holder.udp)).await.unwrap();
    let ok = device.request(&Packet::login(-5001, token(-5001)), Duration::from_millis(300), 20).await.unwrap();
    assert_eq!(ok.kind, Kind::LoginOk, "{ok:?}");

    // every comet is given each push until one pushed it: (which one, when)
    let ports = |c: &[Svc]| c.iter().map(|s| s.http).chain([holder.http]).collect::<Vec<u16>>();
    async fn push_all(ports: &[u16], msg_id: &str, within: Duration) -> (u16, Duration) {
        let t0 = Instant::now();
        loop {
            let mut by = vec![];
            for p in ports {
                let (status, v) = testkit::http::post_json(
                    *p,
                    "/api/v1/push",
                    &json!({"id": -5001, "msgId": msg_id, "payload": msg_id}),
                )
                .await;
                assert_eq!(status, 200, "{v}");
                if v["pushed"] == true {
                    by.push(*p);
                }
            }
            assert!(by.len() <= 1, "{msg_id} pushed by {by:?}: one pusher only");
            if let Some(p) = by.first() {
                return (*p, t0.elapsed());
            }
            assert!(t0.elapsed() < within, "{msg_id}: nobody pushed within {within:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let mut pusher = 0;
    for i in 0..10 {
        // the bus may not know the device yet, nor an election be won: retried
        let (by, _) = push_all(&ports(&candidates), &format!("p{i}"), Duration::from_secs(20)).await;
        pusher = by;
        assert_ne!(by, holder.http, "the holder is no candidate");
    }
    // the pusher killed (SIGKILL): its lease expires, the other candidate is elected
    let k = candidates.iter().position(|c| c.http == pusher).unwrap();
    let mut dead = candidates.remove(k);
    let _ = dead.child.0.kill();
    let _ = dead.child.0.wait();
    let (by, took) = push_all(&ports(&candidates), "p10", Duration::from_secs(20)).await;
    assert_ne!(by, pusher);
    assert!(took < within, "taken over within the lease time: {took:?}");
    // a push the old pusher delivered, retried (its answer was lost): delivered before
    let (again, _) = push_all(&ports(&candidates), "p9", Duration::from_secs(5)).await;
    assert_eq!(again, by);
    for i in 11..20 {
        push_all(&ports(&candidates), &format!("p{i}"), Duration::from_secs(5)).await;
    }

    let mut got: HashMap<String, usize> = HashMap::new();
    while let Ok(p) = device.next_within(Duration::from_secs(1)).await {
        if p.kind == Kind::Message {
            *got.entry(String::from_utf8_lossy(&p.payload).into_owned()).or_default() += 1;
        }
    }
    assert_eq!(got.len(), 20, "every push reached the device: {got:?}");
    assert!(got.values().all(|n| *n == 1), "none twice: {got:?}");
    println!("takeover after SIGKILL: {took:?}");
}
