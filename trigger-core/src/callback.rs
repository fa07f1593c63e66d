//! Callbacks: what a task calls when it runs, and how the answer decides its fate.
//!
//! The upstream task payloads (spec §6.1) are kept as they are: `defer:triggerTask` carries
//! `{"msgId", "carrier", "msg", "url"}` and POSTs `{"msgId": <msgId or task id>, "Msg": <msg>}`;
//! `defer:triggerProtoTask` carries `{"msgId", "carrier", "grpcServer", "method", "payload",
//! "requestTimeout"}` (here `payload` is the request's bytes in base64) and invokes `method`
//! with the raw bytes. Our additions (`method`, `headers`, `timeout` for HTTP) are optional.
//!
//! The answer decides: HTTP 2xx or gRPC OK is success (the result text is upstream's
//! `success`); a refusal that cannot change on a retry (HTTP 4xx other than 408/425/429; gRPC
//! InvalidArgument, NotFound, AlreadyExists, PermissionDenied, FailedPrecondition, OutOfRange,
//! Unimplemented, Unauthenticated) archives at once; anything else retries with backoff.
//! (Upstream retries everything, 25 times over about three weeks, even a 404.)

use crate::core::Lease;
use crate::error::{Error, Result};
use crate::task::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Task type of an HTTP callback (upstream name).
pub const HTTP_TASK: &str = "defer:triggerTask";
/// Task type of a gRPC callback (upstream name).
pub const GRPC_TASK: &str = "defer:triggerProtoTask";

/// The payload of an HTTP callback task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpTask {
    /// The caller's message id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub msg_id: String,
    /// W3C trace-context headers.
    #[serde(default)]
    pub carrier: BTreeMap<String, String>,
    /// The body to deliver (any JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<serde_json::Value>,
    /// Target URL.
    pub url: String,
    /// HTTP method (default POST).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Timeout (ms; default 10 000).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
}

/// The payload of a gRPC callback task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcTask {
    /// The caller's message id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub msg_id: String,
    /// W3C trace-context headers (sent as metadata).
    #[serde(default)]
    pub carrier: BTreeMap<String, String>,
    /// Target: `host:port` or `direct:///h:p[,h:p...]`.
    pub grpc_server: String,
    /// Full method path, `/package.Service/Method`.
    pub method: String,
    /// The request message's bytes, base64.
    #[serde(default)]
    pub payload: String,
    /// Timeout (ms; default 60 000).
    #[serde(default)]
    pub request_timeout: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Checks a gRPC target as upstream does: `host:port`, `direct:///h:p[,h:p...]`, or a
/// discovery URL (`nacos://`, `etcd://`, `consul://`), which this build cannot resolve.
///
/// # Errors
/// [`Error::Callback`] naming what is wrong.
pub fn grpc_endpoints(target: &str) -> Result<Vec<String>> {
    let hosts: Vec<&str> = if let Some(rest) = target.strip_prefix("direct:///") {
        rest.split(',').collect()
    } else if ["nacos://", "etcd://", "consul://"].iter().any(|p| target.starts_with(p)) {
        return Err(Error::Callback(format!(
            "{target:?}: service discovery is not supported; use host:port or direct:///"
        )));
    } else {
        vec![target]
    };
    hosts
        .into_iter()
        .map(|h| {
            let h = h.trim();
            match h.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
                    Ok(format!("http://{h}"))
                }
                _ => Err(Error::Callback(format!("grpc server {h:?} is not host:port"))),
            }
        })
        .collect()
}

/// Runs callback tasks: one HTTP client and one cached gRPC channel per target.
#[derive(Debug, Clone, Default)]
pub struct Callbacks {
    #[cfg(feature = "http")]
    http: reqwest::Client,
    #[cfg(feature = "grpc")]
    channels: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, tonic::transport::Channel>>>,
}

impl Callbacks {
    /// A runner.
    pub fn new() -> Callbacks {
        Callbacks::default()
    }

    /// Runs one leased task by its type; an unknown type or a payload that does not parse is
    /// archived (it can never succeed).
    pub async fn run(&self, lease: Lease) -> Outcome {
        match lease.task.kind.as_str() {
            HTTP_TASK => match serde_json::from_slice::<HttpTask>(&lease.task.payload) {
                Ok(t) => self.http(&t, &lease.task.id).await,
                Err(e) => Outcome::archive(format!("fail,bad payload: {e}")),
            },
            GRPC_TASK => match serde_json::from_slice::<GrpcTask>(&lease.task.payload) {
                Ok(t) => self.grpc(&t).await,
                Err(e) => Outcome::archive(format!("fail,bad payload: {e}")),
            },
            other => Outcome::archive(format!("fail,no handler for task type {other:?}")),
        }
    }

