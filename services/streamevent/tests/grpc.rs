//! The service end to end over gRPC, against SQLite and the PostgreSQL and MariaDB running on
//! loopback: PushChunkAsdu into each database, redelivery, bad arguments, the other RPCs, health
//! and reflection.

use testkit::streamevent as common;

use common::TestDb;
use iec104::point::{Point, PointValue, TimeTag};
use iec104::types::{CommonAddress, Ioa, Qds, TypeId};
use std::sync::Arc;
use std::time::Duration;
use streamevent::pb::stream_event_client::StreamEventClient;
use streamevent::pb::{self, PushChunkAsduReq};
use streamevent::point::{PointMsg, Station};
use streamevent::server::Service;
use streamevent::sink::SqlSink;
use streamevent::store::PointMapping;
use tonic::transport::Channel;
use tonic::Code;

async fn start(
    db: streamevent::store::Db,
) -> (StreamEventClient<Channel>, String, tokio::sync::oneshot::Sender<()>, Service) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = Service::new(db.clone(), Duration::from_secs(60));
    tokio::spawn(zero_svc::grpc::serve(listener, svc.into_server(), &[pb::FILE_DESCRIPTOR_SET], async move {
        let _ = rx.await;
    }));
    let url = format!("http://{addr}");
    let client = StreamEventClient::connect(url.clone()).await.unwrap();
    (client, url, tx, Service::new(db, Duration::from_secs(60)))
}

fn msg(src: &Arc<Station>, tid: TypeId, ioa: u32, value: PointValue) -> pb::MsgBody {
    let p = Point { ioa: Ioa::new(ioa).unwrap(), value, quality: Qds::GOOD, time: TimeTag::None };
    let mut m = PointMsg::new(src.clone(), tid, CommonAddress(1), p, 0).to_pb();
    m.time = "2026-06-05 14:30:00.1234".into();
    m
}

