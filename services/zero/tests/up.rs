//! `zero up`: in-process with small settings, and the real binary with a status line and a clean
//! stop on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn cfg(db: &str) -> zero::Config {
    let env = [
        (
            "Simulator".to_string(),
            "{Stations: 2, Points: 40, ChangesPerSecond: 200, Host: 127.0.0.1, BasePort: 0}".to_string(),
        ),
        ("Db".into(), format!("{{DataSource: '{db}'}}")),
        ("Compactor".into(), "{Mode: batch, ChunkBytes: 65536, FlushMillis: 200}".into()),
        ("IecCallerListenOn".into(), "127.0.0.1:0".into()),
        ("StreamEventListenOn".into(), "127.0.0.1:0".into()),
        ("StatusEverySeconds".into(), "0".into()),
        ("Dashboard".into(), "{ListenOn: '127.0.0.1:0', AccessSecret: ''}".into()),
    ];
    zero_svc::config::merge_str(zero::DEFAULTS, None, &env).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_stores_every_simulated_point() {
    let dir = std::env::temp_dir().join(format!("zero_up_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/z.db", dir.display());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (up_tx, up_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(zero::up(
        cfg(&db),
        async move {
            let _ = stop_rx.await;
        },
        move |r| {
            let _ = up_tx.send((r.ingest.clone(), r.simulated.clone(), r.iec_caller, r.stream_event));
        },
    ));
    let (stats, sims, api, _se) = tokio::time::timeout(Duration::from_secs(30), up_rx).await.unwrap().unwrap();
    assert_eq!(sims.len(), 2);

    // every simulated point reaches SQLite (GI on start, then changes)
    let sdb = streamevent::store::Db::connect(&db).await.unwrap();
    let sink = streamevent::sink::SqlSink::new(sdb);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut complete = true;
        for s in &sims {
            let station = format!("127_0_0_1_{}", s.port());
            for ioa in [100, 119, 139] {
                complete &= !sink.rows(&station, 1, ioa).await.unwrap().is_empty();
            }
        }
        if complete && stats.messages.load(Ordering::Relaxed) >= 80 {
            break;
        }
        assert!(Instant::now() < deadline, "points missing; stored {:?}", stats.messages);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stats.errors.load(Ordering::Relaxed), 0);

    // the ieccaller API commands a simulated station
    let mut c =
        streamevent::caller::pb::iec_caller_client::IecCallerClient::connect(format!("http://{api}")).await.unwrap();
    let r = c
        .send_single_command(streamevent::caller::pb::SendSingleCommandReq {
            host: "127.0.0.1".into(),
            port: u32::from(sims[0].port()),
            coa: 1,
            ioa: 100,
            value: true,
            with_time: true,
        })
        .await
        .unwrap();
    assert!(r.into_inner().value);

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(30), task).await.expect("stops cleanly").unwrap().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn binary_shows_status_and_stops_on_sigint() {
    let dir = std::env::temp_dir().join(format!("zero_bin_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zero"))
        .args([
            "up",
            "--stations",
            "1",
            "--points",
            "20",
            "--rate",
            "50",
            "--db",
            &format!("sqlite://{}/z.db", dir.display()),
        ])
        .env("ZERO_SIMULATOR", "{Stations: 1, Points: 20, ChangesPerSecond: 50, Host: 127.0.0.1, BasePort: 0}")
        .env("ZERO_IECCALLERLISTENON", "127.0.0.1:0")
        .env("ZERO_DASHBOARD", "{ListenOn: '127.0.0.1:0', AccessSecret: ''}")
        .env("ZERO_STREAMEVENTLISTENON", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    let mut banner = None;
    while Instant::now() < deadline {
        let Some(Ok(l)) = lines.next() else { break };
        if l.starts_with("zero up:") && banner.is_none() {
            banner = Some(l.clone());
        }
        if l.starts_with("zero up | stations 1/1") && !l.contains("points 0 ") {
            seen = true;
            break;
        }
    }
    assert!(seen, "no status line with a connected station");
    // the first line says where the command API listens and that it is loopback only
    let banner = banner.expect("a start line");
    assert_eq!(banner.matches("(loopback only)").count(), 2, "{banner}");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} {rest:?}");
    assert!(rest.iter().any(|l| l == "zero: stopped"), "{rest:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_zero"))
        .args(["up"])
        .env("ZERO_BUS", "rabbit")
        .env("ZERO_SIMULATOR", "{Stations: 0, Points: 1, ChangesPerSecond: 1, Host: 127.0.0.1, BasePort: 0}")
        .env("ZERO_IECCALLERLISTENON", "127.0.0.1:0")
        .env("ZERO_DASHBOARD", "{ListenOn: '127.0.0.1:0', AccessSecret: ''}")
        .env("ZERO_STREAMEVENTLISTENON", "127.0.0.1:0")
        .env("ZERO_DB", "{DataSource: 'sqlite::memory:'}")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bus \"rabbit\" is not memory or kafka"));
    let bad = std::env::temp_dir().join(format!("zero_bad_{}.yaml", std::process::id()));
    std::fs::write(&bad, "Simulatr: {}\n").unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_zero")).args(["-c", bad.to_str().unwrap(), "print-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Simulatr"));
    std::fs::remove_file(bad).ok();
}

/// Two runs of `zero up` on one database: both start their in-process sequence at 0 and cut
/// chunks of ten points (3200 bytes at 320 a typed point), so their chunks cover the same
/// positions; every point of both runs is stored (the old `memory@0-9` ids made the second run's
/// chunks look like redeliveries of the first run's, and dropped them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_database_stores_all_its_points() {
    let dir = std::env::temp_dir().join(format!("zero_twice_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/z.db", dir.display());
    let mut total = 0;
    for run in 0..2 {
        let mut c = cfg(&db);
        c.compactor.chunk_bytes = 10 * streamevent::compact::TYPED_POINT_SIZE;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (up_tx, up_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(zero::up(
            c,
            async move {
                let _ = stop_rx.await;
            },
            move |r| {
                let _ = up_tx.send((r.ingest.clone(), r.published.clone()));
            },
        ));
        let (ingest, stats) = tokio::time::timeout(Duration::from_secs(30), up_rx).await.unwrap().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while ingest.rows.load(Ordering::Relaxed) < 200 {
            assert!(Instant::now() < deadline, "run {run}: rows stored {}", ingest.rows.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(30), task).await.expect("stops cleanly").unwrap().unwrap();
        // every point this run put on its bus is a row now (batch mode, all points mapped)
        total += stats.load(Ordering::Relaxed) as i64;
        let sink = streamevent::sink::SqlSink::new(streamevent::store::Db::connect(&db).await.unwrap());
        assert_eq!(sink.count().await.unwrap(), total, "run {run}: rows of every point of every run so far");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_command_api_binds_loopback_by_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_zero")).args(["print-config"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("IecCallerListenOn: 127.0.0.1:21004"), "{text}");
    assert!(text.contains("StreamEventListenOn: 127.0.0.1:21009"), "{text}");
}
