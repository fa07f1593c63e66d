//! The upstream `etc/bridgemodbus.yaml` works unchanged: `print-config` shows its values, the
//! keys this service ignores draw one warning each, and the service starts from it (ports
//! changed to free ones, the PostgreSQL database a throwaway one; the URL keeps the sample's
//! parameters) and keeps device rows in that database.

use bridgemodbus_svc::pb::bridge_modbus_client::BridgeModbusClient;
use bridgemodbus_svc::pb::{GetConfigByCodeReq, SaveConfigReq};
use std::time::Duration;
use testkit::db::TempDb;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_bridgemodbus");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_sample_configures_and_starts_bridgemodbus() {
    let (grpc, device) = (free_port(), free_port());
    let pg = TempDb::postgres("bm_upstream").await;
    let sample = include_str!("data/upstream-bridgemodbus.yaml")
        .replace("0.0.0.0:25004", &format!("127.0.0.1:{grpc}"))
        .replace("127.0.0.1:5020", &format!("127.0.0.1:{device}"))
        .replace("postgres://postgres:postgres@localhost:5432/postgres?", &format!("{}?", pg.url));
    assert!(sample.contains(&pg.name) && sample.contains("sslmode=disable&TimeZone=Asia/Shanghai"));
    let file = ConfigFile::new("bridgemodbus.yaml", &sample);
    let no_metrics = [("ZERO_PROMETHEUS", "{ListenOn: ''}")];
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &no_metrics);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["ListenOn"].as_str(), Some(format!("127.0.0.1:{grpc}").as_str()));
    assert_eq!(cfg["ModbusPool"].as_u64(), Some(32));
    assert_eq!(cfg["ModbusClientConf"]["Address"].as_str(), Some(format!("127.0.0.1:{device}").as_str()));
    assert_eq!(cfg["ModbusClientConf"]["Slave"].as_u64(), Some(1));
    assert_eq!(cfg["Log"]["Level"].as_str(), Some("info"));
    assert_ignored_with_warnings(
        &warnings,
        &[
            "Name",
            "Timeout",
            "Mode",
            "Log.Encoding",
            "Log.Path",
            "Log.KeepDays",
            "NacosConfig",
            "DB.LogLevel",
            "DB.QueryFields",
        ],
    );

    let _svc = spawn(BIN, &file.path, &no_metrics);
    wait_listening(grpc, Duration::from_secs(30));
    let mut c = BridgeModbusClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let save = SaveConfigReq { modbus_code: "plc-9".into(), slave_address: "127.0.0.1:502".into(), slave: 3 };
    let id = c.save_config(save).await.unwrap().into_inner().id;
    let got = c.get_config_by_code(GetConfigByCodeReq { modbus_code: "plc-9".into() }).await.unwrap().into_inner();
    assert_eq!(got.cfg.unwrap().id, id);
    // the row is in the sample's (throwaway) PostgreSQL database
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM modbus_slave_config WHERE id = $1")
        .bind(&id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
