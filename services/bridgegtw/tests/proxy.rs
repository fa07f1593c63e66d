//! The reverse proxy and routes that change at run time: round-robin and least-connections
//! balancing over real upstreams, a node killed mid-load (retries: no request fails; the health
//! check takes it out and puts it back), a route added in etcd (Debian `etcd-server`) or in the
//! watched file serving within 1 s while a load runs with zero failed requests, the admin API
//! behind its key, and the per-route rate limit.

mod common;

use common::{call, gateway, load, named_upstream, until_served};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn proxy_yaml(nodes: &[&str], balance: &str, extra: &str) -> String {
    let nodes = nodes.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    format!(
        r#"
Upstreams: []
HttpUpstreams:
- {{Id: app, Nodes: [{nodes}], Balance: {balance}, Retries: 2, TimeoutMs: 2000,
    HealthCheck: {{Path: /health, IntervalMs: 100, UnhealthyAfter: 1}}}}
HttpRoutes:
- {{Id: app, Path: "/app/*", Upstream: app, StripPrefix: true}}
{extra}
"#
    )
}

#[tokio::test]
async fn round_robin_retries_and_health_checks() {
    let (a, task_a, hits_a) = named_upstream("a").await;
    let (b, _task_b, hits_b) = named_upstream("b").await;
    let (port, _stop) = gateway(&proxy_yaml(&[&a, &b], "roundrobin", "")).await;
    let mut seen = BTreeMap::new();
    for i in 0..20 {
        let r = call(port, "GET", &format!("/app/x/{i}?q=1"), &[], b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["path"], format!("/x/{i}?q=1"), "the prefix is stripped, the query kept");
        assert!(r.json()["traceparent"].as_str().unwrap().starts_with("00-"), "trace context forwarded");
        assert_eq!(r.json()["xff"], "127.0.0.1", "the client's address forwarded");
        *seen.entry(r.json()["node"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    assert_eq!(seen, BTreeMap::from([("a".to_owned(), 10), ("b".to_owned(), 10)]), "turns");
    let (before_a, before_b) = (hits_a.load(Ordering::Relaxed), hits_b.load(Ordering::Relaxed));
    // node a goes away under load: GETs are retried on b, none fails
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(port, "/app/under-load", stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    task_a.abort();
    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = loader.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} failed of {}: {:?}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok >= 5, "{ok}");
    assert!(hits_b.load(Ordering::Relaxed) > before_b && hits_a.load(Ordering::Relaxed) >= before_a);
    // a POST is not retried: with a gone it is sent to b (a is out after the checks)
    for _ in 0..4 {
        let r = call(port, "POST", "/app/p", &[], b"{}").await;
        assert_eq!((r.status, r.json()["node"].as_str()), (200, Some("b")), "a is out of the rotation");
    }
}

#[tokio::test]
async fn least_connections_prefers_the_idle_node() {
    use axum::routing::get;
    // a slow node and a fast one: with least_conn the fast one takes the most
    let slow = axum::Router::new().route("/health", get(|| async { "ok" })).fallback(|| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        axum::Json(serde_json::json!({"node": "slow"}))
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, slow).await });
    let (fast, _t, _h) = named_upstream("fast").await;
    let (port, _stop) = gateway(&proxy_yaml(&[&slow_addr, &fast], "least_conn", "")).await;
    let mut tasks = vec![];
    for _ in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut nodes = vec![];
            for _ in 0..5 {
                nodes.push(
                    call(port, "GET", "/app/x", &[], b"").await.json()["node"].as_str().unwrap_or("?").to_owned(),
                );
            }
            nodes
        }));
    }
    let mut count = BTreeMap::new();
    for t in tasks {
        for n in t.await.unwrap() {
            *count.entry(n).or_insert(0) += 1;
        }
    }
    let (s, f) = (count.get("slow").copied().unwrap_or(0), count.get("fast").copied().unwrap_or(0));
    assert_eq!(s + f, 40, "{count:?}");
    // round-robin would send the slow node half (20); least_conn sends it far fewer
    assert!(s < 14 && f > s, "least_conn sends most to the idle node: {count:?}");
}

