//! The upstream `etc/trigger.yaml` works unchanged: `print-config` shows its values, the keys
//! this service ignores draw one warning each, and the service starts from it and keeps plans in
//! the database its Go MySQL DSN names. The sample is adapted to this machine only where it must
//! be: ports changed to free ones, the Redis and MariaDB on loopback (no Redis password, a
//! throwaway database, a key prefix of its own).

use std::time::Duration;
use testkit::db::TempDb;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};
use trigger_svc::pb;

const BIN: &str = env!("CARGO_BIN_EXE_trigger");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_sample_configures_and_starts_trigger() {
    let (grpc, se) = (free_port(), free_port());
    let my = TempDb::mysql("trig_upstream").await;
    let key = format!("trigger-upstream-{grpc}");
    let sample = include_str!("data/upstream-trigger.yaml")
        .replace("0.0.0.0:21006", &format!("127.0.0.1:{grpc}"))
        .replace("127.0.0.1:36379", "127.0.0.1:6379")
        .replace("Key: trigger.rpc", &format!("Key: {key}"))
        .replace("Pass: G62m50oigInC30sf", "Pass: ''")
        .replace("root:PXDN93VRKUm8TeE7@tcp(localhost:33069)/zero?", &format!("root:@tcp(127.0.0.1:3306)/{}?", my.name))
        .replace("127.0.0.1:21009", &format!("127.0.0.1:{se}"));
    assert!(sample.contains(&format!("@tcp(127.0.0.1:3306)/{}?charset=utf8mb4&parseTime=true", my.name)));
    let file = ConfigFile::new("trigger.yaml", &sample);
    let no_metrics = [("ZERO_PROMETHEUS", "{ListenOn: ''}")];
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &no_metrics);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["ListenOn"].as_str(), Some(format!("127.0.0.1:{grpc}").as_str()));
    assert_eq!(cfg["Redis"]["Host"].as_str(), Some("127.0.0.1:6379"));
    assert_eq!(cfg["RedisDB"].as_u64(), Some(0));
    assert_eq!(cfg["CronTask"]["MaxDelay"].as_str(), Some("30m0s"), "30m, as Go prints it");
    assert_eq!(cfg["StreamEventConf"]["Timeout"].as_u64(), Some(120_000));
    assert!(cfg["DB"]["DataSource"].as_str().unwrap().starts_with("root:@tcp(127.0.0.1:3306)/"));
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
            "Redis.Type",
            "DB.MaxIdleConns",
            "DB.MaxOpenConns",
            "DB.SlowThreshold",
            "DB.LogLevel",
            "DB.ParameterizedQueries",
            "DB.IgnoreRecordNotFoundError",
            "DB.QueryFields",
            "StreamEventConf.NonBlock",
            "StreamEventConf.GracePeriod",
        ],
    );

    let _svc = spawn(BIN, &file.path, &no_metrics);
    wait_listening(grpc, Duration::from_secs(30));
    let mut c = pb::trigger_rpc_client::TriggerRpcClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let year = chrono::Utc::now().format("%Y").to_string().parse::<i32>().unwrap() + 1;
    let made = c
        .create_plan_task(pb::CreatePlanTaskReq {
            dept_code: "d1".into(),
            plan_id: "upstream-sample".into(),
            plan_name: "sample".into(),
            r#type: "inspect".into(),
            start_time: format!("{year}-01-01 00:00:00"),
            end_time: format!("{year}-01-03 00:00:00"),
            rule: Some(pb::PlanRulePb { freq: 3, hours: vec![8], minutes: vec![0], ..Default::default() }),
            exec_items: vec![pb::CreatePlanExecItemPb { item_id: "a".into(), ..Default::default() }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(made.batch_cnt, 2);
    // the plan is in the sample's (throwaway) MariaDB database, under the string id returned
    use sqlx::Connection as _;
    let mut db = sqlx::MySqlConnection::connect(&my.url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plan WHERE plan_id = 'upstream-sample'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let got = c.get_plan(pb::GetPlanReq { id: made.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(got.plan.unwrap().plan_id, "upstream-sample");
    // the sample's Redis key prefix holds the queues: clean it up
    let mut r =
        redis::Client::open("redis://127.0.0.1:6379").unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("*{key}*")).query_async(&mut r).await.unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut r).await.unwrap();
    }
}
