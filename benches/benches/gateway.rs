//! The platform's edge and gateways, each against its peer in the same run:
//!
//! 1. Reverse proxy: bridgegtw with a token check, a rate limit (set high enough never to refuse)
//!    and APISIX metrics on, against Debian nginx as a plain proxy (keep-alive upstream pool),
//!    both in front of the same upstream, loaded by Debian `wrk` with the same connections for
//!    the same time; requests/s and p99 of each, requests counted at the upstream.
//! 2. Transcoding: HTTP/JSON through bridgegtw to a gRPC echo service against calling the
//!    service directly over gRPC; p50/p99 of each, the added p99.
//! 3. RBAC with 1,100 policy rules (1,000 `p`, 100 `g`): p50/p99 of a decision from the compiled
//!    rules (uncached, allowed and denied), against casbin-rs's own first decision.
//!
//! `cargo bench -p zero-benches --bench gateway` (10 s per proxy run); under `cargo test` 1 s.
//! `GW_ONLY=rbac|transcoding|proxy` runs one part; `GW_BARE=1` adds a proxy run without the edge.

/// As in the bridgegtw binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use prost::Message as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRK_CONNECTIONS: usize = 64;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

/// nginx: the peer proxy on `port`, and the upstream both proxies forward to on `upstream`
/// (`return 200`, every request written to its access log, so requests are counted where they
/// were answered).
struct Nginx {
    child: testkit::process::ChildGuard,
    dir: std::path::PathBuf,
    port: u16,
    upstream: u16,
}

