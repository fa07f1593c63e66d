//! Pushes from Kafka (tansu) and NATS (the machine's server on 4222) across two frontends that
//! know each other from `Peers`: whichever frontend consumes a message, the user gets it on the
//! frontend they are connected to; a push to everyone reaches each connection once; a message
//! that is not a push is skipped and the next one still goes out.

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use socketio_cluster::pb::wsgate as pb;
use socketio_cluster::ws::client::Client;
use socketio_cluster::ws::frame::Frame;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};

struct Gate {
    grpc: u16,
    ws: u16,
    _file: ConfigFile,
    _child: testkit::process::ChildGuard,
}

fn gate(grpc: u16, peer: u16, brokers: &str, topic: &str, subject: &str) -> Gate {
    let ws = free_port();
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nHttp: {{ListenOn: '127.0.0.1:{ws}', Path: /ws}}\n\
         Peers: ['127.0.0.1:{peer}']\nGracePeriod: 1s\n\
         Push: {{Kafka: {{Brokers: ['{brokers}'], Topic: '{topic}', Group: '{topic}-frontends'}}, \
         Nats: {{Url: 'nats://127.0.0.1:4222', Subject: '{subject}', Queue: frontends}}}}\n"
    );
    let file = ConfigFile::new("wsgate.yaml", &yaml);
    let child = spawn(env!("CARGO_BIN_EXE_wsgate"), &file.path, &[]);
    wait_listening(ws, Duration::from_secs(20));
    wait_listening(grpc, Duration::from_secs(20));
    Gate { grpc, ws, _file: file, _child: child }
}

async fn next(c: &Client, within: Duration) -> Option<Frame> {
    tokio::time::timeout(within, c.next_push()).await.ok().flatten()
}

fn body(f: &Frame) -> serde_json::Value {
    serde_json::from_slice(&f.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_and_nats_pushes_reach_users_on_any_frontend() {
    let kport = free_port();
    let _tansu = testkit::kafka::tansu(kport);
    let brokers = format!("127.0.0.1:{kport}");
    let run = uuid_like();
    let (topic, subject) = (format!("push-{run}"), format!("push.{run}"));
    testkit::kafka::create_topic(&brokers, &topic).await;
    let (ga, gb) = (free_port(), free_port());
    let a = gate(ga, gb, &brokers, &topic, &subject);
    let b = gate(gb, ga, &brokers, &topic, &subject);
    let u1 = Client::connect(&format!("ws://127.0.0.1:{}/ws?uid=u1", a.ws), None).await.unwrap();
    let u2 = Client::connect(&format!("ws://127.0.0.1:{}/ws?uid=u2", b.ws), None).await.unwrap();
    // u2 in room news, through B's Gate API
    let mut api = pb::gate_client::GateClient::connect(format!("http://127.0.0.1:{}", b.grpc)).await.unwrap();
    let joined = api
        .join_room(pb::RoomReq { uid: "u2".into(), room: "news".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(joined.sessions, 1);
    let _ = a.grpc;

    // Kafka: to a user, then a bad message, then to a room
    let producer: FutureProducer = rdkafka::ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    for m in [
        json!({"to": {"uid": "u2"}, "protocol": 2001, "payload": {"n": 1}}).to_string(),
        "not a push".to_owned(),
        json!({"to": {"room": "news"}, "protocol": 2001, "payload": {"n": 2}}).to_string(),
    ] {
        producer.send(FutureRecord::<(), _>::to(&topic).payload(&m), Duration::from_secs(5)).await.unwrap();
    }
    // (three partitions, consumed by both frontends: in any order)
    let mut got = std::collections::BTreeSet::new();
    for _ in [1, 2] {
        let p = next(&u2, Duration::from_secs(30)).await.expect("the Kafka push reached u2 on frontend B");
        assert_eq!(p.protocol, 2001, "{p:?}");
        got.insert(body(&p)["n"].as_i64().unwrap());
    }
    assert_eq!(got, [1, 2].into());
    assert!(next(&u2, Duration::from_millis(300)).await.is_none(), "each once");
    assert!(next(&u1, Duration::from_millis(300)).await.is_none(), "u1 is neither u2 nor in news");

    // NATS: to everyone, each connection once
    let nats = async_nats::connect("nats://127.0.0.1:4222").await.expect("NATS on 4222");
    nats.publish(
        subject.clone(),
        json!({"to": {"everyone": true}, "protocol": 2002, "payload": "all"}).to_string().into(),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();
    for (who, c) in [("u1", &u1), ("u2", &u2)] {
        let p = next(c, Duration::from_secs(10)).await.unwrap_or_else(|| panic!("the NATS push reached {who}"));
        assert_eq!((p.protocol, body(&p)), (2002, json!("all")), "{who}: {p:?}");
        assert!(next(c, Duration::from_millis(300)).await.is_none(), "{who} got it once");
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}
