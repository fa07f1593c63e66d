//! The edge as axum middleware: [`Edge::wrap`] puts it around a router.
//!
//! Outside routing (every request): panic recovery (a handler that panics answers 500 with the
//! error body and the server lives on), request ids (`x-request-id`, kept when the client sent
//! one), W3C trace context (`traceparent` read or made, the request's [`TraceContext`] in its
//! extensions, the response carrying it), CORS, and APISIX-named Prometheus metrics
//! (`apisix_http_status`, `apisix_http_latency`, `apisix_bandwidth`, `apisix_http_requests_total`).
//!
//! Per route (after routing, so the route's pattern is known): the token check (HS256 pinned,
//! `AccessSecret` then `PrevAccessSecret`; the claims in the request's extensions), RBAC (casbin,
//! the subject a claim of the token) and the rate limit (a token bucket per route and key).
//! Paths listed in `Public` skip the token and RBAC checks.
//!
//! Failures answer the unified body `{"code","message"}` ([`ApiError`]).

use crate::auth::{AuthError, Claims, JwtAuth};
use crate::error::ApiError;
use crate::limit::{KeyBy, Limiter, RateLimitConf};
use crate::rbac::{Rbac, RbacConf};
use crate::trace::{TraceContext, TRACEPARENT};
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tower::{Layer as _, Service};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestId, SetRequestId};

/// APISIX's latency buckets (ms), for the exporter's `apisix_http_latency` histogram.
pub const LATENCY_BUCKETS_MS: &[f64] =
    &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0];

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// A `Cors` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct CorsConf {
    /// Answer CORS at all (go-zero's gtw does, for any origin).
    pub enabled: bool,
    /// Allowed origins; `*` (the default) allows any.
    pub allow_origins: Vec<String>,
}

impl Default for CorsConf {
    fn default() -> CorsConf {
        CorsConf { enabled: true, allow_origins: vec!["*".into()] }
    }
}

/// The `Edge` section of an HTTP service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct EdgeConf {
    /// CORS.
    pub cors: CorsConf,
    /// Rate limit of every route (a route of a gateway may set its own).
    pub rate_limit: RateLimitConf,
    /// RBAC.
    pub rbac: RbacConf,
    /// Path patterns (as routed: `/gtw/v1/ping`, `/login`) that need no token.
    pub public: Vec<String>,
}

/// The route a response came from, for the metrics' `route` label (set by the per-route
/// middleware, or by a gateway's own router).
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Arc<str>);

/// The upstream a response came from, for the metrics' `node` label.
#[derive(Debug, Clone)]
pub struct NodeLabel(pub Arc<str>);

/// The consumer (token subject) of a request, for the metrics' `consumer` label: [`Edge::check`]
/// puts it in the request's extensions, and whoever answers copies it to the response.
#[derive(Debug, Clone)]
pub struct ConsumerLabel(pub Arc<str>);

/// The client's address as text, put in each request's extensions by a server that made it
/// once per connection: the rate limit's `ip` key (and a proxy's `X-Forwarded-For`) then take
/// it from here instead of formatting the address per request. Without it, `ConnectInfo`.
#[derive(Debug, Clone)]
pub struct ClientIp(pub HeaderValue);

impl ClientIp {
    /// The text of `ip`.
    pub fn of(ip: std::net::IpAddr) -> ClientIp {
        ClientIp(HeaderValue::from_str(&ip.to_string()).unwrap_or_else(|_| HeaderValue::from_static("")))
    }

    /// The client's address of `req`: its [`ClientIp`], else the text of its `ConnectInfo`.
    pub fn of_request<B>(req: &http::Request<B>) -> Option<ClientIp> {
        match req.extensions().get::<ClientIp>() {
            Some(c) => Some(c.clone()),
            None => req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| ClientIp::of(c.0.ip())),
        }
    }
}

/// The edge of one service.
#[derive(Debug, Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: String,
    auth: JwtAuth,
    rbac: Option<(Arc<Rbac>, String)>,
    limiter: Option<Limiter>,
    public: Vec<String>,
    cors: CorsConf,
}

