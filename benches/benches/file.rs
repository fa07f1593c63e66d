//! The file service's `PutStreamFile` (gRPC client stream in 1 MiB messages, the service in this
//! process, 8 MiB multipart parts) against a direct multipart upload of the same bytes with the
//! AWS SDK (8 MiB parts, one after another), both into the same `s3s-fs` server on loopback
//! (`scripts/test` installs it), in the same run; each object's size checked on the server.
//!
//! `cargo bench -p zero-benches --bench file`: 256 MiB, best of 3; under `cargo test` 16 MiB once.

use aws_sdk_s3::primitives::ByteStream;
use file_svc::pb;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PART: usize = 8 << 20;

async fn direct(c: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) {
    let up = c.create_multipart_upload().bucket(bucket).key(key).send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for (i, part) in data.chunks(PART).enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(part.to_vec()))
            .send()
            .await
            .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder().part_number(n).set_e_tag(r.e_tag().map(str::to_owned)).build(),
        );
    }
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    c.complete_multipart_upload().bucket(bucket).key(key).upload_id(&id).multipart_upload(done).send().await.unwrap();
}

async fn run(mib: usize, rounds: usize) {
    let dir = std::env::temp_dir().join(format!("file-bench-{}", std::process::id()));
    let (_s3, s3_port) = testkit::s3::s3s_fs(&dir.join("s3"), "ak", "sk");

    // the service, in this process
    let store = file_svc::store::Store::connect(&format!("sqlite://{}", dir.join("file.db").display())).await.unwrap();
    let rpc = file_svc::rpc::Rpc {
        store,
        clients: Default::default(),
        tenant_mode: false,
        temp_dir: dir.join("temp"),
        relay_concurrency: 4,
        image: file_svc::config::ImageConf {
            max_exif_read: 65536,
            thumb: file_svc::config::ThumbConf { enabled: false, width: 300, height: 300 },
        },
        thumb_workers: Arc::new(tokio::sync::Semaphore::new(2)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = listener.local_addr().unwrap().port();
    // served as the service serves it (the shared gRPC server's settings)
    tokio::spawn(zero_svc::grpc::Grpc::new(pb::file_rpc_server::FileRpcServer::new(rpc)).serve(
        listener,
        &[pb::FILE_DESCRIPTOR_SET],
        std::future::pending(),
    ));
    let mut c = pb::file_rpc_client::FileRpcClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    c.create_oss(pb::CreateOssReq {
        oss_code: "fs".into(),
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        access_key: "ak".into(),
        secret_key: "sk".into(),
        bucket_name: "bench".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.make_bucket(pb::MakeBucketReq { code: "fs".into(), ..Default::default() }).await.unwrap();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{s3_port}"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("ak", "sk", None, None, "bench"))
        .force_path_style(true)
        .build();
    let s3c = aws_sdk_s3::Client::from_conf(conf);

    let data: Vec<u8> = (0..mib << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let size = |c: &aws_sdk_s3::Client, key: String| {
        let c = c.clone();
        async move { c.head_object().bucket("bench").key(key).send().await.unwrap().content_length().unwrap() }
    };
    let (mut ours, mut theirs) = (Duration::MAX, Duration::MAX);
    for round in 0..rounds {
        let msgs: Vec<pb::PutStreamFileReq> = data
            .chunks(1 << 20)
            .enumerate()
            .map(|(i, chunk)| {
                let mut m = pb::PutStreamFileReq { content: chunk.to_vec(), ..Default::default() };
                if i == 0 {
                    m.code = "fs".into();
                    m.filename = format!("ours-{round}.bin");
                    m.size = data.len() as i64;
                }
                m
            })
            .collect();
        let t = Instant::now();
        let f = c.put_stream_file(tokio_stream::iter(msgs)).await.unwrap().into_inner().file.unwrap();
        ours = ours.min(t.elapsed());
        assert_eq!(size(&s3c, f.name).await, data.len() as i64, "stored whole");

        let key = format!("direct-{round}.bin");
        let t = Instant::now();
        direct(&s3c, "bench", &key, &data).await;
        theirs = theirs.min(t.elapsed());
        assert_eq!(size(&s3c, key).await, data.len() as i64, "stored whole");
    }
    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!(
        "file PutStreamFile of {mib} MiB into s3s-fs: {:.0} MiB/s; a direct multipart upload (AWS SDK, 8 MiB parts) of the same bytes: {:.0} MiB/s; {:.2}x (target >= 0.8x; best of {rounds})",
        rate(ours),
        rate(theirs),
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if full {
        rt.block_on(run(256, 3));
    } else {
        rt.block_on(run(16, 1));
    }
}
