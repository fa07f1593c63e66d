//! The outbox of the `bridgemqtt` binary against a Mosquitto of the test's own: publishes made
//! while the broker is away are answered, survive a kill -9 of the bridge and reach a subscriber
//! in order when the broker comes; a full outbox answers 103103 and that message never goes out;
//! an oversized payload is 101103; a broker restarted in the middle of a stream of publishes
//! loses none of them.

use bridgemqtt_svc::pb;
use bridgemqtt_svc::pb::bridge_mqtt_client::BridgeMqttClient;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::mosquitto::Mosquitto;
use testkit::port::free_port;
use testkit::process::ChildGuard;
use testkit::service::{spawn, wait_listening, ConfigFile};
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_bridgemqtt");

fn config(dir: &Path, port: u16, mq_port: u16, max_bytes: u64) -> ConfigFile {
    ConfigFile::new(
        "bridgemqtt.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n\
             MqttConfig: {{Broker: ['tcp://127.0.0.1:{mq_port}'], Qos: 1, ClientId: bridge}}\n\
             Outbox: {{Path: '{}/outbox/q', MaxBytes: {max_bytes}}}\nMaxPayload: 4096\n",
            dir.display()
        ),
    )
}

async fn start(file: &ConfigFile, port: u16) -> (ChildGuard, BridgeMqttClient<tonic::transport::Channel>) {
    let child = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let api = BridgeMqttClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
    (child, api)
}

/// A QoS 1 subscriber to `out/#` (a persistent session: a broker restarted with persistence keeps
/// what it queued for it); the payloads it receives come out of the channel. Returns once it is
/// subscribed.
async fn subscriber(port: u16) -> mpsc::UnboundedReceiver<String> {
    let mut opts = MqttOptions::new(format!("sub-{port}"), "127.0.0.1", port);
    opts.set_clean_session(false);
    let (client, mut el) = AsyncClient::new(opts, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let mut ready_tx = Some(ready_tx);
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => client.subscribe("out/#", QoS::AtLeastOnce).await.unwrap(),
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    if let Some(r) = ready_tx.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    if tx.send(String::from_utf8_lossy(&p.payload).into_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready).await.expect("subscribed").unwrap();
    rx
}

/// Receives until every one of `want` came (or fails after 60 s); returns the payloads in the
/// order of their first arrival, and checks that it is the order of `want`.
async fn receive_in_order(rx: &mut mpsc::UnboundedReceiver<String>, want: &[String]) -> Vec<String> {
    let wanted: HashSet<&String> = want.iter().collect();
    let mut seen = HashSet::new();
    let mut first = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while first.len() < want.len() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(p)) => {
                if seen.insert(p.clone()) {
                    assert!(wanted.contains(&p), "{p:?} was never accepted");
                    first.push(p);
                }
            }
            _ => panic!("{} of {} messages arrived", first.len(), want.len()),
        }
    }
    assert_eq!(first, want, "out of order");
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_wait_on_disk_for_the_broker_and_survive_a_kill_9() {
    let dir = std::env::temp_dir().join(format!("bridgemqtt-outbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (port, mq_port) = (free_port(), free_port());
    let file = config(&dir, port, mq_port, 64 * 1024);
    // no broker yet
    let (mut bridge, mut api) = start(&file, port).await;

    let mut sent = Vec::new();
    for i in 0..300 {
        let p = format!("o{i}");
        api.publish(pb::PublishReq { topic: format!("out/{}", i % 3), payload: p.clone().into_bytes() }).await.unwrap();
        sent.push(p);
    }
    // bad input: nothing queued
    let big = api.publish(pb::PublishReq { topic: "out/big".into(), payload: vec![b'x'; 5000] }).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&big).as_deref(), Some("101103"), "{big:?}");
    let wild = api.publish(pb::PublishReq { topic: "out/#".into(), payload: b"w".to_vec() }).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&wild).as_deref(), Some("101103"));
    // fill the outbox: the refused message is never sent
    let mut refused = None;
    for i in 0..100 {
        let mut p = format!("f{i}-").into_bytes();
        p.resize(2000, b'.');
        match api.publish(pb::PublishReq { topic: "out/fill".into(), payload: p.clone() }).await {
            Ok(_) => sent.push(String::from_utf8(p).unwrap()),
            Err(e) => {
                assert_eq!(zero_svc::errcode::reason(&e).as_deref(), Some("103103"), "{e:?}");
                refused = Some(String::from_utf8(p).unwrap());
                break;
            }
        }
    }
    let refused = refused.expect("a 64 KiB outbox refuses 200 KB");

    // killed with everything still queued; the broker and a subscriber come, then the bridge again
    bridge.0.kill().unwrap();
    bridge.0.wait().unwrap();
    let _broker = Mosquitto::start(&dir, mq_port, false);
    let mut rx = subscriber(mq_port).await;
    let (mut bridge, _api) = start(&file, port).await;
    receive_in_order(&mut rx, &sent).await;

    // the outbox is empty again: it takes as much as at first, and a kill -9 and restart send
    // nothing old again (give the last acknowledgements a moment to be written)
    tokio::time::sleep(Duration::from_secs(2)).await;
    bridge.0.kill().unwrap();
    bridge.0.wait().unwrap();
    let (_bridge, mut api2) = start(&file, port).await;
    api2.publish(pb::PublishReq { topic: "out/x".into(), payload: b"after".to_vec() }).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let p = tokio::time::timeout_at(deadline, rx.recv()).await.expect("'after' arrives").unwrap();
    assert_ne!(p, refused);
    assert_eq!(p, "after", "a message was sent again after it had been acknowledged and the queue emptied");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restarted_mid_stream_loses_no_publish() {
    let dir = std::env::temp_dir().join(format!("bridgemqtt-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (port, mq_port) = (free_port(), free_port());
    // persistence: the subscriber's session and what was queued for it survive the restart
    let mut broker = Mosquitto::start(&dir, mq_port, true);
    let mut rx = subscriber(mq_port).await;
    let file = config(&dir, port, mq_port, 64 << 20);
    let (_bridge, api) = start(&file, port).await;

    let total = 3000;
    let publishing = tokio::spawn(async move {
        let mut api = api;
        for i in 0..total {
            let p = format!("s{i}");
            api.publish(pb::PublishReq { topic: format!("out/{}", i % 7), payload: p.into_bytes() }).await.unwrap();
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let want: Vec<String> = (0..total).map(|i| format!("s{i}")).collect();
    // the broker goes while a third has arrived, and comes back a second later
    let mut early = Vec::new();
    while early.len() < total / 3 {
        early.push(tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("stream").unwrap());
    }
    let t = Instant::now();
    tokio::task::block_in_place(|| {
        broker.stop();
        std::thread::sleep(Duration::from_secs(1));
        broker.restart();
    });
    assert!(t.elapsed() < Duration::from_secs(15));
    publishing.await.unwrap();
    // what came before the restart, then the rest: every message, in order of first arrival
    let (tx, mut all) = mpsc::unbounded_channel();
    for p in early {
        tx.send(p).unwrap();
    }
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            if tx.send(p).is_err() {
                return;
            }
        }
    });
    receive_in_order(&mut all, &want).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