    /// Delivers an HTTP callback.
    #[cfg(feature = "http")]
    pub async fn http(&self, t: &HttpTask, task_id: &str) -> Outcome {
        let method = if t.method.is_empty() { "POST" } else { t.method.as_str() };
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return Outcome::archive(format!("fail,bad method {method:?}"));
        };
        let msg_id = if t.msg_id.is_empty() { task_id } else { t.msg_id.as_str() };
        let body = serde_json::json!({ "msgId": msg_id, "Msg": t.msg });
        let mut req = self
            .http
            .request(method, &t.url)
            .timeout(std::time::Duration::from_millis(if t.timeout == 0 { 10_000 } else { t.timeout }))
            .json(&body);
        for (k, v) in t.carrier.iter().chain(&t.headers) {
            req = req.header(k, v);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Outcome::success("success"),
            Ok(r) => {
                let s = r.status().as_u16();
                let text = format!("fail,httpCode error: {s}");
                if (400..500).contains(&s) && !matches!(s, 408 | 425 | 429) {
                    Outcome::archive(text)
                } else {
                    Outcome::retry(text)
                }
            }
            Err(e) if e.is_builder() => Outcome::archive(format!("fail,http error: {e}")),
            Err(e) => Outcome::retry(format!("fail,http error: {e}")),
        }
    }

    /// One plain HTTP call (the `Invoke` RPC): returns the status and the response body.
    /// A JSON-object `body` is sent form-encoded when `headers` set
    /// `Content-Type: application/x-www-form-urlencoded`.
    ///
    /// # Errors
    /// The transport error's text (connect, timeout, bad URL or method, non-object form body).
    #[cfg(feature = "http")]
    pub async fn http_raw(
        &self,
        method: &str,
        url: &str,
        headers: &BTreeMap<String, String>,
        body: &str,
        timeout: std::time::Duration,
    ) -> std::result::Result<(u16, bytes::Bytes), String> {
        let method = if method.is_empty() { "POST" } else { method };
        let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("bad method {method:?}"))?;
        let mut req = self.http.request(m, url).timeout(timeout);
        let mut form = false;
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("content-type") && v.starts_with("application/x-www-form-urlencoded") {
                form = true;
            }
            req = req.header(k, v);
        }
        if !body.is_empty() {
            if form {
                let v: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(body).map_err(|e| format!("a form body must be a JSON object: {e}"))?;
                let mut enc = String::new();
                for (i, (k, v)) in v.iter().enumerate() {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    if i > 0 {
                        enc.push('&');
                    }
                    enc.push_str(&form_escape(k));
                    enc.push('=');
                    enc.push_str(&form_escape(&text));
                }
                req = req.body(enc);
            } else {
                if !headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
                    req = req.header("content-type", "application/json");
                }
                req = req.body(body.to_owned());
            }
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let data = r.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, data))
    }

    /// Without the `http` feature every HTTP task is archived.
    #[cfg(not(feature = "http"))]
    pub async fn http(&self, _t: &HttpTask, _task_id: &str) -> Outcome {
        Outcome::archive("fail,built without HTTP callbacks")
    }

    /// Invokes a gRPC callback with the raw request bytes.
    #[cfg(feature = "grpc")]
    pub async fn grpc(&self, t: &GrpcTask) -> Outcome {
        use base64::Engine as _;
        let payload = match base64::engine::general_purpose::STANDARD.decode(&t.payload) {
            Ok(p) => p,
            Err(e) => return Outcome::archive(format!("fail,payload is not base64: {e}")),
        };
        let channel = match self.channel(&t.grpc_server) {
            Ok(c) => c,
            Err(e) => return Outcome::archive(format!("fail,rpcInvokeError: {e}")),
        };
        let timeout = std::time::Duration::from_millis(if t.request_timeout == 0 { 60_000 } else { t.request_timeout });
        match invoke_raw(channel, &t.method, payload.into(), &t.carrier, timeout).await {
            Ok(_) => Outcome::success("success"),
            Err(s) => {
                use tonic::Code::*;
                let text = format!("fail,rpcInvokeError: {}: {}", s.code(), s.message());
                if matches!(
                    s.code(),
                    InvalidArgument
                        | NotFound
                        | AlreadyExists
                        | PermissionDenied
                        | FailedPrecondition
                        | OutOfRange
                        | Unimplemented
                        | Unauthenticated
                ) {
                    Outcome::archive(text)
                } else {
                    Outcome::retry(text)
                }
            }
        }
    }

    /// Without the `grpc` feature every gRPC task is archived.
    #[cfg(not(feature = "grpc"))]
    pub async fn grpc(&self, _t: &GrpcTask) -> Outcome {
        Outcome::archive("fail,built without gRPC callbacks")
    }

    /// The channel of a gRPC target, opened once and reused.
    ///
    /// # Errors
    /// [`Error::Callback`] for a target that is not `host:port` / `direct:///...`.
    #[cfg(feature = "grpc")]
    pub fn channel(&self, target: &str) -> Result<tonic::transport::Channel> {
        let mut map = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = map.get(target) {
            return Ok(c.clone());
        }
        let eps = grpc_endpoints(target)?
            .into_iter()
            .map(|u| {
                tonic::transport::Endpoint::from_shared(u)
                    .map(|e| e.connect_timeout(std::time::Duration::from_secs(5)))
                    .map_err(|e| Error::Callback(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let ch = if eps.len() == 1 {
            eps.into_iter().next().expect("one").connect_lazy()
        } else {
            tonic::transport::Channel::balance_list(eps.into_iter())
        };
        map.insert(target.to_owned(), ch.clone());
        Ok(ch)
    }
}

/// `application/x-www-form-urlencoded` escaping of one key or value.
#[cfg(feature = "http")]
fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Invokes `method` (`/pkg.Service/Method`) on `channel` with `payload` as the encoded request;
/// returns the encoded response.
///
/// # Errors
/// The call's status (`InvalidArgument` for a malformed method path).
#[cfg(feature = "grpc")]
pub async fn invoke_raw(
    channel: tonic::transport::Channel,
    method: &str,
    payload: bytes::Bytes,
    metadata: &BTreeMap<String, String>,
    timeout: std::time::Duration,
) -> Result<bytes::Bytes, tonic::Status> {
    let path: http::uri::PathAndQuery =
        method.parse().ok().filter(|_| method.starts_with('/') && method[1..].contains('/')).ok_or_else(|| {
            tonic::Status::invalid_argument(format!("method {method:?} is not /package.Service/Method"))
        })?;
    let mut grpc = tonic::client::Grpc::new(channel);
    tokio::time::timeout(timeout, grpc.ready())
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("connect timed out"))?
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut req = tonic::Request::new(payload);
    req.set_timeout(timeout);
    for (k, v) in metadata {
        if let (Ok(k), Ok(v)) =
            (k.to_ascii_lowercase().parse::<tonic::metadata::MetadataKey<tonic::metadata::Ascii>>(), v.parse())
        {
            req.metadata_mut().insert(k, v);
        }
    }
    let r = tokio::time::timeout(timeout, grpc.unary(req, path, RawCodec))
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("call timed out"))??;
    Ok(r.into_inner())
}

/// A codec passing bytes through untouched.
#[cfg(feature = "grpc")]
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

#[cfg(feature = "grpc")]
impl tonic::codec::Codec for RawCodec {
    type Encode = bytes::Bytes;
    type Decode = bytes::Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

#[cfg(feature = "grpc")]
impl tonic::codec::Encoder for RawCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: bytes::Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut as _;
        dst.put(item);
        Ok(())
    }
}

