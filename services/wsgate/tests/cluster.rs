//! Two frontends, two chat instances, etcd (Debian `etcd-server`) and Redis on loopback: requests
//! reach the service that registered their protocol id; what is said in a room reaches a member
//! connected to the other frontend; unknown protocol ids, bad headers and oversized frames get
//! typed error frames and the connection goes on; a bad token gets its error frame and the
//! connection is closed; a chat instance killed with SIGKILL loses no request (the next instance
//! is tried) and, once its lease expires, is no longer routed to.

use serde_json::json;
use socketio_cluster::ws::client::Client;
use socketio_cluster::ws::frame::{ErrorCode, Frame, PING};
use std::time::{Duration, Instant};
use testkit::etcd::Etcd;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

const SECRET: &str = "wsgate-test-secret-0123456789abcdef";

fn token(uid: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    zero_edge::auth::JwtAuth::new(SECRET, "", 3600).issue(uid, [], now).unwrap().access_token
}

struct Gate {
    ws: u16,
    metrics: u16,
    _file: ConfigFile,
    _child: testkit::process::ChildGuard,
}

fn gate(etcd: &str) -> Gate {
    let (grpc, ws, metrics) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nEtcd: {{Hosts: ['{etcd}'], Key: wsgate.rpc}}\nPrometheus: {{ListenOn: '127.0.0.1:{metrics}'}}\n\
         Http: {{ListenOn: '127.0.0.1:{ws}', Path: /ws}}\nJwtAuth: {{AccessSecret: {SECRET}}}\n\
         Discovery: {{Hosts: ['{etcd}']}}\nMaxPayload: 1024\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("wsgate.yaml", &yaml);
    let child = spawn(env!("CARGO_BIN_EXE_wsgate"), &file.path, &[]);
    wait_listening(ws, Duration::from_secs(20));
    Gate { ws, metrics, _file: file, _child: child }
}

fn chat(etcd: &str, prefix: &str) -> (ConfigFile, testkit::process::ChildGuard) {
    let yaml = format!(
        "ListenOn: 127.0.0.1:{}\nEtcd: {{Hosts: ['{etcd}'], Key: chat.rpc}}\nPrometheus: {{ListenOn: ''}}\n\
         Redis: {{Host: '127.0.0.1:6379', Key: '{prefix}'}}\nSensitiveWords: [darn]\nGracePeriod: 1s\n",
        free_port()
    );
    let file = ConfigFile::new("chat.yaml", &yaml);
    let child = spawn(&workspace_bin("chat"), &file.path, &[]);
    (file, child)
}

fn body(f: &Frame) -> serde_json::Value {
    serde_json::from_slice(&f.payload).unwrap_or(serde_json::Value::Null)
}

