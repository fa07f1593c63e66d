//! The `bridgedump` binary: the upstream sample configuration, every RPC writing its file (read
//! back with the crate's reader: Go's JSON body, the caller's trace id in name and envelope),
//! one file per request without a trace id, a NaN refused with nothing written, and kill -9 in
//! the middle of a burst: every acknowledged request has its whole file, no file is partial, and
//! the next start removes the temporaries.

use bridgedump::envelope::Envelope;
use bridgedump_svc::pb;
use bridgedump_svc::pb::bridge_dump_rpc_client::BridgeDumpRpcClient;
use std::path::{Path, PathBuf};
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_bridgedump");

fn dump_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridgedump-svc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(port: u16, dump: &Path) -> ConfigFile {
    let yaml = include_str!("data/upstream-bridgedump.yaml")
        .replace("0.0.0.0:25003", &format!("127.0.0.1:{port}"))
        .replace("/opt/bridgedump", dump.to_str().unwrap())
        + "Prometheus: {ListenOn: ''}\nGracePeriod: 1s\n";
    ConfigFile::new("bridgedump.yaml", &yaml)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map_or_else(|_| Vec::new(), |d| d.map(|e| e.unwrap().path()).collect());
    v.sort();
    v
}

#[test]
fn the_upstream_sample_configures_bridgedump() {
    let file = ConfigFile::new("bridgedump.yaml", include_str!("data/upstream-bridgedump.yaml"));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["DumpPath"].as_str(), Some("/opt/bridgedump"));
    assert_eq!(cfg["ListenOn"].as_str(), Some("0.0.0.0:25003"));
    assert_ignored_with_warnings(&warnings, &["Name", "Mode", "Log.Encoding", "Log.Path"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_becomes_one_whole_file() {
    let (port, dump) = (free_port(), dump_dir("rpc"));
    let file = config(port, &dump);
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let mut api = BridgeDumpRpcClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
    assert_eq!(api.ping(pb::Req { ping: "hi".into() }).await.unwrap().into_inner().pong, "hi");

    // a fault with the caller's trace id: the name and the envelope carry it
    let fault = pb::FaultData {
        acci_id: "A1".into(),
        notice: "</Bridge:=Free> & <b>".into(),
        err_distance: 125.5,
        warn_processed: 1,
        ..Default::default()
    };
    let mut req = tonic::Request::new(pb::CableFaultReq { data: vec![fault] });
    req.metadata_mut()
        .insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    let res = api.cable_fault(req).await.unwrap().into_inner();
    assert_eq!((res.code, res.msg.as_str()), (200, "成功"));
    let written = files(&dump.join("cable_fault"));
    assert_eq!(written.len(), 1);
    let name = written[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with("_4bf92f3577b34da6a3ce929d0e0e4736_json.txt"), "{name}");
    let e = Envelope::parse(&std::fs::read(&written[0]).unwrap()).unwrap();
    assert_eq!(e.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(e.file_path, written[0].to_str().unwrap());
    assert_eq!(
        e.body,
        r#"{"data":[{"acci_id":"A1","err_distance":125.5,"notice":"\u003c/Bridge:=Free\u003e \u0026 \u003cb\u003e","warn_processed":1}]}"#
    );

    // no trace id, the same second: two files, not one appended
    for _ in 0..2 {
        let d = pb::DeviceRunData { dtu_id: "D1".into(), load_cur: 3.0, ..Default::default() };
        api.cable_work_list(pb::CableWorkListReq { data: vec![d] }).await.unwrap();
    }
    let lists = files(&dump.join("cable_work_list"));
    assert_eq!(lists.len(), 2);
    for f in &lists {
        let e = Envelope::parse(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!((e.trace_id.as_str(), e.body.as_str()), ("", r#"{"data":[{"dtu_id":"D1","load_cur":3}]}"#));
    }

    // a NaN: refused, nothing written
    let wave = pb::FaultWaveData { acci_id: "W".into(), ..Default::default() };
    api.cable_fault_wave(pb::CableFaultWaveReq { data: vec![wave] }).await.unwrap();
    let bad = pb::DeviceRunData { load_voltage: f64::NAN, ..Default::default() };
    let err = api.cable_work_list(pb::CableWorkListReq { data: vec![bad] }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert_eq!(files(&dump.join("cable_work_list")).len(), 2);
    assert_eq!(files(&dump.join("cable_fault_wave")).len(), 1);
    std::fs::remove_dir_all(&dump).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_leaves_whole_files_for_every_acknowledged_request() {
    let (port, dump) = (free_port(), dump_dir("kill"));
    let file = config(port, &dump);
    let mut svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    let api = BridgeDumpRpcClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
    // 8 writers, each sending requests until the server dies; each remembers what was acked
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (mut api, progress) = (api.clone(), progress.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let id = format!("w{w}-{i}");
                let d =
                    pb::FaultWaveData { acci_id: id.clone(), wave_data: "1,2,3,".repeat(200), ..Default::default() };
                match api.cable_fault_wave(pb::CableFaultWaveReq { data: vec![d] }).await {
                    Ok(_) => {
                        acked.push(id);
                        progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    // killed mid-burst: once the burst is well under way (a loaded machine is slow to start it)
    let started = std::time::Instant::now();
    while progress.load(std::sync::atomic::Ordering::Relaxed) < 100 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    svc.0.kill().unwrap();
    svc.0.wait().unwrap();
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.len() > 20, "the burst was running: {} acked", acked.len());
    let dir = dump.join("cable_fault_wave");
    let mut on_disk = std::collections::HashSet::new();
    for f in files(&dir) {
        let name = f.file_name().unwrap().to_str().unwrap().to_owned();
        if name.starts_with('.') {
            continue; // a temporary, invisible to filebeat's *_json.txt
        }
        let e = Envelope::parse(&std::fs::read(&f).unwrap()).unwrap_or_else(|err| panic!("{name}: partial: {err}"));
        let v: serde_json::Value = serde_json::from_str(&e.body).unwrap();
        on_disk.insert(v["data"][0]["acci_id"].as_str().unwrap().to_owned());
    }
    for id in &acked {
        assert!(on_disk.contains(id), "acknowledged {id} has no file");
    }
    // the next start removes the temporaries
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    assert!(files(&dir).iter().all(|f| !f.file_name().unwrap().to_str().unwrap().starts_with('.')));
    std::fs::remove_dir_all(&dump).unwrap();
}

fn bodies(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = files(dir)
        .iter()
        .filter(|f| !f.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .map(|f| {
            let e = Envelope::parse(&std::fs::read(f).unwrap()).unwrap();
            (e.trace_id, e.body)
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_written_files_again() {
    let (pa, pb_, da, db) = (free_port(), free_port(), dump_dir("replay-a"), dump_dir("replay-b"));
    let (fa, fb) = (config(pa, &da), config(pb_, &db));
    let _a = spawn(BIN, &fa.path, &[]);
    let _b = spawn(BIN, &fb.path, &[]);
    wait_listening(pa, Duration::from_secs(30));
    wait_listening(pb_, Duration::from_secs(30));
    let mut api = BridgeDumpRpcClient::connect(format!("http://127.0.0.1:{pa}")).await.unwrap();
    let mut traced = tonic::Request::new(pb::CableFaultReq {
        data: vec![pb::FaultData {
            acci_id: "F1".into(),
            notice: "<x> & y".into(),
            err_distance: 0.5,
            ..Default::default()
        }],
    });
    traced
        .metadata_mut()
        .insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
    api.cable_fault(traced).await.unwrap();
    let d = pb::DeviceRunData { dtu_id: "D9".into(), load_cur: 1e-7, gps: 1, ..Default::default() };
    api.cable_work_list(pb::CableWorkListReq { data: vec![d] }).await.unwrap();
    let w = pb::FaultWaveData { acci_id: "W1".into(), wave_data: "1,2".into(), samprate: 4000, ..Default::default() };
    api.cable_fault_wave(pb::CableFaultWaveReq { data: vec![w] }).await.unwrap();

    let out = std::process::Command::new(BIN)
        .args(["replay", "--to", &format!("127.0.0.1:{pb_}"), da.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("replayed 3 files, 0 failed"), "{stdout}");
    for sub in ["cable_fault", "cable_work_list", "cable_fault_wave"] {
        assert_eq!(bodies(&db.join(sub)), bodies(&da.join(sub)), "{sub}: the same requests, the same trace ids");
    }
    assert_eq!(bodies(&db.join("cable_fault"))[0].0, "0af7651916cd43dd8448eb211c80319c");

    // a damaged file is reported, the others still go, the exit status says so
    std::fs::write(da.join("cable_fault/20000101_000000_broken_json.txt"), b"<!System=OMG truncated").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["replay", "--to", &format!("127.0.0.1:{pb_}"), da.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed 3 files, 1 failed"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken_json.txt"));
    std::fs::remove_dir_all(&da).unwrap();
    std::fs::remove_dir_all(&db).unwrap();
}