fn reason(s: &tonic::Status) -> Option<String> {
    zero_svc::errcode::reason(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_chunk_asdu_into_every_database() {
    for t in TestDb::all().await {
        let (mut client, _url, stop, svc) = start(t.db.clone()).await;
        let store = svc.store();
        let meta = serde_json::json!({"stationId": "330KV"}).as_object().unwrap().clone();
        let station = Station::new("10.0.0.5", 2404, meta, 480);
        let plain = Station::new("10.0.0.6", 2404, Default::default(), 480);
        let mut yc = PointMapping::new("330KV", 1, 4004);
        yc.td_table_type = "yc".into();
        yc.device_id = "T1".into();
        store.upsert(&yc).await.unwrap();
        let mut off = PointMapping::new("330KV", 1, 4005);
        off.enable_raw_insert = 0;
        store.upsert(&off).await.unwrap();
        let mut yx = PointMapping::new("10_0_0_6_2404", 1, 7);
        yx.td_table_type = "yx".into();
        store.upsert(&yx).await.unwrap();

        let req = PushChunkAsduReq {
            t_id: "asdu/0@0-3".into(),
            msg_body: vec![
                msg(&station, TypeId::M_ME_NC_1, 4004, PointValue::Float(220.5)),
                msg(&station, TypeId::M_ME_NC_1, 4005, PointValue::Float(1.0)),
                msg(&station, TypeId::M_ME_NC_1, 4006, PointValue::Float(2.0)),
                msg(&plain, TypeId::M_SP_NA_1, 7, PointValue::Single(true)),
            ],
        };
        client.push_chunk_asdu(req.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", t.name));
        let sink = SqlSink::new(t.db.clone());
        assert_eq!(sink.count().await.unwrap(), 2, "{}: mapped and enabled only", t.name);
        let r = sink.rows("330KV", 1, 4004).await.unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].ioa_value.as_str(), r[0].asdu.as_str(), r[0].type_id, r[0].data_type),
            ("220.5", "M_ME_NC_1", 13, 6)
        );
        assert_eq!(r[0].ts, "2026-06-05 14:30:00.1234");
        assert_eq!(r[0].raw_msg, req.msg_body[0].body_raw);
        assert!(sink.has_chunk(&streamevent::id::ChunkId::from_wire("asdu/0@0-3")).await.unwrap());
        let r = sink.rows("10_0_0_6_2404", 1, 7).await.unwrap();
        assert_eq!(r[0].ioa_value, "true", "{}: station from host_port when no stationId", t.name);
        // typed tables by td_table_type: telemetry of the yc point, a signal of the yx point
        let yc = sink.typed_rows(false, "330KV", 1, 4004).await.unwrap();
        assert_eq!((yc.len(), yc[0].value, yc[0].device_id.as_str()), (1, 220.5, "T1"), "{}", t.name);
        let yx = sink.typed_rows(true, "10_0_0_6_2404", 1, 7).await.unwrap();
        assert_eq!((yx.len(), yx[0].value), (1, 1.0), "{}", t.name);
        assert_eq!(sink.count_of("telemetry_data").await.unwrap(), 1, "{}: only mapped yc points", t.name);

        // redelivery of the same chunk writes nothing more, in no table
        client.push_chunk_asdu(req.clone()).await.unwrap();
        assert_eq!(sink.count().await.unwrap(), 2, "{}", t.name);
        assert_eq!(sink.count_of("telemetry_data").await.unwrap(), 1, "{}", t.name);

        // bad arguments: InvalidArgument with the upstream code, nothing written
        let mut bad = req.clone();
        bad.t_id = "asdu/0@4-5".into();
        bad.msg_body[1].body_raw = "not json".into();
        let e = client.push_chunk_asdu(bad).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(reason(&e).as_deref(), Some("101103"));
        assert!(e.message().contains("msg_body[1]"), "{}", e.message());
        let mut bad = req.clone();
        bad.t_id = "asdu/0@6-7".into();
        bad.msg_body[0].port = 70_000;
        assert_eq!(client.push_chunk_asdu(bad).await.unwrap_err().code(), Code::InvalidArgument);
        assert_eq!(sink.count().await.unwrap(), 2, "{}: nothing written by refused calls", t.name);
        let _ = stop.send(());
        t.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_rpcs_store_what_they_receive_and_refuse_bad_arguments() {
    let t = TestDb::sqlite().await;
    let (mut c, url, stop, _svc) = start(t.db.clone()).await;
    c.receive_mqtt_message(pb::ReceiveMqttMessageReq {
        messages: vec![pb::MqttMessage { topic: "iec/1".into(), payload: b"{\"a\":1}".to_vec(), ..Default::default() }],
    })
    .await
    .unwrap();
    let e = c
        .receive_mqtt_message(pb::ReceiveMqttMessageReq { messages: vec![pb::MqttMessage::default()] })
        .await
        .unwrap_err();
    assert_eq!((e.code(), reason(&e).as_deref()), (Code::InvalidArgument, Some("101102")));
    c.receive_kafka_message(pb::ReceiveKafkaMessageReq {
        messages: vec![pb::KafkaMessage {
            topic: "asdu".into(),
            key: "k".into(),
            value: vec![0xff, 0x00],
            ..Default::default()
        }],
    })
    .await
    .unwrap();
    c.receive_ws_message(pb::ReceiveWsMessageReq {
        session_id: "s1".into(),
        payload: b"hi".to_vec(),
        ..Default::default()
    })
    .await
    .unwrap();
    let up = c
        .up_socket_message(pb::UpSocketMessageReq {
            event: "__connection__".into(),
            payload: r#"{"metadata":{}}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(up.payload, "[]");
    let e = c
        .up_socket_message(pb::UpSocketMessageReq {
            event: "__up__".into(),
            payload: "{broken".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let res = c
        .handler_plan_task_event(pb::HandlerPlanTaskEventReq {
            plan_id: "p1".into(),
            exec_id: "e1".into(),
            point_id: "pt".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.exec_result, "completed");
    assert_eq!(
        c.handler_plan_task_event(pb::HandlerPlanTaskEventReq::default()).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    c.notify_plan_event(pb::NotifyPlanEventReq { plan_id: "p1".into(), event_type: 2, ..Default::default() })
        .await
        .unwrap();
    let e = c
        .notify_plan_event(pb::NotifyPlanEventReq { plan_id: "p1".into(), event_type: 9, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(reason(&e).as_deref(), Some("101103"));
    let cron = c
        .handle_cron_job_event(pb::HandleCronJobEventReq { job_id: "j1".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cron.receipt, pb::CronJobReceiptPb::CronJobReceiptSuccess as i32);

    let mqtt = t.db.events("mqtt").await.unwrap();
    assert_eq!(mqtt.len(), 1);
    assert_eq!(mqtt[0].0, "iec/1");
    assert!(mqtt[0].1.contains(r#""payload":"{\"a\":1}""#), "{}", mqtt[0].1);
    assert!(t.db.events("kafka").await.unwrap()[0].1.contains(r#""value":{"base64":"/wA="}"#));
    assert_eq!(t.db.events("ws").await.unwrap().len(), 1);
    assert_eq!(t.db.events("socket").await.unwrap().len(), 1, "the refused call stored nothing");
    assert_eq!(t.db.events("plan_task").await.unwrap().len(), 1);
    assert!(t.db.events("plan_event").await.unwrap()[0].1.contains("PLAN_FINISHED"));
    assert_eq!(t.db.events("cron_job").await.unwrap().len(), 1);

    // health and reflection
    let ch = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut h = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let st = h
        .check(tonic_health::pb::HealthCheckRequest { service: "streamevent.StreamEvent".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
        server_reflection_response::MessageResponse, ServerReflectionRequest,
    };
    let mut r = ServerReflectionClient::new(ch);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = r.server_reflection_info(tokio_stream::iter(vec![req])).await.unwrap().into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else { panic!("{resp:?}") };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"streamevent.StreamEvent"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let _ = stop.send(());
    t.cleanup().await;
}
