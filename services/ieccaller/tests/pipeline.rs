//! c104 station -> ieccaller -> streamevent (gRPC) -> PostgreSQL, the MQTT channel through the
//! running Mosquitto with the spec's topic templates, and commands through the IecCaller API
//! reaching the station.

use testkit::iec104 as iec;
use testkit::streamevent as dbs;

use dbs::TestDb;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use streamevent::caller::pb::iec_caller_client::IecCallerClient;
use streamevent::caller::pb::{SendSetpointFloatReq, SendSingleCommandReq};
use streamevent::sink::SqlSink;
use streamevent::store::{MappingStore, PointMapping};
use tonic::Code;

fn in_gi(tid: u64) -> bool {
    matches!(tid, 1 | 3 | 5 | 7 | 9 | 11 | 13 | 30..=36)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c104_to_postgres_mqtt_and_commands() {
    let (_peer, port, expected) = tokio::task::spawn_blocking(|| iec::start_c104_server(None)).await.unwrap();
    let pg = TestDb::postgres().await;
    let station = format!("127_0_0_1_{port}");
    // every point mapped; IOA 101 (single point) not pushed at all
    let store = MappingStore::new(pg.db.clone(), Duration::ZERO);
    for e in &expected {
        let mut m = PointMapping::new(&station, 1, e["ioa"].as_i64().unwrap() as i32);
        m.device_id = format!("dev{}", e["ioa"]);
        if e["ioa"] == 101 {
            m.enable_push = 0;
        }
        store.upsert(&m).await.unwrap();
    }

    // streamevent on the same database
    let se_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let se_addr = se_listener.local_addr().unwrap();
    let svc = streamevent::server::Service::new(pg.db.clone(), Duration::from_secs(60));
    tokio::spawn(zero_svc::grpc::serve(se_listener, svc.into_server(), &[], std::future::pending()));

    // an MQTT subscriber on a prefix of our own
    let prefix = format!("zt{}", uuid::Uuid::now_v7().simple());
    let (mq, mut mq_loop) = AsyncClient::new(MqttOptions::new(format!("{prefix}-sub"), "127.0.0.1", 1883), 100);
    mq.subscribe(format!("{prefix}/#"), QoS::AtLeastOnce).await.unwrap();
    let (mq_tx, mut mq_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match mq_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = mq_tx.send((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = mq_tx.send((String::new(), vec![]));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let suback =
        tokio::time::timeout(Duration::from_secs(10), mq_rx.recv()).await.expect("Mosquitto on 127.0.0.1:1883");
    assert_eq!(suback.unwrap().0, "");

    let yaml = format!(
        r#"
ListenOn: 127.0.0.1:0
Prometheus: {{ListenOn: ""}}
IecServerConfig:
  - Host: 127.0.0.1
    Port: {port}
    IcCoaList: [1]
Db: {{DataSource: "{db}", Migrate: false, CacheSeconds: 60}}
StreamEventConf: {{Endpoints: ["http://{se_addr}"], FlushMillis: 100}}
PushAsduChunkBytes: 65536
MqttConfig: {{IsPush: true, Broker: "127.0.0.1:1883", Qos: 1, Topic: ["{prefix}/{{{{.Host}}}}/{{{{.Coa}}}}/{{{{.Body.Ioa}}}}", "{prefix}/dev/{{{{.Pm.DeviceId}}}}", "{prefix}/bad/+"]}}
"#,
        db = pg.url
    );
    let cfg: ieccaller_svc::Config = zero_svc::config::merge_str(ieccaller_svc::DEFAULTS, Some(&yaml), &[]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let caller = tokio::spawn(ieccaller_svc::run(cfg, listener, async move {
        let _ = stop_rx.await;
    }));

    // the start-up GI lands in PostgreSQL: every interrogable point but the unpushed one
    let sink = SqlSink::new(pg.db.clone());
    let want: Vec<&Value> = expected.iter().filter(|e| in_gi(e["tid"].as_u64().unwrap()) && e["ioa"] != 101).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if sink.count().await.unwrap() >= want.len() as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "only {} of {} rows arrived", sink.count().await.unwrap(), want.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for e in &want {
        let ioa = e["ioa"].as_i64().unwrap() as i32;
        let rows = sink.rows(&station, 1, ioa).await.unwrap();
        assert!(!rows.is_empty(), "IOA {ioa}");
        let body: Value = serde_json::from_str(&rows[0].raw_msg).unwrap();
        assert_eq!(body["ioa"].as_i64().unwrap() as i32, ioa);
        // value and quality as c104 holds them
        let v = &e["v"];
        // normalised values: the raw value is in "value", the fraction in "nva"
        let got = if body.get("nva").is_some() { &body["nva"] } else { &body["value"] };
        let same = match (v.as_f64(), got.as_f64(), got.get("val"), got.get("counterReading")) {
            (Some(a), Some(b), _, _) => (a - b).abs() < 1e-3,
            (Some(a), None, Some(val), _) => val.as_f64() == Some(a),
            _ => v == got,
        };
        assert!(same, "IOA {ioa}: expected {v}, row has {got}");
        if let Some(q) = e["q"].as_u64() {
            assert_eq!(body["qds"].as_u64(), Some(q), "IOA {ioa} quality");
        }
        if let Some(ms) = e["t"]["epoch_ms"].as_i64() {
            let t = chrono::DateTime::from_timestamp_millis(ms).unwrap().naive_utc();
            assert_eq!(body["time"], streamevent::msg::datetime_micro(&t), "IOA {ioa} device time");
        }
    }
    assert!(sink.rows(&station, 1, 101).await.unwrap().is_empty(), "enable_push=0 is not published");

    // MQTT: the templates rendered; the invalid one skipped
    let mut topics = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while topics.len() < want.len() * 2 && Instant::now() < deadline {
        if let Ok(Some((t, p))) = tokio::time::timeout(Duration::from_millis(500), mq_rx.recv()).await {
            topics.insert(t, p);
        }
    }
    for e in &want {
        let t = format!("{prefix}/127.0.0.1/1/{}", e["ioa"]);
        let payload: Value =
            serde_json::from_slice(topics.get(&t).unwrap_or_else(|| panic!("no MQTT message on {t}"))).unwrap();
        assert_eq!(payload["body"]["ioa"], e["ioa"]);
        assert_eq!(payload["pm"]["deviceId"], format!("dev{}", e["ioa"]));
        assert!(topics.contains_key(&format!("{prefix}/dev/dev{}", e["ioa"])));
    }
    assert!(!topics.keys().any(|t| t.contains("/bad/")), "wildcard topics are never published");

    // commands through the gRPC API reach c104 and return its acknowledgement
    let mut api = IecCallerClient::connect(format!("http://{api}")).await.unwrap();
    let single = |ioa, with_time| SendSingleCommandReq {
        host: "127.0.0.1".into(),
        port: u32::from(port),
        coa: 1,
        ioa,
        value: true,
        with_time,
    };
    assert!(api.send_single_command(single(200, false)).await.unwrap().into_inner().value);
    assert!(api.send_single_command(single(203, true)).await.unwrap().into_inner().value, "C_SC_TA_1 correlated");
    let e = api.send_single_command(single(210, false)).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(zero_svc::errcode::reason(&e).as_deref(), Some("105102"));
    assert!(
        e.message().starts_with("command rejected: cot=ActivationCon isNegative=true typeId=45 coa=1 ioa=210"),
        "{}",
        e.message()
    );
    let f = api
        .send_setpoint_float(SendSetpointFloatReq {
            host: "127.0.0.1".into(),
            port: u32::from(port),
            coa: 1,
            ioa: 202,
            value: "12.5".into(),
            with_time: false,
        })
        .await
        .unwrap();
    assert_eq!(f.into_inner().value, "12.5");
    // bad arguments and unknown stations
    let mut bad = single(200, false);
    bad.coa = 70_000;
    let e = api.send_single_command(bad).await.unwrap_err();
    assert_eq!((e.code(), zero_svc::errcode::reason(&e).as_deref()), (Code::InvalidArgument, Some("101103")));
    let mut other = single(200, false);
    other.port = 1;
    let e = api.send_single_command(other).await.unwrap_err();
    assert_eq!((e.code(), zero_svc::errcode::reason(&e).as_deref()), (Code::Unavailable, Some("106101")));
    let e = api
        .send_setpoint_float(SendSetpointFloatReq {
            host: "127.0.0.1".into(),
            port: u32::from(port),
            coa: 1,
            ioa: 202,
            value: "1.23456789".into(),
            with_time: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // point-mapping queries
    let m = api
        .query_point_mapping_by_key(streamevent::caller::pb::QueryPointMappingByKeyReq {
            tag_station: station.clone(),
            coa: 1,
            ioa: 113,
        })
        .await
        .unwrap()
        .into_inner()
        .mapping
        .unwrap();
    assert_eq!(m.device_id, "dev113");
    // every row reports its numeric id and its times (upstream: id 0, empty times), and the id finds it
    assert!(m.id > 0, "{m:?}");
    for t in [&m.create_time, &m.update_time] {
        let us = streamevent::point::parse_local_us(t, 480).unwrap_or_else(|| panic!("datetime-micro: {t:?}"));
        assert!((us - chrono::Utc::now().timestamp_micros()).abs() < 600_000_000, "{t} in Asia/Shanghai");
    }
    let by_id = api
        .query_point_mapping_by_id(streamevent::caller::pb::QueryPointMappingByIdReq { id: m.id })
        .await
        .unwrap()
        .into_inner()
        .mapping
        .unwrap();
    assert_eq!(by_id, m);
    let e = api
        .query_point_mapping_by_id(streamevent::caller::pb::QueryPointMappingByIdReq { id: m.id + 10_000 })
        .await
        .unwrap_err();
    assert_eq!((e.code(), zero_svc::errcode::reason(&e).as_deref()), (Code::NotFound, Some("102102")));
    let page = api
        .page_list_point_mapping(streamevent::caller::pb::PageListPointMappingReq {
            page: 1,
            page_size: 5,
            tag_station: station.clone(),
            coa: 1,
            device_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((page.total, page.mappings.len()), (expected.len() as i64, 5));
    let mut ids: Vec<i64> = page.mappings.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert!(ids.len() == 5 && ids[0] > 0, "distinct ids: {ids:?}");
    let cleared = api
        .clear_point_mapping_cache(streamevent::caller::pb::ClearPointMappingCacheReq {
            keys: vec![streamevent::store::cache_key(&station, 1, 113)],
            key_infos: vec![streamevent::caller::pb::CacheKeyInfo { tag_station: station.clone(), coa: 1, ioa: 130 }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cleared.cleared_count, 2, "both were cached by the push decision");

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(30), caller).await.expect("ieccaller stops").unwrap().unwrap();
    pg.cleanup().await;
}
