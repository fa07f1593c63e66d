//! wsapi in front of a real frontend (the workspace's wsgate binary): a push to a user reaches
//! their connection, online counts and names, a kick closes the user's connection after its
//! error frame; no token: 401; a bad body: 400 naming what is wrong; nothing sent for either.

use serde_json::json;
use socketio_cluster::ws::client::Client;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

const SECRET: &str = "wsapi-test-secret-0123456789abcdef";

async fn call(port: u16, path: &str, token: Option<&str>, body: serde_json::Value) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let (s, b) = testkit::http::request_with(port, "POST", path, &headers, body.to_string().as_bytes()).await;
    (s, serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_online_and_kick_through_the_frontend() {
    let (grpc, ws, http) = (free_port(), free_port(), free_port());
    let gate_file = ConfigFile::new(
        "wsgate.yaml",
        &format!("ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nHttp: {{ListenOn: '127.0.0.1:{ws}', Path: /ws}}\n"),
    );
    let _gate = spawn(&workspace_bin("wsgate"), &gate_file.path, &[]);
    let api_file = ConfigFile::new(
        "wsapi.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{http}\nPrometheus: {{ListenOn: ''}}\nJwtAuth: {{AccessSecret: {SECRET}}}\n\
             Gates: {{Endpoints: ['127.0.0.1:{grpc}']}}\n"
        ),
    );
    let _api = spawn(env!("CARGO_BIN_EXE_wsapi"), &api_file.path, &[]);
    wait_listening(ws, Duration::from_secs(20));
    wait_listening(http, Duration::from_secs(20));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let t = zero_edge::auth::JwtAuth::new(SECRET, "", 600).issue("ops", [], now).unwrap().access_token;
    let u1 = Client::connect(&format!("ws://127.0.0.1:{ws}/ws?uid=u1"), None).await.unwrap();
    let u2 = Client::connect(&format!("ws://127.0.0.1:{ws}/ws?uid=u2"), None).await.unwrap();

    // refused: no token, a bad body; nothing reaches anyone
    let push = json!({"to": {"uid": "u2"}, "protocol": 3001, "payload": {"hello": 1}});
    assert_eq!(call(http, "/api/v1/push", None, push.clone()).await.0, 401);
    let (s, e) = call(http, "/api/v1/push", Some(&t), json!({"to": {}, "protocol": 3001, "payload": 1})).await;
    assert_eq!(s, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("targets"), "{e}");
    assert!(tokio::time::timeout(Duration::from_millis(300), u2.next_push()).await.is_err(), "nothing pushed");

    let (s, r) = call(http, "/api/v1/push", Some(&t), push).await;
    assert_eq!((s, &r["delivered"]), (200, &json!(1)), "{r}");
    let p = tokio::time::timeout(Duration::from_secs(5), u2.next_push()).await.unwrap().unwrap();
    assert_eq!(
        (p.protocol, serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap()),
        (3001, json!({"hello": 1}))
    );

    let (s, o) = call(http, "/api/v1/online", Some(&t), json!({"uids": ["u1", "u9"]})).await;
    assert_eq!((s, &o["sessions"], &o["users"], &o["online"]), (200, &json!(2), &json!(2), &json!(["u1"])), "{o}");

    let (s, k) = call(http, "/api/v1/kick", Some(&t), json!({"to": {"uid": "u1"}})).await;
    assert_eq!((s, &k["sessions"]), (200, &json!(1)), "{k}");
    let bye = tokio::time::timeout(Duration::from_secs(5), u1.next_push()).await.unwrap().unwrap();
    assert!(bye.error_body().is_some_and(|e| e.message == "kicked"), "{bye:?}");
    assert!(tokio::time::timeout(Duration::from_secs(5), u1.next_push()).await.unwrap().is_none(), "closed");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, o) = call(http, "/api/v1/online", Some(&t), json!({})).await;
        if o["sessions"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{o}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = testkit::http::request_with(http, "GET", "/api/v1/ping", &[], b"").await;
    assert_eq!(s, 200, "public");
}
