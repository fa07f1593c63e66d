//! The edge around a real axum server on loopback: tokens (expired, forged, `alg=none`, missing,
//! rotated), RBAC from a `casbin_rule` table (allow, deny, a rule added while serving), the rate
//! limit's 429 at the configured rate, a panicking handler answered 500 with the server living
//! on, CORS, request ids, trace context, and the APISIX metric names on the Prometheus page.

use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zero_edge::auth::JwtAuth;
use zero_edge::http::{Edge, EdgeConf};
use zero_edge::limit::RateLimitConf;
use zero_edge::rbac::{Rbac, Rule};

async fn serve(edge: &Edge) -> u16 {
    let app = edge.wrap(
        Router::new()
            .route("/public/ping", get(|| async { "pong" }))
            .route("/api/station/{id}", get(|| async { "station" }).delete(|| async { "deleted" }))
            .route("/api/boom", get(|| async { panic!("boom") as &'static str }))
            .route(
                "/api/claims",
                get(|req: axum::extract::Request| async move {
                    zero_edge::http::claims(&req)
                        .and_then(|c| c.get("user-id"))
                        .map(ToString::to_string)
                        .unwrap_or_default()
                }),
            ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    port
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

async fn call(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut b = http::Request::builder().method(method).uri(path).header("host", "127.0.0.1");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let res = tx.send_request(b.body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
    Answer { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn code(a: &Answer) -> i64 {
    serde_json::from_str::<serde_json::Value>(&a.body).unwrap_or_default()["code"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn tokens_are_checked_with_the_algorithm_pinned() {
    let conf = EdgeConf { public: vec!["/public/ping".into()], ..EdgeConf::default() };
    let edge = Edge::new("t", &conf, JwtAuth::new("current", "previous", 3600), None).unwrap();
    let port = serve(&edge).await;
    assert_eq!(call(port, "GET", "/public/ping", &[]).await.status, 200, "a public path needs no token");
    let missing = call(port, "GET", "/api/station/1", &[]).await;
    assert_eq!((missing.status, code(&missing)), (401, 16), "{}", missing.body);
    assert!(missing.body.contains("token missing"));
    let good = JwtAuth::new("current", "", 3600).issue("u1", [], now()).unwrap().access_token;
    let a = call(port, "GET", "/api/claims", &[("authorization", &format!("Bearer {good}"))]).await;
    assert_eq!((a.status, a.body.as_str()), (200, "\"u1\""), "the claims reach the handler");
    let rotated = JwtAuth::new("previous", "", 3600).issue("u2", [], now()).unwrap().access_token;
    assert_eq!(
        call(port, "GET", "/api/station/1", &[("authorization", &rotated)]).await.status,
        200,
        "PrevAccessSecret verifies"
    );
    let expired = JwtAuth::new("current", "", 1).issue("u1", [], now() - 10).unwrap().access_token;
    let e = call(port, "GET", "/api/station/1", &[("authorization", &expired)]).await;
    assert_eq!(e.status, 401);
    assert!(e.body.contains("expired"), "{}", e.body);
    let forged = JwtAuth::new("guessed", "", 3600).issue("admin", [], now()).unwrap().access_token;
    assert_eq!(call(port, "GET", "/api/station/1", &[("authorization", &forged)]).await.status, 401);
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(r#"{"user-id":"admin"}"#));
    assert_eq!(call(port, "GET", "/api/station/1", &[("authorization", &none)]).await.status, 401, "alg=none refused");
    // the same claims signed HS512 with the right secret: the algorithm is pinned
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_str(r#"{"user-id":"u1"}"#).unwrap();
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"current"),
    )
    .unwrap();
    assert_eq!(call(port, "GET", "/api/station/1", &[("authorization", &hs512)]).await.status, 401);
}

#[tokio::test]
async fn rbac_from_the_database_allows_denies_and_reloads() {
    let tmp = testkit::db::TempDb::sqlite("edge_rbac");
    let db = zero_sql::Db::connect(&tmp.url).await.unwrap();
    zero_edge::rbac::migrate(&db).await.unwrap();
    for r in [Rule::p(["operator", "/api/station/:id", "GET"]), Rule::g(["alice", "operator"])] {
        zero_edge::rbac::insert(&db, &r).await.unwrap();
    }
    let rbac = Arc::new(Rbac::from_db("", &db).await.unwrap());
    let follower = rbac.clone().follow(db.clone(), Duration::from_millis(100));
    let edge = Edge::new("t", &EdgeConf::default(), JwtAuth::new("k", "", 3600), Some(rbac)).unwrap();
    let port = serve(&edge).await;
    let token = |u: &str| format!("Bearer {}", JwtAuth::new("k", "", 3600).issue(u, [], now()).unwrap().access_token);
    let alice = token("alice");
    assert_eq!(call(port, "GET", "/api/station/7", &[("authorization", &alice)]).await.status, 200);
    let denied = call(port, "DELETE", "/api/station/7", &[("authorization", &alice)]).await;
    assert_eq!((denied.status, code(&denied)), (403, 7), "{}", denied.body);
    assert_eq!(call(port, "GET", "/api/station/7", &[("authorization", &token("bob"))]).await.status, 403);
    // a rule added to the table while serving takes effect without a restart
    zero_edge::rbac::insert(&db, &Rule::p(["operator", "/api/station/:id", "DELETE"])).await.unwrap();
    let start = Instant::now();
    loop {
        if call(port, "DELETE", "/api/station/7", &[("authorization", &alice)]).await.status == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "the new rule was not loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // and a removed one stops allowing
    zero_edge::rbac::remove(&db, &Rule::g(["alice", "operator"])).await.unwrap();
    let start = Instant::now();
    while call(port, "GET", "/api/station/7", &[("authorization", &alice)]).await.status != 403 {
        assert!(start.elapsed() < Duration::from_secs(3), "the removed rule still allows");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    follower.abort();
}

#[tokio::test]
async fn the_rate_limit_answers_429_at_the_configured_rate() {
    let conf = EdgeConf { rate_limit: RateLimitConf { rate: 5, burst: 5, key: "ip".into() }, ..EdgeConf::default() };
    let edge = Edge::new("t", &conf, JwtAuth::new("", "", 0), None).unwrap();
    let port = serve(&edge).await;
    let mut ok = 0;
    let mut limited = 0;
    let start = Instant::now();
    for _ in 0..20 {
        let a = call(port, "GET", "/api/station/1", &[]).await;
        match a.status {
            200 => ok += 1,
            429 => {
                assert_eq!(code(&a), 8, "{}", a.body);
                limited += 1;
            }
            s => panic!("status {s}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // the burst of 5, then 5 per second of what the loop took
    let allowed = 5.0 + 5.0 * secs;
    assert!(f64::from(ok) <= allowed.ceil() && ok >= 5, "{ok} passed in {secs:.2} s");
    assert!(limited >= 20 - allowed.ceil() as i32, "{limited} limited");
    // other routes have their own bucket
    assert_eq!(call(port, "GET", "/public/ping", &[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(call(port, "GET", "/api/station/1", &[]).await.status, 200, "the bucket refills");
}

#[tokio::test]
async fn a_panic_is_a_500_and_the_server_lives_with_ids_cors_trace_and_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let edge = Edge::new("edge-test", &EdgeConf::default(), JwtAuth::new("", "", 0), None).unwrap();
    let port = serve(&edge).await;
    let boom = call(port, "GET", "/api/boom", &[]).await;
    assert_eq!((boom.status, code(&boom)), (500, 13), "{}", boom.body);
    assert_eq!(call(port, "GET", "/api/station/1", &[]).await.status, 200, "the server lives on");
    // request ids: made when missing, kept when sent
    let a = call(port, "GET", "/api/station/1", &[("x-request-id", "abc-1")]).await;
    assert_eq!(a.headers["x-request-id"], "abc-1");
    assert!(!call(port, "GET", "/api/station/1", &[]).await.headers["x-request-id"].is_empty());
    // trace context: the caller's trace continues with a new span
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let t = call(port, "GET", "/api/station/1", &[("traceparent", parent)]).await;
    let tp = t.headers["traceparent"].to_str().unwrap();
    assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && !tp.contains("00f067aa0ba902b7"), "{tp}");
    // CORS preflight
    let pre = call(
        port,
        "OPTIONS",
        "/api/station/1",
        &[("origin", "http://example.test"), ("access-control-request-method", "DELETE")],
    )
    .await;
    assert_eq!(pre.status, 200);
    assert_eq!(pre.headers["access-control-allow-origin"], "*");
    // a token's subject is the consumer label
    let authed = Edge::new("edge-test", &EdgeConf::default(), JwtAuth::new("k", "", 3600), None).unwrap();
    let authed_port = serve(&authed).await;
    let token = JwtAuth::new("k", "", 3600).issue("u-metrics", [], now()).unwrap().access_token;
    assert_eq!(call(authed_port, "GET", "/api/station/2", &[("authorization", &token)]).await.status, 200);
    let page = handle.render();
    for needle in [
        "apisix_http_status{code=\"500\",route=\"/api/boom\"",
        "apisix_http_status{code=\"200\",route=\"/api/station/{id}\"",
        "apisix_http_requests_total",
        "apisix_http_latency",
        "service=\"edge-test\"",
        "consumer=\"u-metrics\"",
    ] {
        assert!(page.contains(needle), "{needle} in:\n{page}");
    }
}
