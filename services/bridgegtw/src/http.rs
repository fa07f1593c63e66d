//! The HTTP side: every request matched against the route table, checked by the edge (token,
//! RBAC, the route's rate limit), then transcoded to its RPC or forwarded to its HTTP upstream;
//! and the admin API.

use crate::dynamic::{Kind, Store};
use crate::routes::{Routes, Target};
use crate::transcode;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use zero_edge::error::ApiError;
use zero_edge::http::{ConsumerLabel, Edge, RouteLabel};
use zero_edge::trace::{TraceContext, TRACEPARENT};

/// The largest request body transcoded.
pub const MAX_BODY: usize = 32 << 20;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The routes.
    pub routes: Arc<Routes>,
    /// The edge.
    pub edge: Edge,
}

/// The gateway's service: every request dispatched by the route table, the edge's outer part
/// around it (one service of known type: nothing boxed between the parts but the edge's own
/// future).
pub type App = zero_edge::http::Outer<Dispatch>;

/// The routing of requests to their targets, in the gateway's service ([`App`]).
#[derive(Debug, Clone)]
pub struct Dispatch(Gateway);

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let gw = self.0.clone();
        Box::pin(async move { Ok(dispatch(gw, req).await) })
    }
}

/// The gateway's service.
pub fn app(gw: Gateway) -> App {
    let edge = gw.edge.clone();
    edge.outer(Dispatch(gw))
}

async fn dispatch(gw: Gateway, mut req: Request) -> Response {
    let table = gw.routes.table();
    let Some((route, params)) = table.find(req.method(), req.uri().path()) else {
        return ApiError::not_found(format!("no route for {} {}", req.method(), req.uri().path())).into_response();
    };
    let label = RouteLabel(route.label.clone());
    if let Err(e) = gw.edge.check(&route.label, &mut req, route.limiter.as_ref()) {
        let mut r = e.into_response();
        r.extensions_mut().insert(label);
        return r;
    }
    let consumer = req.extensions().get::<ConsumerLabel>().cloned();
    let result = match &route.target {
        Target::Ping => Ok(axum::Json(serde_json::json!({"msg": "pong"})).into_response()),
        Target::Grpc { upstream, rpc_path } => grpc(upstream, rpc_path, &params, req).await,
        Target::Http { upstream, strip } => {
            // the request's own path and query unless the route strips a prefix from it
            let stripped = strip.as_deref().and_then(|prefix| {
                let pq = req.uri().path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
                let rest = pq.strip_prefix(prefix)?;
                let pq = if rest.starts_with('/') {
                    rest.to_owned()
                } else if rest.starts_with('?') || rest.is_empty() {
                    format!("/{rest}")
                } else {
                    return None;
                };
                Some(pq.parse::<http::uri::PathAndQuery>())
            });
            let pq = match stripped {
                Some(Ok(pq)) => pq,
                Some(Err(e)) => return ApiError::bad_request(format!("path: {e}")).into_response(),
                None => {
                    req.uri().path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"))
                }
            };
            let ip = zero_edge::http::ClientIp::of_request(&req);
            upstream.forward(req, pq, ip).await
        }
    };
    let mut r = result.unwrap_or_else(IntoResponse::into_response);
    r.extensions_mut().insert(label);
    if let Some(c) = consumer {
        r.extensions_mut().insert(c);
    }
    r
}

