//! HTTP upstreams: nodes balanced round-robin or by least connections, taken out by active
//! health checks (and by failed connects) and put back when they answer again, idempotent
//! requests retried on another node when one cannot be reached.

use crate::config::HttpUpstreamConf;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zero_edge::error::ApiError;
use zero_edge::http::NodeLabel;

/// The largest body kept for a retry; a larger idempotent request is sent once.
const RETRY_BODY_LIMIT: usize = 1 << 20;

/// How nodes are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// In turn.
    RoundRobin,
    /// The node with the fewest requests in flight.
    LeastConn,
}

#[derive(Debug)]
struct Node {
    addr: String,
    /// `addr` as a URI authority and as a `Host` header, made once.
    authority: http::uri::Authority,
    host: HeaderValue,
    label: Arc<str>,
    healthy: AtomicBool,
    fails: AtomicU32,
    active: AtomicUsize,
}

/// A node's address, whether it takes requests now, and its requests in flight.
pub type NodeState = (String, bool, usize);

/// One HTTP upstream.
#[derive(Debug)]
pub struct HttpUpstream {
    /// Its id.
    pub id: String,
    nodes: Vec<Arc<Node>>,
    balance: Balance,
    next: AtomicUsize,
    retries: u32,
    timeout: Duration,
    unhealthy_after: u32,
    checker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        if let Some(c) = &self.checker {
            c.abort();
        }
    }
}

/// An HTTP/1.1 client with pooled keep-alive connections (one per serving thread, one per
/// health checker).
pub fn client() -> Client<HttpConnector, Body> {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.set_connect_timeout(Some(Duration::from_secs(3)));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build(c)
}

thread_local! {
    /// The client of the requests served on this thread (each serving thread has its own
    /// runtime, see [`crate::cores`]); its pooled connections are driven by that runtime.
    static THREAD_CLIENT: Client<HttpConnector, Body> = client();
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
];

/// Removes the hop-by-hop headers from `h`.
fn drop_hop_by_hop(h: &mut http::HeaderMap) {
    for name in &HOP_BY_HOP {
        h.remove(name);
    }
}

