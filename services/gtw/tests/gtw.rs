//! The `gtw` binary as a user runs it: the upstream sample configuration loads; users (argon2,
//! tokens, the current user read and edited, a password changed); local uploads kept under
//! `NfsRootPath` and served back, paths that leave it refused (`..`, absolute, a link out), an
//! upload beyond `MaxBytes` refused with nothing left; the file routes through a real file
//! service (its own binary, storing into `s3s-fs`) that demands the caller's token
//! (`GrpcAuth`): a stream upload, `statFile`, `signUrl` fetched, an upload cut by `MaxBytes`
//! stores nothing; the routes needing outside accounts answer 501 "not configured"; a request's
//! span reaches an OTLP receiver (`Telemetry`).

use std::path::Path;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, workspace_bin, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_gtw");
const SECRET: &str = "gtw-test-secret";

#[test]
fn the_upstream_sample_configures_gtw() {
    let file = ConfigFile::new("gtw.yaml", include_str!("data/upstream-gtw.yaml"));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["Port"].as_u64(), Some(11001));
    assert_eq!(cfg["Timeout"].as_u64(), Some(5000));
    assert_eq!(cfg["MaxBytes"].as_u64(), Some(1_073_741_824_111));
    assert_eq!(cfg["FileRpcConf"]["Endpoints"][0].as_str(), Some("127.0.0.1:21003"));
    assert_eq!(cfg["ZeroRpcConf"]["Endpoints"][0].as_str(), Some("127.0.0.1:21001"));
    assert_eq!(cfg["JwtAuth"]["AccessSecret"].as_str(), Some("sample-accesssecret"));
    assert_eq!(cfg["NfsRootPath"].as_str(), Some("/opt/nfs"));
    assert_eq!(cfg["SwaggerPath"].as_str(), Some("./swagger"));
    assert_ignored_with_warnings(&warnings, &["Name", "Mode", "Log.Encoding", "Log.Path"]);
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn json(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into())),
    )
}

/// A 640x480 PNG.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

struct Gtw {
    _svc: testkit::process::ChildGuard,
    base: String,
    nfs: std::path::PathBuf,
    _conf: ConfigFile,
    _dir: ConfigFile,
}

fn start_gtw(extra: &str) -> Gtw {
    let (port, prom) = (free_port(), free_port());
    let dir = ConfigFile::new("unused", "");
    let nfs = dir.dir.join("nfs");
    let text = format!(
        "Host: 127.0.0.1\nPort: {port}\nPrometheus: {{ListenOn: \"127.0.0.1:{prom}\"}}\nDB: {{DataSource: \"sqlite://{}\"}}\n\
         NfsRootPath: {}\nDownloadUrl: \"http://127.0.0.1:{port}/gtw/v1/mfs/downloadFile?path=\"\nSwaggerPath: \"\"\n\
         JwtAuth: {{AccessSecret: {SECRET}, AccessExpire: 600}}\nBootstrap: {{Username: alice, Password: \"s3cret pw\", Role: operator}}\n{extra}",
        dir.dir.join("gtw.db").display(),
        nfs.display(),
    );
    let file = ConfigFile::new("gtw.yaml", &text);
    let svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(30));
    Gtw { _svc: svc, base: format!("http://127.0.0.1:{port}"), nfs, _conf: file, _dir: dir }
}