#[cfg(feature = "grpc")]
impl tonic::codec::Decoder for RawCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<bytes::Bytes>, tonic::Status> {
        use bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_targets_as_upstream_checks_them() {
        assert_eq!(grpc_endpoints("127.0.0.1:9000").unwrap(), ["http://127.0.0.1:9000"]);
        assert_eq!(grpc_endpoints("direct:///a:1,b:2").unwrap(), ["http://a:1", "http://b:2"]);
        assert!(grpc_endpoints("nacos://u@h:8848/svc").is_err());
        assert!(grpc_endpoints("no-port").is_err());
        assert!(grpc_endpoints("h:0").is_err());
        assert!(grpc_endpoints("direct:///a:1,bad").is_err());
    }

    #[test]
    fn upstream_payload_shapes_parse() {
        let h: HttpTask =
            serde_json::from_str(r#"{"msgId":"m1","carrier":{"traceparent":"00-x"},"msg":{"a":1},"url":"http://h/x"}"#)
                .unwrap();
        assert_eq!((h.msg_id.as_str(), h.url.as_str()), ("m1", "http://h/x"));
        let g: GrpcTask = serde_json::from_str(
            r#"{"carrier":{},"grpcServer":"h:1","method":"/p.S/M","payload":"AAE=","requestTimeout":500}"#,
        )
        .unwrap();
        assert_eq!((g.request_timeout, g.payload.as_str()), (500, "AAE="));
    }
}
