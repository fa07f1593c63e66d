//! The subscription side of the `bridgemqtt` binary loses no QoS 1 message, against a persistent
//! Mosquitto of the test's own and our streamevent (in this process, SQLite): streamevent stopped
//! for 30 s in the middle of a stream (the bridge holds the messages back on the broker and sends
//! them when streamevent returns), the broker stopped and restarted in the middle of a stream
//! (the bridge reconnects and subscribes again), and the bridge itself killed with SIGKILL in the
//! middle of a stream and started again (its persistent session kept what it had not
//! acknowledged). Delivery is at least once: a message may be stored twice, never lost.

use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use streamevent::store::Db;
use testkit::mosquitto::Mosquitto;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_bridgemqtt");

/// The distinct payloads streamevent stored.
async fn stored(db: &Db) -> HashSet<String> {
    let rows = testkit::streamevent::inbound(db, "mqtt").await;
    rows.iter().filter_map(|v| v["payload"].as_str().map(str::to_owned)).collect()
}

/// Waits until `want` distinct payloads are stored.
async fn wait_count(db: &Db, want: usize, within: Duration) -> HashSet<String> {
    let deadline = Instant::now() + within;
    loop {
        let got = stored(db).await;
        if got.len() >= want {
            return got;
        }
        if Instant::now() > deadline {
            // `want` counts the probe too
            let missing: Vec<u32> = (0..want as u32 - 1).filter(|i| !got.contains(&format!("m{i}"))).collect();
            panic!("{} of {want} messages stored; missing {:?}", got.len(), ranges(&missing));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A QoS 1 publisher on a persistent session: what it has not had acknowledged survives a broker
/// restart (rumqttc sends it again).
fn publisher(port: u16) -> AsyncClient {
    let mut opts = MqttOptions::new(format!("pub-{port}"), "127.0.0.1", port);
    opts.set_clean_session(false);
    let (client, mut el) = AsyncClient::new(opts, 1000);
    tokio::spawn(async move {
        loop {
            if el.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    client
}

/// Publishes `m<i>` for `range`, a pause every 100.
fn stream(c: &AsyncClient, range: std::ops::Range<u32>, pause: Duration) -> tokio::task::JoinHandle<()> {
    let c = c.clone();
    tokio::spawn(async move {
        for i in range {
            c.publish(format!("data/{}/v", i % 5), QoS::AtLeastOnce, false, format!("m{i}")).await.unwrap();
            if i % 100 == 99 {
                tokio::time::sleep(pause).await;
            }
        }
    })
}

/// `[1, 2, 3, 7]` -> `[(1, 3), (7, 7)]`.
fn ranges(v: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &i in v {
        match out.last_mut() {
            Some(r) if r.1 + 1 == i => r.1 = i,
            _ => out.push((i, i)),
        }
    }
    out
}

fn assert_all(got: &HashSet<String>, range: std::ops::Range<u32>) {
    let missing: Vec<u32> = range.filter(|i| !got.contains(&format!("m{i}"))).collect();
    assert!(missing.is_empty(), "{} lost: {:?}", missing.len(), ranges(&missing));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamevent_away_a_broker_restart_and_a_kill_9_lose_no_qos1_message() {
    let dir = std::env::temp_dir().join(format!("bridgemqtt-resilience-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mq_port = free_port();
    let mut broker = Mosquitto::start(&dir, mq_port, true);
    let db = testkit::streamevent::sqlite_in(&dir).await;
    let (se_port, se) = testkit::streamevent::serve(db.clone(), 0).await;

    let port = free_port();
    // a short keep-alive: the connection must stay up (pings) while the forwarder waits
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n\
         MqttConfig: {{Broker: ['tcp://127.0.0.1:{mq_port}'], Qos: 1, ClientId: bridge-r, KeepAlive: 5000, SubscribeTopics: ['data/#']}}\n\
         StreamEventConf: {{Endpoints: ['127.0.0.1:{se_port}'], Timeout: 2000}}\n\
         Outbox: {{Path: '{}/outbox'}}\n",
        dir.display()
    );
    let file = ConfigFile::new("bridgemqtt.yaml", &yaml);
    let mut bridge = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let publisher = publisher(mq_port);
    // the bridge is subscribed once a probe arrives
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        publisher.publish("data/probe", QoS::AtLeastOnce, false, "probe").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if stored(&db).await.contains("probe") {
            break;
        }
        assert!(Instant::now() < deadline, "the bridge never subscribed");
    }
    let fast = Duration::from_millis(20);
    stream(&publisher, 0..500, fast).await.unwrap();
    assert_all(&wait_count(&db, 501, Duration::from_secs(30)).await, 0..500);

    // streamevent away for 30 s while 2000 messages come
    let _ = se.send(());
    let away = Instant::now();
    stream(&publisher, 500..2500, Duration::from_millis(300)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(away.elapsed())).await;
    let _se = testkit::streamevent::serve(db.clone(), se_port).await;
    assert_all(&wait_count(&db, 2501, Duration::from_secs(60)).await, 0..2500);

    // the broker stopped and restarted in the middle of 2000 messages
    let s = stream(&publisher, 2500..4500, fast);
    wait_count(&db, 3001, Duration::from_secs(30)).await;
    tokio::task::block_in_place(|| {
        broker.stop();
        std::thread::sleep(Duration::from_secs(1));
        broker.restart();
    });
    s.await.unwrap();
    assert_all(&wait_count(&db, 4501, Duration::from_secs(60)).await, 0..4500);

    // the bridge killed with SIGKILL in the middle of 2000 messages, and started again
    let s = stream(&publisher, 4500..6500, fast);
    wait_count(&db, 5001, Duration::from_secs(30)).await;
    bridge.0.kill().unwrap();
    bridge.0.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _bridge = spawn(BIN, &file.path, &[]);
    s.await.unwrap();
    assert_all(&wait_count(&db, 6501, Duration::from_secs(60)).await, 0..6500);
    std::fs::remove_dir_all(&dir).unwrap();
}
