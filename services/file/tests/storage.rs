//! The storage RPCs against two independent S3-compatible servers, the same suite on each (PyPI
//! `moto` in server mode and the `s3s-fs` crate's server, on free loopback ports; `scripts/test`
//! installs both): buckets made and removed (tenant-prefixed), a
//! local file stored (`PutFile`, only from `Upload.TempDir`), a 20 MiB stream stored in 8 MiB
//! parts (`PutStreamFile`) with its MD5 and size, `StatFile`, presigned URLs fetched with a plain
//! HTTP client, a relay from a URL to three targets (one failing, the others stored), removal;
//! bad requests: unknown template, missing bucket, a wrong size, a path outside the temp
//! directory, a relay source over 200 MB (nothing stored, no temporary file left).

use file_svc::pb;
use file_svc::pb::file_rpc_client::FileRpcClient;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, ConfigFile};
use zero_svc::errcode::ErrCode;

const BIN: &str = env!("CARGO_BIN_EXE_file");

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> ErrCode {
    let s = r.expect_err("the call fails");
    ErrCode::of_status(&s).unwrap_or_else(|| panic!("no upstream code in {s:?}"))
}

/// A presigned URL of `name` under template `code` of tenant 000001 (5 minutes).
async fn signed(c: &mut FileRpcClient<tonic::transport::Channel>, code: &str, name: &str) -> String {
    let req = pb::SignUrlReq {
        tenant_id: "000001".into(),
        code: code.into(),
        filename: name.into(),
        expires: 5,
        ..Default::default()
    };
    c.sign_url(req).await.unwrap().into_inner().url
}

/// An 800x400 JPEG carrying EXIF: GPS 31.5 N 121.25 E at 12.5 m, taken 2026-05-01 08:30:00, a
/// camera model and body serial number.
fn photo() -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(800, 400, |x, _| {
        image::Rgb([(x % 256) as u8, 80, 160])
    }));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    let r = |n, d| Rational { num: n, denom: d };
    let fields = [
        Field { tag: Tag::GPSLatitudeRef, ifd_num: In::PRIMARY, value: Value::Ascii(vec![b"N".to_vec()]) },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![r(31, 1), r(30, 1), r(0, 1)]),
        },
        Field { tag: Tag::GPSLongitudeRef, ifd_num: In::PRIMARY, value: Value::Ascii(vec![b"E".to_vec()]) },
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![r(121, 1), r(15, 1), r(0, 1)]),
        },
        Field { tag: Tag::GPSAltitude, ifd_num: In::PRIMARY, value: Value::Rational(vec![r(25, 2)]) },
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"2026:05:01 08:30:00".to_vec()]),
        },
        Field { tag: Tag::Model, ifd_num: In::PRIMARY, value: Value::Ascii(vec![b"ZeroCam 1".to_vec()]) },
        Field { tag: Tag::BodySerialNumber, ifd_num: In::PRIMARY, value: Value::Ascii(vec![b"SN-42".to_vec()]) },
    ];
    let mut w = exif::experimental::Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    w.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    // SOI, then an APP1 "Exif" segment, then the rest of the JPEG
    let len = u16::try_from(2 + 6 + tiff.len()).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// (port, path) of an `http://127.0.0.1:port/path` URL.