#[tokio::test]
async fn a_route_added_in_etcd_serves_within_a_second_under_load() {
    let etcd = testkit::etcd::Etcd::start();
    let (a, _ta, _ha) = named_upstream("a").await;
    let (b, _tb, _hb) = named_upstream("b").await;
    let extra = format!(
        "Dynamic:\n  Etcd:\n    Hosts: [\"{}\"]\n    Key: /gtwtest\nAdmin:\n  ListenOn: 127.0.0.1:0\n  Key: \"\"\n",
        etcd.addr
    );
    let (port, _stop) = gateway(&format!("{}{extra}", proxy_yaml(&[&a], "roundrobin", ""))).await;
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(port, "/app/steady", stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // written as an operator would, with etcdctl's client
    let mut c = etcd_client::Client::connect([etcd.addr.as_str()], None).await.unwrap();
    c.put("/gtwtest/upstreams/second", serde_json::json!({"Nodes": [b]}).to_string(), None).await.unwrap();
    c.put(
        "/gtwtest/routes/second",
        serde_json::json!({"Path": "/second/*", "Upstream": "second", "StripPrefix": true}).to_string(),
        None,
    )
    .await
    .unwrap();
    let took = until_served(port, "/second/x", Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(1), "served after {took:?}");
    assert_eq!(call(port, "GET", "/second/x", &[], b"").await.json()["node"], "b");
    // a route that does not fit is refused and the routes in force stay
    c.put("/gtwtest/routes/broken", serde_json::json!({"Path": "/broken", "Upstream": "nowhere"}).to_string(), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call(port, "GET", "/second/x", &[], b"").await.status, 200);
    c.delete("/gtwtest/routes/broken", None).await.unwrap();
    // removed again
    c.delete("/gtwtest/routes/second", None).await.unwrap();
    let start = std::time::Instant::now();
    while call(port, "GET", "/second/x", &[], b"").await.status != 404 {
        assert!(start.elapsed() < Duration::from_secs(1), "the deleted route still serves");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = loader.await.unwrap();
    assert!(failed.is_empty() && ok >= 3, "{ok} ok, failed: {:?}", &failed[..failed.len().min(3)]);
}

#[tokio::test]
async fn a_route_added_to_the_watched_file_serves_within_a_second() {
    let (a, _ta, _ha) = named_upstream("a").await;
    let (b, _tb, _hb) = named_upstream("b").await;
    let dir = std::env::temp_dir().join(format!("gtw-file-{}-{}", std::process::id(), testkit::port::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("routes.yaml");
    std::fs::write(&file, "HttpUpstreams: []\nHttpRoutes: []\n").unwrap();
    let extra = format!("Dynamic:\n  File: \"{}\"\n", file.display());
    let (port, _stop) = gateway(&format!("{}{extra}", proxy_yaml(&[&a], "roundrobin", ""))).await;
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(port, "/app/steady", stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = format!(
        "HttpUpstreams:\n- {{Id: f, Nodes: [\"{b}\"]}}\nHttpRoutes:\n- {{Id: f, Path: /file/hello, Upstream: f}}\n"
    );
    // written whole and renamed into place, as an editor or a config tool does
    std::fs::write(dir.join("routes.tmp"), text).unwrap();
    std::fs::rename(dir.join("routes.tmp"), &file).unwrap();
    let took = until_served(port, "/file/hello", Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(1), "served after {took:?}");
    // a broken file leaves the routes in force
    std::fs::write(&file, "HttpRoutes: [{{{").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(call(port, "GET", "/file/hello", &[], b"").await.status, 200);
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = loader.await.unwrap();
    assert!(failed.is_empty() && ok >= 3, "{ok} ok, failed: {:?}", &failed[..failed.len().min(3)]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_admin_api_needs_its_key_and_changes_routes() {
    let (a, _ta, _ha) = named_upstream("a").await;
    let admin_port = testkit::port::free_port();
    let extra = format!("Admin:\n  ListenOn: 127.0.0.1:{admin_port}\n  Key: s3cret\n");
    let (port, _stop) = gateway(&format!("Upstreams: []\n{extra}")).await;
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", admin_port)).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(5), "the admin API does not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let up = serde_json::json!({"Nodes": [a], "Balance": "roundrobin"}).to_string();
    let no_key = call(admin_port, "PUT", "/apisix/admin/upstreams/u1", &[], up.as_bytes()).await;
    assert_eq!((no_key.status, no_key.json()["code"].as_i64()), (401, Some(16)));
    let wrong = call(admin_port, "PUT", "/apisix/admin/upstreams/u1", &[("x-api-key", "s3cre7")], up.as_bytes()).await;
    assert_eq!(wrong.status, 401);
    let key = [("x-api-key", "s3cret")];
    assert_eq!(call(admin_port, "PUT", "/apisix/admin/upstreams/u1", &key, up.as_bytes()).await.status, 201);
    let bad =
        call(admin_port, "PUT", "/apisix/admin/routes/r1", &key, br#"{"Path": "/r1", "Upstream": "u1", "Nope": 1}"#)
            .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    let missing =
        call(admin_port, "PUT", "/apisix/admin/routes/r1", &key, br#"{"Path": "/r1", "Upstream": "u9"}"#).await;
    assert_eq!(missing.status, 400, "a route to a missing upstream: {}", missing.text());
    let route = br#"{"Path": "/r1", "Upstream": "u1", "RateLimit": {"Rate": 2, "Burst": 2, "Key": "route"}}"#;
    assert_eq!(call(admin_port, "PUT", "/apisix/admin/routes/r1", &key, route).await.status, 201);
    assert_eq!(call(port, "GET", "/r1", &[], b"").await.status, 200);
    let listed = call(admin_port, "GET", "/apisix/admin/routes", &key, b"").await.json();
    assert_eq!(listed["list"][0]["Id"], "r1");
    // the route's own limit: 2 at once, then 429
    let third = call(port, "GET", "/r1", &[], b"").await;
    let fourth = call(port, "GET", "/r1", &[], b"").await;
    assert!(third.status == 429 || fourth.status == 429, "{} {}", third.status, fourth.status);
    assert_eq!(call(admin_port, "DELETE", "/apisix/admin/routes/r1", &key, b"").await.status, 204);
    assert_eq!(call(port, "GET", "/r1", &[], b"").await.status, 404);
}
