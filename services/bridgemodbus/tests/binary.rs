//! The `bridgemodbus` binary: polling typed points off a simulated device into a real
//! streamevent (SQLite), where they land as raw point rows; gRPC health, metrics, SIGTERM;
//! print-config and a broken configuration.

use bridgemodbus_svc::pb::bridge_modbus_client::BridgeModbusClient;
use modbus_bridge::sim::{Bank, Simulator};
use sqlx::Row as _;
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use streamevent::store::{Db, MappingStore, PointMapping};

use testkit::port::free_port;

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// `(ioa, ioa_value)` of the newest row of each point.
/// The service process, killed when a failed assertion unwinds past it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

async fn latest(db: &Db) -> Vec<(i64, String, String, i64, i64)> {
    let sql = "SELECT ioa, ioa_value, host_v, port_v, coa FROM raw_point_data r WHERE id = \
               (SELECT MAX(id) FROM raw_point_data x WHERE x.ioa = r.ioa AND x.tag_station = 'plant-1') ORDER BY ioa";
    let Db::Sqlite(pool) = db else { panic!("sqlite") };
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    rows.iter().map(|r| (r.get("ioa"), r.get("ioa_value"), r.get("host_v"), r.get("port_v"), r.get("coa"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_polls_points_into_streamevent_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("bm_bin_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    // the device: f32 21.5 at holding 0-1, coil 5 on, input 10 = -123 (scaled by 0.1), text at 20
    let mut bank = Bank::new(64);
    let f = 21.5f32.to_bits();
    bank.holding[0] = (f >> 16) as u16;
    bank.holding[1] = f as u16;
    bank.coils[5] = true;
    bank.input[10] = (-123i16) as u16;
    bank.holding[20] = u16::from_be_bytes(*b"OK");
    let sim = Simulator::new(bank, 1);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_port = l.local_addr().unwrap().port();
    tokio::spawn(sim.clone().serve(l));

    // streamevent on SQLite, with the four points mapped
    let db = Db::connect(&format!("sqlite://{}/se.db", dir.display())).await.unwrap();
    db.migrate().await.unwrap();
    let maps = MappingStore::new(db.clone(), Duration::from_secs(60));
    for ioa in 1..=4 {
        maps.upsert(&PointMapping::new("plant-1", 1, ioa)).await.unwrap();
    }
    let se = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let se_addr = se.local_addr().unwrap();
    let (se_stop, se_rx) = tokio::sync::oneshot::channel::<()>();
    let svc = streamevent::server::Service::new(db.clone(), Duration::from_secs(60));
    tokio::spawn(zero_svc::grpc::serve(se, svc.into_server(), &[streamevent::pb::FILE_DESCRIPTOR_SET], async move {
        let _ = se_rx.await;
    }));

    let (grpc, prom) = (free_port(), free_port());
    let cfg = dir.join("bm.yaml");
    std::fs::write(
        &cfg,
        format!(
            "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: '127.0.0.1:{prom}'}}\n\
             DB: {{DataSource: 'sqlite://{dir}/bm.db'}}\n\
             ModbusClientConf: {{Address: '127.0.0.1:{sim_port}', ConnectDelay: 0}}\n\
             StreamEventConf: {{Endpoints: ['http://{se_addr}'], Timeout: 3000}}\n\
             Poll:\n  - Station: plant-1\n    IntervalMillis: 100\n    MaxGap: 4\n    Points:\n\
             \x20     - {{Name: temp, Ioa: 1, Table: holding_registers, Address: 0, Type: f32}}\n\
             \x20     - {{Name: run, Ioa: 2, Table: coils, Address: 5}}\n\
             \x20     - {{Name: flow, Ioa: 3, Table: input_registers, Address: 10, Type: i16, Scale: 0.1}}\n\
             \x20     - {{Name: state, Ioa: 4, Table: holding_registers, Address: 20, Type: string, Len: 1}}\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bridgemodbus"))
            .args(["-c", cfg.to_str().unwrap(), "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let want = |v: &[(i64, String, String, i64, i64)], temp: &str| {
        v.len() == 4 && v[0].1 == temp && v[1].1 == "true" && v[2].1 == "-12.3" && v[3].1 == "OK"
    };
    loop {
        let v = latest(&db).await;
        if want(&v, "21.5") {
            assert!(v.iter().all(|r| r.2 == "127.0.0.1" && r.3 == i64::from(sim_port) && r.4 == 1), "{v:?}");
            break;
        }
        assert!(Instant::now() < deadline, "points did not arrive: {v:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a change on the device arrives with the next cycles
    let f = (-3.25f32).to_bits();
    sim.update(|b| {
        b.holding[0] = (f >> 16) as u16;
        b.holding[1] = f as u16;
    });
    loop {
        if want(&latest(&db).await, "-3.25") {
            break;
        }
        assert!(Instant::now() < deadline, "the change did not arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // the dashboard on the metrics port: the default device's pool connected with answers, the
    // polling group's cycles and points sent, from the pools' and pollers' own counts
    // (the views follow within a tick)
    let views = loop {
        let answer = http_get(prom, "/api/dashboard").expect("the dashboard on the metrics port");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{answer}");
        let views: serde_json::Value = serde_json::from_str(body).unwrap();
        if views["panels"][0]["view"]["tables"][1]["rows"][0]["cells"][4] != "0" {
            break views;
        }
        assert!(Instant::now() < deadline, "no cycle shown: {views}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let view = &views["panels"][0]["view"];
    assert_eq!(view["title"], "Modbus", "{views}");
    let device = &view["tables"][0]["rows"][0]["cells"];
    assert_eq!(device[0], "(default)", "{view}");
    assert!(device[1].as_str().unwrap().contains(&sim_port.to_string()), "{view}");
    assert!(device[5].as_str().unwrap().parse::<u64>().unwrap() >= 8, "answered: {view}");
    assert_eq!((&device[6], &device[7]), (&"0".into(), &"connected".into()), "{view}");
    let group = &view["tables"][1]["rows"][0]["cells"];
    assert_eq!((&group[0], &group[3]), (&"plant-1".into(), &"4".into()), "{view}");
    assert!(group[4].as_str().unwrap().parse::<u64>().unwrap() >= 2, "cycles: {view}");
    assert!(group[5].as_str().unwrap().parse::<u64>().unwrap() >= 8, "points sent: {view}");

    // streamevent goes away: the chunk polled meanwhile is kept (retried under its id) and
    // stored once streamevent is back (the Go poller dropped a chunk that failed). Nothing can be
    // stored while it is down, so a row written after the restart whose push time lies before
    // the restart was polled during the outage.
    let _ = se_stop.send(());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sq = |db: &Db| match db {
        Db::Sqlite(p) => p.clone(),
        _ => unreachable!("a SQLite database"),
    };
    let last_id: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM raw_point_data").fetch_one(&sq(&db)).await.unwrap();
    let restart = streamevent::msg::now_string(480);
    let se = tokio::net::TcpListener::bind(se_addr).await.expect("streamevent's port again");
    let (se_stop, se_rx) = tokio::sync::oneshot::channel::<()>();
    let svc = streamevent::server::Service::new(db.clone(), Duration::from_secs(60));
    tokio::spawn(zero_svc::grpc::serve(se, svc.into_server(), &[streamevent::pb::FILE_DESCRIPTOR_SET], async move {
        let _ = se_rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM raw_point_data WHERE id > ? AND ts < ?")
            .bind(last_id)
            .bind(&restart)
            .fetch_one(&sq(&db))
            .await
            .unwrap();
        if kept > 0 {
            // one chunk of the four points, stored once
            assert_eq!(kept, 4, "the chunk polled during the outage");
            break;
        }
        assert!(Instant::now() < deadline, "nothing polled during the outage (before {restart}) arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // the gRPC side answers meanwhile (health, and the default device)
    let mut c = BridgeModbusClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let hr = c
        .read_holding_registers(bridgemodbus_svc::pb::ReadHoldingRegistersReq {
            modbus_code: String::new(),
            address: 20,
            quantity: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hr.hex_values, ["0x4F4B"]);
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}")).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let h = health
        .check(tonic_health::pb::HealthCheckRequest { service: "bridgemodbus.BridgeModbus".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    let metrics = http_get(prom, "/metrics").expect("metrics endpoint");
    assert!(metrics.contains("bridgemodbus_poll_points_total"), "{metrics}");
    assert!(metrics.contains("bridgemodbus_device_calls_total"), "{metrics}");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let _ = se_stop.send(());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn print_config_and_broken_configurations() {
    let out = Command::new(env!("CARGO_BIN_EXE_bridgemodbus")).arg("print-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in
        ["ListenOn: 0.0.0.0:25004", "ModbusPool: 32", "Timeout: 10000", "IdleTimeout: 60000", "ConnectDelay: 100"]
    {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    let dir = std::env::temp_dir().join(format!("bm_cfg_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |yaml: &str| {
        let f = dir.join("c.yaml");
        std::fs::write(&f, yaml).unwrap();
        Command::new(env!("CARGO_BIN_EXE_bridgemodbus"))
            .args(["-c", f.to_str().unwrap(), "run"])
            .env("ZERO_LISTENON", "127.0.0.1:0")
            .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
            .env("ZERO_DB", format!("{{DataSource: 'sqlite://{}/x.db'}}", dir.display()))
            .output()
            .unwrap()
    };
    for (yaml, why) in [
        ("ModbusPol: 3\n", "unknown key"),
        ("Poll:\n  - Points: []\n", "no Points"),
        ("Poll:\n  - Points: [{Name: a, Ioa: 1, Table: holding_registers, Address: 0, Type: f16}]\n", "unknown Type"),
        ("Poll:\n  - Points: [{Name: a, Ioa: 1, Table: holding_registers, Address: 0}]\n", "StreamEventConf.Endpoints"),
        ("Poll:\n  - Points: [{Name: a, Ioa: 1, Table: holding_registers, Address: 65535, Type: u32}]\nStreamEventConf: {Endpoints: ['http://127.0.0.1:1']}\n", "does not fit"),
    ] {
        let out = run(yaml);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {err}");
        assert!(err.contains(why), "{yaml}: {err}");
    }
    std::fs::remove_dir_all(dir).ok();
}
