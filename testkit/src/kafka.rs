//! Kafka for tests: a tansu broker on loopback (installed by `scripts/test`), topics, reading a
//! topic back, and the acquisition side producing to it.

use crate::process::ChildGuard;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tansu broker on loopback with in-memory storage.
pub fn tansu(port: u16) -> ChildGuard {
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new("tansu")
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tansu on PATH (scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tansu did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    ChildGuard(child)
}

/// Creates `topic` with three partitions.
pub async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    let t = NewTopic::new(topic, 3, TopicReplication::Fixed(1));
    let r = admin.create_topics(&[t], &AdminOptions::new()).await.unwrap();
    assert!(r.iter().all(Result::is_ok), "{r:?}");
}

/// The keys of every record in the topic, read by a fresh group from the beginning.
pub async fn read_topic(brokers: &str, topic: &str) -> Vec<String> {
    read_records(brokers, topic).await.into_iter().map(|(k, _)| k).collect()
}

/// Every record in the topic as (key, payload), read by a fresh group from the beginning until
/// nothing arrives for 8 s.
pub async fn read_records(brokers: &str, topic: &str) -> Vec<(String, Vec<u8>)> {
    use rdkafka::Message as _;
    let c = reader(brokers, topic);
    let mut keys = vec![];
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(8), c.recv()).await {
        keys.push((
            String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            m.payload().unwrap_or_default().to_vec(),
        ));
    }
    keys
}

/// A consumer of `topic` from its start, in a group of its own, committing nothing.
fn reader(brokers: &str, topic: &str) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::Consumer as _;
    let c: rdkafka::consumer::StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("read-{}", uuid::Uuid::now_v7().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// The headers of every record of `topic` (from the start; stops after 8 s without a record).
pub async fn read_headers(brokers: &str, topic: &str) -> Vec<Vec<(String, String)>> {
    use rdkafka::message::Headers as _;
    use rdkafka::Message as _;
    let c = reader(brokers, topic);
    let mut out = vec![];
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(8), c.recv()).await {
        let hs = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| (x.key.to_owned(), String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        out.push(hs);
    }
    out
}

/// The acquisition side (masters -> Kafka) from ieccaller's YAML keys, with its
/// `ieccaller.IecCaller` API served on a free port; returns the API's URL.
pub async fn caller(yaml: &str) -> String {
    let cfg: streamevent::caller::Config = serde_yaml_ng::from_str(yaml).expect("caller config");
    let p = streamevent::caller::start(&cfg, streamevent::channel::Fanout::default(), vec![]).await.expect("caller");
    let svc = p.service(cfg.utc_offset_minutes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(zero_svc::grpc::serve(
        listener,
        streamevent::caller::pb::iec_caller_server::IecCallerServer::from_arc(svc),
        &[streamevent::caller::pb::FILE_DESCRIPTOR_SET],
        std::future::pending(),
    ));
    std::mem::forget(p); // runs until the test process ends
    api
}
