//! The `bridgekafka` binary with a real Kafka (tansu) and our streamevent (in this process, on
//! SQLite): the upstream sample configuration; records published through `Publish` come out of
//! the consumer group into streamevent, each stored with an id stable per record; an unknown
//! topic is refused; streamevent stopped for 30 s mid-stream loses nothing (the consumers wait,
//! then deliver); the bridge killed with SIGKILL mid-stream and restarted loses nothing (offsets
//! are committed only after streamevent took a batch); with the broker unreachable the service
//! starts and `Publish` says so.

use bridgekafka_svc::pb;
use bridgekafka_svc::pb::bridge_kafka_client::BridgeKafkaClient;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use streamevent::store::Db;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_bridgekafka");

#[test]
fn the_upstream_sample_configures_bridgekafka() {
    let file = ConfigFile::new("bridgekafka.yaml", include_str!("data/upstream-bridgekafka.yaml"));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["KafkaPushConfig"]["Topics"].as_sequence().map(Vec::len), Some(3));
    assert_eq!(cfg["KafkaConsumeConfig"][0]["Group"].as_str(), Some("bridge-kafka-asdu"));
    assert_eq!(cfg["KafkaConsumeConfig"][0]["Consumers"].as_u64(), Some(3));
    assert_ignored_with_warnings(
        &warnings,
        &[
            "Name",
            "Timeout",
            "Mode",
            "Log.Encoding",
            "Log.Path",
            "Log.KeepDays",
            "NacosConfig",
            "StreamEventConf.NonBlock",
        ],
    );
}

/// (msgId, value) of every Kafka record streamevent stored.
async fn stored(db: &Db) -> Vec<(String, String)> {
    let rows = testkit::streamevent::inbound(db, "kafka").await;
    rows.iter()
        .map(|v| (v["msgId"].as_str().unwrap().to_owned(), v["value"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

async fn wait_values(db: &Db, want: usize, within: Duration) -> HashSet<String> {
    let deadline = Instant::now() + within;
    loop {
        let rows = stored(db).await;
        let values: HashSet<String> = rows.iter().map(|r| r.1.clone()).collect();
        if values.len() >= want {
            // a record delivered twice carries the same id
            let ids: HashSet<&String> = rows.iter().map(|r| &r.0).collect();
            assert_eq!(ids.len(), values.len(), "one id per record");
            return values;
        }
        assert!(Instant::now() < deadline, "{} of {want} records arrived", values.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn publish(api: &mut BridgeKafkaClient<tonic::transport::Channel>, range: std::ops::Range<u32>) {
    for i in range {
        let r =
            pb::PublishReq { topic: "asdu".into(), key: format!("k{}", i % 7), value: format!("v{i}").into_bytes() };
        api.publish(r).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_records_reach_streamevent_once_each_and_survive_its_absence() {
    let dir = std::env::temp_dir().join(format!("bridgekafka-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kafka_port = free_port();
    let _tansu = testkit::kafka::tansu(kafka_port);
    let brokers = format!("127.0.0.1:{kafka_port}");
    testkit::kafka::create_topic(&brokers, "asdu").await;
    let db = testkit::streamevent::sqlite_in(&dir).await;
    let (se_port, se) = testkit::streamevent::serve(db.clone(), 0).await;

    let port = free_port();
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n\
         KafkaPushConfig: {{Brokers: ['{brokers}'], Topics: [asdu, alarm]}}\n\
         KafkaConsumeConfig:\n  - {{Brokers: ['{brokers}'], Topic: asdu, Group: g-{port}, Consumers: 2, BatchSize: 100}}\n\
         StreamEventConf: {{Endpoints: ['127.0.0.1:{se_port}'], Timeout: 2000}}\n"
    );
    let file = ConfigFile::new("bridgekafka.yaml", &yaml);
    let mut svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let mut api = BridgeKafkaClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();

    let unknown = pb::PublishReq { topic: "nope".into(), key: String::new(), value: b"x".to_vec() };
    let err = api.publish(unknown).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&err).as_deref(), Some("101103"), "{err:?}");

    // a record above MaxMessageBytes (1 MB by default) is refused and never consumed
    let big = pb::PublishReq { topic: "asdu".into(), key: String::new(), value: vec![b'x'; 1_500_000] };
    let err = api.publish(big).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&err).as_deref(), Some("101103"), "{err:?}");

    publish(&mut api, 0..300).await;
    let got = wait_values(&db, 300, Duration::from_secs(60)).await;
    assert!((0..300).all(|i| got.contains(&format!("v{i}"))));
    assert_eq!(got.len(), 300, "only the accepted records");

    // streamevent goes away for 30 s in the middle of a stream; the records wait in Kafka (the
    // consumers hold back, nothing is committed), then all arrive
    let _ = se.send(());
    let away = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for k in 0..10 {
        publish(&mut api, 300 + k * 10..310 + k * 10).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(away.elapsed())).await;
    assert_eq!(stored(&db).await.iter().map(|r| &r.1).collect::<HashSet<_>>().len(), 300);
    let _se = testkit::streamevent::serve(db.clone(), se_port).await;
    let got = wait_values(&db, 400, Duration::from_secs(60)).await;
    assert!((300..400).all(|i| got.contains(&format!("v{i}"))));

    // the bridge killed with SIGKILL in the middle of a stream and started again: the group goes
    // on from the last committed offset, so nothing is lost (what streamevent took after the last
    // commit comes again, with the same ids)
    let streaming = {
        // straight to Kafka: the bridge's own Publish goes away with it
        let producer: rdkafka::producer::FutureProducer =
            rdkafka::ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
        tokio::spawn(async move {
            for i in 400..1400u32 {
                let (key, value) = (format!("k{}", i % 7), format!("v{i}"));
                let rec = rdkafka::producer::FutureRecord::to("asdu").key(&key).payload(&value);
                producer.send(rec, Duration::from_secs(10)).await.unwrap();
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
    };
    wait_values(&db, 600, Duration::from_secs(60)).await;
    svc.0.kill().unwrap();
    svc.0.wait().unwrap();
    let _svc = spawn(BIN, &file.path, &[]);
    streaming.await.unwrap();
    let got = wait_values(&db, 1400, Duration::from_secs(90)).await;
    assert!((0..1400).all(|i| got.contains(&format!("v{i}"))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_away_it_starts_and_publish_says_so() {
    let (port, nobody) = (free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n\
         KafkaPushConfig: {{Brokers: ['127.0.0.1:{nobody}'], Topics: [asdu]}}\n\
         StreamEventConf: {{Endpoints: [], Timeout: 1500}}\n"
    );
    let file = ConfigFile::new("bridgekafka.yaml", &yaml);
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let mut api = BridgeKafkaClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
    let t0 = Instant::now();
    let r = pb::PublishReq { topic: "asdu".into(), key: String::new(), value: b"x".to_vec() };
    let err = api.publish(r).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&err).as_deref(), Some("103103"), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}