impl Edge {
    /// The edge of `service` (the metrics' `service` label): tokens checked when `auth` has a
    /// secret, RBAC when `rbac` is given, `conf`'s limit, CORS and public paths.
    ///
    /// # Errors
    /// A bad `RateLimit.Key`.
    pub fn new(service: &str, conf: &EdgeConf, auth: JwtAuth, rbac: Option<Arc<Rbac>>) -> Result<Edge, String> {
        Ok(Edge {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                auth,
                rbac: rbac.map(|r| (r, conf.rbac.subject_claim.clone())),
                limiter: Limiter::new(&conf.rate_limit)?,
                public: conf.public.clone(),
                cors: conf.cors.clone(),
            }),
        })
    }

    /// The service name of the metrics.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The token, RBAC and rate-limit checks of a request to `route`, with `limiter` instead of
    /// the edge's own when given (a gateway route's own limit). On success the request carries
    /// its [`Claims`] (when checked) in its extensions.
    ///
    /// # Errors
    /// 401 (no, bad, expired token), 403 (RBAC), 429 (limit), 500 (the model failed).
    pub fn check(&self, route: &str, req: &mut Request, limiter: Option<&Limiter>) -> Result<(), ApiError> {
        let i = &self.inner;
        let public = i.public.iter().any(|p| p == route);
        let mut claims = None;
        if i.auth.enabled() && !public {
            let token =
                req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            match i.auth.verify(token, now) {
                Ok(c) => claims = Some(c),
                Err(AuthError::Missing) => return Err(ApiError::unauthenticated("token missing")),
                Err(AuthError::Expired) => return Err(ApiError::unauthenticated("token expired")),
                Err(_) => return Err(ApiError::unauthenticated("token invalid")),
            }
            if let Some((rbac, claim)) = &i.rbac {
                let sub = claims.as_ref().and_then(|c| c.get(claim)).map(claim_text).unwrap_or_default();
                match rbac.enforce(&sub, req.uri().path(), req.method().as_str()) {
                    Ok(true) => {}
                    Ok(false) => return Err(ApiError::forbidden("forbidden")),
                    Err(e) => return Err(ApiError::internal(format!("rbac: {e}"))),
                }
            }
        }
        if let Some(l) = limiter.or(i.limiter.as_ref()) {
            let key = match &l.key_by {
                KeyBy::Ip => peer_ip(req),
                KeyBy::Header(h) => req.headers().get(h).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
                KeyBy::Claim(c) => claims.as_ref().and_then(|cl| cl.get(c)).map(claim_text).unwrap_or_default(),
                KeyBy::Route => String::new(),
            };
            if let Err(wait) = l.check(route, &key) {
                let mut e = ApiError::too_many_requests("rate limit exceeded");
                e.message = format!("rate limit exceeded; retry in {} ms", wait.as_millis().max(1));
                return Err(e);
            }
        }
        if let Some(c) = claims {
            if let Some(sub) = c.get("user-id").map(claim_text) {
                req.extensions_mut().insert(ConsumerLabel(sub.into()));
            }
            req.extensions_mut().insert(c);
        }
        Ok(())
    }

    /// `router` with the edge around it (see the module docs).
    pub fn wrap<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        let per_route = self.clone();
        // recovery inside the per-route part too, so a panic's 500 is counted under its route
        self.wrap_outer(
            router.route_layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response)).route_layer(
                axum::middleware::from_fn(move |req, next| {
                    let e = per_route.clone();
                    async move { e.guard(req, next).await }
                }),
            ),
        )
    }

    /// `router` with the outer part of the edge only (panic recovery, request ids, trace
    /// context, CORS, metrics): for a service that routes by itself and calls [`Edge::check`]
    /// per route (a gateway whose routes change at run time).
    pub fn wrap_outer<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        let edge = self.clone();
        router.layer(tower::layer::layer_fn(move |inner| edge.outer(inner)))
    }

    /// `inner` with the outer part of the edge around it, as one service of known type (no
    /// router, no boxed layers between the parts): request ids (`x-request-id` kept or made, and
    /// returned), CORS, then [`Observe`] (trace context, metrics, panic recovery).
    pub fn outer<S>(&self, inner: S) -> Outer<S>
    where
        S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
    {
        let observed = Observe { edge: self.clone(), inner };
        let cors = if self.inner.cors.enabled {
            tower::util::Either::Left(cors(&self.inner.cors).layer(observed))
        } else {
            tower::util::Either::Right(observed)
        };
        let id = http::HeaderName::from_static(REQUEST_ID);
        SetRequestId::new(PropagateRequestId::new(cors, id.clone()), id, MakeRequestUuid)
    }

    async fn guard(&self, mut req: Request, next: Next) -> Response {
        let route: Arc<str> = req.extensions().get::<MatchedPath>().map_or("", MatchedPath::as_str).into();
        if let Err(e) = self.check(&route, &mut req, None) {
            let mut r = e.into_response();
            r.extensions_mut().insert(RouteLabel(route));
            return r;
        }
        let consumer = req.extensions().get::<ConsumerLabel>().cloned();
        let mut r = next.run(req).await;
        r.extensions_mut().insert(RouteLabel(route));
        if let Some(c) = consumer {
            r.extensions_mut().insert(c);
        }
        r
    }

    /// The trace context of a request, and what [`Edge::answered`] needs to count it.
    fn received(&self, req: &mut Request) -> Received {
        let start = Instant::now();
        // the span's start and method, only while spans are exported
        let span = crate::trace::exporting().then(|| (std::time::SystemTime::now(), req.method().clone()));
        let trace = TraceContext::from_headers(req.headers());
        req.extensions_mut().insert(trace);
        let ingress =
            req.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        Received { start, span, trace, ingress }
    }

    /// Counts the answer to a request (APISIX's metrics, the span when exported) and gives it
    /// the request's `traceparent`.
    fn answered(&self, got: Received, mut resp: Response) -> Response {
        let Received { start, span, trace, ingress } = got;
        resp.headers_mut().insert(TRACEPARENT, trace.header_value());
        let none = || Arc::<str>::from("");
        let route = resp.extensions().get::<RouteLabel>().map_or_else(none, |r| r.0.clone());
        let node = resp.extensions().get::<NodeLabel>().map_or_else(none, |n| n.0.clone());
        let consumer = resp.extensions().get::<ConsumerLabel>().map_or_else(none, |c| c.0.clone());
        let egress = http_body::Body::size_hint(resp.body()).exact();
        if let Some((started, method)) = span {
            crate::trace::export_server_span(
                &self.inner.service,
                &trace,
                method.as_str(),
                &route,
                resp.status().as_u16(),
                started,
            );
        }
        record(
            &self.inner.service,
            resp.status().as_u16(),
            &route,
            &consumer,
            &node,
            start.elapsed(),
            ingress.unwrap_or(0),
            egress.unwrap_or(0),
        );
        resp
    }
}

