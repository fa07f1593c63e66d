//! The gateway against the real npm `socket.io-client` 4.8 and PyPI `python-socketio` 5
//! (`testkit::socketio`, installed by `scripts/test`), over WebSocket and over HTTP long-polling: handshake tokens (current,
//! rotated, wrong, expired, missing), every reserved event with and without an ack, 400s and
//! 500s, the platform hooks, `__stat_down__`, and a room push from the node API.

use serde_json::{json, Value};
use socketio_cluster::auth::JwtAuth;
use socketio_cluster::gateway::{Gateway, GatewayConfig, HookError, HookFuture, Hooks, UpMessage};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::socketio::SioClient;

/// The platform side of the test: rooms on connect, a refused room, an echoing `__up__`.
#[derive(Clone, Default)]
struct Platform {
    seen: Arc<Mutex<Vec<UpMessage>>>,
}

impl Hooks for Platform {
    fn up(&self, m: UpMessage) -> HookFuture<'_> {
        self.seen.lock().unwrap().push(m.clone());
        Box::pin(async move {
            let p: Value = serde_json::from_str(&m.payload).unwrap();
            match m.event {
                "__connection__" => Ok(r#"["auto-room"]"#.to_owned()),
                "__join_room_up__" if p["room"] == "forbidden" => {
                    Err(HookError::Failed("no access to forbidden".into()))
                }
                "__up__" => Ok(json!({ "echo": p["payload"], "sid": m.sid }).to_string()),
                _ => Ok(String::new()),
            }
        })
    }
}

async fn serve(cfg: GatewayConfig, hooks: Platform) -> (String, Gateway) {
    let (layer, gw) = Gateway::layer(cfg, hooks);
    let app = axum::Router::new().layer(layer);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, gw)
}

