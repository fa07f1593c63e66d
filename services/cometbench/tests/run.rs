//! `cometbench` against the workspace's `comet` (UDP mode, WebSocket beside) and `msgbus`
//! storing uploads in RabbitMQ (127.0.0.1:5672): every terminal logs in, the uploads acked are
//! the ones counted in the queue, and the plain lapin publisher ran beside.

use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

const RABBIT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[test]
fn terminals_devices_and_uploads_into_rabbitmq_beside_lapin() {
    let (bus, grpc, http, udp) = (free_port(), free_port(), free_port(), free_port());
    let queue = format!("cometbench-test-{}", std::process::id());
    let bus_file = ConfigFile::new(
        "msgbus.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{bus}\nPrometheus: {{ListenOn: ''}}\n\
             RabbitMq: {{Url: '{RABBIT}', RoutingKey: {queue}, Queue: {queue}}}\n"
        ),
    );
    let _bus = spawn(&workspace_bin("msgbus"), &bus_file.path, &[]);
    let comet_file = ConfigFile::new(
        "comet.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nMode: udp\n\
             Udp: {{ListenOn: '127.0.0.1:{udp}'}}\nHttp: {{ListenOn: '127.0.0.1:{http}', Path: /ws}}\n\
             Buses: ['127.0.0.1:{bus}']\n"
        ),
    );
    let comet = spawn(&workspace_bin("comet"), &comet_file.path, &[]);
    wait_listening(bus, Duration::from_secs(20));
    wait_listening(http, Duration::from_secs(20));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cometbench"))
        .args(["-udp", &format!("127.0.0.1:{udp}"), "-ws", &format!("ws://127.0.0.1:{http}/ws")])
        .args(["-terminals", "50", "-devices", "50", "-uploaders", "10", "-window", "4", "-duration", "1"])
        .args(["-pid", &comet.id().to_string(), "-rabbit", RABBIT, "-queue", &queue])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(v["ws_logins_per_s"].as_f64().unwrap() > 0.0 && v["udp_logins_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["kib_per_terminal"].as_f64().is_some(), "{v}");
    let acked = v["acked"].as_u64().unwrap();
    assert!(acked >= 10, "{v}");
    assert!(v["stored"].as_u64().unwrap() >= acked, "{v}");
    assert!(v["peer_per_s"].as_f64().unwrap() > 0.0 && v["ratio"].as_f64().unwrap() > 0.0, "{v}");
    // the queue of the uploads is the test's: gone afterwards
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let ch = cometbench::rabbit(RABBIT).await.unwrap();
        assert!(u64::from(cometbench::queue_len(&ch, &queue).await) >= acked);
        let _ = ch.queue_delete(&queue, lapin::options::QueueDeleteOptions::default()).await;
    });
}