/// What is noted of a request when it comes in, for counting its answer.
struct Received {
    start: Instant,
    span: Option<(std::time::SystemTime, Method)>,
    trace: TraceContext,
    ingress: Option<u64>,
}

/// The edge's outer part around a service `S` ([`Edge::outer`]).
pub type Outer<S> = SetRequestId<
    PropagateRequestId<tower::util::Either<tower_http::cors::Cors<Observe<S>>, Observe<S>>>,
    MakeRequestUuid,
>;

/// Trace context, metrics and panic recovery around a service (inside [`Outer`]): the request
/// gets its [`TraceContext`], the response its `traceparent` and is counted under APISIX's
/// metric names with the [`RouteLabel`], [`NodeLabel`] and [`ConsumerLabel`] it carries; a
/// panic, in the service's `call` or in its future, answers 500 with the error body and is
/// counted too.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    edge: Edge,
    inner: S,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        use futures_util::FutureExt as _;
        use std::panic::AssertUnwindSafe;
        let got = self.edge.received(&mut req);
        // the service made ready is the one called; a clone waits for the next request
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let (called, panicked) = match std::panic::catch_unwind(AssertUnwindSafe(move || inner.call(req))) {
            Ok(fut) => (Some(AssertUnwindSafe(fut).catch_unwind()), None),
            Err(p) => (None, Some(p)),
        };
        Observed { called, panicked, got: Some(got), edge: self.edge.clone() }
    }
}

pin_project_lite::pin_project! {
    /// The answer of an [`Observe`]d service: its service's, counted (no box of its own).
    pub struct Observed<F> {
        #[pin]
        called: Option<futures_util::future::CatchUnwind<std::panic::AssertUnwindSafe<F>>>,
        panicked: Option<Box<dyn std::any::Any + Send + 'static>>,
        got: Option<Received>,
        edge: Edge,
    }
}

impl<F> std::future::Future for Observed<F>
where
    F: std::future::Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let resp = match this.called.as_pin_mut() {
            Some(f) => match std::task::ready!(f.poll(cx)) {
                Ok(Ok(r)) => r,
                Ok(Err(never)) => match never {},
                Err(p) => panic_response(p),
            },
            None => panic_response(this.panicked.take().unwrap_or_else(|| Box::new("polled again"))),
        };
        let Some(got) = this.got.take() else {
            // polled after it was answered: an answer of its own, not counted twice
            return std::task::Poll::Ready(Ok(ApiError::internal("polled after completion").into_response()));
        };
        std::task::Poll::Ready(Ok(this.edge.answered(got, resp)))
    }
}

