//! The `msgbus` binary on its own: its effective configuration; `Where` for a terminal nobody
//! announced; wrong arguments refused with InvalidArgument; a message to an offline terminal
//! and an upload with no storage configured refused with their reasons (nothing acknowledged).

use socketio_cluster::comet::packet::{flags, Reason};
use socketio_cluster::pb::comet as pb;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};

#[tokio::test]
async fn the_binary_answers_and_refuses() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgbus")).arg("print-config").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("RoutingKey: comet.uploads"), "{text}");

    let port = free_port();
    let file = ConfigFile::new("msgbus.yaml", &format!("ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\n"));
    let _bus = spawn(env!("CARGO_BIN_EXE_msgbus"), &file.path, &[]);
    wait_listening(port, Duration::from_secs(20));
    let mut c = pb::bus_client::BusClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();

    let w = c.r#where(pb::WhereReq { id: -5 }).await.unwrap().into_inner();
    assert!(!w.online && w.login.is_none(), "{w:?}");
    let e = c.r#where(pb::WhereReq { id: 0 }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = c.send(pb::Message { from: 0, to: 5, ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    let r = c.send(pb::Message { from: 1, to: -5, seq: 1, payload: "on".into(), ..Default::default() }).await.unwrap();
    let r = r.into_inner();
    assert_eq!((r.ok, r.reason), (false, Reason::UnknownTarget as u32), "{r:?}");
    let up =
        pb::Message { from: -5, seq: 2, flags: u32::from(flags::UPLOAD), payload: "kwh".into(), ..Default::default() };
    let r = c.send(up).await.unwrap().into_inner();
    assert_eq!((r.ok, r.reason), (false, Reason::Unavailable as u32), "{r:?}");
    assert!(r.message.contains("RabbitMq.Url"), "{r:?}");

    // a presence makes the terminal known, with its comet
    let login = pb::Login { node: "127.0.0.1:1".into(), at: 5, n: 1 };
    let res = c
        .presence(pb::PresenceReq {
            events: vec![pb::Presence { id: -5, login: Some(login.clone()), online: true }],
            publish: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(res.stale.is_empty());
    let w = c.r#where(pb::WhereReq { id: -5 }).await.unwrap().into_inner();
    assert_eq!((w.online, w.login), (true, Some(login.clone())));
    // an older login announced late is stale
    let old = pb::Login { node: "127.0.0.1:2".into(), at: 4, n: 9 };
    let res = c
        .presence(pb::PresenceReq {
            events: vec![pb::Presence { id: -5, login: Some(old.clone()), online: true }],
            publish: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.stale, vec![pb::Presence { id: -5, login: Some(old), online: false }]);
    let w = c.r#where(pb::WhereReq { id: -5 }).await.unwrap().into_inner();
    assert_eq!(w.login, Some(login));
}
