//! bridgemqtt's messages per second from Mosquitto to streamevent (rows in streamevent's SQLite
//! database, counted there), against Mosquitto's own ceiling in the same run: a plain rumqttc
//! subscriber that only counts what it receives.
//!
//! Both drain the same backlog: `n` QoS 1 messages queued by a Mosquitto of the bench's own for
//! two persistent sessions (the bridge's and the plain subscriber's) while they were away, so
//! what is measured is the subscriber side alone, not how fast a publisher can feed the broker.
//! Both acknowledge with QoS 1 (the plain one at once, the bridge after streamevent stored the
//! batch); the broker keeps up to 1000 unacknowledged messages in flight per session
//! (`max_inflight_messages`; Mosquitto's default of 20 caps any acknowledging subscriber).
//!
//! `cargo bench -p zero-benches --bench bridgemqtt` drains 200,000 messages; under `cargo test`
//! 3,000.

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::time::{Duration, Instant};
use streamevent::store::Db;
use testkit::mosquitto::Mosquitto;
use testkit::port::free_port;

/// A persistent-session subscriber to `bench/#` that acknowledges at once; counts what it gets.
async fn plain(port: u16, until: u64) -> Duration {
    let mut opts = MqttOptions::new("plain", "127.0.0.1", port);
    opts.set_clean_session(false);
    opts.set_inflight(1000);
    let (client, mut el) = AsyncClient::new(opts, 10_000);
    let t0 = Instant::now();
    let mut n = 0u64;
    loop {
        match el.poll().await.expect("the broker") {
            Event::Incoming(Incoming::ConnAck(a)) if !a.session_present => {
                client.subscribe("bench/#", QoS::AtLeastOnce).await.unwrap();
            }
            Event::Incoming(Incoming::Publish(_)) => {
                n += 1;
                if n == until {
                    return t0.elapsed();
                }
            }
            _ => {}
        }
    }
}

/// The last row id: a cheap progress measure while the bridge drains (rows are only added).
async fn last_id(db: &Db) -> u64 {
    let Db::Sqlite(pool) = db else { unreachable!("a SQLite database") };
    let n: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM inbound_event").fetch_one(pool).await.unwrap();
    n.unwrap_or(0) as u64
}

/// The MQTT rows, counted.
async fn rows(db: &Db) -> u64 {
    let Db::Sqlite(pool) = db else { unreachable!("a SQLite database") };
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM inbound_event WHERE kind = 'mqtt'").fetch_one(pool).await.unwrap();
    n as u64
}

/// Runs bridgemqtt in this process until the returned sender is dropped or used; the handle ends
/// when it stopped.
type Running = (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), zero_svc::Error>>);

async fn bridge(dir: &std::path::Path, mq_port: u16, se_port: u16) -> Running {
    let yaml = format!(
        "ListenOn: 127.0.0.1:0\nPrometheus: {{ListenOn: ''}}\nLog: {{Level: info}}\n\
         MqttConfig: {{Broker: ['tcp://127.0.0.1:{mq_port}'], Qos: 1, ClientId: bridge, SubscribeTopics: ['bench/#']}}\n\
         StreamEventConf: {{Endpoints: ['127.0.0.1:{se_port}'], Timeout: 10000}}\n\
         Outbox: {{Path: '{}/outbox'}}\n",
        dir.display()
    );
    let file = dir.join("bridgemqtt.yaml");
    std::fs::write(&file, yaml).unwrap();
    let cfg: bridgemqtt_svc::Config = zero_svc::config::load(bridgemqtt_svc::DEFAULTS, Some(&file)).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(bridgemqtt_svc::run(cfg, l, async move {
        let _ = rx.await;
    }));
    (stop, running)
}

async fn run(n: u64) {
    let dir = std::env::temp_dir().join(format!("bench-bridgemqtt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mq_port = free_port();
    let _broker = Mosquitto::start_with(&dir, mq_port, false, "max_inflight_messages 1000\n");
    let db = testkit::streamevent::sqlite_in(&dir).await;
    let (se_port, _se) = testkit::streamevent::serve(db.clone(), 0).await;

    // both sessions subscribe, then go away
    let (stop, first) = bridge(&dir, mq_port, se_port).await;
    let mut opts = MqttOptions::new("plain", "127.0.0.1", mq_port);
    opts.set_clean_session(false);
    let (c, mut el) = AsyncClient::new(opts, 10);
    c.subscribe("bench/#", QoS::AtLeastOnce).await.unwrap();
    while !matches!(el.poll().await.unwrap(), Event::Incoming(Incoming::SubAck(_))) {}
    drop((c, el));
    // the bridge is subscribed once a probe is stored
    let probe = MqttOptions::new("probe", "127.0.0.1", mq_port);
    let (p, mut pel) = AsyncClient::new(probe, 10);
    let pump = tokio::spawn(async move { while pel.poll().await.is_ok() {} });
    while rows(&db).await == 0 {
        p.publish("bench/probe", QoS::AtLeastOnce, false, "probe").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pump.abort();
    let _ = stop.send(());
    first.await.unwrap().expect("the first bridge ran and stopped");
    let base = rows(&db).await;
    let base_id = last_id(&db).await;

    // the backlog: n messages of 120 bytes (a point as JSON)
    let mut opts = MqttOptions::new("feeder", "127.0.0.1", mq_port);
    opts.set_inflight(1000);
    let (feeder, mut fel) = AsyncClient::new(opts, 10_000);
    let acked = tokio::spawn(async move {
        let mut k = 0;
        while k < n {
            if let Event::Incoming(Incoming::PubAck(_)) = fel.poll().await.unwrap() {
                k += 1;
            }
        }
    });
    for i in 0..n {
        let payload =
            format!(r#"{{"stationId":"st-1","coa":1,"ioa":{i},"value":{}.5,"quality":0,"ts":1765000000000}}"#, i % 97);
        feeder.publish(format!("bench/st-1/{}", i % 16), QoS::AtLeastOnce, false, payload).await.unwrap();
    }
    acked.await.unwrap();

    let plain_time = plain(mq_port, n).await;
    let t0 = Instant::now();
    let (_stop, second) = bridge(&dir, mq_port, se_port).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = last_id(&db).await - base_id;
        if got >= n {
            break;
        }
        assert!(!second.is_finished(), "the bridge stopped: {:?}", second.await);
        assert!(Instant::now() < deadline, "{got} of {n} stored");
        if std::env::var_os("BENCH_LOG").is_some() {
            eprintln!("{got}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ours = n as f64 / t0.elapsed().as_secs_f64();
    assert_eq!(rows(&db).await - base, n, "every message stored once");
    let ceiling = n as f64 / plain_time.as_secs_f64();
    println!(
        "bridgemqtt Mosquitto -> streamevent (SQLite rows): {ours:.0} msgs/s; plain rumqttc subscriber: {ceiling:.0} msgs/s; ratio {:.2} ({n} QoS 1 messages)",
        ours / ceiling
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn main() {
    if std::env::var_os("BENCH_LOG").is_some() {
        zero_svc::telemetry::init("info");
    }
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 200_000 } else { 3_000 };
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(run(n));
}
