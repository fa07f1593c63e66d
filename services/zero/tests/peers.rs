//! `zero up` (the binary) against real peers: a lib60870 (c104) station polled with `--station`,
//! and the Kafka bus (`--kafka`) through a tansu broker, killed with SIGKILL mid-stream and
//! started again: every point that reached the bus is stored exactly once; and `--ack-after-store`
//! against a station that sends again what was not acknowledged, SIGKILLed mid-stream: every
//! time-tagged point the station sent is stored exactly once.

use testkit::iec104 as iec;
use testkit::kafka;

use iec::{free_port, ChildGuard};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use streamevent::sink::SqlSink;
use streamevent::store::{Db, MappingStore, PointMapping};

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("{prefix}_{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// `zero up` with `args`, small settings, free ports and no status line; `env` adds variables.
fn zero_up(args: &[&str], env: &[(&str, String)]) -> ChildGuard {
    let log = std::env::var("E2E_LOG").is_ok();
    let child = Command::new(env!("CARGO_BIN_EXE_zero"))
        .arg("up")
        .args(args)
        .env("ZERO_IECCALLERLISTENON", "127.0.0.1:0")
        .env("ZERO_DASHBOARD", "{ListenOn: '127.0.0.1:0', AccessSecret: ''}")
        .env("ZERO_STREAMEVENTLISTENON", "127.0.0.1:0")
        .env("ZERO_STATUSEVERYSECONDS", "0")
        .env("ZERO_COMPACTOR", "{Mode: batch, ChunkBytes: 8192, FlushMillis: 200}")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(if log { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .unwrap();
    ChildGuard(child)
}

/// Stops `zero up` with SIGINT and checks that it exits cleanly.
fn stop(mut z: ChildGuard) {
    let pid = z.0.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = z.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "zero up did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// Interrogable type ids among c104's points (a GI returns these).
fn interrogable(tid: u64) -> bool {
    matches!(tid, 1 | 3 | 5 | 7 | 9 | 11 | 13 | 30..=36)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_up_station_stores_what_a_c104_station_sends() {
    let (_peer, port, expected) = tokio::task::spawn_blocking(|| iec::start_c104_server(None)).await.unwrap();
    let dir = TempDir::new("zero_c104");
    let url = format!("sqlite://{}/z.db", dir.0.display());
    // real stations' points are stored once mapped
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let station = format!("127_0_0_1_{port}");
    let store = MappingStore::new(db.clone(), Duration::ZERO);
    for e in &expected {
        store.upsert(&PointMapping::new(&station, 1, e["ioa"].as_i64().unwrap() as i32)).await.unwrap();
    }
    let addr = format!("127.0.0.1:{port}");
    let z = zero_up(&["--stations", "0", "--station", &addr, "--db", &url], &[]);

    // the start-up interrogation: a row for every interrogable point
    let want: BTreeSet<i32> = expected
        .iter()
        .filter(|e| interrogable(e["tid"].as_u64().unwrap()))
        .map(|e| e["ioa"].as_i64().unwrap() as i32)
        .collect();
    assert!(want.len() >= 10, "c104 serves the interrogable types: {want:?}");
    let sink = SqlSink::new(db.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let mut got = BTreeSet::new();
        for e in &expected {
            for r in sink.rows(&station, 1, e["ioa"].as_i64().unwrap() as i32).await.unwrap() {
                got.insert(r.ioa);
                assert_eq!((r.host_v.as_str(), r.port_v), ("127.0.0.1", i32::from(port)));
            }
        }
        if got.len() >= want.len() || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(got, want, "IOAs stored from c104's interrogation");
    let single = sink.rows(&station, 1, 101).await.unwrap();
    assert_eq!(single[0].ioa_value, "true", "M_SP_NA_1 at IOA 101 is on");
    stop(z);
}

/// The msgId of each record's JSON.
fn msg_ids(records: &[(String, Vec<u8>)]) -> BTreeSet<String> {
    records
        .iter()
        .map(|(_, p)| {
            let v: serde_json::Value = serde_json::from_slice(p).expect("a JSON record");
            v["msgId"].as_str().expect("msgId").to_owned()
        })
        .collect()
}

async fn stored_msg_ids(db: &Db) -> Vec<String> {
    let Db::Sqlite(p) = db else { unreachable!("a SQLite database") };
    sqlx::query_scalar("SELECT msg_id FROM raw_point_data").fetch_all(p).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_up_kafka_killed_mid_stream_stores_each_point_once() {
    let kport = free_port();
    let _broker = kafka::tansu(kport);
    let brokers = format!("127.0.0.1:{kport}");
    let topic = format!("asdu-{}", uuid::Uuid::now_v7().simple());
    kafka::create_topic(&brokers, &topic).await;
    let dir = TempDir::new("zero_kafka");
    let url = format!("sqlite://{}/z.db", dir.0.display());
    let env = [
        ("ZERO_KAFKA", format!("{{Brokers: [], Topic: {topic}, Group: zero-{}}}", uuid::Uuid::now_v7().simple())),
        ("ZERO_SIMULATOR", "{Stations: 2, Points: 20, ChangesPerSecond: 400, Host: 127.0.0.1, BasePort: 0}".into()),
    ];
    let mut z = zero_up(&["--kafka", &brokers, "--db", &url], &env);
    let db = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Db::connect(&url).await {
                Ok(db) => break db,
                Err(e) => assert!(Instant::now() < deadline, "{e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let sink = SqlSink::new(db.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.count().await.unwrap_or(0) < 300 {
        assert!(Instant::now() < deadline, "rows through Kafka: {:?}", sink.count().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = z.0.kill(); // SIGKILL, mid-stream
    let _ = z.0.wait();
    let at_kill = sink.count().await.unwrap();

    // again, without stations: it consumes the rest of the topic from the group's offsets
    let z = zero_up(&["--stations", "0", "--kafka", &brokers, "--db", &url], &env);
    let on_bus = msg_ids(&kafka::read_records(&brokers, &topic).await);
    assert!(
        on_bus.len() as i64 > at_kill,
        "the stream went on past the kill: {} on the bus, {at_kill} stored",
        on_bus.len()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while (sink.count().await.unwrap() as usize) < on_bus.len() {
        assert!(Instant::now() < deadline, "rows {} of {} on the bus", sink.count().await.unwrap(), on_bus.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop(z);
    let stored = stored_msg_ids(&db).await;
    let distinct: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), distinct.len(), "no point stored twice");
    assert_eq!(distinct, on_bus, "every point on the bus stored");
}

/// `zero up --ack-after-store` polling a station that sends again what was not acknowledged
/// (this platform's slave; c104 drops unacknowledged events instead), SIGKILLed mid-stream and
/// started again: every time-tagged point the station sent is stored, each exactly once (by
/// IOA and device time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_up_killed_mid_stream_loses_nothing_a_station_sends_again() {
    use iec104::point::{Point, PointValue, TimeTag};
    use iec104::slave::{serve, AcceptAll, PointConfig, SlaveConfig};
    use iec104::types::{CommonAddress, Cp56Time2a, Ioa, Qds};
    const N: i64 = 12_000;
    const CA: CommonAddress = CommonAddress(1);
    let base_ms = 1_780_000_000_000i64;
    let at = move |n: i64| Point {
        ioa: Ioa::new(100 + n.rem_euclid(10) as u32).unwrap(),
        value: PointValue::Float(n as f32),
        quality: Qds::GOOD,
        time: TimeTag::Cp56(Cp56Time2a::from_unix_millis(base_ms + n)),
    };
    // the station: a window that covers a commit, a queue that covers the restart
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let cfg = SlaveConfig {
        link: iec104::link::LinkConfig { k: 600, w: 400, ..Default::default() },
        event_queue: 100_000,
        ..Default::default()
    };
    let (slave, driver) = serve(l, cfg, AcceptAll);
    tokio::spawn(driver);
    for n in 0..10 {
        slave.add_point(CA, PointConfig::new(at(n - 10)));
    }
    let dir = TempDir::new("zero_kill_station");
    let url = format!("sqlite://{}/z.db", dir.0.display());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let station = format!("127_0_0_1_{port}");
    let store = MappingStore::new(db.clone(), Duration::ZERO);
    for ioa in 100..110 {
        let pm = PointMapping { td_table_type: "yc".into(), ..PointMapping::new(&station, 1, ioa) };
        store.upsert(&pm).await.unwrap();
    }
    let addr = format!("127.0.0.1:{port}");
    let args = ["--stations", "0", "--station", &addr, "--ack-after-store", "--db", &url];
    let env = [("ZERO_COMPACTOR", "{Mode: batch, ChunkBytes: 65536, FlushMillis: 50}".to_string())];
    let mut z = zero_up(&args, &env);

    // the station sends N time-tagged points, about 2000 a second, whatever happens to zero
    let sender = {
        let slave = slave.clone();
        tokio::spawn(async move {
            for n in 0..N {
                assert!(slave.update(CA, at(n)));
                if n % 20 == 19 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        })
    };
    let Db::Sqlite(pool) = &db else { unreachable!("a SQLite database") };
    // the time-tagged rows (each start's interrogation adds the current values, untagged)
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM telemetry_data WHERE device_ms <> 0")
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while count().await < 2000 {
        assert!(Instant::now() < deadline, "zero up stored nothing in 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = z.0.kill(); // SIGKILL, mid-stream
    let _ = z.0.wait();
    let at_kill = count().await;
    assert!(at_kill < N, "killed mid-stream: {at_kill} of {N} stored");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let z = zero_up(&args, &env);
    sender.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while count().await < N {
        assert!(Instant::now() < deadline, "stored {} of {N} after the restart", count().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // nothing more arrives late (a copy sent again would show here)
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop(z);
    let rows: Vec<(i32, i64, i64)> = sqlx::query_as(
        "SELECT tag_ioa, device_ms, COUNT(*) FROM telemetry_data WHERE device_ms <> 0 GROUP BY tag_ioa, device_ms",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let twice: Vec<_> = rows.iter().filter(|r| r.2 != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {:?}", &twice[..twice.len().min(10)]);
    // CP56Time2a carries the station's wall-clock time; zero reads it at UTC+8 (the default zone)
    let zone_ms = 480 * 60_000;
    let got: BTreeSet<(i32, i64)> = rows.iter().map(|r| (r.0, r.1 + zone_ms)).collect();
    let want: BTreeSet<(i32, i64)> = (0..N).map(|n| (100 + (n % 10) as i32, base_ms + n)).collect();
    let missing: Vec<_> = want.difference(&got).take(10).collect();
    let unexpected: Vec<_> = got.difference(&want).take(10).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing e.g. {missing:?}; unexpected e.g. {unexpected:?} ({} stored, {N} sent)",
        got.len()
    );
}
