//! Transcoding against a real gRPC server on loopback (`gtwtest.Echo`, descriptors by reflection
//! and from a `ProtoSets` file): the golden table of proto JSON rules (nested and repeated
//! fields, int64 as strings, enums, maps, well-known types, defaults emitted, lowerCamel names),
//! path and query parameters merged over the body, `Grpc-Metadata-*` and `traceparent`
//! forwarded, `Grpc-Timeout`, gRPC status -> HTTP status and the `{"code","message"}` body, bad
//! JSON -> 400 naming the field.

mod common;

use common::{call, echo_server, gateway};
use serde_json::json;

fn mappings(addr: &str, proto_sets: &str) -> String {
    format!(
        r#"
Timeout: 2000
Upstreams:
- Grpc:
    Endpoints: ["{addr}"]
  ProtoSets: [{proto_sets}]
  Mappings:
  - {{Method: POST, Path: /echo, RpcPath: gtwtest.Echo/Echo}}
  - {{Method: GET, Path: "/echo/:id", RpcPath: gtwtest.Echo/Echo}}
  - {{Method: POST, Path: /meta, RpcPath: gtwtest.Echo/Meta}}
  - {{Method: POST, Path: /fail, RpcPath: gtwtest.Echo/Fail}}
  - {{Method: POST, Path: /slow, RpcPath: gtwtest.Echo/Slow}}
  - {{Method: POST, Path: /missing, RpcPath: gtwtest.Echo/Nope}}
"#
    )
}

/// Every field at its default, as go-zero's gateway renders an empty message.
fn defaults() -> serde_json::Value {
    json!({
        "id": "", "big": "0", "ubig": "0", "count": 0, "flag": false, "ratio": 0.0, "level": "LEVEL_UNSPECIFIED",
        "tags": [], "inners": [], "counters": {}, "blob": "", "snakeCaseField": ""
    })
}

fn merged(over: serde_json::Value) -> serde_json::Value {
    let mut d = defaults();
    for (k, v) in over.as_object().unwrap() {
        d[k] = v.clone();
    }
    d
}

