//! What the bridgegtw tests share: the `gtwtest.Echo` gRPC server (with or without
//! reflection), a gateway of a YAML configuration on a loopback port, a plain HTTP client.

#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use prost::Message as _;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The encoded descriptor set of `tests/data/gtwtest.proto` (with its imports).
pub fn descriptor_set() -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    protox::compile(["gtwtest.proto"], [dir]).expect("gtwtest.proto compiles").encode_to_vec()
}

#[derive(Clone, PartialEq, prost::Message)]
struct FailReq {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MetaRes {
    #[prost(string, tag = "1")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CountOnly {
    #[prost(int32, tag = "4")]
    count: i32,
}

#[derive(Clone)]
struct Handler(String);

impl tonic::server::UnaryService<Bytes> for Handler {
    type Response = Bytes;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Bytes>, tonic::Status>> + Send>>;
    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move {
            let md = req.metadata().clone();
            let body = req.into_inner();
            match path.as_str() {
                "/gtwtest.Echo/Echo" => Ok(tonic::Response::new(body)),
                "/gtwtest.Echo/Slow" => {
                    let c = CountOnly::decode(body.clone()).unwrap_or_default();
                    tokio::time::sleep(Duration::from_millis(c.count.max(0) as u64)).await;
                    Ok(tonic::Response::new(body))
                }
                "/gtwtest.Echo/Meta" => {
                    let get = |k: &str| md.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let value = format!("{}|{}", get("x-tenant"), get("traceparent"));
                    Ok(tonic::Response::new(Bytes::from(MetaRes { value }.encode_to_vec())))
                }
                "/gtwtest.Echo/Fail" => {
                    let f = FailReq::decode(body).unwrap_or_default();
                    Err(tonic::Status::new(tonic::Code::from(f.code), f.message))
                }
                _ => Err(tonic::Status::unimplemented(path)),
            }
        })
    }
}

/// `gtwtest.Echo` as a tonic service.
#[derive(Clone, Default)]
pub struct EchoSvc;

impl tonic::server::NamedService for EchoSvc {
    const NAME: &'static str = "gtwtest.Echo";
}

impl tower::Service<http::Request<tonic::body::Body>> for EchoSvc {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let path = req.uri().path().to_owned();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(bridgegtw_svc::transcode::RawCodec);
            Ok(grpc.unary(Handler(path), req).await)
        })
    }
}

/// Starts the echo server on a loopback port (reflection when asked); its address.
pub async fn echo_server(reflection: bool) -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let fds = descriptor_set();
    let task = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(l);
        let mut b = tonic::transport::Server::builder();
        if reflection {
            let refl = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(Box::leak(fds.into_boxed_slice()))
                .build_v1()
                .unwrap();
            let _ = b.add_service(refl).add_service(EchoSvc).serve_with_incoming(incoming).await;
        } else {
            let _ = b.add_service(EchoSvc).serve_with_incoming(incoming).await;
        }
    });
    (addr, task)
}

/// A gateway of `yaml` (over the embedded defaults) on a loopback port; stops when the returned
/// sender is dropped or sent to.
pub async fn gateway(yaml: &str) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let cfg: bridgegtw_svc::Config =
        zero_svc::config::merge_str(bridgegtw_svc::config::DEFAULTS, Some(yaml), &[]).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let r = bridgegtw_svc::run(cfg, l, async move {
            let _ = rx.await;
        })
        .await;
        if let Err(e) = r {
            panic!("bridgegtw: {e}");
        }
    });
    (port, tx)
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `method path` with `headers` and `body` on a fresh connection.
pub async fn call(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("the gateway listens");
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut b = http::Request::builder().method(method).uri(path).header("host", format!("127.0.0.1:{port}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let res = tx.send_request(b.body(http_body_util::Full::new(Bytes::copy_from_slice(body))).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

/// An HTTP upstream on a loopback port answering `name` (and `/health` 200) until the returned
/// handle is aborted; how many requests it answered.
pub async fn named_upstream(
    name: &'static str,
) -> (String, tokio::task::JoinHandle<()>, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::get;
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let app =
        axum::Router::new().route("/health", get(|| async { "ok" })).fallback(move |req: axum::extract::Request| {
            let h = h.clone();
            async move {
                h.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let tp = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let xff =
                    req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                axum::Json(
                    serde_json::json!({"node": name, "path": req.uri().to_string(), "traceparent": tp, "xff": xff}),
                )
            }
        });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (addr, task, hits)
}

/// Sends GETs to `path` on `port` until `stop` is set; (answered 200, failed).
pub async fn load(
    port: u16,
    path: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (usize, Vec<String>) {
    let mut ok = 0;
    let mut failed = vec![];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let a = call(port, "GET", path, &[], b"").await;
        if a.status == 200 {
            ok += 1;
        } else {
            failed.push(format!("{} {}", a.status, a.text()));
        }
    }
    (ok, failed)
}

/// Polls `path` until it answers 200; how long that took.
pub async fn until_served(port: u16, path: &str, within: Duration) -> Duration {
    let start = std::time::Instant::now();
    loop {
        if call(port, "GET", path, &[], b"").await.status == 200 {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{path} not served within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
