//! Channels are independent: with the MQTT broker gone, the streamevent channel keeps
//! delivering; when the broker returns, MQTT resumes. A private Mosquitto on a free port is
//! started and stopped by the test (the machine's own broker is left alone).

use testkit::iec104 as iec;

use iec::free_port;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::time::{Duration, Instant};
use streamevent::caller::pb::iec_caller_client::IecCallerClient;
use streamevent::caller::pb::SendSingleCommandReq;
use streamevent::sink::SqlSink;
use streamevent::store::{Db, MappingStore, PointMapping};
use testkit::mosquitto::Mosquitto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_outage_leaves_other_channels_unaffected() {
    let (_peer, port, expected) = tokio::task::spawn_blocking(|| iec::start_c104_server(None)).await.unwrap();
    let mport = free_port();
    let dir = std::env::temp_dir().join(format!("ch_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut broker = Mosquitto::start(&dir, mport, false);
    let db = Db::connect(&format!("sqlite://{}/c.db", dir.display())).await.unwrap();
    db.migrate().await.unwrap();
    let station = format!("127_0_0_1_{port}");
    let store = MappingStore::new(db.clone(), Duration::ZERO);
    for e in &expected {
        store.upsert(&PointMapping::new(&station, 1, e["ioa"].as_i64().unwrap() as i32)).await.unwrap();
    }
    let se_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let se = se_listener.local_addr().unwrap();
    let svc = streamevent::server::Service::new(db.clone(), Duration::from_secs(60));
    tokio::spawn(zero_svc::grpc::serve(se_listener, svc.into_server(), &[], std::future::pending()));

    // subscriber that keeps reconnecting; `subscribed` counts its confirmed subscriptions
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (subscribed_tx, mut subscribed) = tokio::sync::watch::channel(0u32);
    let mut opts = MqttOptions::new("sub", "127.0.0.1", mport);
    opts.set_clean_session(false);
    let (sub, mut ev) = AsyncClient::new(opts, 100);
    sub.subscribe("out/#", QoS::AtLeastOnce).await.unwrap();
    tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p.topic.clone());
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = sub.subscribe("out/#", QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => subscribed_tx.send_modify(|n| *n += 1),
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });

    let yaml = format!(
        "ListenOn: 127.0.0.1:0\nPrometheus: {{ListenOn: ''}}\nIecServerConfig: [{{Host: 127.0.0.1, Port: {port}, IcCoaList: []}}]\n\
         StreamEventConf: {{Endpoints: ['http://{se}'], FlushMillis: 100}}\nPushAsduChunkBytes: 65536\n\
         MqttConfig: {{IsPush: true, Broker: '127.0.0.1:{mport}', Qos: 1, Topic: ['out/{{{{.Body.Ioa}}}}']}}\n"
    );
    let cfg: ieccaller_svc::Config = zero_svc::config::merge_str(ieccaller_svc::DEFAULTS, Some(&yaml), &[]).unwrap();
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", api_listener.local_addr().unwrap());
    tokio::spawn(ieccaller_svc::run(cfg, api_listener, std::future::pending()));
    let mut client = IecCallerClient::connect(api).await.unwrap();
    let trigger = SendSingleCommandReq {
        host: "127.0.0.1".into(),
        port: u32::from(port),
        coa: 1,
        ioa: 9999,
        value: true,
        with_time: false,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.send_single_command(trigger.clone()).await.is_err() {
        assert!(Instant::now() < deadline, "station not connected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sink = SqlSink::new(db.clone());
    let n = expected.len() as i64;
    let wait_rows = |target: i64| {
        let sink = sink.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while sink.count().await.unwrap() < target {
                assert!(
                    Instant::now() < deadline,
                    "streamevent rows stuck at {} (want {target})",
                    sink.count().await.unwrap()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let mqtt_count = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, want: usize| {
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while got < want && Instant::now() < deadline {
            while rx.try_recv().is_ok() {
                got += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        got
    };
    wait_rows(n).await;
    assert!(mqtt_count(&mut rx, expected.len()) >= expected.len(), "first round over MQTT");

    // MQTT broker gone: the streamevent channel still delivers the next round
    broker.kill();
    let before = *subscribed.borrow_and_update();
    client.send_single_command(trigger.clone()).await.unwrap();
    wait_rows(2 * n).await;

    // broker back: MQTT resumes (once the test's subscriber is subscribed again)
    broker.restart();
    tokio::time::timeout(Duration::from_secs(20), subscribed.wait_for(|n| *n > before))
        .await
        .expect("the subscriber subscribed again within 20 s")
        .unwrap();
    client.send_single_command(trigger.clone()).await.unwrap();
    wait_rows(3 * n).await;
    assert!(mqtt_count(&mut rx, expected.len()) >= expected.len(), "MQTT resumed after the broker returned");
    std::fs::remove_dir_all(dir).ok();
}
