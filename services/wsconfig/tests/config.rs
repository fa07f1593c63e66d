//! wsconfig on SQLite, PostgreSQL and MySQL (the machine's servers): versions per app, ETags and
//! 304 for what a client has, `since` for only what changed; a change needs a token, a bad item
//! is refused and changes nothing.

use serde_json::json;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};

const SECRET: &str = "wsconfig-test-secret-0123456789abcdef";

async fn req(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, serde_json::Value) {
    let (s, b) = testkit::http::request_with(port, method, path, headers, body).await;
    (s, serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null))
}

async fn etag_of(port: u16, path: &str) -> String {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let r = s
        .send_request(
            http::Request::get(path).header("host", "x").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap(),
        )
        .await
        .unwrap();
    r.headers().get("etag").unwrap().to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_etags_and_changes_on_every_database() {
    for db in testkit::db::TempDb::all("wsconfig").await {
        let http = free_port();
        let file = ConfigFile::new(
            "wsconfig.yaml",
            &format!(
                "ListenOn: 127.0.0.1:{http}\nPrometheus: {{ListenOn: ''}}\nDB: {{DataSource: '{}'}}\n\
                 JwtAuth: {{AccessSecret: {SECRET}}}\nMaxBytes: 1024\n",
                db.url
            ),
        );
        let _svc = spawn(env!("CARGO_BIN_EXE_wsconfig"), &file.path, &[]);
        wait_listening(http, Duration::from_secs(20));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let t = format!(
            "Bearer {}",
            zero_edge::auth::JwtAuth::new(SECRET, "", 600).issue("ops", [], now).unwrap().access_token
        );
        let auth = [("authorization", t.as_str()), ("content-type", "application/json")];
        let kind = &db.url[..db.url.find(':').unwrap()];

        let (s, v) = req(http, "GET", "/config/v1/app1", &[], b"").await;
        assert_eq!((s, &v["version"], &v["items"]), (200, &json!(0), &json!({})), "{kind}: {v}");
        // a change needs a token
        let (s, _) = req(http, "PUT", "/config/v1/admin/app1/theme", &[], br#"{"color":"red"}"#).await;
        assert_eq!(s, 401, "{kind}");
        let (s, v) = req(http, "PUT", "/config/v1/admin/app1/theme", &auth, br#"{"color":"red"}"#).await;
        assert_eq!((s, &v["version"]), (200, &json!(1)), "{kind}: {v}");
        let (s, v) = req(http, "PUT", "/config/v1/admin/app1/limits", &auth, br#"{"rooms":5}"#).await;
        assert_eq!((s, &v["version"]), (200, &json!(2)), "{kind}: {v}");
        let (_, v) = req(http, "GET", "/config/v1/app1", &[], b"").await;
        assert_eq!(v["items"], json!({"theme": {"color": "red"}, "limits": {"rooms": 5}}), "{kind}: {v}");
        assert_eq!(etag_of(http, "/config/v1/app1").await, "\"v2\"");
        // what the client has: 304; what changed since 1: limits only
        let (s, _) = req(http, "GET", "/config/v1/app1", &[("if-none-match", "\"v2\"")], b"").await;
        assert_eq!(s, 304, "{kind}");
        let (_, v) = req(http, "GET", "/config/v1/app1?since=1", &[], b"").await;
        assert_eq!(v["items"], json!({"limits": {"rooms": 5}}), "{kind}: {v}");
        // a bad item: refused, nothing changes
        for bad in [&b"{not json"[..], &[b'1'; 2000][..]] {
            let (s, e) = req(http, "PUT", "/config/v1/admin/app1/theme", &auth, bad).await;
            assert_eq!(s, 400, "{kind}: {e}");
        }
        let (s, _) = req(http, "GET", "/config/v1/app1", &[("if-none-match", "\"v2\"")], b"").await;
        assert_eq!(s, 304, "{kind}: unchanged");
        // theme again: version 3, the old tag no longer matches, since 2 gives theme only
        req(http, "PUT", "/config/v1/admin/app1/theme", &auth, br#"{"color":"blue"}"#).await;
        let (s, v) = req(http, "GET", "/config/v1/app1", &[("if-none-match", "\"v2\"")], b"").await;
        assert_eq!((s, &v["version"]), (200, &json!(3)), "{kind}: {v}");
        let (_, v) = req(http, "GET", "/config/v1/app1?since=2", &[], b"").await;
        assert_eq!(v["items"], json!({"theme": {"color": "blue"}}), "{kind}: {v}");
        // one item
        let (s, v) = req(http, "GET", "/config/v1/app1/theme", &[], b"").await;
        assert_eq!((s, &v["version"], &v["value"]), (200, &json!(3), &json!({"color": "blue"})), "{kind}: {v}");
        let (s, _) = req(http, "GET", "/config/v1/app1/theme", &[("if-none-match", "\"v3\"")], b"").await;
        assert_eq!(s, 304, "{kind}");
        let (s, _) = req(http, "GET", "/config/v1/app1/nothing", &[], b"").await;
        assert_eq!(s, 404, "{kind}");
        // another app has its own versions
        let (_, v) = req(http, "GET", "/config/v1/app2", &[], b"").await;
        assert_eq!(v["version"], 0, "{kind}");
    }
}