async fn login(g: &Gtw, user: &str, pw: &str) -> (u16, serde_json::Value) {
    json(
        http()
            .post(format!("{}/app/user/v1/login", g.base))
            .json(&serde_json::json!({"username": user, "password": pw}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn users_uploads_downloads_and_unconfigured_routes() {
    let (otlp, spans) = testkit::otlp::receiver().await;
    let g = start_gtw(&format!(
        "MaxBytes: 1048576\nFileRpcConf: {{Endpoints: []}}\nTelemetry: {{Name: gtw-test, Endpoint: \"127.0.0.1:{otlp}\", Batcher: otlphttp}}\n"
    ));
    let c = http();
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = c.get(format!("{}/gtw/v1/ping", g.base)).header("traceparent", caller).send().await.unwrap();
    let ours = r.headers()["traceparent"].to_str().unwrap().to_owned();
    let (s, pong) = json(r).await;
    assert_eq!((s, pong), (200, serde_json::json!({"msg": "pong"})));
    // the request's span reaches the OTLP receiver (go-zero's Telemetry key), under the caller's
    let span_id = ours.split('-').nth(2).unwrap();
    let span = testkit::otlp::wait_span(&spans, span_id, Duration::from_secs(20)).await.expect("the span exported");
    assert_eq!(span[0], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!((span[2].as_str(), span[3].as_str()), ("b7ad6b7169203331", "GET /gtw/v1/ping"));
    assert!(span[4].contains("gtw-test"), "{span:?}");

    // users: one answer for an unknown user and a wrong password
    let (s, wrong) = login(&g, "alice", "nope").await;
    assert_eq!((s, wrong["code"].as_i64()), (401, Some(16)), "{wrong}");
    let (s, unknown) = login(&g, "mallory", "nope").await;
    assert_eq!((s, &unknown["message"]), (401, &wrong["message"]));
    let (s, ok) = login(&g, "alice", "s3cret pw").await;
    assert_eq!(s, 200, "{ok}");
    let token = ok["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(ok["user"]["username"], "alice");
    let claims = zero_edge::auth::JwtAuth::new(SECRET, "", 0).verify(&token, chrono_now()).unwrap();
    assert_eq!((claims["user-name"].as_str(), claims["role"].as_str()), (Some("alice"), Some("operator")));
    assert_eq!(claims["user-id"], ok["user"]["id"]);

    // the current user needs a good token
    let me = format!("{}/app/user/v1/getCurrentUser", g.base);
    assert_eq!(c.get(&me).send().await.unwrap().status().as_u16(), 401);
    let forged = zero_edge::auth::JwtAuth::new("guess", "", 600).issue("x", [], chrono_now()).unwrap().access_token;
    assert_eq!(c.get(&me).bearer_auth(&forged).send().await.unwrap().status().as_u16(), 401);
    let (s, u) = json(c.get(&me).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((s, u["username"].as_str(), u["role"].as_str()), (200, Some("alice"), Some("operator")));
    assert!(u.get("passwordHash").is_none() && !u.to_string().contains("argon2"), "{u}");
    let edit = format!("{}/app/user/v1/editCurrentUser", g.base);
    let (s, e) = json(
        c.post(&edit)
            .bearer_auth(&token)
            .json(&serde_json::json!({"nickname": "Alice", "email": "a@example.invalid"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, e["nickname"].as_str()), (200, Some("Alice")), "{e}");
    let (_, u) = json(c.get(&me).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((u["nickname"].as_str(), u["email"].as_str()), (Some("Alice"), Some("a@example.invalid")), "stored");
    let (s, bad) = json(
        c.post(&edit)
            .bearer_auth(&token)
            .json(&serde_json::json!({"password": "new pw", "oldPassword": "guess"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401, "{bad}");
    let (s, bad) =
        json(c.post(&edit).bearer_auth(&token).json(&serde_json::json!({"nickname": 7})).send().await.unwrap()).await;
    assert!(s == 400 && bad["message"].as_str().unwrap().contains("nickname"), "{bad}");
    let (s, _) = json(
        c.post(&edit)
            .bearer_auth(&token)
            .json(&serde_json::json!({"password": "new pw", "oldPassword": "s3cret pw"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(login(&g, "alice", "s3cret pw").await.0, 401, "the old password is gone");
    assert_eq!(login(&g, "alice", "new pw").await.0, 200);

    // a local upload, kept under business/<day>/, with a thumbnail, served back
    let image = png();
    let form = reqwest::multipart::Form::new().text("status", "2").text("isThumb", "true").part(
        "file",
        reqwest::multipart::Part::bytes(image.clone()).file_name("site photo.png").mime_str("image/png").unwrap(),
    );
    let (s, up) =
        json(c.post(format!("{}/app/common/v1/mfs/uploadFile", g.base)).multipart(form).send().await.unwrap()).await;
    assert_eq!(s, 200, "{up}");
    let path = up["path"].as_str().unwrap();
    assert!(path.starts_with("business/") && path.ends_with(".png"), "{up}");
    assert_eq!(
        (up["name"].as_str(), up["size"].as_u64(), up["contextType"].as_str()),
        (Some("site photo.png"), Some(image.len() as u64), Some("image/png"))
    );
    assert_eq!((up["meta"]["width"].as_u64(), up["meta"]["height"].as_u64()), (Some(640), Some(480)));
    assert_eq!(std::fs::read(g.nfs.join(path)).unwrap(), image, "on disk under NfsRootPath");
    let got = c.get(up["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert!(got.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(got.bytes().await.unwrap().to_vec(), image, "downloaded as uploaded");
    let thumb = c.get(up["thumbUrl"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    let t = image::load_from_memory(&thumb).unwrap();
    assert!(t.width() <= 300 && t.height() <= 300 && t.width() == 300, "{}x{}", t.width(), t.height());

    // paths that leave the root
    std::fs::write(g.nfs.parent().unwrap().join("secret.txt"), "outside").unwrap();
    std::os::unix::fs::symlink(g.nfs.parent().unwrap().join("secret.txt"), g.nfs.join("link.txt")).unwrap();
    let dl = |p: &str| c.get(format!("{}/gtw/v1/mfs/downloadFile", g.base)).query(&[("path", p)]).send();
    for p in ["../secret.txt", "/etc/hostname", "business/../../secret.txt", "link.txt", ""] {
        let (s, e) = json(dl(p).await.unwrap()).await;
        assert_eq!(s, 400, "{p:?}: {e}");
        assert!(!e.to_string().contains("outside"), "{p:?}");
    }
    assert_eq!(dl("business/none.png").await.unwrap().status().as_u16(), 404);

    // beyond MaxBytes: refused, nothing left behind; the client, which sends its whole body
    // before it reads, gets the answer (the rest of the body is read and dropped, not cut off:
    // 24 MiB is more than loopback buffers hold)
    let before = files_under(&g.nfs).len();
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(vec![7u8; 24 << 20]).file_name("big.bin"));
    let (s, e) =
        json(c.post(format!("{}/app/common/v1/mfs/uploadFile", g.base)).multipart(form).send().await.unwrap()).await;
    assert_eq!(s, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("MaxBytes"), "{e}");
    assert_eq!(files_under(&g.nfs).len(), before, "no partial file kept");
    let form = reqwest::multipart::Form::new().text("status", "2");
    let (s, e) =
        json(c.post(format!("{}/app/common/v1/mfs/uploadFile", g.base)).multipart(form).send().await.unwrap()).await;
    assert_eq!(s, 400, "{e}");

    // routes that need outside accounts, and file.rpc not configured here
    for (route, what) in [
        ("/app/user/v1/sendSMSVerifyCode", "SMS"),
        ("/app/user/v1/miniProgramLogin", "WeChat"),
        ("/gtw/v1/pay/wechat/paidNotify", "WeChat pay"),
        ("/gtw/v1/pay/wechat/refundedNotify", "WeChat pay"),
        ("/app/common/v1/getRegionList", "zero.rpc"),
        ("/file/v1/oss/endpoint/statFile", "file.rpc"),
    ] {
        let (s, e) =
            json(c.post(format!("{}{route}", g.base)).json(&serde_json::json!({})).send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_i64()), (501, Some(12)), "{route}: {e}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains(what) && m.contains("not configured"), "{route}: {m}");
    }
    let (s, f) = json(
        c.post(format!("{}/gtw/v1/forward", g.base))
            .json(&serde_json::json!({"msgId": "m1", "body": {"a": 1}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, f), (200, serde_json::json!({})));
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `file.FileRpc/CreateOss` and `MakeBucket` called directly (the template and bucket the uploads
/// use).
async fn create_oss(grpc_port: u16, s3_port: u16, token: &str) {
    use prost::Message as _;
    let req = gtw_svc::pb::CreateOssReq {
        tenant_id: "000001".into(),
        oss_code: "fs".into(),
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        access_key: "testing".into(),
        secret_key: "testing".into(),
        bucket_name: "files".into(),
        region: "us-east-1".into(),
        ..Default::default()
    };
    let ch = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut g = tonic::client::Grpc::new(ch);
    g.ready().await.unwrap();
    let bucket =
        gtw_svc::pb::MakeBucketReq { tenant_id: "000001".into(), code: "fs".into(), bucket_name: String::new() };
    for (path, body) in
        [("/file.FileRpc/CreateOss", req.encode_to_vec()), ("/file.FileRpc/MakeBucket", bucket.encode_to_vec())]
    {
        let mut r = tonic::Request::new(bytes::Bytes::from(body));
        r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        g.ready().await.unwrap();
        g.unary::<bytes::Bytes, bytes::Bytes, _>(r, path.parse().unwrap(), zero_svc::grpc::RawCodec).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn file_routes_through_a_real_file_service() {
    let dir = ConfigFile::new("unused", "");
    let s3_root = dir.dir.join("s3");
    let (_s3, s3_port) = testkit::s3::s3s_fs(&s3_root, "testing", "testing");
    let (grpc, prom) = (free_port(), free_port());
    let temp = dir.dir.join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    // the file service demands a token signed with the gateway's secret
    let text = format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: \"127.0.0.1:{prom}\"}}\nDB: {{DataSource: \"sqlite://{}\"}}\nUpload: {{TempDir: {}}}\nGrpcAuth: {{AccessSecret: {SECRET}}}\n",
        dir.dir.join("file.db").display(),
        temp.display()
    );
    let file_conf = ConfigFile::new("file.yaml", &text);
    let _file = spawn(&workspace_bin("file"), &file_conf.path, &[]);
    wait_listening(grpc, Duration::from_secs(30));
    let admin = zero_edge::auth::JwtAuth::new(SECRET, "", 600).issue("admin", [], chrono_now()).unwrap().access_token;
    create_oss(grpc, s3_port, &admin).await;

    let g =
        start_gtw(&format!("MaxBytes: 8388608\nFileRpcConf: {{Endpoints: [\"127.0.0.1:{grpc}\"], Timeout: 10000}}\n"));
    let c = http();
    let (_, ok) = login(&g, "alice", "s3cret pw").await;
    let token = ok["accessToken"].as_str().unwrap().to_owned();
    let content: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let put = |token: Option<&str>, body: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("tenantId", "000001")
            .text("code", "fs")
            .text("pathPrefix", "reports")
            .part(
                "file",
                reqwest::multipart::Part::bytes(body)
                    .file_name("data.bin")
                    .mime_str("application/octet-stream")
                    .unwrap(),
            );
        let mut r = c.post(format!("{}/file/v1/oss/endpoint/putStreamFile", g.base)).multipart(form);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    // without the caller's token the file service refuses (the gateway passes identity on)
    let (s, e) = json(put(None, content.clone()).await.unwrap()).await;
    assert_eq!((s, e["code"].as_i64()), (401, Some(16)), "{e}");
    let (s, stored) = json(put(Some(&token), content.clone()).await.unwrap()).await;
    assert_eq!(s, 200, "{stored}");
    let name = stored["file"]["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("reports/"), "{stored}");
    assert_eq!(stored["size"].as_str(), Some("3145728"), "int64 as a string: {stored}");
    assert_eq!(stored["isEnd"], true);

    let call = |route: &str, body: serde_json::Value| {
        c.post(format!("{}/file/v1/oss/endpoint/{route}", g.base)).bearer_auth(&token).json(&body).send()
    };
    let (s, st) = json(
        call("statFile", serde_json::json!({"tenantId": "000001", "code": "fs", "filename": name})).await.unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["ossFile"]["size"].as_str(), Some("3145728"), "{st}");
    let (s, signed) = json(
        call("signUrl", serde_json::json!({"tenantId": "000001", "code": "fs", "filename": name, "expires": 5}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{signed}");
    let fetched = c.get(signed["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(fetched.len(), content.len());
    assert!(fetched.to_vec() == content, "the stored object is the upload");
    let (s, e) = json(call("statFile", serde_json::json!({"tenantId": 5})).await.unwrap()).await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("tenantId"), "{e}");

    // beyond MaxBytes mid-stream: cancelled, the store keeps nothing new
    let objects = files_under(&s3_root).len();
    let (s, e) = json(put(Some(&token), vec![1u8; 32 << 20]).await.unwrap()).await;
    assert_eq!(s, 400, "{e}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after: Vec<_> = files_under(&s3_root).into_iter().filter(|p| !p.to_string_lossy().contains(".tmp")).collect();
    assert_eq!(after.len(), objects, "a cut upload is not stored: {after:?}");
}