/// A request until it is routed (the frontends learn the table from etcd).
async fn routed(c: &Client, protocol: u32, v: serde_json::Value) -> Frame {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.request_json(protocol, &v).await.unwrap();
        match r.error_body() {
            Some(e) if matches!(e.code, ErrorCode::UnknownProtocol | ErrorCode::Unavailable) => {
                assert!(Instant::now() < deadline, "never routed: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => return r,
        }
    }
}

fn retries(metrics: u16) -> u64 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.lines()
        .find(|l| l.starts_with("wsgate_retries_total"))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_frontends_two_chats_routing_push_errors_and_a_killed_instance() {
    let etcd = Etcd::start();
    let prefix = format!("chat-test-{}", std::process::id());
    let (_c1f, mut chat1) = chat(&etcd.addr, &prefix);
    let (_c2f, _chat2) = chat(&etcd.addr, &prefix);
    let (a, b) = (gate(&etcd.addr), gate(&etcd.addr));
    let url = |g: &Gate| format!("ws://127.0.0.1:{}/ws", g.ws);
    // each frontend knows both (they register under Etcd.Key once serving): the dashboard says so
    for g in [&a, &b] {
        let v =
            testkit::http::dashboard_views(g.metrics, "", |v| v["panels"][0]["view"]["stats"][2]["value"] == "2").await;
        assert_eq!(v["panels"][0]["view"]["stats"][2]["label"], "frontends", "{v}");
    }

    // u1 on frontend A (token in the upgrade), u2 on B (token in the first frame)
    let u1 = Client::connect(&url(&a), Some(&token("u1"))).await.unwrap();
    let u2 = Client::connect(&url(&b), None).await.unwrap();
    let ok = u2.auth(&token("u2")).await.unwrap();
    assert!(ok.error_body().is_none(), "{ok:?}");
    let j1 = routed(&u1, chat_svc::JOIN, json!({"room": "lobby"})).await;
    assert_eq!(body(&j1)["members"], 1, "{j1:?}");
    let j2 = routed(&u2, chat_svc::JOIN, json!({"room": "lobby"})).await;
    assert_eq!(body(&j2)["members"], 1, "{j2:?}");

    // said on A, pushed to the member on B (and to the speaker), the word masked
    let r = routed(&u1, chat_svc::SAY, json!({"room": "lobby", "text": "darn, hello"})).await;
    assert!(r.error_body().is_none(), "{r:?}");
    assert_eq!(body(&r)["delivered"], 2, "both members, on both frontends: {r:?}");
    let p = tokio::time::timeout(Duration::from_secs(5), u2.next_push()).await.unwrap().unwrap();
    assert_eq!((p.protocol, p.seq), (chat_svc::SAY, 0));
    assert_eq!((body(&p)["uid"].as_str(), body(&p)["text"].as_str()), (Some("u1"), Some("****, hello")), "{p:?}");
    let own = tokio::time::timeout(Duration::from_secs(5), u1.next_push()).await.unwrap().unwrap();
    assert_eq!(body(&own)["id"], body(&p)["id"]);
    let h = routed(&u2, chat_svc::HISTORY, json!({"room": "lobby"})).await;
    assert_eq!(body(&h)["messages"][0]["text"], "****, hello", "{h:?}");

    // errors: typed frames, the connection goes on
    let e = u1.request_json(1500, &json!({})).await.unwrap().error_body().unwrap();
    assert_eq!(e.code, ErrorCode::UnknownProtocol, "{e:?}");
    u1.send_raw(b"{\"not\":\"a frame\"}".to_vec()).unwrap();
    let bad = tokio::time::timeout(Duration::from_secs(5), u1.next_push()).await.unwrap().unwrap();
    assert_eq!(bad.error_body().unwrap().code, ErrorCode::BadFrame, "{bad:?}");
    let big = u1.request(Frame::request(chat_svc::SAY, 0, vec![b'x'; 2000]).json()).await.unwrap();
    assert_eq!(big.error_body().unwrap().code, ErrorCode::TooLarge, "{big:?}");
    let refused = u1.request_json(chat_svc::SAY, &json!({"room": "lobby", "text": ""})).await.unwrap();
    assert_eq!(refused.error_body().unwrap().code, ErrorCode::Refused, "{refused:?}");
    let pong = u1.request(Frame::request(PING, 0, vec![])).await.unwrap();
    assert!(pong.error_body().is_none(), "the connection goes on: {pong:?}");

    // a bad token: its error frame, then the connection is closed; the others are undisturbed
    let forged = zero_edge::auth::JwtAuth::new("another-secret-0123456789abcdef", "", 3600)
        .issue("evil", [], std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64)
        .unwrap()
        .access_token;
    let x = Client::connect(&url(&a), Some(&forged)).await.unwrap();
    let refusal = tokio::time::timeout(Duration::from_secs(5), x.next_push()).await.unwrap().unwrap();
    assert_eq!(refusal.error_body().unwrap().code, ErrorCode::Unauthenticated);
    assert!(tokio::time::timeout(Duration::from_secs(5), x.next_push()).await.unwrap().is_none(), "closed");
    let again = u1.request_json(chat_svc::HISTORY, &json!({"room": "lobby", "limit": 1})).await.unwrap();
    assert!(again.error_body().is_none(), "{again:?}");

    // chat instance 1 killed: no request fails (a refused connection is retried on the other);
    // once its lease is gone (10 s) nothing is routed to it any more
    let _ = chat1.0.kill(); // SIGKILL
    let _ = chat1.0.wait();
    let killed = Instant::now();
    let mut n = 0;
    while killed.elapsed() < Duration::from_secs(13) {
        let r = u1.request_json(chat_svc::HISTORY, &json!({"room": "lobby", "limit": 1})).await.unwrap();
        assert!(r.error_body().is_none(), "request {n} after the kill: {:?}", r.error_body());
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // the dashboard on the metrics port: the chat service and its one instance left
    let views = testkit::http::dashboard_views(a.metrics, "", |v| {
        v["panels"][0]["view"]["tables"][0]["rows"][0]["cells"][2].as_str().is_some_and(|i| !i.contains(','))
    })
    .await;
    let view = &views["panels"][0]["view"];
    let row = &view["tables"][0]["rows"][0]["cells"];
    assert_eq!((&row[0], &row[1]), (&json!("chat.rpc"), &json!("1001, 1002, 1003, 1004")), "{view}");
    assert_eq!(view["stats"][0]["value"], "1", "u1 (the refused connection never counted): {view}");
    let before = retries(a.metrics);
    assert!(before > 0, "requests went to the dead instance before its lease expired, and were retried");
    for i in 0..50 {
        let r = u1.request_json(chat_svc::HISTORY, &json!({"room": "lobby", "limit": 1})).await.unwrap();
        assert!(r.error_body().is_none(), "request {i}: {:?}", r.error_body());
    }
    assert_eq!(retries(a.metrics), before, "nothing routed to the dead instance after its lease expired");

    // Redis keys of this run
    if let Ok(mut c) = redis::Client::open("redis://127.0.0.1:6379/0").and_then(|c| c.get_connection()) {
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut c).unwrap_or_default();
        for k in keys {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(k).query(&mut c);
        }
    }
}
