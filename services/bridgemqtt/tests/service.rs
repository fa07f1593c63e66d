//! The `bridgemqtt` binary with a Mosquitto of its own (started here on a free port) and our
//! streamevent (in this process, SQLite): the upstream sample configuration; QoS 1 messages on a
//! wildcard subscription reach streamevent with their topic template; `PublishWithTrace` goes out
//! in the trace envelope and comes back unwrapped; a 2.5 MB message arrives; the broker restarted without its sessions: the
//! bridge reconnects, subscribes again and the messages after the restart arrive; a wildcard
//! publish topic is refused.

use bridgemqtt_svc::pb;
use bridgemqtt_svc::pb::bridge_mqtt_client::BridgeMqttClient;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use streamevent::store::Db;
use testkit::mosquitto::Mosquitto;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_bridgemqtt");

#[test]
fn the_upstream_sample_configures_bridgemqtt() {
    let file = ConfigFile::new("bridgemqtt.yaml", include_str!("data/upstream-bridgemqtt.yaml"));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["MqttConfig"]["SubscribeTopics"].as_sequence().map(Vec::len), Some(3));
    assert_eq!(cfg["MqttConfig"]["KeepAlive"].as_u64(), Some(60_000));
    assert_eq!(cfg["SocketPushConf"]["Endpoints"][0].as_str(), Some("127.0.0.1:25002"));
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
            "SocketPushConf.NonBlock",
        ],
    );
}

/// payload -> (topic, template) of every MQTT message streamevent stored.
async fn stored(db: &Db) -> HashMap<String, (String, String)> {
    let rows = testkit::streamevent::inbound(db, "mqtt").await;
    rows.iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (s("payload"), (s("topic"), s("topicTemplate")))
        })
        .collect()
}