async fn golden(port: u16) {
    let table: Vec<(&str, &str, serde_json::Value, serde_json::Value)> = vec![
        ("POST", "/echo", json!({}), defaults()),
        (
            "POST",
            "/echo",
            json!({"id": "a", "big": 9007199254740993_i64, "ubig": "18446744073709551615", "count": 7, "flag": true,
                   "ratio": 0.5, "level": "HIGH", "tags": ["x", "y"], "snakeCaseField": "s"}),
            merged(
                json!({"id": "a", "big": "9007199254740993", "ubig": "18446744073709551615", "count": 7, "flag": true,
                          "ratio": 0.5, "level": "HIGH", "tags": ["x", "y"], "snakeCaseField": "s"}),
            ),
        ),
        // proto names are accepted on input; numbers as strings and enums as numbers too
        (
            "POST",
            "/echo",
            json!({"snake_case_field": "p", "big": "-5", "count": "12", "level": 1}),
            merged(json!({"snakeCaseField": "p", "big": "-5", "count": 12, "level": "LOW"})),
        ),
        // nested and repeated messages, maps
        (
            "POST",
            "/echo",
            json!({"inner": {"name": "n", "values": [1, "2"]}, "inners": [{"name": "a"}, {"values": ["-3"]}],
                   "counters": {"k": "10", "j": 2}}),
            merged(json!({"inner": {"name": "n", "values": ["1", "2"]},
                          "inners": [{"name": "a", "values": []}, {"name": "", "values": ["-3"]}],
                          "counters": {"k": "10", "j": "2"}})),
        ),
        // well-known types and bytes
        (
            "POST",
            "/echo",
            json!({"at": "2026-12-06T08:00:00.5Z", "took": "1.5s", "note": "hello", "blob": "AAEC"}),
            merged(json!({"at": "2026-12-06T08:00:00.500Z", "took": "1.500s", "note": "hello", "blob": "AAEC"})),
        ),
    ];
    for (method, path, body, want) in table {
        let a = call(port, method, path, &[("content-type", "application/json")], body.to_string().as_bytes()).await;
        assert_eq!(a.status, 200, "{body}: {}", a.text());
        assert_eq!(a.json(), want, "{body}");
        assert!(a.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    }
}

#[tokio::test]
async fn golden_table_by_reflection() {
    let (addr, _server) = echo_server(true).await;
    let (port, _stop) = gateway(&mappings(&addr, "")).await;
    golden(port).await;

    // path and query parameters, merged over the body (parameters win)
    let a = call(port, "GET", "/echo/item-7?tags=a&tags=b&flag=true&count=3&big=-9", &[], b"").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json(), merged(json!({"id": "item-7", "tags": ["a", "b"], "flag": true, "count": 3, "big": "-9"})));
    let a = call(port, "POST", "/echo?id=from-query", &[], br#"{"id":"from-body","count":2}"#).await;
    assert_eq!((a.json()["id"].as_str(), a.json()["count"].as_i64()), (Some("from-query"), Some(2)));
    // a form body is read like the query
    let a =
        call(port, "POST", "/echo", &[("content-type", "application/x-www-form-urlencoded")], b"id=f&count=4").await;
    assert_eq!((a.json()["id"].as_str(), a.json()["count"].as_i64()), (Some("f"), Some(4)), "{}", a.text());

    // bad JSON: 400 naming the field
    for (body, field) in [
        (r#"{"count":"abc"}"#, "count"),
        (r#"{"inner":{"values":["x"]}}"#, "inner.values"),
        (r#"{"level":true}"#, "level"),
        (r#"{"at":"yesterday"}"#, "at"),
    ] {
        let a = call(port, "POST", "/echo", &[], body.as_bytes()).await;
        assert_eq!((a.status, a.json()["code"].as_i64()), (400, Some(3)), "{body}: {}", a.text());
        assert!(a.json()["message"].as_str().unwrap().contains(field), "{body}: {}", a.text());
    }
    for body in ["{", "[1]", "\"x\""] {
        let a = call(port, "POST", "/echo", &[], body.as_bytes()).await;
        assert_eq!(a.status, 400, "{body}: {}", a.text());
    }

    // metadata and trace context reach the server
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let a = call(port, "POST", "/meta", &[("grpc-metadata-x-tenant", "t1"), ("traceparent", tp)], b"{}").await;
    let v = a.json()["value"].as_str().unwrap_or_default().to_owned();
    let (tenant, trace) = v.split_once('|').unwrap();
    assert_eq!(tenant, "t1");
    assert!(
        trace.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && !trace.contains("00f067aa0ba902b7"),
        "{trace}"
    );

    // gRPC statuses as go-zero maps them, with the unified body
    for (code, http) in [
        (3, 400),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (12, 501),
        (13, 500),
        (14, 503),
        (16, 401),
    ] {
        let a = call(port, "POST", "/fail", &[], json!({"code": code, "message": "nope"}).to_string().as_bytes()).await;
        assert_eq!(a.status, http, "grpc code {code}");
        assert_eq!(a.json(), json!({"code": code, "message": "nope"}));
    }

    // Grpc-Timeout shortens the call; the configured Timeout bounds it
    let a = call(port, "POST", "/slow", &[("grpc-timeout", "100ms")], br#"{"count":600}"#).await;
    assert_eq!((a.status, a.json()["code"].as_i64()), (504, Some(4)), "{}", a.text());
    let a = call(port, "POST", "/slow", &[("grpc-timeout", "1s")], br#"{"count":20}"#).await;
    assert_eq!(a.status, 200);

    // a mapping to a method the server does not have; a path no route has
    assert_eq!(call(port, "POST", "/missing", &[], b"{}").await.status, 404);
    let a = call(port, "GET", "/nowhere", &[], b"").await;
    assert_eq!((a.status, a.json()["code"].as_i64()), (404, Some(5)));
    // the native ping
    let a = call(port, "GET", "/bridge/v1/ping", &[], b"").await;
    assert_eq!((a.status, a.json()), (200, json!({"msg": "pong"})));
}

#[tokio::test]
async fn golden_table_from_proto_sets_without_reflection() {
    let (addr, _server) = echo_server(false).await;
    let dir = std::env::temp_dir().join(format!("gtw-pb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pb = dir.join("gtwtest.pb");
    std::fs::write(&pb, common::descriptor_set()).unwrap();
    let (port, _stop) = gateway(&mappings(&addr, &format!("\"{}\"", pb.display()))).await;
    golden(port).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_upstream_that_is_not_there_yet_is_a_503_then_served() {
    let port_of_echo = testkit::port::free_port();
    let addr = format!("127.0.0.1:{port_of_echo}");
    let (port, _stop) = gateway(&mappings(&addr, "")).await;
    let a = call(port, "POST", "/echo", &[], b"{}").await;
    assert_eq!((a.status, a.json()["code"].as_i64()), (503, Some(14)), "{}", a.text());
    // the server comes: the next request finds its descriptors
    let l = std::net::TcpListener::bind(&addr);
    drop(l);
    let fds = common::descriptor_set();
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    tokio::spawn(async move {
        let refl = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(Box::leak(fds.into_boxed_slice()))
            .build_v1()
            .unwrap();
        let _ = tonic::transport::Server::builder()
            .add_service(refl)
            .add_service(common::EchoSvc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    let start = std::time::Instant::now();
    loop {
        let a = call(port, "POST", "/echo", &[], br#"{"id":"late"}"#).await;
        if a.status == 200 {
            assert_eq!(a.json()["id"], "late");
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{}", a.text());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
