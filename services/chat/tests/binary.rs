//! The `chat` binary: its effective configuration, and `wsgate.v1.Logic.Handle` answered over
//! gRPC (a say, then the room's history), a bad payload refused with a message.

use socketio_cluster::pb::wsgate as pb;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};

#[tokio::test]
async fn the_binary_answers_over_grpc() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat")).arg("print-config").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("ProtocolsKey: wsgate.protocols"), "{text}");

    let port = free_port();
    let file = ConfigFile::new(
        "chat.yaml",
        &format!("ListenOn: 127.0.0.1:{port}\nPrometheus: {{ListenOn: ''}}\nSensitiveWords: [bad]\n"),
    );
    let _chat = spawn(env!("CARGO_BIN_EXE_chat"), &file.path, &[]);
    wait_listening(port, Duration::from_secs(20));
    let mut c = pb::logic_client::LogicClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
    let call = |protocol: u32, payload: &str| pb::HandleReq {
        protocol,
        payload: payload.as_bytes().to_vec().into(),
        json: true,
        uid: "u1".into(),
        ..Default::default()
    };
    let said = c.handle(call(chat_svc::SAY, r#"{"room":"r","text":"a bad day"}"#)).await.unwrap().into_inner();
    assert_eq!(said.code, 0, "{}", said.message);
    let h = c.handle(call(chat_svc::HISTORY, r#"{"room":"r"}"#)).await.unwrap().into_inner();
    let v: serde_json::Value = serde_json::from_slice(&h.payload).unwrap();
    assert_eq!(v["messages"][0]["text"], "a *** day", "{v}");
    let bad = c.handle(call(chat_svc::SAY, "{")).await.unwrap().into_inner();
    assert!(bad.code != 0 && bad.message.contains("payload"), "{bad:?}");
}
