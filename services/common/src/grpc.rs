//! A tonic server with gRPC health (`grpc.health.v1.Health`) and reflection (v1 and v1alpha),
//! shut down gracefully.

use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::Server;

/// Runs each call of the wrapped service in a task of its own, so a call runs to its end even
/// when the caller goes away: a handler dropped halfway through a database query would hand its
/// pooled connection back out of step with the server (sqlx then fails the next query on it
/// with a protocol error), and a half-done write would be neither done nor undone.
#[derive(Debug, Clone)]
pub struct Detached<S>(pub S);

impl<S: NamedService> NamedService for Detached<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower_service::Service<http::Request<Body>> for Detached<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let call = tokio::spawn(self.0.call(req));
        Box::pin(async move {
            match call.await {
                Ok(r) => r,
                // the handler panicked: answer as tonic does for an internal error
                Err(e) => Ok(tonic::Status::internal(format!("handler failed: {e}")).into_http()),
            }
        })
    }
}

/// Serves `svc` on `listener` until `shutdown` resolves, with health (the service reported
/// SERVING) and reflection over `descriptor_sets`. In-flight calls finish before it returns;
/// each call runs to its end even when its caller goes away ([`Detached`]). [`Grpc`] serves
/// several services, or reports more health statuses.
///
/// # Errors
/// [`crate::Error::Serve`].
pub async fn serve<S>(
    listener: TcpListener,
    svc: S,
    descriptor_sets: &[&'static [u8]],
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), crate::Error>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    Grpc::new(svc).serve(listener, descriptor_sets, shutdown).await
}

/// [`serve`] with an HTTP or WebSocket `app` on `http` beside it (TCP_NODELAY: replies and pushes
/// are small writes in a row, and without it the second waits for the peer's delayed ACK). At
/// `shutdown` the gRPC server stops, then the HTTP server closes its connections within `grace`.
///
/// # Errors
/// [`crate::Error`] of the gRPC server.
pub async fn serve_beside_http<S>(
    listener: TcpListener,
    svc: S,
    descriptor_sets: &[&'static [u8]],
    http: TcpListener,
    app: axum::Router,
    grace: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), crate::Error>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    use axum::serve::ListenerExt;
    let (stop_tx, mut rx) = tokio::sync::watch::channel(false);
    let http = http.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let web = tokio::spawn(async move {
        let _ = axum::serve(http, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
    });
    let r = serve(listener, svc, descriptor_sets, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await;
    let _ = tokio::time::timeout(grace, web).await;
    r
}

/// A gRPC server of one or more services, with health and reflection, as [`serve`] runs it.
#[derive(Debug)]
pub struct Grpc {
    routes: Routes,
    names: Vec<&'static str>,
    health: tonic_health::server::HealthReporter,
    /// Services whose health the service reports itself (not set SERVING at start).
    own_health: Vec<&'static str>,
}

impl Grpc {
    /// A server of `svc`.
    pub fn new<S>(svc: S) -> Grpc
    where
        S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        Grpc {
            routes: Routes::new(Detached(svc)),
            names: vec![S::NAME],
            health: Default::default(),
            own_health: vec![],
        }
    }

    /// Serves `svc` too (a service's own API beside the upstream one).
    #[must_use]
    pub fn with<S>(mut self, svc: S) -> Grpc
    where
        S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes = self.routes.add_service(Detached(svc));
        self.names.push(S::NAME);
        self
    }

    /// The health reporter, for statuses of the service's own (a dependency it reaches, say).
    pub fn health(&self) -> tonic_health::server::HealthReporter {
        self.health.clone()
    }

    /// Leaves the health of service `name` (and of the whole server, `""`) to the caller's
    /// [`Grpc::health`] reporter: [`Grpc::serve`] does not report it SERVING at start (a service
    /// whose engine or broker is unreachable says NOT_SERVING from its first answer).
    #[must_use]
    pub fn own_health(mut self, name: &'static str) -> Grpc {
        self.own_health.push(name);
        self
    }

    /// Serves until `shutdown` resolves; the services are reported SERVING.
    ///
    /// # Errors
    /// [`crate::Error::Serve`].
    pub async fn serve(
        self,
        listener: TcpListener,
        descriptor_sets: &[&'static [u8]],
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), crate::Error> {
        let Grpc { routes, names, health: reporter, own_health } = self;
        for name in names.iter().filter(|n| !own_health.contains(n)) {
            reporter.set_service_status(*name, tonic_health::ServingStatus::Serving).await;
        }
        if own_health.is_empty() {
            reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        }
        let health = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(reporter),
        );
        let mut v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let mut v1a = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        for fds in descriptor_sets {
            v1 = v1.register_encoded_file_descriptor_set(fds);
            v1a = v1a.register_encoded_file_descriptor_set(fds);
        }
        let v1 = v1.build_v1().map_err(|e| crate::Error::Serve(e.to_string()))?;
        let v1a = v1a.build_v1alpha().map_err(|e| crate::Error::Serve(e.to_string()))?;
        let addr = listener.local_addr()?;
        let sec = crate::security::current();
        tracing::info!(%addr, services = ?names, tls = sec.tls.enabled(), mutual_tls = !sec.tls.client_ca_file.is_empty(),
            tokens = !sec.auth.access_secret.is_empty(), "gRPC listening");
        let mut builder = Server::builder();
        if sec.tls.enabled() {
            builder = builder
                .tls_config(crate::security::server_tls(&sec.tls)?)
                .map_err(|e| crate::Error::Config(format!("GrpcTls: {e}")))?;
        }
        builder
            // HTTP/2 windows sized by the measured bandwidth-delay product instead of h2's 64 KiB:
            // a client stream of large messages (file's PutStreamFile) is not held to a trickle
            .http2_adaptive_window(Some(true))
            .layer(tower::util::option_layer(crate::security::AuthLayer::new(&sec.auth)))
            .add_routes(routes)
            .add_service(health)
            .add_service(v1)
            .add_service(v1a)
            // TCP_NODELAY: an answer's headers, body and trailers go out as separate small writes,
            // and Nagle's algorithm would hold them behind the client's delayed ACK (40 ms)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await
            .map_err(|e| crate::Error::Serve(e.to_string()))
    }
}

