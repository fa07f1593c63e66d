//! Registration and discovery in etcd (Debian `etcd-server`) in go-zero's format, with real
//! processes: a Go-style registration written by hand (`<Key>/<leaseID>` -> `host:port` under a
//! lease) is found by the gateway; our bridgedump service binary registers itself when
//! `Etcd.Hosts` is set, is found and called through the gateway's default mappings (spec §9),
//! and its key goes when it stops.

mod common;

use common::{call, echo_server, gateway};
use std::time::Duration;

#[tokio::test]
async fn a_go_style_registration_is_discovered() {
    let etcd = testkit::etcd::Etcd::start();
    let (addr, _server) = echo_server(true).await;
    let yaml = format!(
        "Upstreams:\n- Grpc:\n    Endpoints: []\n    Etcd: {{Hosts: [\"{}\"], Key: gtwtest.rpc}}\n  Mappings:\n  - {{Method: POST, Path: /echo, RpcPath: gtwtest.Echo/Echo}}\n",
        etcd.addr
    );
    let (port, _stop) = gateway(&yaml).await;
    // nothing registered yet
    assert_eq!(call(port, "POST", "/echo", &[], b"{}").await.status, 503);
    // what go-zero's discov.Publisher writes: <Key>/<leaseID> under a 10 s lease
    let mut c = etcd_client::Client::connect([etcd.addr.as_str()], None).await.unwrap();
    let lease = c.lease_grant(10, None).await.unwrap().id();
    c.put(format!("gtwtest.rpc/{lease}"), addr.as_str(), Some(etcd_client::PutOptions::new().with_lease(lease)))
        .await
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let a = call(port, "POST", "/echo", &[], br#"{"id":"via-etcd"}"#).await;
        if a.status == 200 {
            assert_eq!(a.json()["id"], "via-etcd");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{} {}", a.status, a.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the instance leaves (its lease revoked): calls fail fast instead of hanging
    c.lease_revoke(lease).await.unwrap();
    let start = std::time::Instant::now();
    while call(port, "POST", "/echo", &[], b"{}").await.status == 200 {
        assert!(start.elapsed() < Duration::from_secs(5), "the gone instance is still called");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bridgedump_registers_itself_and_is_called_through_the_default_mappings() {
    let etcd = testkit::etcd::Etcd::start();
    let grpc_port = testkit::port::free_port();
    let file = testkit::service::ConfigFile::new(
        "bridgedump.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{grpc_port}\nPrometheus: {{ListenOn: \"\"}}\nEtcd: {{Hosts: [\"{}\"], Key: bridgedump.rpc}}\nDumpPath: dump\n",
            etcd.addr
        ),
    );
    let dump_dir = file.dir.join("dump");
    let child = std::process::Command::new(testkit::service::workspace_bin("bridgedump"))
        .args(["-c", file.path.to_str().unwrap()])
        .current_dir(&file.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = testkit::process::ChildGuard(child);
    // its key, in go-zero's format, holding its address
    let mut c = etcd_client::Client::connect([etcd.addr.as_str()], None).await.unwrap();
    let start = std::time::Instant::now();
    let (key, value) = loop {
        let got = c.get("bridgedump.rpc/", Some(etcd_client::GetOptions::new().with_prefix())).await.unwrap();
        if let Some(kv) = got.kvs().first() {
            break (kv.key_str().unwrap().to_owned(), kv.value_str().unwrap().to_owned());
        }
        assert!(start.elapsed() < Duration::from_secs(10), "bridgedump did not register");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(value, format!("127.0.0.1:{grpc_port}"));
    let lease: i64 = key.strip_prefix("bridgedump.rpc/").unwrap().parse().expect("<Key>/<leaseID>");
    assert_eq!(c.lease_time_to_live(lease, None).await.unwrap().granted_ttl(), 10);

    // the gateway's embedded defaults (the upstream mappings), the endpoint found in etcd, the
    // descriptors by reflection
    let yaml = format!(
        "Upstreams:\n- Grpc:\n    Endpoints: []\n    Etcd: {{Hosts: [\"{}\"], Key: bridgedump.rpc}}\n  Mappings:\n  - {{Method: POST, Path: /api/external/cable/workList, RpcPath: bridgedump.BridgeDumpRpc/CableWorkList}}\n",
        etcd.addr
    );
    let (port, _stop) = gateway(&yaml).await;
    let body = serde_json::json!({"data": [{"dtuId": "D1", "loadCur": 12.5, "sltype": 2, "operateTime": "2026-12-06 08:00:00"}]});
    let start = std::time::Instant::now();
    let reply = loop {
        let a = call(port, "POST", "/api/external/cable/workList", &[], body.to_string().as_bytes()).await;
        if a.status == 200 {
            break a.json();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{} {}", a.status, a.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(reply.get("code").is_some() && reply.get("msg").is_some(), "defaults emitted: {reply}");
    // <DumpPath>/<kind>/<time>_<trace>_json.txt
    let files: Vec<_> = std::fs::read_dir(dump_dir.join("cable_work_list")).unwrap().filter_map(Result::ok).collect();
    assert_eq!(files.len(), 1, "one dump file per request");
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains(r#"\"dtu_id\":\"D1\""#) && text.contains("12.5"), "{text}");

    // SIGTERM: the lease is revoked and the key goes at once
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let start = std::time::Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(15), "bridgedump did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = c.get("bridgedump.rpc/", Some(etcd_client::GetOptions::new().with_prefix())).await.unwrap();
    assert!(got.kvs().is_empty(), "the key stays after a clean stop");
}
