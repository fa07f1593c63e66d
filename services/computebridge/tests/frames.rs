//! The bridge binary's worker endpoint over a real WebSocket (no broker): a malformed frame, an
//! unknown type, a frame before the hello and a message larger than `MaxFrame` each close that
//! worker's connection with a `bye` naming the reason, while a task given with `Run` is answered
//! by a well-behaved worker; the dashboard panel shows the workers, the task done and the
//! refusals.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};
use tokio_tungstenite::tungstenite::Message;
use trigger_core::compute::proto::{Done, Frame, Hello, Payload};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(http: u16) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{http}/worker")).await.unwrap().0
}

async fn hello(ws: &mut Ws) {
    let h = Hello { worker: "rust".into(), capabilities: vec![], concurrency: 1, version: 1 };
    ws.send(Message::Binary(Frame::Hello(h).encode())).await.unwrap();
    assert!(matches!(next(ws).await, Some(Frame::Welcome(_))));
}

/// The next frame (pings skipped); none once closed.
async fn next(ws: &mut Ws) -> Option<Frame> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("in time") {
            Some(Ok(Message::Binary(b))) => match Frame::decode(&b, usize::MAX).unwrap() {
                Frame::Ping(_) => continue,
                f => return Some(f),
            },
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

async fn bye_after(http: u16, with_hello: bool, send: Message) -> String {
    let mut ws = connect(http).await;
    if with_hello {
        hello(&mut ws).await;
    }
    let _ = ws.send(send).await;
    loop {
        match next(&mut ws).await {
            // the task may come here first: it goes back to the others when this one is closed
            Some(Frame::Task(_)) => continue,
            Some(Frame::Bye(r)) => {
                assert!(next(&mut ws).await.is_none(), "closed after the bye");
                return r;
            }
            other => panic!("a bye, not {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_close_that_worker_with_a_reason_and_a_task_is_still_answered() {
    let (grpc, http, metrics) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: '127.0.0.1:{metrics}'}}\n\
         Http: {{ListenOn: '127.0.0.1:{http}', Path: /worker}}\nMaxFrame: 65536\nHeartbeat: 10s\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("computebridge.yaml", &yaml);
    let _bridge = spawn(env!("CARGO_BIN_EXE_computebridge"), &file.path, &[]);
    wait_listening(http, Duration::from_secs(20));
    wait_listening(grpc, Duration::from_secs(20));

    // a good worker answers a task given directly meanwhile
    let mut good = connect(http).await;
    hello(&mut good).await;
    let mut c =
        computebridge_svc::pb::bridge_client::BridgeClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let run = tokio::spawn(async move {
        c.run(computebridge_svc::pb::Task { id: "t1".into(), kind: String::new(), body: b"in".to_vec().into() }).await
    });

    let r = bye_after(http, true, Message::Binary(b"\xc1 not msgpack".to_vec().into())).await;
    assert!(r.contains("MsgPack"), "{r}");
    let mut unknown = vec![];
    rmp::encode::write_map_len(&mut unknown, 1).unwrap();
    rmp::encode::write_str(&mut unknown, "type").unwrap();
    rmp::encode::write_str(&mut unknown, "launch").unwrap();
    let r = bye_after(http, true, Message::Binary(unknown.into())).await;
    assert!(r.contains("unknown type \"launch\""), "{r}");
    let r = bye_after(http, false, Message::Binary(Frame::Ping(1).encode())).await;
    assert!(r.contains("before hello"), "{r}");
    let r = bye_after(http, true, Message::Binary(vec![0u8; 66_000].into())).await;
    assert!(r.contains("more than the 65536 allowed"), "{r}");
    let r = bye_after(http, true, Message::Binary(vec![0u8; 200_000].into())).await;
    assert!(r.contains("refused"), "larger than the WebSocket layer takes: {r}");

    let Some(Frame::Task(t)) = next(&mut good).await else { panic!("the task") };
    let done = Frame::Result(Done { id: t.id, data: Payload { bytes: "out".into(), zstd: false } });
    good.send(Message::Binary(done.encode())).await.unwrap();
    let answer = run.await.unwrap().unwrap().into_inner();
    assert_eq!((answer.id.as_str(), &answer.body[..]), ("t1", &b"out"[..]));

    let v = testkit::http::dashboard_views(metrics, "", |v| {
        let stats = v["panels"][0]["view"]["stats"].as_array().cloned().unwrap_or_default();
        let get = |l: &str| stats.iter().find(|s| s["label"] == l).map(|s| s["value"].clone());
        get("done") == Some("1".into())
            && get("workers") == Some("1".into())
            && get("workers refused") == Some("4".into())
    })
    .await;
    assert_eq!(v["panels"][0]["view"]["title"], "Compute bridge");
    // the metrics: the task's latency, the workers refused
    let (status, text) = testkit::http::get_text(metrics, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("computebridge_task_seconds"), "{text}");
    assert!(text.contains("computebridge_workers_refused_total 4"), "{text}");
}