/// A gRPC codec of already-encoded messages (`Bytes` in, `Bytes` out): for callers and servers
/// that encode with descriptors at run time (a transcoding gateway, a generic test service).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// [`RawCodec`]'s encoder and decoder.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl tonic::codec::Encoder for Raw {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: bytes::Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<bytes::Bytes>, tonic::Status> {
        let n = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, n)))
    }
}

/// [`RawCodec`] for client streams whose messages may fail: an `Err` item fails the request body,
/// so the server sees the stream reset, never a normal end (an upload cut short is not taken
/// for a whole one).
#[derive(Debug, Clone, Copy, Default)]
pub struct FallibleRawCodec;

/// [`FallibleRawCodec`]'s encoder.
#[derive(Debug, Clone, Copy, Default)]
pub struct FallibleRaw;

impl tonic::codec::Encoder for FallibleRaw {
    type Item = Result<bytes::Bytes, tonic::Status>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Self::Item, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item?);
        Ok(())
    }
}

impl tonic::codec::Codec for FallibleRawCodec {
    type Encode = Result<bytes::Bytes, tonic::Status>;
    type Decode = bytes::Bytes;
    type Encoder = FallibleRaw;
    type Decoder = Raw;
    fn encoder(&mut self) -> FallibleRaw {
        FallibleRaw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = bytes::Bytes;
    type Decode = bytes::Bytes;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

/// A lazily connecting client of streamevent for the first of `endpoints` (`host:port` or a
/// URI; `StreamEventConf.Endpoints`), `None` when there is none.
///
/// # Errors
/// [`crate::Error::Config`] for an unusable endpoint.
pub fn streamevent_client(
    endpoints: &[String],
) -> Result<Option<streamevent::pb::stream_event_client::StreamEventClient<tonic::transport::Channel>>, crate::Error> {
    let Some(ep) = endpoints.first() else { return Ok(None) };
    let channel = tonic::transport::Endpoint::from_shared(streamevent::pipeline::endpoint_uri(ep))
        .map_err(|e| crate::Error::Config(format!("StreamEventConf.Endpoints {ep:?}: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect_lazy();
    Ok(Some(streamevent::pb::stream_event_client::StreamEventClient::new(channel)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tower_service::Service as _;

    /// Sets its flag 100 ms into each call.
    #[derive(Clone)]
    struct Slow(Arc<AtomicBool>);

    impl NamedService for Slow {
        const NAME: &'static str = "test.Slow";
    }

    impl tower_service::Service<http::Request<Body>> for Slow {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = std::pin::Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;
        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            let done = self.0.clone();
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                done.store(true, Ordering::SeqCst);
                Ok(http::Response::new(Body::empty()))
            })
        }
    }

    #[tokio::test]
    async fn a_call_runs_to_its_end_when_its_caller_goes_away() {
        let done = Arc::new(AtomicBool::new(false));
        let mut svc = Detached(Slow(done.clone()));
        let call = svc.call(http::Request::new(Body::empty()));
        // the caller goes away before the handler finished
        let _ = tokio::time::timeout(std::time::Duration::from_millis(10), call).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(done.load(Ordering::SeqCst), "the handler was dropped halfway");
        assert_eq!(<Detached<Slow> as NamedService>::NAME, "test.Slow");
    }
}

/// The W3C trace id of a call (`traceparent: 00-<32 hex>-<16 hex>-<2 hex>`), lowercase; `None`
/// without a valid one (missing, malformed, all zeros).
pub fn trace_id(m: &tonic::metadata::MetadataMap) -> Option<String> {
    let tp = m.get("traceparent")?.to_str().ok()?;
    let id = tp.split('-').nth(1)?;
    let valid = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0');
    valid.then(|| id.to_ascii_lowercase())
}

/// Calls `call` until it succeeds, pausing 100 ms after the first failure and twice as long
/// after each next one (5 s at most): for a batch a downstream service must take before its
/// source is acknowledged. Each failure is logged and counted in
/// `zero_downstream_retries_total{call=what}`.
pub async fn until_ok<T, F, Fut>(what: &'static str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match call().await {
            Ok(t) => return t,
            Err(s) => {
                metrics::counter!("zero_downstream_retries_total", "call" => what).increment(1);
                tracing::warn!(call = what, code = ?s.code(), error = %s.message(), "not taken; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod trace_tests {
    #[test]
    fn trace_ids_from_traceparent() {
        let mut m = tonic::metadata::MetadataMap::new();
        assert_eq!(super::trace_id(&m), None);
        m.insert("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".parse().unwrap());
        assert_eq!(super::trace_id(&m).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-xyz-00f067aa0ba902b7-01", "garbage"]
        {
            m.insert("traceparent", bad.parse().unwrap());
            assert_eq!(super::trace_id(&m), None, "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn until_ok_retries_with_growing_pauses() {
        let mut n = 0;
        let t0 = tokio::time::Instant::now();
        let v = super::until_ok("test", || {
            n += 1;
            let fail = n < 4;
            async move {
                if fail {
                    Err(tonic::Status::unavailable("away"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(v, 4);
        assert_eq!(t0.elapsed(), std::time::Duration::from_millis(100 + 200 + 400));
    }
}
