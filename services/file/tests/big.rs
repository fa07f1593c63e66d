//! A 1 GiB `PutStreamFile` into the `s3s-fs` server (`scripts/test` installs it): the file
//! service's resident memory, sampled all along, grows by no more than a bound set by two parts
//! (the upload holds one part; tonic and the SDK their buffers), whatever the file's size; the
//! object's size and MD5 are the stream's.

use file_svc::pb;
use file_svc::pb::file_rpc_client::FileRpcClient;
use futures_util::StreamExt as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_file");
const SIZE: usize = 1 << 30;
const CHUNK: usize = 1 << 20;

/// Chunk `i` of the stream: a pattern that differs per chunk (no two parts alike).
fn chunk(i: usize) -> Vec<u8> {
    (0..CHUNK).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_gibibyte_streams_in_bounded_memory() {
    let dir = ConfigFile::new("unused", "");
    let (_s3, s3_port) = testkit::s3::s3s_fs(&dir.dir.join("s3"), "ak", "sk");
    let grpc = free_port();
    let text = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus:\n  ListenOn: \"\"\nDB:\n  DataSource: sqlite://{}\nUpload:\n  TempDir: {}\n",
        dir.dir.join("file.db").display(),
        dir.dir.join("temp").display()
    );
    let file = ConfigFile::new("file.yaml", &text);
    let svc = spawn(BIN, &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(20));
    let mut c = FileRpcClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    c.create_oss(pb::CreateOssReq {
        tenant_id: "000001".into(),
        oss_code: "fs".into(),
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        access_key: "ak".into(),
        secret_key: "sk".into(),
        bucket_name: "big".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.make_bucket(pb::MakeBucketReq { tenant_id: "000001".into(), code: "fs".into(), bucket_name: String::new() })
        .await
        .unwrap();

    // the service's memory, sampled every 20 ms while the stream runs
    let pid = svc.id().to_string();
    let before = testkit::proc::rss_kib(&pid);
    let (peak, done) = (Arc::new(AtomicU64::new(before)), Arc::new(AtomicBool::new(false)));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), pid.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(testkit::proc::rss_kib(&pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut md5 = md5::Context::new();
    for i in 0..SIZE / CHUNK {
        md5.consume(chunk(i));
    }
    let want = format!("{:x}", md5.finalize());
    let stream = futures_util::stream::iter(0..SIZE / CHUNK).map(|i| {
        let mut m = pb::PutStreamFileReq { content: chunk(i), ..Default::default() };
        if i == 0 {
            m.tenant_id = "000001".into();
            m.code = "fs".into();
            m.filename = "big.bin".into();
            m.size = SIZE as i64;
        }
        m
    });
    let res = c.put_stream_file(stream).await.unwrap().into_inner();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let f = res.file.unwrap();
    assert_eq!((res.size, f.size, f.md5.as_str()), (SIZE as i64, SIZE as i64, want.as_str()));
    let grew_mib = peak.load(Ordering::Relaxed).saturating_sub(before) / 1024;
    println!("1 GiB streamed: the service's RSS grew by {grew_mib} MiB (before {} MiB)", before / 1024);
    // two 8 MiB parts, and room for tonic's and the SDK's buffers: far from the file's size
    assert!(grew_mib <= 96, "the service's memory grew by {grew_mib} MiB for a 1 GiB stream");
    let st = c
        .stat_file(pb::StatFileReq {
            tenant_id: "000001".into(),
            code: "fs".into(),
            filename: f.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .oss_file
        .unwrap();
    assert_eq!(st.size, SIZE as i64);
    c.remove_file(pb::RemoveFileReq {
        tenant_id: "000001".into(),
        code: "fs".into(),
        filename: f.name,
        ..Default::default()
    })
    .await
    .unwrap();
}
