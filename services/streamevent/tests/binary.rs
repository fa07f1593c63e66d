//! The `streamevent` binary: configuration from the environment, the Prometheus endpoint, and a
//! graceful exit on SIGTERM.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::port::free_port;

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A client of the service on `port`, once it answers (at most 20 s).
async fn client(port: u16) -> streamevent::pb::stream_event_client::StreamEventClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match streamevent::pb::stream_event_client::StreamEventClient::connect(format!("http://127.0.0.1:{port}")).await
        {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("the service on {port} did not come up: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_metrics_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("se_bin_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (grpc, prom) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamevent"))
        .env("ZERO_LISTENON", format!("127.0.0.1:{grpc}"))
        .env("ZERO_PROMETHEUS", format!("{{ListenOn: '127.0.0.1:{prom}'}}"))
        .env("ZERO_DB", format!("{{DataSource: 'sqlite://{}/se.db', Migrate: true}}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut client = client(grpc).await;
    client
        .receive_ws_message(streamevent::pb::ReceiveWsMessageReq { session_id: "s".into(), ..Default::default() })
        .await
        .unwrap();
    let metrics = http_get(prom, "/metrics").expect("metrics endpoint");
    assert!(metrics.contains("streamevent_inbound_events_total"), "{metrics}");
    // the dashboard beside the metrics: the sink's Store panel
    let views = http_get(prom, "/api/dashboard").expect("the dashboard");
    let (head, body) = views.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{views}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let store = &v["panels"][0];
    assert_eq!((&store["id"], &store["view"]["title"]), (&"store".into(), &"Store".into()), "{v}");
    let labels: Vec<&str> =
        store["view"]["stats"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"rows written") && labels.contains(&"arrival to commit, p99"), "{labels:?}");
    // graceful shutdown
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn print_config_shows_the_effective_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_streamevent"))
        .arg("print-config")
        .env("ZERO_LISTENON", "127.0.0.1:1234")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ListenOn: 127.0.0.1:1234"), "{text}");
    assert!(text.contains("DataSource: sqlite://streamevent.db"), "{text}");
    // a broken file is a clear error, exit code 2
    let bad = std::env::temp_dir().join(format!("se_bad_{}.yaml", std::process::id()));
    std::fs::write(&bad, "Db:\n  DataSourc: x\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_streamevent"))
        .args(["-c", bad.to_str().unwrap(), "print-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DataSourc"));
    std::fs::remove_file(bad).ok();
}

/// The service forgets message claims older than `MessageClaimRetentionSeconds` (at start, then
/// periodically) and keeps the recent ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_message_claims_are_forgotten() {
    let dir = std::env::temp_dir().join(format!("se_prune_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/se.db", dir.display());
    let db = streamevent::store::Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis() as u64;
    let old = uuid::Builder::from_unix_timestamp_millis(now_ms - 3_600_000, &[1; 10]).into_uuid().simple().to_string();
    let recent = uuid::Builder::from_unix_timestamp_millis(now_ms, &[2; 10]).into_uuid().simple().to_string();
    let streamevent::store::Db::Sqlite(p) = &db else { unreachable!() };
    for id in [&old, &recent] {
        sqlx::query("INSERT INTO stream_msg (msg_id) VALUES (?)").bind(id).execute(p).await.unwrap();
    }
    let yaml = format!(
        "ListenOn: 127.0.0.1:0\nPrometheus: {{ListenOn: ''}}\nDb: {{DataSource: '{url}', Migrate: true}}\nMessageClaimRetentionSeconds: 600\n"
    );
    let cfg: streamevent_svc::Config =
        zero_svc::config::merge_str(streamevent_svc::DEFAULTS, Some(&yaml), &[]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let svc = tokio::spawn(streamevent_svc::run(cfg, listener, async move {
        let _ = stop_rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let left: Vec<String> = sqlx::query_scalar("SELECT msg_id FROM stream_msg").fetch_all(p).await.unwrap();
        if left.len() < 2 || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(left, [recent], "the claim older than the retention is gone, the recent one stays");
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(20), svc).await.unwrap().unwrap().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

/// The upstream service's own `etc/streamevent.yaml` (tests/data, a copy of the sample the spec
/// gives) works unchanged but for the port and the database path: its values are in effect, the
/// go-zero keys this service does not use are accepted with one warning each, and the service
/// serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_configuration_file_works_unchanged() {
    let dir = std::env::temp_dir().join(format!("se_upstream_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let grpc = free_port();
    let sample = include_str!("data/upstream-streamevent.yaml")
        .replace("ListenOn: 0.0.0.0:21009", &format!("ListenOn: 127.0.0.1:{grpc}"))
        .replace("file:./model/sql/default.db", &format!("file:{}/model/sql/default.db", dir.display()));
    assert!(sample.contains(&format!("127.0.0.1:{grpc}")) && sample.contains(&dir.display().to_string()));
    let file = dir.join("streamevent.yaml");
    std::fs::write(&file, &sample).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_streamevent"))
        .args(["-c", file.to_str().unwrap(), "print-config"])
        .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
        .output()
        .unwrap();
    let (text, warnings) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{warnings}");
    assert!(text.contains(&format!("ListenOn: 127.0.0.1:{grpc}")), "{text}");
    assert!(text.contains("Level: debug"), "the sample's log level: {text}");
    assert!(text.contains("_busy_timeout=5000"), "the sample's DSN: {text}");
    for key in [
        "Name",
        "Mode",
        "Timeout",
        "Log.Encoding",
        "Log.Path",
        "Log.KeepDays",
        "Middlewares",
        "NacosConfig",
        "TaosDB",
        "DisableStmtLog",
    ] {
        assert!(warnings.contains(&format!("{key}: accepted and not used")), "{key}: {warnings}");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamevent"))
        .args(["-c", file.to_str().unwrap()])
        .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut client = client(grpc).await;
    client
        .receive_ws_message(streamevent::pb::ReceiveWsMessageReq { session_id: "s".into(), ..Default::default() })
        .await
        .unwrap();
    assert!(dir.join("model/sql/default.db").exists(), "the upstream DSN's SQLite file");
    let _ = child.kill();
    let _ = child.wait();
    std::fs::remove_dir_all(dir).ok();
}