/// A label set and its metric handles (the bandwidth counters made at their first bytes, so a
/// route that never carried a body has none, as before).
struct Cached {
    service: String,
    status: u16,
    route: Arc<str>,
    consumer: Arc<str>,
    node: Arc<str>,
    requests: metrics::Counter,
    latency: metrics::Histogram,
    ingress: std::cell::OnceCell<metrics::Counter>,
    egress: std::cell::OnceCell<metrics::Counter>,
}

/// Label sets kept per thread (dropped all at once past this many).
const HANDLES_KEPT: usize = 4096;

thread_local! {
    /// The handles of the label sets this thread has counted: a response's labels are hashed
    /// and its handles looked up, instead of building and registering seven labels per metric
    /// per request.
    static HANDLES: std::cell::RefCell<std::collections::HashMap<u64, Cached>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

impl Cached {
    fn new(service: &str, status: u16, route: &Arc<str>, consumer: &Arc<str>, node: &Arc<str>) -> Cached {
        Cached {
            // matched_host: the host a route matched on, as APISIX labels it; no route here
            // matches on a host, so it is empty (never the client's Host header, which would
            // let any client add label sets without bound)
            requests: metrics::counter!(
                "apisix_http_status",
                "code" => status.to_string(),
                "route" => route.to_string(),
                "matched_uri" => route.to_string(),
                "matched_host" => "",
                "service" => service.to_owned(),
                "consumer" => consumer.to_string(),
                "node" => node.to_string(),
            ),
            latency: metrics::histogram!(
                "apisix_http_latency",
                "type" => "request",
                "route" => route.to_string(),
                "service" => service.to_owned(),
                "consumer" => consumer.to_string(),
                "node" => node.to_string(),
            ),
            service: service.to_owned(),
            status,
            route: route.clone(),
            consumer: consumer.clone(),
            node: node.clone(),
            ingress: std::cell::OnceCell::new(),
            egress: std::cell::OnceCell::new(),
        }
    }

    fn is(&self, service: &str, status: u16, route: &str, consumer: &str, node: &str) -> bool {
        self.status == status
            && *self.route == *route
            && *self.node == *node
            && *self.consumer == *consumer
            && self.service == service
    }

    fn bandwidth(&self, kind: &'static str) -> metrics::Counter {
        metrics::counter!(
            "apisix_bandwidth",
            "type" => kind,
            "route" => self.route.to_string(),
            "service" => self.service.clone(),
            "consumer" => self.consumer.to_string(),
            "node" => self.node.to_string(),
        )
    }

    fn count(&self, took: std::time::Duration, ingress: u64, egress: u64) {
        self.requests.increment(1);
        self.latency.record(took.as_secs_f64() * 1000.0);
        if ingress > 0 {
            self.ingress.get_or_init(|| self.bandwidth("ingress")).increment(ingress);
        }
        if egress > 0 {
            self.egress.get_or_init(|| self.bandwidth("egress")).increment(egress);
        }
    }
}

/// Counts one response under APISIX's metric names.
#[allow(clippy::too_many_arguments)]
pub fn record(
    service: &str,
    status: u16,
    route: &Arc<str>,
    consumer: &Arc<str>,
    node: &Arc<str>,
    took: std::time::Duration,
    ingress: u64,
    egress: u64,
) {
    use std::hash::{Hash as _, Hasher as _};
    metrics::counter!("apisix_http_requests_total").increment(1);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (service, status, &**route, &**consumer, &**node).hash(&mut h);
    let key = h.finish();
    HANDLES.with_borrow_mut(|m| {
        match m.get(&key) {
            Some(c) if c.is(service, status, route, consumer, node) => c.count(took, ingress, egress),
            // another label set with the same hash: counted without keeping its handles
            Some(_) => Cached::new(service, status, route, consumer, node).count(took, ingress, egress),
            None => {
                if m.len() >= HANDLES_KEPT {
                    m.clear();
                }
                let c = Cached::new(service, status, route, consumer, node);
                c.count(took, ingress, egress);
                m.insert(key, c);
            }
        }
    });
}

fn claim_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The client's address as the server saw it (`ConnectInfo`), or the empty key.
fn peer_ip(req: &Request) -> String {
    ClientIp::of_request(req).and_then(|c| c.0.to_str().ok().map(str::to_owned)).unwrap_or_default()
}

fn cors(c: &CorsConf) -> CorsLayer {
    let any = c.allow_origins.iter().any(|o| o == "*") || c.allow_origins.is_empty();
    let origins = if any {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(c.allow_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    // with any origin allowed (and `*` for headers), no CORS header depends on the request, so
    // responses vary by none of its headers; with a list, the allowed origin is the request's
    let vary = if any { vec![] } else { tower_http::cors::preflight_request_headers().collect() };
    CorsLayer::new()
        .vary(vary)
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::HEAD,
        ])
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(std::time::Duration::from_secs(86_400))
}

fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    tracing::error!(panic = what, "handler panicked; answered 500");
    metrics::counter!("edge_panics_total").increment(1);
    ApiError::internal("internal error").into_response()
}