impl Nginx {
    /// Requests the upstream answered so far.
    fn answered(&self) -> u64 {
        std::fs::read(self.dir.join("logs/upstream.log"))
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() as u64)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: the master stops its workers too (SIGKILL would leave them running)
        let _ = std::process::Command::new("kill").args(["-QUIT", &self.child.0.id().to_string()]).status();
        let _ = self.child.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx(workers: usize) -> Nginx {
    let port = testkit::port::free_port();
    let upstream = testkit::port::free_port();
    let dir = std::env::temp_dir().join(format!("nginx-bench-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process on;\nuser root;\nworker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         upstream up {{ server 127.0.0.1:{upstream}; keepalive 128; }}\n\
         server {{ listen 127.0.0.1:{port} reuseport; location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n\
         server {{ listen 127.0.0.1:{upstream} reuseport; keepalive_requests 1000000; access_log {d}/logs/upstream.log; location / {{ return 200 \"hello, world\\n\"; }} }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = std::process::Command::new("nginx")
        .args(["-c", &format!("{d}/nginx.conf"), "-p", &format!("{d}/")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx (Debian nginx; scripts/test installs it)");
    let n = Nginx { child: testkit::process::ChildGuard(child), dir, port, upstream };
    testkit::service::wait_listening(port, Duration::from_secs(10));
    testkit::service::wait_listening(upstream, Duration::from_secs(10));
    n
}

struct Wrk {
    rps: f64,
    p99_ms: f64,
    requests: u64,
    errors: u64,
}

fn wrk(port: u16, path: &str, secs: u64, headers: &[String]) -> Wrk {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args(["-t1", &format!("-c{WRK_CONNECTIONS}"), &format!("-d{secs}s"), "--latency"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out =
        cmd.arg(format!("http://127.0.0.1:{port}{path}")).output().expect("wrk (Debian wrk; scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field =
        |prefix: &str| text.lines().find_map(|l| l.trim_start().strip_prefix(prefix).map(|r| r.trim().to_owned()));
    let rps: f64 = field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("wrk said: {text}"));
    let p99 = field("99%").unwrap_or_default();
    let p99_ms = if let Some(us) = p99.strip_suffix("us") {
        us.parse::<f64>().unwrap_or(0.0) / 1000.0
    } else if let Some(ms) = p99.strip_suffix("ms") {
        ms.parse().unwrap_or(0.0)
    } else if let Some(s) = p99.strip_suffix('s') {
        s.parse::<f64>().unwrap_or(0.0) * 1000.0
    } else {
        f64::NAN
    };
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .filter_map(|l| l.rsplit(':').next())
        .map(|v| v.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum::<u64>())
        .sum();
    Wrk { rps, p99_ms, requests, errors }
}

fn gateway_yaml(upstream: u16) -> String {
    format!(
        r#"
Upstreams: []
JwtAuth: {{AccessSecret: bench-secret}}
Edge:
  RateLimit: {{Rate: 10000000, Burst: 10000000, Key: ip}}
HttpUpstreams:
- {{Id: up, Nodes: ["127.0.0.1:{upstream}"], Retries: 0}}
HttpRoutes:
- {{Id: bench, Path: "/bench/*", Upstream: up}}
"#
    )
}

async fn start_gateway(yaml: &str) -> u16 {
    let cfg: bridgegtw_svc::Config =
        zero_svc::config::merge_str(bridgegtw_svc::config::DEFAULTS, Some(yaml), &[]).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { bridgegtw_svc::run(cfg, l, std::future::pending::<()>()).await });
    port
}

/// The floor of a hyper proxy on this machine: hyper's HTTP/1 server and legacy pooled client,
/// one current-thread runtime per core with its own `SO_REUSEPORT` listener, nothing else (no
/// routing, no edge, no header rewriting). What bridgegtw's own work costs is the distance
/// from this.
fn hyper_floor(upstream: u16) -> u16 {
    let port = testkit::port::free_port();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for _ in 0..threads {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.set_reuseport(true).unwrap();
                sock.bind(([127, 0, 0, 1], port).into()).unwrap();
                let l = sock.listen(1024).unwrap();
                let mut c = hyper_util::client::legacy::connect::HttpConnector::new();
                c.set_nodelay(true);
                let client: hyper_util::client::legacy::Client<_, hyper::body::Incoming> =
                    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                        .pool_max_idle_per_host(1024)
                        .build(c);
                let authority: http::uri::Authority = format!("127.0.0.1:{upstream}").parse().unwrap();
                loop {
                    let Ok((s, _)) = l.accept().await else { continue };
                    let _ = s.set_nodelay(true);
                    let (client, authority) = (client.clone(), authority.clone());
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                            let client = client.clone();
                            let mut parts = http::uri::Parts::default();
                            parts.scheme = Some(http::uri::Scheme::HTTP);
                            parts.authority = Some(authority.clone());
                            parts.path_and_query = req.uri().path_and_query().cloned();
                            *req.uri_mut() = http::Uri::from_parts(parts).unwrap();
                            async move { client.request(req).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                            .await;
                    });
                }
            });
        });
    }
    testkit::service::wait_listening(port, Duration::from_secs(10));
    port
}

async fn proxy(secs: u64) {
    // the APISIX metrics go to a Prometheus recorder, as in the service
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ng = nginx(workers);
    let gw = start_gateway(&gateway_yaml(ng.upstream)).await;
    let token = zero_edge::auth::JwtAuth::new("bench-secret", "", 3600)
        .issue("bench", [], chrono::Utc::now().timestamp())
        .unwrap()
        .access_token;
    let auth = vec![format!("Authorization: Bearer {token}")];
    let ng = Arc::new(ng);
    // warm both, then alternate, best of two each
    // a wrk run against `port`, every request it counted seen answered by the upstream
    let counted = |who: &'static str, port: u16, secs: u64, headers: Vec<String>| {
        let ng = ng.clone();
        async move {
            let before = ng.answered();
            let w = tokio::task::spawn_blocking(move || wrk(port, "/bench/hello", secs, &headers)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let answered = ng.answered() - before;
            assert!(
                w.errors == 0 && answered >= w.requests,
                "{who}: {} errors, {answered} answered of {}",
                w.errors,
                w.requests
            );
            w
        }
    };
    counted("nginx", ng.port, 1, vec![]).await;
    counted("bridgegtw", gw, 1, auth.clone()).await;
    if std::env::var_os("GW_BARE").is_some() {
        let bare = start_gateway(&format!(
            "Upstreams: []\nHttpUpstreams:\n- {{Id: up, Nodes: [\"127.0.0.1:{}\"], Retries: 0}}\nHttpRoutes:\n- {{Id: bench, Path: \"/bench/*\", Upstream: up}}\n",
            ng.upstream
        ))
        .await;
        let b = counted("bare bridgegtw", bare, secs, vec![]).await;
        println!("bare bridgegtw (no token, no limit): {:.0} req/s p99 {:.2} ms", b.rps, b.p99_ms);
        let f = counted("hyper floor", hyper_floor(ng.upstream), secs, vec![]).await;
        println!("hyper floor (server + pooled client, nothing else): {:.0} req/s p99 {:.2} ms", f.rps, f.p99_ms);
    }
    let mut best_ng: Option<Wrk> = None;
    let mut best_gw: Option<Wrk> = None;
    for _ in 0..2 {
        let n = counted("nginx", ng.port, secs, vec![]).await;
        let g = counted("bridgegtw", gw, secs, auth.clone()).await;
        if best_ng.as_ref().is_none_or(|b| n.rps > b.rps) {
            best_ng = Some(n);
        }
        if best_gw.as_ref().is_none_or(|b| g.rps > b.rps) {
            best_gw = Some(g);
        }
    }
    let (n, g) = (best_ng.unwrap(), best_gw.unwrap());
    assert!(handle.render().contains("apisix_http_status{code=\"200\",route=\"bench\""), "metrics were recorded");
    println!(
        "reverse proxy ({WRK_CONNECTIONS} connections, wrk, {secs} s): bridgegtw with JWT + rate limit + metrics {:.0} req/s p99 {:.2} ms; nginx plain proxy {:.0} req/s p99 {:.2} ms; {:.2}x nginx's req/s (target >= 0.9x, p99 not above nginx's)",
        g.rps,
        g.p99_ms,
        n.rps,
        n.p99_ms,
        g.rps / n.rps
    );
}

async fn transcoding(calls: usize) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../services/bridgegtw/tests/data");
    let fds = protox::compile(["gtwtest.proto"], [dir]).unwrap().encode_to_vec();
    // the echo service: the request back
    #[derive(Clone)]
    struct Echo;
    impl tonic::server::NamedService for Echo {
        const NAME: &'static str = "gtwtest.Echo";
    }
    #[derive(Clone)]
    struct Back;
    impl tonic::server::UnaryService<bytes::Bytes> for Back {
        type Response = bytes::Bytes;
        type Future = std::future::Ready<Result<tonic::Response<bytes::Bytes>, tonic::Status>>;
        fn call(&mut self, req: tonic::Request<bytes::Bytes>) -> Self::Future {
            std::future::ready(Ok(tonic::Response::new(req.into_inner())))
        }
    }
    impl tower::Service<http::Request<tonic::body::Body>> for Echo {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;
        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
            Box::pin(
                async move { Ok(tonic::server::Grpc::new(bridgegtw_svc::transcode::RawCodec).unary(Back, req).await) },
            )
        }
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let refl = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(Box::leak(fds.into_boxed_slice()))
        .build_v1()
        .unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(refl)
            .add_service(Echo)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true)))
            .await
    });
    let gw = start_gateway(&format!(
        "Upstreams:\n- Grpc: {{Endpoints: [\"{addr}\"]}}\n  Mappings:\n  - {{Method: POST, Path: /echo, RpcPath: gtwtest.Echo/Echo}}\n"
    ))
    .await;
    let json = serde_json::json!({"id": "station-7", "big": "9007199254740993", "count": 12, "level": "HIGH",
        "tags": ["a", "b"], "inner": {"name": "n", "values": ["1", "2", "3"]}})
    .to_string();
    // the same message, encoded once, for the direct calls
    let pool = prost_reflect::DescriptorPool::decode(
        protox::compile(["gtwtest.proto"], [dir]).unwrap().encode_to_vec().as_slice(),
    )
    .unwrap();
    let desc = pool.get_message_by_name("gtwtest.Item").unwrap();
    let mut de = serde_json::Deserializer::from_str(&json);
    let msg = prost_reflect::DynamicMessage::deserialize(desc, &mut de).unwrap();
    let encoded = bytes::Bytes::from(msg.encode_to_vec());
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .tcp_nodelay(true)
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", gw)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut http, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut direct = Vec::with_capacity(calls);
    let mut through = Vec::with_capacity(calls);
    for i in 0..calls + 200 {
        let t = Instant::now();
        grpc.ready().await.unwrap();
        let r = grpc
            .unary::<bytes::Bytes, bytes::Bytes, _>(
                tonic::Request::new(encoded.clone()),
                "/gtwtest.Echo/Echo".parse().unwrap(),
                bridgegtw_svc::transcode::RawCodec,
            )
            .await
            .unwrap();
        assert_eq!(r.into_inner().len(), encoded.len());
        let d = t.elapsed();
        let t = Instant::now();
        let req = hyper::Request::post("/echo")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(json.clone())))
            .unwrap();
        http.ready().await.unwrap();
        let res = http.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
        assert!(body.len() > 50);
        let g = t.elapsed();
        if i >= 200 {
            direct.push(d);
            through.push(g);
        }
    }
    direct.sort();
    through.sort();
    let (d50, d99, g50, g99) =
        (percentile(&direct, 0.5), percentile(&direct, 0.99), percentile(&through, 0.5), percentile(&through, 0.99));
    println!(
        "transcoding ({calls} sequential calls): direct gRPC p50 {:.0} us p99 {:.0} us; HTTP/JSON through bridgegtw p50 {:.0} us p99 {:.0} us; added p99 {:.0} us (target < 1,000 us)",
        d50.as_secs_f64() * 1e6,
        d99.as_secs_f64() * 1e6,
        g50.as_secs_f64() * 1e6,
        g99.as_secs_f64() * 1e6,
        (g99.saturating_sub(d99)).as_secs_f64() * 1e6
    );
}