fn config() -> GatewayConfig {
    GatewayConfig {
        auth: JwtAuth::new("current-secret", "previous-secret", 3600),
        stat_interval: Duration::from_millis(300),
        meta_keys: vec!["uid".into(), "dept_code".into()],
        ..GatewayConfig::default()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Runs the client; on its "ready" line (after a first `__stat_down__`) pushes `news` to room
/// r1 through the node API.
async fn client(url: &str, token: &str, transport: &str, gw: &Gateway) -> Vec<Value> {
    drive(SioClient::spawn(url, Some(token), transport), gw).await
}

async fn drive(mut c: SioClient, gw: &Gateway) -> Vec<Value> {
    let mut out: Vec<Value> = vec![];
    let mut ready = false;
    while let Some(v) = c.next().await {
        ready |= v["step"] == "ready";
        out.push(v);
        if ready && out.iter().any(|v| v["step"] == "stat") && !out.iter().any(|v| v["step"] == "pushed") {
            let n = gw.broadcast_room("r1", "news", r#"{"v":1}"#, "b1").await.unwrap();
            assert_eq!(n, 1, "one member in r1 on this node");
            out.push(json!({"step": "pushed"}));
        }
    }
    out
}

fn step<'a>(out: &'a [Value], name: &str) -> &'a Value {
    out.iter().find(|v| v["step"] == name).unwrap_or_else(|| panic!("no {name} in {out:#?}"))
}

async fn session(transport: &str, python: bool) {
    let platform = Platform::default();
    let (url, gw) = serve(config(), platform.clone()).await;
    let token = JwtAuth::new("current-secret", "", 3600).issue("u1", [("dept_code", "D7")], now()).unwrap();
    let bearer = format!("Bearer {}", token.access_token);
    let peer = if python {
        SioClient::spawn_python(&url, Some(&bearer), transport)
    } else {
        SioClient::spawn(&url, Some(&bearer), transport)
    };
    let out = drive(peer, &gw).await;

    assert_eq!(step(&out, "connected")["transport"], transport);
    assert_eq!(step(&out, "join_ack")["res"], json!({"code": 200, "msg": "处理成功", "reqId": "j1"}));
    assert_eq!(
        step(&out, "join_down")["res"],
        json!({"code": 200, "msg": "处理成功", "reqId": "j2"}),
        "no ack: __down__"
    );
    assert_eq!(step(&out, "join_refused")["res"], json!({"code": 500, "msg": "no access to forbidden", "reqId": "j3"}));
    assert_eq!(step(&out, "join_invalid")["res"], json!({"code": 400, "msg": "reqId|room为必填项", "reqId": "j4"}));
    assert_eq!(step(&out, "not_json")["res"], json!({"code": 400, "msg": "数据格式错误"}));
    assert_eq!(step(&out, "leave")["res"]["code"], 200);
    // auto-room (from __connection__) and r1; r2 was left, forbidden refused, own room hidden
    let rooms = &step(&out, "rooms")["res"]["payload"];
    assert_eq!(rooms, &json!({"total": 2, "page": 1, "pageSize": 2, "totalPages": 1, "rooms": ["auto-room", "r1"]}));
    let up = &step(&out, "up")["res"];
    assert_eq!(up["code"], 200);
    assert_eq!(up["payload"]["echo"], json!({"q": 1}), "the hook's JSON answer embedded raw");
    let stat = &step(&out, "stat")["stat"];
    assert_eq!(stat["rooms"], json!(["auto-room", "r1"]));
    assert_eq!(stat["metadata"], json!({"dept_code": "D7"}), "the SocketMetaData claims the token has");
    assert_eq!(step(&out, "news")["down"], json!({"event": "news", "payload": {"v": 1}, "reqId": "b1"}));

    // the hooks saw the session's metadata and token
    let seen = platform.seen.lock().unwrap().clone();
    let conn = seen.iter().find(|m| m.event == "__connection__").expect("__connection__ hook");
    assert_eq!(serde_json::from_str::<Value>(&conn.payload).unwrap(), json!({"metadata": {"dept_code": "D7"}}));
    assert_eq!(conn.token, token.access_token, "the token without its Bearer prefix");
    let up = seen.iter().find(|m| m.event == "__up__").unwrap();
    assert_eq!(serde_json::from_str::<Value>(&up.payload).unwrap(), json!({"reqId": "u1", "payload": {"q": 1}}));
    // the session is gone once the client left, and __disconnect__ was reported
    testkit::wait::until("the session cleaned up and __disconnect__ reported", Duration::from_secs(5), || async {
        (gw.sessions() == 0 && platform.seen.lock().unwrap().iter().any(|m| m.event == "__disconnect__")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_session() {
    session("websocket", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_socketio_session_over_websocket() {
    session("websocket", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_socketio_session_over_long_polling() {
    session("polling", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_polling_session() {
    session("polling", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_tokens() {
    let (url, gw) = serve(config(), Platform::default()).await;
    let rotated = JwtAuth::new("previous-secret", "", 3600).issue("u2", [], now()).unwrap().access_token;
    let out = client(&url, &rotated, "websocket", &gw).await;
    assert_eq!(step(&out, "connected")["transport"], "websocket", "a token of the previous secret: {out:?}");
    let refused = |out: Vec<Value>| {
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["step"], "connect_error");
    };
    let wrong = JwtAuth::new("someone-else", "", 3600).issue("u3", [], now()).unwrap().access_token;
    refused(client(&url, &wrong, "websocket", &gw).await);
    let expired = JwtAuth::new("current-secret", "", 10).issue("u4", [], now() - 3600).unwrap().access_token;
    refused(client(&url, &expired, "polling", &gw).await);
    refused(client(&url, "-", "websocket", &gw).await);
    assert_eq!(gw.sessions(), 0, "refused handshakes leave no session");
}

/// One raw HTTP/1.1 exchange on a fresh connection: (status, body).
async fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // the server may answer (and close) before it read an oversized body
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Malformed Engine.IO / Socket.IO packets and an oversized payload over raw long-polling: each
/// gets an HTTP error or ends only that session, nothing panics, and a real client still gets
/// its whole session afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_packets_end_only_their_session() {
    let cfg = GatewayConfig { max_payload: 10_000, ..config() };
    let (url, gw) = serve(GatewayConfig { auth: JwtAuth::new("", "", 0), ..cfg }, Platform::default()).await;
    let addr = url.trim_start_matches("http://").to_owned();
    let poll = "/socket.io/?EIO=4&transport=polling";
    // (what is posted, the answer to the post, what polling the session answers next)
    let cases: [(&[u8], u16, &str); 5] = [
        (b"\xff\xfe not a packet", 400, "Session ID unknown"), // no Engine.IO packet
        (b"9999999", 400, "Session ID unknown"),               // an unknown packet type
        (b"4", 200, "Session ID unknown"),                     // a message without a Socket.IO packet
        (b"42[\"__join_room_up__\",{{{", 200, "Session ID unknown"), // broken JSON in an event
        (b"40/nope,", 200, "Invalid namespace"),               // a namespace nobody serves
    ];
    for (garbage, want, then) in cases {
        let (status, body) = http(&addr, "GET", poll, b"").await;
        assert_eq!(status, 200, "{body}");
        let sid = body.split("\"sid\":\"").nth(1).and_then(|s| s.split('"').next()).expect("a sid").to_owned();
        let session = format!("{poll}&sid={sid}");
        assert_eq!(http(&addr, "POST", &session, b"40").await.0, 200, "the Socket.IO connect packet");
        let (status, body) = http(&addr, "POST", &session, garbage).await;
        assert_eq!(status, want, "{:?}: {body}", String::from_utf8_lossy(garbage));
        let (_, after) = http(&addr, "GET", &session, b"").await;
        assert!(after.contains(then), "{:?}: then {after}", String::from_utf8_lossy(garbage));
    }
    // a message over MaxPayload is refused
    let (status, body) = http(&addr, "GET", poll, b"").await;
    let sid = body.split("\"sid\":\"").nth(1).and_then(|s| s.split('"').next()).expect("a sid").to_owned();
    let big = format!("42[\"__up__\",{{\"reqId\":\"x\",\"payload\":\"{}\"}}]", "a".repeat(20_000));
    let (status_big, _) = http(&addr, "POST", &format!("{poll}&sid={sid}"), big.as_bytes()).await;
    assert_eq!((status, status_big), (200, 413), "Payload Too Large");
    // every one of those sessions is gone; nothing else was hurt
    testkit::wait::until("the broken sessions gone", Duration::from_secs(5), || async {
        // the "40/nope," session stays: its engine session and "/" connection are fine
        (gw.sessions() <= 1).then_some(())
    })
    .await;
    // the gateway still serves a whole session
    let out = client(&url, "-", "websocket", &gw).await;
    assert_eq!(step(&out, "join_ack")["res"]["code"], 200);
    assert_eq!(step(&out, "news")["down"]["reqId"], "b1");
}

/// A platform whose `__connection__` hook takes a second.
struct SlowConnect;

impl Hooks for SlowConnect {
    fn up(&self, m: UpMessage) -> HookFuture<'_> {
        Box::pin(async move {
            if m.event == "__connection__" {
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Ok("[]".to_owned());
            }
            Ok(String::new())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_at_once_on_connect_are_answered_while_the_connection_hook_runs() {
    // each client joins a room the moment it is connected, while its __connection__ hook is
    // still running: the join must be handled and acked, not lost
    let (layer, gw) = Gateway::layer(GatewayConfig::default(), SlowConnect);
    let app = axum::Router::new().layer(layer);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let load = testkit::socketio::SioLoad::start(&url, None, Some("r"), 50, "websocket").await;
    assert!(load.ready_in < Duration::from_secs(5), "joins waited for the hook: {:?}", load.ready_in);
    assert_eq!(gw.broadcast_room("r", "news", "1", "b1").await.unwrap(), 50);
}