/// The claims a checked request carries.
pub fn claims(req: &Request) -> Option<&Claims> {
    req.extensions().get::<Claims>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service that panics, in its `call` or in its future, is answered 500 by the edge's outer
    /// part, with the request's id and trace context, and counted.
    #[test]
    fn a_panic_in_the_call_or_its_future_answers_500_and_is_counted() {
        use futures_util::FutureExt as _;
        #[derive(Clone)]
        struct Boom {
            in_call: bool,
        }
        impl Service<Request> for Boom {
            type Response = Response;
            type Error = Infallible;
            type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send>>;
            fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: Request) -> Self::Future {
                assert!(!self.in_call, "boom in call");
                Box::pin(async {
                    let fail = true;
                    assert!(!fail, "boom in the future");
                    Ok(Response::default())
                })
            }
        }
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let edge = Edge::new("outer-test", &EdgeConf::default(), JwtAuth::new("", "", 0), None).unwrap();
        metrics::with_local_recorder(&recorder, || {
            for in_call in [true, false] {
                let mut svc = edge.outer(Boom { in_call });
                let req = http::Request::get("/x")
                    .header(REQUEST_ID, format!("r-{in_call}"))
                    .body(axum::body::Body::empty())
                    .unwrap();
                let resp = svc.call(req).now_or_never().expect("ready").unwrap();
                assert_eq!(resp.status(), 500, "in_call {in_call}");
                assert_eq!(resp.headers()[REQUEST_ID], format!("r-{in_call}").as_str());
                assert!(resp.headers().contains_key(TRACEPARENT));
            }
        });
        let text = handle.render();
        let line = text.lines().find(|l| l.starts_with(r#"apisix_http_status{code="500""#)).unwrap_or_default();
        assert!(line.ends_with(" 2"), "both counted: {text}");
        assert!(text.contains("edge_panics_total 2"), "{text}");
    }

    /// Each label set counts what was recorded under it, through the cached handles, past the
    /// point where the cache is emptied and filled again.
    #[test]
    fn responses_are_counted_under_their_labels() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let (route, none) = (Arc::<str>::from("/a/{id}"), Arc::<str>::from(""));
            let (alice, node) = (Arc::<str>::from("alice"), Arc::<str>::from("10.0.0.1:80"));
            for i in 0..(HANDLES_KEPT + 100) {
                record("svc", 200, &route, &alice, &node, std::time::Duration::from_millis(3), 10, 20);
                record("svc", 404, &none, &none, &none, std::time::Duration::from_millis(1), 0, 0);
                // many other label sets: the cache is emptied on the way
                record("svc", 500, &Arc::from(format!("/r{i}")), &none, &none, std::time::Duration::ZERO, 0, 0);
            }
        });
        let text = handle.render();
        let n = HANDLES_KEPT + 100;
        let line = |prefix: &str| {
            text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix} in {text}")).to_owned()
        };
        assert!(line(r#"apisix_http_status{code="200",route="/a/{id}",matched_uri="/a/{id}",matched_host="",service="svc",consumer="alice",node="10.0.0.1:80"}"#).ends_with(&format!(" {n}")));
        assert!(line(r#"apisix_http_status{code="404",route="""#).ends_with(&format!(" {n}")));
        assert!(line(r#"apisix_bandwidth{type="egress",route="/a/{id}""#).ends_with(&format!(" {}", 20 * n)));
        assert!(line(r#"apisix_bandwidth{type="ingress",route="/a/{id}""#).ends_with(&format!(" {}", 10 * n)));
        assert!(line(r#"apisix_http_requests_total"#).ends_with(&format!(" {}", 3 * n)));
        assert!(line(r#"apisix_http_status{code="500",route="/r77""#).ends_with(" 1"));
        assert!(!text.contains(r#"type="ingress",route="""#), "nothing counted for an empty body");
    }
}
