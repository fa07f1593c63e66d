//! lalhook's `onHlsMakeTs` on SQLite (a file database, WAL, every row committed before the
//! answer) against a plain no-op handler served by the same HTTP server in the same run: 64
//! keep-alive connections, each sending LAL's body for a new segment one after another, for a
//! fixed time; rows counted in the database afterwards (each answered call is one row).
//!
//! `cargo bench -p zero-benches --bench lalhook`: 5 s per route; under `cargo test` 0.5 s.

use http_body_util::BodyExt as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;

/// Calls per second of `POST path` with `body(n)` over `CONNECTIONS` connections for `secs`.
async fn drive(port: u16, path: &'static str, secs: f64, body: fn(u64) -> String) -> (u64, f64) {
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (next, ok) = (next.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
            tokio::spawn(conn);
            while Instant::now() < end {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let req = hyper::Request::post(path)
                    .header("host", "127.0.0.1")
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(body(n))))
                    .unwrap();
                let res = sender.send_request(req).await.unwrap();
                let status = res.status();
                let _ = res.into_body().collect().await.unwrap();
                if status.is_success() {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = ok.load(Ordering::Relaxed);
    (n, n as f64 / start.elapsed().as_secs_f64())
}

fn make_ts(n: u64) -> String {
    serde_json::json!({
        "event": "close", "stream_name": "bench", "cwd": "/opt/lal",
        "ts_file": format!("/lal/hls/bench/bench-{}-{n}.ts", 1_796_000_000_000u64 + n * 2000),
        "live_m3u8_file": "/lal/hls/bench/playlist.m3u8", "record_m3u8_file": "/lal/hls/bench/record.m3u8",
        "id": n, "duration": 2.0, "server_id": "lal-1"
    })
    .to_string()
}

fn noop(_: u64) -> String {
    r#"{"server_id":"lal-1"}"#.to_owned()
}

async fn run(secs: f64) {
    let dir = std::env::temp_dir().join(format!("lalhook-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("lal.db");
    let store = lalhook_svc::store::Store::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let app = lalhook_svc::http::App { store: store.clone(), segment_url_prefix: Arc::from("/v1/hls/") };
    // the hooks behind the edge, as in the service (no token, no limit: LAL's defaults)
    let edge = zero_edge::http::Edge::new(
        "lalhook",
        &zero_edge::http::EdgeConf::default(),
        zero_edge::auth::JwtAuth::new("", "", 0),
        None,
    )
    .unwrap();
    let router = lalhook_svc::http::router(app, None, &edge)
        .route("/noop", axum::routing::post(|| async { axum::Json(serde_json::json!({})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (_, noop_rate) = drive(port, "/noop", secs, noop).await;
    let (hooks, hook_rate) = drive(port, "/v1/hook/onHlsMakeTs", secs, make_ts).await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hls_ts_files").fetch_one(store.db().pool()).await.unwrap();
    assert_eq!(rows as u64, hooks, "every answered call is a row");
    println!(
        "lalhook onHlsMakeTs on SQLite: {hook_rate:.0} calls/s ({rows} rows counted); a no-op handler on the same server: {noop_rate:.0} calls/s; {:.2}x (target >= 10,000 calls/s; {CONNECTIONS} connections)",
        hook_rate / noop_rate
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run(if full { 5.0 } else { 0.5 }));
}