fn split(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://127.0.0.1:").expect("a loopback URL");
    let (port, path) = rest.split_once('/').unwrap();
    (port.parse().unwrap(), format!("/{path}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_storage_rpc_on_moto() {
    let (_s3, port) = testkit::s3::moto();
    suite(port).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_storage_rpc_on_s3s_fs() {
    let dir = ConfigFile::new("unused", "");
    let (_s3, port) = testkit::s3::s3s_fs(&dir.dir.join("s3"), "testing", "testing");
    suite(port).await;
}

/// Every storage RPC against the S3 server on `s3_port` (credentials testing/testing).
async fn suite(s3_port: u16) {
    let (grpc, prom) = (free_port(), free_port());
    let dir = ConfigFile::new("unused", "");
    let temp = dir.dir.join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    let text = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus:\n  ListenOn: 127.0.0.1:{prom}\nDB:\n  DataSource: sqlite://{}\nUpload:\n  TempDir: {}\n",
        dir.dir.join("file.db").display(),
        temp.display()
    );
    let file = ConfigFile::new("file.yaml", &text);
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(20));
    let mut c = FileRpcClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    c.create_oss(pb::CreateOssReq {
        tenant_id: "000001".into(),
        oss_code: "moto".into(),
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        access_key: "testing".into(),
        secret_key: "testing".into(),
        bucket_name: "files".into(),
        region: "us-east-1".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let target = |bucket: &str| ("000001".to_owned(), "moto".to_owned(), bucket.to_owned());

    // buckets: tenant-prefixed; made twice is 102103
    let (t, code_, b) = target("");
    c.make_bucket(pb::MakeBucketReq { tenant_id: t.clone(), code: code_.clone(), bucket_name: b.clone() })
        .await
        .unwrap();
    assert_eq!(
        code(c.make_bucket(pb::MakeBucketReq { tenant_id: t.clone(), code: code_.clone(), bucket_name: b }).await),
        ErrCode::AlreadyExists
    );

    // a local file from the temp directory
    let local = temp.join("report.txt");
    std::fs::write(&local, b"hello, storage\n").unwrap();
    let put = c
        .put_file(pb::PutFileReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            filename: "report.txt".into(),
            path: local.display().to_string(),
            path_prefix: "docs".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    assert!(put.name.starts_with("docs/") && put.name.ends_with(".txt"), "{put:?}");
    assert_eq!((put.size, put.md5.as_str()), (15, format!("{:x}", md5::compute(b"hello, storage\n")).as_str()));
    assert_eq!(put.link, format!("http://127.0.0.1:{s3_port}/000001-files/{}", put.name));
    // outside the temp directory: refused
    let outside = c
        .put_file(pb::PutFileReq {
            code: code_.clone(),
            tenant_id: t.clone(),
            path: "/etc/hostname".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(outside), ErrCode::InvalidParam);

    // a 20 MiB stream in 8 MiB parts
    let data: Vec<u8> = (0..20u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut msgs = Vec::new();
    for (i, chunk) in data.chunks(1 << 20).enumerate() {
        let mut m = pb::PutStreamFileReq { content: chunk.to_vec(), ..Default::default() };
        if i == 0 {
            m = pb::PutStreamFileReq {
                tenant_id: t.clone(),
                code: code_.clone(),
                filename: "big.bin".into(),
                size: data.len() as i64,
                content: chunk.to_vec(),
                ..Default::default()
            };
        }
        msgs.push(m);
    }
    let res = c.put_stream_file(tokio_stream::iter(msgs)).await.unwrap().into_inner();
    let big = res.file.clone().unwrap();
    assert!(res.is_end && res.size == data.len() as i64, "{res:?}");
    assert_eq!(big.md5, format!("{:x}", md5::compute(&data)));
    assert!(big.name.starts_with("upload/") && big.name.ends_with(".bin"), "{big:?}");

    // cut at 60 %: refused as incomplete, the stored part kept; sent again: the stored part is
    // not sent a second time, and the object is whole
    let stream_of = |upto: usize| {
        let mut msgs = Vec::new();
        for (i, chunk) in data[..upto].chunks(1 << 20).enumerate() {
            let mut m = pb::PutStreamFileReq { content: chunk.to_vec(), ..Default::default() };
            if i == 0 {
                m.tenant_id = t.clone();
                m.code = code_.clone();
                m.filename = "resumed.bin".into();
                m.size = data.len() as i64;
            }
            msgs.push(m);
        }
        tokio_stream::iter(msgs)
    };
    let cut = c.put_stream_file(stream_of(data.len() * 6 / 10)).await;
    let e = cut.expect_err("incomplete");
    assert!(e.message().contains("resume") && e.message().contains("1 parts stored"), "{e:?}");
    let resumed = c.put_stream_file(stream_of(data.len())).await.unwrap().into_inner().file.unwrap();
    assert_eq!(resumed.md5, big.md5, "the resumed object is whole");
    let (_, metrics) = testkit::http::request(prom, "GET", "/metrics", b"").await;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(metrics.lines().any(|l| l == "file_stream_parts_skipped_total 1"), "{metrics}");
    let (port, path) = split(&signed(&mut c, &code_, &resumed.name).await);
    assert!(testkit::http::request(port, "GET", &path, b"").await.1 == data, "the resumed bytes");
    c.remove_file(pb::RemoveFileReq {
        tenant_id: t.clone(),
        code: code_.clone(),
        filename: resumed.name,
        ..Default::default()
    })
    .await
    .unwrap();

    // stat, with a presigned URL a plain HTTP client fetches
    let st = c
        .stat_file(pb::StatFileReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            filename: big.name.clone(),
            is_sign: true,
            expires: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .oss_file
        .unwrap();
    assert_eq!((st.size, st.format_size.as_str()), (20 << 20, "20.00 MB"), "{st:?}");
    let (port, path) = split(&st.sign_url);
    let (status, body) = testkit::http::request(port, "GET", &path, b"").await;
    assert_eq!((status, body.len()), (200, data.len()), "the presigned URL");
    assert!(body == data, "the stored bytes");
    let url = signed(&mut c, &code_, &put.name).await;
    let (port, path) = split(&url);
    assert_eq!(testkit::http::request(port, "GET", &path, b"").await.1, b"hello, storage\n");

    // a stream whose size is not the announced one: refused, nothing stored
    let short = vec![pb::PutStreamFileReq {
        tenant_id: t.clone(),
        code: code_.clone(),
        filename: "short.bin".into(),
        size: 100,
        content: vec![1; 10],
        ..Default::default()
    }];
    assert_eq!(code(c.put_stream_file(tokio_stream::iter(short)).await), ErrCode::InvalidParam);

    // unknown template, missing bucket, missing object
    let unknown = c
        .stat_file(pb::StatFileReq {
            tenant_id: t.clone(),
            code: "nope".into(),
            filename: "x".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(unknown), ErrCode::NotFound);
    let missing = c
        .put_file(pb::PutFileReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            bucket_name: "absent".into(),
            path: local.display().to_string(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(missing), ErrCode::NotFound);
    let gone = c
        .stat_file(pb::StatFileReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            filename: "docs/none.txt".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(gone), ErrCode::NotFound);

    // relay: the stored file fetched back through its presigned URL, to three targets, the
    // middle one an unknown template; the others succeed, the failure is named in x-relay-errors
    c.create_oss(pb::CreateOssReq {
        tenant_id: "000001".into(),
        oss_code: "moto2".into(),
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        access_key: "testing".into(),
        secret_key: "testing".into(),
        bucket_name: "copies".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.make_bucket(pb::MakeBucketReq { tenant_id: t.clone(), code: "moto2".into(), bucket_name: String::new() })
        .await
        .unwrap();
    let target = |code: &str, name: &str| pb::RelayTarget {
        tenant_id: t.clone(),
        code: code.into(),
        filename: name.into(),
        path_prefix: "relay".into(),
        ..Default::default()
    };
    let relayed = c
        .relay_file(pb::RelayFileReq {
            source_url: url.clone(),
            targets: vec![target("moto", "a.txt"), target("nope", "b.txt"), target("moto2", "c.txt")],
            ..Default::default()
        })
        .await
        .unwrap();
    let errors: serde_json::Value =
        serde_json::from_str(relayed.metadata().get("x-relay-errors").unwrap().to_str().unwrap()).unwrap();
    assert_eq!((errors[0]["index"].as_u64(), errors[0]["code"].as_u64()), (Some(1), Some(102_102)), "{errors}");
    let files = relayed.into_inner().files;
    assert_eq!(files.len(), 3);
    assert!(files[1].link.is_empty());
    for f in [&files[0], &files[2]] {
        assert_eq!((f.size, f.md5.as_str()), (15, put.md5.as_str()), "{f:?}");
        let template = if f.link.contains("-copies/") { "moto2" } else { "moto" };
        let (port, path) = split(&signed(&mut c, template, &f.name).await);
        assert_eq!(testkit::http::request(port, "GET", &path, b"").await.1, b"hello, storage\n", "{f:?}");
    }
    assert!(files[2].link.contains("/000001-copies/relay/"), "{:?}", files[2]);
    // a source over 200 MB is refused before anything is stored; no temporary file is left
    let huge = temp.join("huge.bin");
    std::fs::File::create(&huge).unwrap().set_len(201 << 20).unwrap();
    let r = c
        .relay_file(pb::RelayFileReq {
            source_path: huge.display().to_string(),
            targets: vec![target("moto", "h.bin")],
            ..Default::default()
        })
        .await;
    assert_eq!(code(r), ErrCode::InvalidParam);
    std::fs::remove_file(&huge).unwrap();
    let left: Vec<String> =
        std::fs::read_dir(&temp).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!left.iter().any(|f| f.starts_with("relay-")), "the relay's temporary files are gone: {left:?}");
    for f in [&files[0], &files[2]] {
        let code_of = if f.link.contains("copies") { "moto2" } else { "moto" };
        c.remove_file(pb::RemoveFileReq {
            tenant_id: t.clone(),
            code: code_of.into(),
            filename: f.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    c.remove_bucket(pb::RemoveBucketReq { tenant_id: t.clone(), code: "moto2".into(), bucket_name: String::new() })
        .await
        .unwrap();

    // a frame of a video stream (an MPEG-TS made by ffmpeg, served by the S3 server), stored as
    // a JPEG; a local path as the stream is refused
    let clip = temp.join("clip.ts");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2", "-c:v", "libx264"])
        .args(["-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts"])
        .arg(&clip)
        .status()
        .expect("ffmpeg (scripts/test installs it)");
    assert!(made.success());
    let ts = c
        .put_file(pb::PutFileReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            path: clip.display().to_string(),
            filename: "clip.ts".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    std::fs::remove_file(&clip).unwrap();
    let stream_url = signed(&mut c, &code_, &ts.name).await;
    let frame = c
        .capture_video_stream(pb::CaptureVideoStreamReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            stream_url,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    assert!(frame.name.starts_with("capture/") && frame.name.ends_with(".jpg"), "{frame:?}");
    let frame_url = signed(&mut c, &code_, &frame.name).await;
    let (port, path) = split(&frame_url);
    let (status, jpeg) = testkit::http::request(port, "GET", &path, b"").await;
    assert!(
        status == 200 && jpeg.starts_with(&[0xFF, 0xD8, 0xFF]),
        "a JPEG: {status} {:?}",
        &jpeg[..jpeg.len().min(4)]
    );
    let local = c
        .capture_video_stream(pb::CaptureVideoStreamReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            stream_url: "file:///etc/hostname".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(local), ErrCode::InvalidParam);
    c.remove_files(pb::RemoveFilesReq {
        tenant_id: t.clone(),
        code: code_.clone(),
        filename: vec![ts.name, frame.name],
        ..Default::default()
    })
    .await
    .unwrap();

    // an image: its EXIF from the first bytes, and a thumbnail within 300x300 made afterwards
    let shot = temp.join("photo.jpg");
    std::fs::write(&shot, photo()).unwrap();
    let img = c
        .put_file(pb::PutFileReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            path: shot.display().to_string(),
            filename: "photo.jpg".into(),
            is_thumb: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    let meta = img.meta.clone().expect("image metadata");
    assert!((meta.latitude - 31.5).abs() < 1e-9 && (meta.longitude - 121.25).abs() < 1e-9, "{meta:?}");
    assert!((meta.altitude - 12.5).abs() < 1e-9 && meta.time == "2026-05-01 08:30:00", "{meta:?}");
    assert_eq!((meta.camera_model.as_str(), meta.body_serial_number.as_str()), ("ZeroCam 1", "SN-42"));
    assert_eq!((meta.img_width, meta.img_height), (800, 400), "{meta:?}");
    assert!(img.thumb_name.ends_with("_thumb.jpg") && img.thumb_link.ends_with(&img.thumb_name), "{img:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let thumb = loop {
        let (port, path) = split(&signed(&mut c, &code_, &img.thumb_name).await);
        let (status, body) = testkit::http::request(port, "GET", &path, b"").await;
        if status == 200 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "no thumbnail: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let small = image::load_from_memory(&thumb).unwrap();
    assert_eq!((small.width(), small.height()), (300, 150));
    c.remove_files(pb::RemoveFilesReq {
        tenant_id: t.clone(),
        code: code_.clone(),
        filename: vec![img.name, img.thumb_name],
        ..Default::default()
    })
    .await
    .unwrap();

    // removal: the files, then the bucket
    c.remove_file(pb::RemoveFileReq {
        tenant_id: t.clone(),
        code: code_.clone(),
        filename: put.name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.remove_files(pb::RemoveFilesReq {
        tenant_id: t.clone(),
        code: code_.clone(),
        filename: vec![big.name.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let gone = c
        .stat_file(pb::StatFileReq {
            tenant_id: t.clone(),
            code: code_.clone(),
            filename: big.name.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(gone), ErrCode::NotFound);
    c.remove_bucket(pb::RemoveBucketReq { tenant_id: t.clone(), code: code_.clone(), bucket_name: String::new() })
        .await
        .unwrap();
    // gone: it can be made again
    c.make_bucket(pb::MakeBucketReq { tenant_id: t.clone(), code: code_.clone(), bucket_name: String::new() })
        .await
        .unwrap();
    c.remove_bucket(pb::RemoveBucketReq { tenant_id: t, code: code_, bucket_name: String::new() }).await.unwrap();
}
