//! What the trigger service's end-to-end tests share: the binary as a child process, a Redis
//! key prefix removed afterwards, loopback ports, a gRPC client, error codes.

#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trigger_svc::pb::trigger_rpc_client::TriggerRpcClient;

/// Kills and reaps the child on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Redis key prefix whose keys are deleted on drop.
pub struct Prefix(pub String);

impl Prefix {
    /// A fresh prefix.
    pub fn new(what: &str) -> Prefix {
        Prefix(format!("{what}-{}", uuid::Uuid::now_v7().simple()))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(mut c) = redis::Client::open("redis://127.0.0.1:6379/0").and_then(|c| c.get_connection()) {
            let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}*", self.0)).query(&mut c).unwrap_or_default();
            for k in keys {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(k).query(&mut c);
            }
        }
    }
}

pub use testkit::port::free_port;

/// A fresh temporary folder.
pub fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("trigger-svc-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the `trigger` binary with `yaml` as its configuration file `dir/name.yaml`.
pub fn spawn_trigger(dir: &std::path::Path, name: &str, yaml: &str) -> Guard {
    let cfg = dir.join(format!("{name}.yaml"));
    std::fs::write(&cfg, yaml).unwrap();
    Guard(
        Command::new(env!("CARGO_BIN_EXE_trigger"))
            .args(["-c", cfg.to_str().unwrap(), "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// A client, once the service answers.
pub async fn client(port: u16) -> TriggerRpcClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(c) = TriggerRpcClient::connect(format!("http://127.0.0.1:{port}")).await {
            return c;
        }
        assert!(Instant::now() < deadline, "trigger did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The upstream business code of an error.
pub fn code(s: &tonic::Status) -> String {
    zero_svc::errcode::reason(s).unwrap_or_default()
}

/// streamevent in this process (SQLite in memory): it records every HandleCronJobEvent,
/// HandlerPlanTaskEvent (answering `completed`) and NotifyPlanEvent.
pub async fn streamevent() -> (String, streamevent::store::Db) {
    let db = streamevent::store::Db::connect("sqlite::memory:").await.unwrap();
    db.migrate().await.unwrap();
    let svc = streamevent::server::Service::new(db.clone(), Duration::from_secs(60));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc.into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l)),
    );
    (format!("http://{addr}"), db)
}

/// The generated client over a channel.
pub type Client = TriggerRpcClient<tonic::transport::Channel>;
