//! The upstream `etc/iecstash.yaml` works unchanged: `print-config` shows its values, the keys
//! this service ignores draw one warning each, and the service starts from it (ports changed to
//! free ones) and answers Ping. Its streamevent target is a Nacos discovery URL, which this
//! platform does not resolve: the consumer stays off with a warning, nothing is read from Kafka.

use iecstash_svc::pb::iec_stash_client::IecStashClient;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_iecstash");

#[tokio::test]
async fn the_upstream_sample_configures_and_starts_iecstash() {
    let (grpc, kafka) = (free_port(), free_port());
    let sample = include_str!("data/upstream-iecstash.yaml")
        .replace("0.0.0.0:21008", &format!("127.0.0.1:{grpc}"))
        .replace("127.0.0.1:9094", &format!("127.0.0.1:{kafka}"));
    let file = ConfigFile::new("iecstash.yaml", &sample);
    let no_metrics = [("ZERO_PROMETHEUS", "{ListenOn: ''}")];
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &no_metrics);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["ListenOn"].as_str(), Some(format!("127.0.0.1:{grpc}").as_str()));
    assert_eq!(cfg["GracePeriod"].as_str(), Some("30s"));
    assert_eq!(cfg["PushAsduChunkBytes"].as_u64(), Some(1_048_576));
    let k = &cfg["KafkaASDUConfig"];
    assert_eq!(
        (k["Topic"].as_str(), k["Group"].as_str(), k["Offset"].as_str()),
        (Some("asdu"), Some("iec-stash"), Some("first"))
    );
    assert_eq!(k["Brokers"][0].as_str(), Some(format!("127.0.0.1:{kafka}").as_str()));
    assert!(cfg["StreamEventConf"]["Target"].as_str().unwrap().starts_with("nacos://"));
    assert_eq!(cfg["StreamEventConf"]["Timeout"].as_u64(), Some(10_000));
    assert_ignored_with_warnings(
        &warnings,
        &[
            "Name",
            "Mode",
            "Log.Encoding",
            "Log.Path",
            "Log.KeepDays",
            "NacosConfig",
            "KafkaASDUConfig.Conns",
            "KafkaASDUConfig.Consumers",
            "KafkaASDUConfig.Processors",
            "KafkaASDUConfig.MinBytes",
            "KafkaASDUConfig.MaxBytes",
            "KafkaASDUConfig.CommitInOrder",
            "StreamEventConf.NonBlock",
        ],
    );

    let _svc = spawn(BIN, &file.path, &no_metrics);
    wait_listening(grpc, Duration::from_secs(30));
    let mut c = IecStashClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let pong = c.ping(iecstash_svc::pb::Req { ping: "hi".into() }).await.unwrap().into_inner().pong;
    assert_eq!(pong, "hi");
}

#[test]
fn a_typo_in_the_upstream_file_names_the_key_and_its_line() {
    let sample = include_str!("data/upstream-iecstash.yaml").replace("  Processors: 18", "  Procesors: 18");
    let file = ConfigFile::new("iecstash.yaml", &sample);
    let (ok, _, err) = print_config(BIN, &file.path, &[]);
    assert!(!ok);
    assert!(err.contains("unknown key KafkaASDUConfig.Procesors (line 25)"), "{err}");
}