impl HttpUpstream {
    /// The upstream of `conf` (health checks start when a path is configured).
    ///
    /// # Errors
    /// No nodes, a bad balance name.
    pub fn new(conf: &HttpUpstreamConf) -> Result<Arc<HttpUpstream>, String> {
        if conf.nodes.is_empty() {
            return Err(format!("upstream {:?}: no Nodes", conf.id));
        }
        let balance = match conf.balance.as_str() {
            "" | "roundrobin" => Balance::RoundRobin,
            "least_conn" => Balance::LeastConn,
            b => return Err(format!("upstream {:?}: Balance {b:?} (roundrobin or least_conn)", conf.id)),
        };
        let mut nodes = Vec::with_capacity(conf.nodes.len());
        for a in &conf.nodes {
            let authority: http::uri::Authority = a
                .parse()
                .ok()
                .filter(|au: &http::uri::Authority| au.port_u16().is_some() && au.as_str() == a)
                .ok_or_else(|| format!("upstream {:?}: node {a:?} is no host:port", conf.id))?;
            let host = HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("upstream {:?}: node {a:?}: {e}", conf.id))?;
            nodes.push(Arc::new(Node {
                addr: a.clone(),
                authority,
                host,
                label: a.as_str().into(),
                healthy: AtomicBool::new(true),
                fails: AtomicU32::new(0),
                active: AtomicUsize::new(0),
            }));
        }
        let mut up = HttpUpstream {
            id: conf.id.clone(),
            nodes,
            balance,
            next: AtomicUsize::new(0),
            retries: conf.retries,
            timeout: Duration::from_millis(conf.timeout_ms.max(1)),
            unhealthy_after: conf.health_check.unhealthy_after.max(1),
            checker: None,
        };
        if !conf.health_check.path.is_empty() {
            let nodes = up.nodes.clone();
            // the checks' own client, on the runtime that runs them
            let client = client();
            let path = conf.health_check.path.clone();
            let every = Duration::from_millis(conf.health_check.interval_ms.max(50));
            let after = up.unhealthy_after;
            let id = up.id.clone();
            up.checker = Some(tokio::spawn(async move { check_health(id, nodes, client, path, every, after).await }));
        }
        Ok(Arc::new(up))
    }

    /// Every node: its address, whether it takes requests now, and its requests in flight.
    pub fn node_states(&self) -> Vec<NodeState> {
        self.nodes
            .iter()
            .map(|n| (n.addr.clone(), n.healthy.load(Ordering::Relaxed), n.active.load(Ordering::Relaxed)))
            .collect()
    }

    /// The addresses of the nodes taking requests now.
    pub fn healthy(&self) -> Vec<String> {
        self.nodes.iter().filter(|n| n.healthy.load(Ordering::Relaxed)).map(|n| n.addr.clone()).collect()
    }

    fn pick(&self, tried: &[usize]) -> Option<usize> {
        let n = self.nodes.len();
        let usable = |i: usize| !tried.contains(&i) && self.nodes[i].healthy.load(Ordering::Relaxed);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let chosen = match self.balance {
            Balance::RoundRobin => (0..n).map(|k| (start + k) % n).find(|&i| usable(i)),
            Balance::LeastConn => (0..n)
                .map(|k| (start + k) % n)
                .filter(|&i| usable(i))
                .min_by_key(|&i| self.nodes[i].active.load(Ordering::Relaxed)),
        };
        // every node down: try one anyway (a check may be behind) rather than refuse outright
        chosen.or_else(|| (0..n).map(|k| (start + k) % n).find(|i| !tried.contains(i)))
    }

    fn note_failure(&self, i: usize) {
        let node = &self.nodes[i];
        if node.fails.fetch_add(1, Ordering::Relaxed) + 1 >= self.unhealthy_after
            && node.healthy.swap(false, Ordering::Relaxed)
        {
            tracing::warn!(upstream = %self.id, node = %node.addr, "node taken out: connects fail");
        }
    }

    /// Sends `req` (with `path_and_query` as its path) to a node, retrying an
    /// idempotent request on other nodes when one cannot be reached.
    ///
    /// # Errors
    /// 502 when no node could be reached, 504 when the node did not answer in time.
    pub async fn forward(
        &self,
        req: Request<Body>,
        path_and_query: http::uri::PathAndQuery,
        client_ip: Option<zero_edge::http::ClientIp>,
    ) -> Result<Response, ApiError> {
        let (mut parts, body) = req.into_parts();
        drop_hop_by_hop(&mut parts.headers);
        if let Some(zero_edge::http::ClientIp(ip)) = client_ip {
            let xff = match parts.headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(prev) => HeaderValue::from_str(&format!("{prev}, {}", ip.to_str().unwrap_or_default())).ok(),
                None => Some(ip),
            };
            if let Some(v) = xff {
                parts.headers.insert(X_FORWARDED_FOR, v);
            }
        }
        if let Some(t) = parts.extensions.get::<zero_edge::trace::TraceContext>() {
            parts.headers.insert(zero_edge::trace::TRACEPARENT, t.header_value());
        }
        let idempotent =
            matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE);
        let retryable = idempotent && self.retries > 0;
        // a retryable request keeps its (small) body to send it again
        let (mut body, kept) = if retryable {
            match http_body::Body::size_hint(&body).upper() {
                Some(n) if n as usize <= RETRY_BODY_LIMIT => {
                    let b = body.collect().await.map_err(|e| ApiError::bad_request(format!("body: {e}")))?.to_bytes();
                    (None, Some(b))
                }
                _ => (Some(body), None),
            }
        } else {
            (Some(body), None)
        };
        let mut tried = vec![];
        let attempts = if kept.is_some() { self.retries as usize + 1 } else { 1 };
        let attempts = attempts.min(self.nodes.len().max(1));
        let mut last = ApiError::bad_gateway(format!("upstream {}: no node", self.id));
        let mut parts = Some(parts);
        for attempt in 0..attempts {
            let Some(i) = self.pick(&tried) else { break };
            tried.push(i);
            let node = self.nodes[i].clone();
            let mut uri = http::uri::Parts::default();
            uri.scheme = Some(http::uri::Scheme::HTTP);
            uri.authority = Some(node.authority.clone());
            uri.path_and_query = Some(path_and_query.clone());
            let uri = match Uri::from_parts(uri) {
                Ok(u) => u,
                Err(e) => return Err(ApiError::bad_request(format!("path: {e}"))),
            };
            // the last attempt takes the parts; an earlier one sends a copy
            let mut p = if attempt + 1 == attempts { parts.take() } else { parts.clone() }
                .ok_or_else(|| ApiError::internal("request parts gone"))?;
            p.uri = uri;
            p.headers.insert(http::header::HOST, node.host.clone());
            let b = match (&kept, body.take()) {
                (Some(k), _) => Body::from(k.clone()),
                (None, Some(b)) => b,
                (None, None) => break,
            };
            node.active.fetch_add(1, Ordering::Relaxed);
            // this thread's client: the upstream connection is driven where the request is
            let client = THREAD_CLIENT.with(Client::clone);
            let r = tokio::time::timeout(self.timeout, client.request(Request::from_parts(p, b))).await;
            node.active.fetch_sub(1, Ordering::Relaxed);
            match r {
                Ok(Ok(resp)) => {
                    node.fails.store(0, Ordering::Relaxed);
                    let (mut rp, rb) = resp.into_parts();
                    drop_hop_by_hop(&mut rp.headers);
                    let mut out = Response::from_parts(rp, Body::new(rb));
                    out.extensions_mut().insert(NodeLabel(node.label.clone()));
                    return Ok(out);
                }
                Ok(Err(e)) if e.is_connect() => {
                    self.note_failure(i);
                    last = ApiError::bad_gateway(format!("upstream {} node {}: {e}", self.id, node.addr));
                }
                Ok(Err(e)) => {
                    last = ApiError::bad_gateway(format!("upstream {} node {}: {e}", self.id, node.addr));
                    if kept.is_none() {
                        break;
                    }
                }
                Err(_) => {
                    let mut e = ApiError::grpc(
                        zero_edge::error::code::DEADLINE_EXCEEDED,
                        format!(
                            "upstream {} node {}: no answer within {} ms",
                            self.id,
                            node.addr,
                            self.timeout.as_millis()
                        ),
                    );
                    e.status = http::StatusCode::GATEWAY_TIMEOUT;
                    return Err(e);
                }
            }
        }
        Err(last)
    }
}

async fn check_health(
    id: String,
    nodes: Vec<Arc<Node>>,
    client: Client<HttpConnector, Body>,
    path: String,
    every: Duration,
    after: u32,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for n in &nodes {
            let uri: Result<Uri, _> = format!("http://{}{}", n.addr, path).parse();
            let Ok(uri) = uri else { continue };
            let req = Request::get(uri).body(Body::empty()).unwrap_or_default();
            let ok = matches!(
                tokio::time::timeout(every.max(Duration::from_millis(200)), client.request(req)).await,
                Ok(Ok(r)) if r.status().is_success() || r.status().is_redirection()
            );
            if ok {
                n.fails.store(0, Ordering::Relaxed);
                if !n.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!(upstream = %id, node = %n.addr, "node back: health check passes");
                }
            } else if n.fails.fetch_add(1, Ordering::Relaxed) + 1 >= after && n.healthy.swap(false, Ordering::Relaxed) {
                tracing::warn!(upstream = %id, node = %n.addr, "node taken out: health check fails");
            }
        }
    }
}
