//! The `ieccaller` binary refuses bad configuration with a clear message and exit code 2.

use std::process::Command;

fn run(yaml: &str) -> (Option<i32>, String) {
    let f = std::env::temp_dir().join(format!("ieccaller_cfg_{}_{}.yaml", std::process::id(), yaml.len()));
    std::fs::write(&f, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ieccaller"))
        .args(["-c", f.to_str().unwrap()])
        .env("ZERO_LISTENON", "127.0.0.1:0")
        .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
        .output()
        .unwrap();
    std::fs::remove_file(f).ok();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_configuration_exits_2() {
    let cases = [
        ("Stationz: []\n", "unknown key Stationz"),
        ("IecServerConfig: [{Host: 10.0.0.1, Prt: 2404}]\n", "unknown field `Prt`"),
        ("IecServerConfig: [{Host: 10.0.0.1, Port: 99999}]\n", "99999"),
        ("IecServerConfig: [{Host: 10.0.0.1, Backup: ['nohostport']}]\n", "is not host:port"),
        ("IecServerConfig: [{Host: a}, {Host: a}]\n", "configured twice"),
        ("InterrogationCron: '* * *'\n", "six fields"),
        (
            "MqttConfig: {IsPush: true, Broker: '', ClientId: '', Username: '', Password: '', Qos: 0, Topic: []}\n",
            "MqttConfig.IsPush needs",
        ),
        ("Db: {DataSource: 'redis://x', Migrate: true, CacheSeconds: 1}\n", "unsupported database URL"),
    ];
    for (yaml, want) in cases {
        let (code, err) = run(yaml);
        assert_eq!(code, Some(2), "{yaml}: {err}");
        assert!(err.contains(want), "{yaml}: expected {want:?} in {err:?}");
    }
}

/// Accepts every command.
struct AcceptAll;

impl iec104::slave::CommandHandler for AcceptAll {
    fn command(&self, _: &iec104::slave::Command) -> bool {
        true
    }
}

/// The dashboard on the metrics port: the polled station started with its points, and the
/// gRPC channel to a streamevent that is not there, its queue and its failed deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_stations_and_channels() {
    use iec104::slave::{serve, sim::Simulator, SlaveConfig};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let station = l.local_addr().unwrap();
    let (slave, driver) = serve(l, SlaveConfig::default(), AcceptAll);
    tokio::spawn(driver);
    tokio::spawn(Simulator::new(slave, iec104::types::CommonAddress(1), 20, 50).run());
    let (grpc, prom, nobody) = (testkit::port::free_port(), testkit::port::free_port(), testkit::port::free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_ieccaller"))
        .env("ZERO_LISTENON", format!("127.0.0.1:{grpc}"))
        .env("ZERO_PROMETHEUS", format!("{{ListenOn: '127.0.0.1:{prom}'}}"))
        .env("ZERO_IECSERVERCONFIG", format!("[{{Host: 127.0.0.1, Port: {}, IcCoaList: [1]}}]", station.port()))
        .env("ZERO_STREAMEVENTCONF", format!("{{Endpoints: ['127.0.0.1:{nobody}']}}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = testkit::process::ChildGuard(child);
    testkit::service::wait_listening(prom, std::time::Duration::from_secs(20));
    let key = station.to_string();
    let views = testkit::http::dashboard_views(prom, "", |v| {
        let view = &v["panels"][0]["view"];
        let rows = view["tables"][0]["rows"].as_array().cloned().unwrap_or_default();
        let ours = rows.iter().find(|r| r["key"] == key.as_str());
        let channel = &view["tables"][1]["rows"][0]["cells"];
        ours.is_some_and(|r| r["cells"][1] == "started" && r["cells"][2] != "0")
            && channel[4].as_str().is_some_and(|e| e != "0")
            // what arrives while the worker retries its batch waits in the queue
            && channel[1].as_str().is_some_and(|q| q != "0")
    })
    .await;
    let view = &views["panels"][0]["view"];
    assert_eq!(view["title"], "Acquisition", "{view}");
    assert_eq!(view["tables"][1]["rows"][0]["cells"][0], "grpc", "{view}");
    assert!(view["tables"][1]["rows"][0]["cells"][1].as_str().unwrap().parse::<u64>().unwrap() > 0, "queued: {view}");
    let labels: Vec<&str> = view["stats"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"points received") && !labels.contains(&"chunks stored"), "no store here: {labels:?}");
}
