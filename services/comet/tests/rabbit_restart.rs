//! Uploads across a RabbitMQ restart: a device keeps uploading (each resent until acked) while the
//! machine's RabbitMQ application is stopped and started again (`rabbitmqctl stop_app` /
//! `start_app`; it is started again whatever happens); meanwhile the comet refuses uploads as
//! "unavailable" (nothing acked that was not confirmed), then the bus connects again and every
//! upload is in the durable queue afterwards, none lost.

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use socketio_cluster::comet::client::Terminal;
use socketio_cluster::comet::packet::{Kind, Packet, Reason};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

const RABBIT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Starts the RabbitMQ application again when dropped (the test may fail while it is stopped).
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl").arg("start_app").output();
    }
}

fn ctl(arg: &str) {
    let out =
        std::process::Command::new("rabbitmqctl").arg(arg).output().expect("rabbitmqctl (Debian rabbitmq-server)");
    assert!(out.status.success(), "rabbitmqctl {arg}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_survive_a_rabbitmq_restart() {
    let queue = format!("comet-restart-{}", std::process::id());
    let (bus_port, grpc, ws) = (free_port(), free_port(), free_port());
    let bus_file = ConfigFile::new(
        "msgbus.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{bus_port}\nPrometheus: {{ListenOn: ''}}\nComets: ['127.0.0.1:{grpc}']\n\
             RabbitMq: {{Url: '{RABBIT}', RoutingKey: {queue}, Queue: {queue}, ConfirmTimeout: 2s}}\n\
             Events: {{RoutingKey: ''}}\nGracePeriod: 1s\n"
        ),
    );
    let _bus = spawn(&workspace_bin("msgbus"), &bus_file.path, &[]);
    wait_listening(bus_port, Duration::from_secs(20));
    let comet_file = ConfigFile::new(
        "comet.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nHttp: {{ListenOn: '127.0.0.1:{ws}', Path: /ws}}\n\
             Buses: ['127.0.0.1:{bus_port}']\nBusTimeout: 5s\nGracePeriod: 1s\n"
        ),
    );
    let _comet = spawn(env!("CARGO_BIN_EXE_comet"), &comet_file.path, &[]);
    wait_listening(ws, Duration::from_secs(20));

    let device = Terminal::connect(&format!("ws://127.0.0.1:{ws}/ws")).await.unwrap();
    assert_eq!(device.login(-7001, "").await.unwrap().kind, Kind::LoginOk);
    let n = 60u32;
    let mut refused = 0;
    let mut restart = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    for seq in 1..=n {
        if seq == 20 {
            // stopped and started again in the background while the uploads go on
            restart = Some(std::thread::spawn(|| {
                let _guard = Restart;
                ctl("stop_app");
                std::thread::sleep(Duration::from_secs(3));
                ctl("start_app");
            }));
        }
        loop {
            assert!(Instant::now() < deadline, "upload {seq} never acked");
            device.send(Packet::upload(seq, -7001, format!("kwh={seq}"))).unwrap();
            match device.next_within(Duration::from_secs(10)).await {
                Ok(a) if a.kind == Kind::Ack && a.seq == seq => break,
                Ok(a) => {
                    assert_eq!(a.refusal().map(|r| r.0), Some(Reason::Unavailable), "{a:?}");
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("upload {seq}: {e}"),
            }
        }
        if (20..25).contains(&seq) {
            // a few while the broker is down
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    restart.unwrap().join().unwrap();
    assert!(refused > 0, "uploads were refused while RabbitMQ was down");

    let conn = lapin::Connection::connect(
        RABBIT,
        lapin::ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current()),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let opts = QueueDeclareOptions { durable: true, ..Default::default() };
    ch.queue_declare(queue.as_str(), opts, FieldTable::default()).await.unwrap();
    let mut consumer =
        ch.basic_consume(queue.as_str(), "test", BasicConsumeOptions::default(), FieldTable::default()).await.unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
        let id = d.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
        *seen.entry(id).or_default() += 1;
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    let _ = ch.queue_delete(queue.as_str(), QueueDeleteOptions::default()).await;
    assert_eq!(seen.len(), n as usize, "every acked upload is in RabbitMQ: {seen:?}");
    // a publish whose confirm was lost with the connection is stored and sent again: the
    // message id names it (consumers drop the second); no more than the refusals
    let extra: usize = seen.values().map(|c| c - 1).sum();
    assert!(extra <= refused, "{extra} stored twice, {refused} refused");
    println!("{refused} uploads refused while RabbitMQ was down, {extra} stored twice");
}
