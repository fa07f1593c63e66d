//! The upstream `etc/ieccaller.yaml` works unchanged: `print-config` shows its values (stations
//! with their metadata, the MQTT broker list and topic templates, the Go duration grace
//! period), the keys this service ignores draw one warning each, and the service starts from it
//! (ports changed to free ones; the MQTT broker is the loopback Mosquitto) and answers Ping.

use std::time::Duration;
use streamevent::caller::pb;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_ieccaller");

#[tokio::test]
async fn the_upstream_sample_configures_and_starts_ieccaller() {
    let (grpc, station, kafka, se) = (free_port(), free_port(), free_port(), free_port());
    let sample = include_str!("data/upstream-ieccaller.yaml")
        .replace("0.0.0.0:21004", &format!("127.0.0.1:{grpc}"))
        .replace("  Port: 2404", &format!("  Port: {station}"))
        .replace("127.0.0.1:9094", &format!("127.0.0.1:{kafka}"))
        .replace("127.0.0.1:21009", &format!("127.0.0.1:{se}"));
    let file = ConfigFile::new("ieccaller.yaml", &sample);
    let no_metrics = [("ZERO_PROMETHEUS", "{ListenOn: ''}")];
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &no_metrics);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["ListenOn"].as_str(), Some(format!("127.0.0.1:{grpc}").as_str()));
    assert_eq!((cfg["DeployMode"].as_str(), cfg["GracePeriod"].as_str()), (Some("standalone"), Some("30s")));
    let st = &cfg["IecServerConfig"][0];
    assert_eq!((st["Host"].as_str(), st["Port"].as_u64()), (Some("127.0.0.1"), Some(u64::from(station))));
    assert_eq!(st["MetaData"]["stationId"].as_str(), Some("330KV"));
    assert_eq!(st["MetaData"]["arrayId"].as_sequence().map(Vec::len), Some(3));
    assert_eq!((st["LogEnable"].as_bool(), st["TaskConcurrency"].as_u64()), (Some(true), Some(16)));
    assert_eq!(st["IcCoaList"].as_sequence().map(Vec::len), Some(2));
    let mqtt = &cfg["MqttConfig"];
    assert_eq!(mqtt["Broker"][0].as_str(), Some("tcp://localhost:1883"));
    assert_eq!((mqtt["IsPush"].as_bool(), mqtt["Topic"].as_sequence().map(Vec::len)), (Some(true), Some(5)));
    assert_eq!(cfg["KafkaConfig"]["Topic"].as_str(), Some("asdu"));
    assert_eq!(cfg["StreamEventConf"]["Endpoints"][0].as_str(), Some(format!("127.0.0.1:{se}").as_str()));
    assert_eq!(cfg["StreamEventConf"]["Timeout"].as_u64(), Some(10_000));
    assert_eq!(cfg["PushAsduChunkBytes"].as_u64(), Some(1_048_576));
    assert_ignored_with_warnings(
        &warnings,
        &[
            "Name",
            "Mode",
            "Timeout",
            "Log.Encoding",
            "Log.Path",
            "Log.KeepDays",
            "NacosConfig",
            "StreamEventConf.NonBlock",
        ],
    );

    let _svc = spawn(BIN, &file.path, &no_metrics);
    wait_listening(grpc, Duration::from_secs(30));
    let mut c = pb::iec_caller_client::IecCallerClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    assert_eq!(c.ping(pb::Req { ping: "hi".into() }).await.unwrap().into_inner().pong, "hi");
}
