//! A 100 MiB float64 array through the bridge binary and a Python worker (the SDK from the
//! tree, `tests/worker.py arrays`), given directly (`compute.v1.Bridge.Run`): back bit-exact,
//! once with zstd off (`ZstdThreshold: 0`) and once on (the worker saw it compressed).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::port::free_port;
use testkit::process::ChildGuard;
use testkit::service::{spawn, wait_listening, ConfigFile};

/// `{"a": bin(floats, little-endian)}` as MsgPack.
fn body(floats: &[f64]) -> Vec<u8> {
    let mut b = Vec::with_capacity(floats.len() * 8 + 16);
    rmp::encode::write_map_len(&mut b, 1).unwrap();
    rmp::encode::write_str(&mut b, "a").unwrap();
    rmp::encode::write_bin_len(&mut b, (floats.len() * 8) as u32).unwrap();
    for f in floats {
        b.extend_from_slice(&f.to_le_bytes());
    }
    b
}

async fn round_trip(threshold: usize, floats: &[f64]) -> bool {
    let (grpc, http) = (free_port(), free_port());
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nHttp: {{ListenOn: '127.0.0.1:{http}', Path: /worker}}\n\
         MaxFrame: 314572800\nZstdThreshold: {threshold}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("computebridge.yaml", &yaml);
    let _bridge = spawn(env!("CARGO_BIN_EXE_computebridge"), &file.path, &[]);
    wait_listening(http, Duration::from_secs(20));
    wait_listening(grpc, Duration::from_secs(20));
    let mut child = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/worker.py"))
        .args([&format!("ws://127.0.0.1:{http}/worker"), "arrays", "1", "arrays"])
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/../../bindings/compute-worker"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the worker");
    let out = child.stdout.take().unwrap();
    let _worker = ChildGuard(child);
    let (tx, zstd) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("zstd big ") {
                let _ = tx.send(rest == "True");
            }
        }
    });
    let sent = body(floats);
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}")).unwrap().connect().await.unwrap();
    let mut c = computebridge_svc::pb::bridge_client::BridgeClient::new(channel)
        .max_decoding_message_size(300 << 20)
        .max_encoding_message_size(300 << 20);
    let req = computebridge_svc::pb::Task { id: "big".into(), kind: String::new(), body: sent.clone().into() };
    let r = tokio::time::timeout(Duration::from_secs(120), c.run(req))
        .await
        .expect("a result in time")
        .unwrap()
        .into_inner();
    assert_eq!(r.id, "big");
    // the worker answers {"a": bin} as msgpack-python packs it: the same bytes as sent
    let v = rmpv::decode::read_value_ref(&mut &r.body[..]).unwrap();
    let rmpv::ValueRef::Map(m) = v else { panic!("a map") };
    let rmpv::ValueRef::Binary(a) = m[0].1 else { panic!("bin") };
    assert_eq!(a.len(), floats.len() * 8);
    assert!(a == &sent[sent.len() - a.len()..], "bit-exact");
    zstd.recv_timeout(Duration::from_secs(5)).expect("the worker told")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_float64_array_round_trips_bit_exact_with_and_without_zstd() {
    // 100 MiB of doubles: a smooth signal (it compresses) with NaN, -0.0, infinities and
    // subnormals in it
    let n = (100 << 20) / 8;
    let mut floats: Vec<f64> = (0..n).map(|i| (i / 64) as f64 * 0.25).collect();
    floats[1] = f64::NAN;
    floats[2] = -0.0;
    floats[3] = f64::INFINITY;
    floats[4] = f64::MIN_POSITIVE / 2.0;
    assert!(!round_trip(0, &floats).await, "ZstdThreshold 0: sent plain");
    assert!(round_trip(1 << 20, &floats).await, "above the threshold: sent compressed");
}