async fn rbac(checks: usize) {
    use zero_edge::rbac::{Rbac, Rule};
    let mut rules = vec![];
    for i in 0..1000 {
        rules.push(Rule::p([&format!("role{i}"), &format!("/api/res{i}/:id"), "GET|POST"]));
    }
    for j in 0..100 {
        rules.push(Rule::g([&format!("user{j}"), &format!("role{}", j * 10)]));
    }
    let rbac = Rbac::new("", rules).await.unwrap();
    assert!(rbac.compiled(), "the built-in model is decided by the compiled rules");
    // every decision from the rules (nothing cached): allowed and denied requests, each a
    // request never asked before
    let mut ours = Vec::with_capacity(checks);
    for i in 0..checks {
        let user = i % 100;
        let (res, want) = if i % 2 == 0 { (user * 10, true) } else { (user * 10 + 1, false) };
        let (sub, obj) = (format!("user{user}"), format!("/api/res{res}/{i}"));
        let t = Instant::now();
        let allowed = rbac.enforce(&sub, &obj, "GET").unwrap();
        ours.push(t.elapsed());
        assert_eq!(allowed, want, "{sub} {obj}");
    }
    // the peer: casbin's own first decision of the same kind of request
    let mut casbin = Vec::with_capacity(checks / 10);
    for i in 0..(checks / 10).max(20) {
        let user = i % 100;
        let (sub, obj) = (format!("user{user}"), format!("/api/res{}/c{i}", user * 10));
        let t = Instant::now();
        let allowed = rbac.enforce_casbin(&sub, &obj, "GET").unwrap();
        casbin.push(t.elapsed());
        assert!(allowed, "{obj}");
    }
    ours.sort();
    casbin.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "RBAC, 1,100 rules: every decision (compiled rules, uncached) p50 {:.1} us p99 {:.1} us; casbin-rs first decision p50 {:.0} us p99 {:.0} us ({:.0}x at p99; target p99 < 50 us; casbin Go: 160 us)",
        us(percentile(&ours, 0.5)),
        us(percentile(&ours, 0.99)),
        us(percentile(&casbin, 0.5)),
        us(percentile(&casbin, 0.99)),
        us(percentile(&casbin, 0.99)) / us(percentile(&ours, 0.99)).max(0.001),
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // GW_ONLY=rbac|transcoding|proxy runs one part
        let only = std::env::var("GW_ONLY").unwrap_or_default();
        let run = |part: &str| only.is_empty() || only == part;
        if run("rbac") {
            rbac(if full { 5_000 } else { 200 }).await;
        }
        if run("transcoding") {
            transcoding(if full { 5_000 } else { 200 }).await;
        }
        if run("proxy") {
            proxy(if full { 10 } else { 1 }).await;
        }
    });
}