async fn wait_for(db: &Db, payloads: &[String]) -> HashMap<String, (String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = stored(db).await;
        let missing = payloads.iter().filter(|p| !got.contains_key(*p)).count();
        if missing == 0 {
            return got;
        }
        assert!(Instant::now() < deadline, "{missing} of {} messages did not arrive", payloads.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A QoS 1 publisher that reconnects by itself.
fn publisher(port: u16) -> AsyncClient {
    let mut opts = MqttOptions::new(format!("pub-{port}"), "127.0.0.1", port);
    opts.set_max_packet_size(8 << 20, 8 << 20);
    let (client, mut el) = AsyncClient::new(opts, 1000);
    tokio::spawn(async move {
        loop {
            if el.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    client
}

async fn publish(c: &AsyncClient, range: std::ops::Range<u32>) -> Vec<String> {
    let mut sent = Vec::new();
    for i in range {
        let p = format!("m{i}");
        c.publish(format!("iec/st1/{i}"), QoS::AtLeastOnce, false, p.clone()).await.unwrap();
        sent.push(p);
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_reach_streamevent_and_come_back_after_a_broker_restart() {
    let dir = std::env::temp_dir().join(format!("bridgemqtt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mq_port = free_port();
    let mut broker = Mosquitto::start(&dir, mq_port, false);
    let db = testkit::streamevent::sqlite_in(&dir).await;
    let (se_port, _se) = testkit::streamevent::serve(db.clone(), 0).await;

    let port = free_port();
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n\
         MqttConfig: {{Broker: ['tcp://127.0.0.1:{mq_port}'], Qos: 1, SubscribeTopics: ['iec/#', test]}}\n\
         StreamEventConf: {{Endpoints: ['127.0.0.1:{se_port}'], Timeout: 3000}}\n\
         Outbox: {{Path: '{}/outbox'}}\n",
        dir.display()
    );
    let file = ConfigFile::new("bridgemqtt.yaml", &yaml);
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let mut api = BridgeMqttClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();

    // the bridge's subscriptions are in place once its own publish comes back
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        api.publish(pb::PublishReq { topic: "test".into(), payload: b"ready".to_vec() }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if stored(&db).await.contains_key("ready") {
            break;
        }
        assert!(Instant::now() < deadline, "the bridge never subscribed");
    }

    let publisher = publisher(mq_port);
    let sent = publish(&publisher, 0..200).await;
    let got = wait_for(&db, &sent).await;
    assert_eq!(got["m7"], ("iec/st1/7".to_owned(), "iec/#".to_owned()));

    // a message of 2.5 MB (rumqttc reads 10 KiB by default: the bridge would drop the connection
    // and get the same message again after every reconnect) arrives, and the stream goes on
    let big = "b".repeat(2_500_000);
    publisher.publish("iec/st1/big", QoS::AtLeastOnce, false, big.clone()).await.unwrap();
    let sent = publish(&publisher, 300..310).await;
    let got = wait_for(&db, &sent).await;
    assert!(got.contains_key(&big), "the large message was stored");

    // the trace envelope goes out and comes back unwrapped
    let r = api.publish_with_trace(pb::PublishWithTraceReq { topic: "test".into(), payload: b"traced".to_vec() }).await;
    let trace_id = r.unwrap().into_inner().trace_id;
    assert!(trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()), "{trace_id}");
    assert_eq!(wait_for(&db, &["traced".to_owned()]).await["traced"].1, "test");

    // a wildcard is no publish topic
    let err = api.publish(pb::PublishReq { topic: "iec/#".into(), payload: vec![] }).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&err).as_deref(), Some("101103"));

    // the broker restarts and forgets every session: the bridge must subscribe again
    broker.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    loop {
        // a probe per round until one arrives: the subscription is back
        let probe = format!("probe{n}");
        n += 1;
        let _ = api.publish(pb::PublishReq { topic: "test".into(), payload: probe.clone().into_bytes() }).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if stored(&db).await.contains_key(&probe) {
            break;
        }
        assert!(Instant::now() < deadline, "the bridge did not subscribe again after the broker restart");
    }
    let sent = publish(&publisher, 200..300).await;
    wait_for(&db, &sent).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_messages_reach_a_socket_io_room_through_socketpush() {
    let dir = std::env::temp_dir().join(format!("bridgemqtt-room-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mq_port = free_port();
    let _broker = Mosquitto::start(&dir, mq_port, false);
    // a gateway and a push node (their binaries), no tokens
    let (gtw_grpc, gtw_http, push) = (free_port(), free_port(), free_port());
    let gtw_file = ConfigFile::new(
        "socketgtw.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{gtw_grpc}\nHttp: {{Host: 127.0.0.1, Port: {gtw_http}}}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n"
        ),
    );
    let _gtw = spawn(&testkit::service::workspace_bin("socketgtw"), &gtw_file.path, &[]);
    let push_file = ConfigFile::new(
        "socketpush.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{push}\nSocketGtwConf: {{Endpoints: ['127.0.0.1:{gtw_grpc}']}}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n"
        ),
    );
    let _push = spawn(&testkit::service::workspace_bin("socketpush"), &push_file.path, &[]);
    for p in [gtw_grpc, gtw_http, push] {
        wait_listening(p, Duration::from_secs(30));
    }
    // two browser-side sessions in the room named after the subscription template
    let mut members =
        testkit::socketio::SioLoad::start(&format!("http://127.0.0.1:{gtw_http}"), None, Some("iec/#"), 2, "websocket")
            .await;
    let port = free_port();
    let yaml = format!(
        "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n\
         MqttConfig: {{Broker: ['tcp://127.0.0.1:{mq_port}'], Qos: 1, SubscribeTopics: ['iec/#']}}\n\
         SocketPushConf: {{Endpoints: ['127.0.0.1:{push}'], Timeout: 3000}}\n\
         EventMapping: {{'iec/#': news}}\nOutbox: {{Path: '{}/outbox'}}\n",
        dir.display()
    );
    let file = ConfigFile::new("bridgemqtt.yaml", &yaml);
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let publisher = publisher(mq_port);
    // until the bridge is subscribed and the push node knows the room, publish one at a time
    let deadline = Instant::now() + Duration::from_secs(30);
    while members.count().await["total"].as_u64() == Some(0) {
        publish(&publisher, 0..1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(Instant::now() < deadline, "no MQTT message reached the room");
    }
    let base = members.count().await["min"].as_u64().unwrap();
    publish(&publisher, 1..11).await;
    members.wait(2 * (base + 10), Duration::from_secs(20)).await;
    let got = members.count().await;
    assert_eq!((got["min"].as_u64(), got["max"].as_u64()), (Some(base + 10), Some(base + 10)), "{got}");
    std::fs::remove_dir_all(&dir).unwrap();
}