async fn grpc(
    upstream: &crate::upstream::RpcClient,
    rpc_path: &str,
    params: &[(String, String)],
    req: Request,
) -> Result<Response, ApiError> {
    let method = upstream.method(rpc_path).await?;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let msg = transcode::build_request(&method.input(), params, parts.uri.query(), &body, form)?;
    let mut md = tonic::metadata::MetadataMap::new();
    for (k, v) in &parts.headers {
        if let Some(name) = k.as_str().strip_prefix("grpc-metadata-") {
            if let (Ok(key), Ok(val)) = (
                tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(name.as_bytes()),
                tonic::metadata::MetadataValue::try_from(v.as_bytes()),
            ) {
                md.append(key, val);
            }
        }
    }
    if let Some(t) = parts.extensions.get::<TraceContext>() {
        if let Ok(v) = t.to_header().parse() {
            md.insert(TRACEPARENT, v);
        }
    }
    let timeout = parts
        .headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(transcode::parse_timeout)
        .map_or(upstream.timeout, |t| t.min(upstream.timeout))
        .max(Duration::from_millis(1));
    match upstream.call(rpc_path, transcode::encode(&msg), md, timeout).await {
        Ok((bytes, _)) => {
            let reply = transcode::decode_reply(&method, bytes)?;
            let json = transcode::render(&reply)?;
            let mut r = Response::new(Body::from(json));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
            Ok(r)
        }
        Err(s) => Err(zero_svc::client::http_error(&s)),
    }
}

/// The admin API (APISIX's paths; `X-API-KEY` must be `key`).
pub fn admin_router(routes: Arc<Routes>, store: Store, key: String) -> Router {
    let state = Admin { routes, store, key: Arc::from(key) };
    Router::new()
        .route("/apisix/admin/routes", get(list_routes))
        .route("/apisix/admin/upstreams", get(list_upstreams))
        .route("/apisix/admin/routes/{id}", get(get_route).put(put_route).delete(delete_route))
        .route("/apisix/admin/upstreams/{id}", get(get_upstream).put(put_upstream).delete(delete_upstream))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admin_key))
        .with_state(state)
}

#[derive(Debug, Clone)]
struct Admin {
    routes: Arc<Routes>,
    store: Store,
    key: Arc<str>,
}

async fn admin_key(State(a): State<Admin>, req: Request, next: axum::middleware::Next) -> Response {
    let given = req.headers().get("x-api-key").map(HeaderValue::as_bytes).unwrap_or_default();
    // compared in time independent of where they differ
    let want = a.key.as_bytes();
    let same = given.len() == want.len() && given.iter().zip(want).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if !same {
        return ApiError::unauthenticated("X-API-KEY missing or wrong").into_response();
    }
    next.run(req).await
}

async fn list_routes(State(a): State<Admin>) -> Response {
    axum::Json(serde_json::json!({"list": a.routes.merged().http_routes})).into_response()
}

async fn list_upstreams(State(a): State<Admin>) -> Response {
    axum::Json(serde_json::json!({"list": a.routes.merged().http_upstreams})).into_response()
}

async fn get_route(State(a): State<Admin>, Path(id): Path<String>) -> Response {
    match a.routes.merged().http_routes.into_iter().find(|r| r.id == id) {
        Some(r) => axum::Json(r).into_response(),
        None => ApiError::not_found(format!("route {id}")).into_response(),
    }
}

async fn get_upstream(State(a): State<Admin>, Path(id): Path<String>) -> Response {
    match a.routes.merged().http_upstreams.into_iter().find(|u| u.id == id) {
        Some(u) => axum::Json(u).into_response(),
        None => ApiError::not_found(format!("upstream {id}")).into_response(),
    }
}

async fn write(a: &Admin, kind: Kind, id: &str, body: Option<axum::body::Bytes>) -> Response {
    let value = match body.map(|b| serde_json::from_slice::<serde_json::Value>(&b)).transpose() {
        Ok(v) => v,
        Err(e) => return ApiError::bad_request(format!("body: {e}")).into_response(),
    };
    let created = value.is_some();
    match a.store.write(&a.routes, kind, id, value).await {
        Ok(()) if created => StatusCode::CREATED.into_response(),
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn put_route(State(a): State<Admin>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    write(&a, Kind::Route, &id, Some(body)).await
}

async fn delete_route(State(a): State<Admin>, Path(id): Path<String>) -> Response {
    write(&a, Kind::Route, &id, None).await
}

async fn put_upstream(State(a): State<Admin>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    write(&a, Kind::Upstream, &id, Some(body)).await
}

async fn delete_upstream(State(a): State<Admin>, Path(id): Path<String>) -> Response {
    write(&a, Kind::Upstream, &id, None).await
}
