//! A client that stops reading (its Node process stopped with SIGSTOP, so its TCP window closes)
//! while 10 KiB room broadcasts keep coming: the gateway's memory stays bounded (its queue for
//! that session holds `MaxBufferSize` messages, not everything sent), the other members get every
//! message at no less than half the rate they had before, each push reports the sessions it
//! really reached, and the stalled session is dropped (its writes fail after `WriteTimeout`, it is
//! closed at its next ping).

use socketgtw_svc::pb;
use socketgtw_svc::pb::socket_gtw_client::SocketGtwClient;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};
use testkit::socketio::SioLoad;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_socketgtw");
const FAST: u64 = 4;
/// 10 KiB of JSON string per message.
const PAYLOAD_BYTES: usize = 10 * 1024;

fn rss_kib(pid: u32) -> u64 {
    testkit::proc::rss_kib(&pid.to_string())
}

fn signal(pid: u32, sig: &str) {
    assert!(std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
}

/// Broadcasts `n` messages to room `r`; returns each call's delivered count.
async fn broadcast(api: &mut SocketGtwClient<Channel>, n: usize, payload: &str) -> Vec<u64> {
    let mut delivered = Vec::with_capacity(n);
    for i in 0..n {
        let r = api
            .broadcast_room(pb::BroadcastRoomReq {
                req_id: format!("m{i}"),
                room: "r".into(),
                event: "news".into(),
                payload: payload.to_owned(),
            })
            .await
            .unwrap();
        let d = r.metadata().get(socketgtw_svc::rpc::DELIVERED).unwrap().to_str().unwrap().parse().unwrap();
        delivered.push(d);
    }
    delivered
}

async fn sessions(api: &mut SocketGtwClient<Channel>) -> i64 {
    api.socket_gtw_stat(pb::SocketGtwStatReq {}).await.unwrap().into_inner().sessions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_bounded_and_dropped_and_the_others_keep_their_rate() {
    let (grpc, http) = (free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nHttp: {{Host: 127.0.0.1, Port: {http}}}\nMaxBufferSize: 32\n\
         PingInterval: 2s\nPingTimeout: 2s\nWriteTimeout: 2s\nPrometheus: {{ListenOn: ''}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("socketgtw.yaml", &yaml);
    let gw = spawn(BIN, &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(30));
    wait_listening(http, Duration::from_secs(30));
    let url = format!("http://127.0.0.1:{http}");
    let mut api = SocketGtwClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let payload = serde_json::to_string(&"x".repeat(PAYLOAD_BYTES)).unwrap();

    let mut fast = SioLoad::start(&url, None, Some("r"), FAST as usize, "websocket").await;
    let slow = SioLoad::start(&url, None, Some("r"), 1, "websocket").await;
    assert_eq!(sessions(&mut api).await, 5);

    // the rate with every member reading
    let warm = 300;
    assert!(broadcast(&mut api, warm, &payload).await.iter().all(|&d| d == FAST + 1));
    let before_ms = fast.wait(FAST * warm as u64, Duration::from_secs(60)).await.max(1);

    // the slow member stops reading; 2,000 more messages (20 MiB per member) go out
    signal(slow.pid().unwrap(), "-STOP");
    let rss0 = rss_kib(gw.id());
    let n = 2000;
    let sender = tokio::spawn({
        let (mut api, payload) = (api.clone(), payload.clone());
        async move { broadcast(&mut api, n, &payload).await }
    });
    let mut peak = rss0;
    while !sender.is_finished() {
        peak = peak.max(rss_kib(gw.id()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = sender.await.unwrap();
    let after_ms = fast.wait(FAST * (warm + n) as u64, Duration::from_secs(120)).await;
    let after_ms = after_ms.saturating_sub(before_ms).max(1);
    let growth = peak.saturating_sub(rss0);
    // 32 queued messages of 10 KiB and the socket buffers; 20 MiB if everything were kept
    assert!(growth < 12 * 1024, "gateway RSS grew {growth} KiB while a client did not read");
    // each push counts what it reached: the stalled session drops out once its queue is full
    assert_eq!(delivered.last(), Some(&FAST), "{:?}", &delivered[delivered.len() - 5..]);
    assert!(delivered.iter().all(|&d| d == FAST || d == FAST + 1));
    let rate_before = warm as f64 / before_ms as f64;
    let rate_after = n as f64 / after_ms as f64;
    assert!(
        rate_after >= rate_before / 2.0,
        "the readers slowed down: {rate_before:.2} -> {rate_after:.2} messages/ms per member"
    );
    let got = fast.count().await;
    assert_eq!(
        (got["min"].as_u64(), got["max"].as_u64()),
        (Some(warm as u64 + n as u64), Some(warm as u64 + n as u64))
    );

    // the stalled session is closed at its next ping (2 s period): the others stay
    testkit::wait::until("the stalled session dropped", Duration::from_secs(10), || {
        let mut api = api.clone();
        async move { (sessions(&mut api).await == FAST as i64).then_some(()) }
    })
    .await;
    signal(slow.pid().unwrap(), "-CONT");
}
