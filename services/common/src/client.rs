//! gRPC clients of other services, configured as go-zero's `zrpc.RpcClientConf`
//! (`Endpoints`, `Target`, `Etcd`, `NonBlock`, `Timeout`, `App`, `Token`, `KeepaliveTime`) plus
//! `Tls` (ours): a channel balanced over the endpoints (fixed, or go-zero's etcd discovery), TLS
//! or mutual TLS (rustls), a bearer token sent with every call for servers with `GrpcAuth`, the
//! descriptors of the methods (given, or fetched by server reflection at first use and kept),
//! and unary calls of encoded messages.
//!
//! ```yaml
//! FileRpcConf:
//!   Endpoints: [127.0.0.1:21003]
//!   Timeout: 3000
//!   Token: eyJhbGciOiJIUzI1NiJ9...        # sent as `authorization: Bearer ...`
//!   Tls: {CaFile: /etc/zero/ca.crt, CertFile: /etc/zero/gtw.crt, KeyFile: /etc/zero/gtw.key}
//! ```

use crate::transcode::RawCodec;
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use prost_types::FileDescriptorProto;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::RwLock;
use tonic::transport::{Channel, Endpoint};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use zero_edge::error::ApiError;
use zero_edge::registry::EtcdConf;

/// go-zero's `zrpc.RpcClientConf`, and `Tls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct RpcClientConf {
    /// `host:port` list, balanced round-robin.
    pub endpoints: Vec<String>,
    /// `dns:///host:port`, `host:port`, or `etcd://host:port/key`.
    pub target: String,
    /// Connect on first use (always the case here; accepted for the upstream files).
    pub non_block: bool,
    /// Per-call timeout (ms); 0: the caller's default.
    pub timeout: u64,
    /// go-zero discovery in etcd.
    pub etcd: EtcdConf,
    /// go-zero's app name for its token check (accepted; unused).
    pub app: String,
    /// A bearer token sent as `authorization` with every call that carries none of its own (a
    /// JWT the server's `GrpcAuth` accepts); empty: none.
    pub token: String,
    /// HTTP/2 keep-alive ping interval (Go duration; empty: none).
    pub keepalive_time: String,
    /// TLS to the server (ours).
    pub tls: ClientTls,
}

/// `Tls` of a client: on when `CaFile` is set; `CertFile` + `KeyFile` present a client
/// certificate (mutual TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct ClientTls {
    /// PEM CA certificates the server's certificate must chain to; empty: plain text.
    pub ca_file: String,
    /// PEM client certificate chain.
    pub cert_file: String,
    /// PEM client private key.
    pub key_file: String,
    /// The name the server's certificate must hold; empty: the endpoint's host.
    pub server_name: String,
}

impl ClientTls {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        !self.ca_file.is_empty()
    }

    fn config(&self) -> Result<tonic::transport::ClientTlsConfig, String> {
        crate::security::install_crypto();
        let read = |f: &str| std::fs::read(f).map_err(|e| format!("Tls {f}: {e}"));
        let mut c = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(read(&self.ca_file)?));
        if !self.cert_file.is_empty() {
            c = c.identity(tonic::transport::Identity::from_pem(read(&self.cert_file)?, read(&self.key_file)?));
        }
        if !self.server_name.is_empty() {
            c = c.domain_name(self.server_name.clone());
        }
        Ok(c)
    }
}

/// A client of one service (all its instances).
#[derive(Debug)]
pub struct RpcClient {
    channel: Channel,
    token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    /// The call timeout.
    pub timeout: Duration,
    from_files: bool,
    pool: RwLock<Option<DescriptorPool>>,
    methods: RwLock<HashMap<String, MethodDescriptor>>,
    discovery: Option<tokio::task::JoinHandle<()>>,
    /// Instances discovery knows of now (`None`: fixed endpoints).
    instances: Option<Arc<AtomicUsize>>,
}

impl Drop for RpcClient {
    fn drop(&mut self) {
        if let Some(d) = &self.discovery {
            d.abort();
        }
    }
}

/// How each instance is reached: TLS and keep-alive of the client.
#[derive(Clone)]
struct Dial {
    tls: Option<tonic::transport::ClientTlsConfig>,
    keepalive: Option<Duration>,
}

impl Dial {
    fn endpoint(&self, addr: &str) -> Result<Endpoint, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = if addr.contains("://") { addr.to_owned() } else { format!("{scheme}://{addr}") };
        let mut e = Endpoint::from_shared(uri)
            .map_err(|e| format!("endpoint {addr:?}: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .http2_adaptive_window(true);
        if let Some(k) = self.keepalive {
            e = e.http2_keep_alive_interval(k).keep_alive_while_idle(true);
        }
        if let Some(t) = &self.tls {
            e = e.tls_config(t.clone()).map_err(|e| format!("endpoint {addr:?}: TLS: {e}"))?;
        }
        Ok(e)
    }
}

/// `etcd://host:port[,host:port]/key` as an etcd section.
fn etcd_target(target: &str) -> Option<EtcdConf> {
    let rest = target.strip_prefix("etcd://")?;
    let (hosts, key) = rest.split_once('/')?;
    Some(EtcdConf { hosts: hosts.split(',').map(str::to_owned).collect(), key: key.to_owned(), ..EtcdConf::default() })
}

/// A channel following the instances registered in etcd, and the count of them.
#[cfg(feature = "etcd")]
fn discovered(etcd: EtcdConf, dial: Dial) -> (Channel, tokio::task::JoinHandle<()>, Arc<AtomicUsize>) {
    let (channel, tx) = Channel::balance_channel::<String>(64);
    let mut nodes = zero_edge::registry::discover(etcd);
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let task = tokio::spawn(async move {
        let mut have = std::collections::BTreeSet::<String>::new();
        loop {
            let now = nodes.borrow_and_update().clone();
            for gone in have.difference(&now) {
                let _ = tx.send(tonic::transport::channel::Change::Remove(gone.clone())).await;
            }
            for new in now.difference(&have) {
                match dial.endpoint(new) {
                    Ok(e) => {
                        let _ = tx.send(tonic::transport::channel::Change::Insert(new.clone(), e)).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "discovered endpoint refused"),
                }
            }
            counter.store(now.len(), Ordering::Relaxed);
            have = now;
            if nodes.changed().await.is_err() {
                return;
            }
        }
    });
    (channel, task, count)
}

impl RpcClient {
    /// The client of `conf`, descriptors from the `proto_sets` files (empty: reflection).
    /// Connects on first use.
    ///
    /// # Errors
    /// No endpoint, a bad endpoint, unreadable TLS files, a descriptor file that cannot be read.
    pub fn new(conf: &RpcClientConf, proto_sets: &[String], default_timeout: Duration) -> Result<RpcClient, String> {
        let pool = if proto_sets.is_empty() { None } else { Some(crate::transcode::pool_of_files(proto_sets)?) };
        RpcClient::with_descriptors(conf, pool, default_timeout)
    }

    /// The client of `conf` with the descriptors `pool` (`None`: by reflection). Connects on
    /// first use; must be called within a tokio runtime when `conf` discovers in etcd.
    ///
    /// # Errors
    /// No endpoint, a bad endpoint, unreadable TLS files, etcd asked of a build without it.
    pub fn with_descriptors(
        conf: &RpcClientConf,
        pool: Option<DescriptorPool>,
        default_timeout: Duration,
    ) -> Result<RpcClient, String> {
        let timeout = if conf.timeout > 0 { Duration::from_millis(conf.timeout) } else { default_timeout };
        let keepalive = if conf.keepalive_time.is_empty() {
            None
        } else {
            Some(
                conf.keepalive_time
                    .parse::<crate::config::GoDuration>()
                    .map_err(|e| format!("KeepaliveTime {:?}: {e}", conf.keepalive_time))?
                    .0,
            )
        };
        let dial = Dial { tls: if conf.tls.enabled() { Some(conf.tls.config()?) } else { None }, keepalive };
        let token = if conf.token.is_empty() {
            None
        } else {
            let bearer =
                if conf.token.starts_with("Bearer ") { conf.token.clone() } else { format!("Bearer {}", conf.token) };
            Some(bearer.parse().map_err(|_| "Token: not a valid header value".to_owned())?)
        };
        let etcd = if conf.etcd.enabled() { Some(conf.etcd.clone()) } else { etcd_target(&conf.target) };
        let mut instances = None;
        let (channel, discovery) = if let Some(etcd) = etcd {
            #[cfg(feature = "etcd")]
            {
                let (channel, task, count) = discovered(etcd, dial);
                instances = Some(count);
                (channel, Some(task))
            }
            #[cfg(not(feature = "etcd"))]
            {
                let _ = (etcd, &mut instances);
                return Err("Etcd: this build has no etcd client (feature `etcd`)".into());
            }
        } else {
            let mut list: Vec<String> = conf.endpoints.clone();
            if list.is_empty() && !conf.target.is_empty() {
                list.push(conf.target.trim_start_matches("dns:///").to_owned());
            }
            if list.is_empty() {
                return Err("no Endpoints, Target or Etcd".into());
            }
            let eps = list.iter().map(|a| dial.endpoint(a)).collect::<Result<Vec<_>, _>>()?;
            (Channel::balance_list(eps.into_iter()), None)
        };
        let from_files = pool.is_some();
        Ok(RpcClient {
            channel,
            token,
            timeout,
            from_files,
            pool: RwLock::new(pool),
            methods: RwLock::new(HashMap::new()),
            discovery,
            instances,
        })
    }

    /// The channel (for generated clients), balanced over the instances.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The configured token's `authorization` value, if any.
    pub fn token(&self) -> Option<&tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
        self.token.as_ref()
    }

    /// Fails at once when discovery knows of no instance (instead of waiting out the timeout).
    fn any_instance(&self) -> Result<(), tonic::Status> {
        match &self.instances {
            Some(n) if n.load(Ordering::Relaxed) == 0 => Err(tonic::Status::unavailable("no instance registered")),
            _ => Ok(()),
        }
    }

    /// The descriptor of `rpc_path` (`pkg.Service/Method`), by reflection when no `ProtoSets`
    /// were given (fetched once; fetched again while the server cannot be asked).
    ///
    /// # Errors
    /// 503 when the server cannot be reached for its descriptors, 404 when it has no such
    /// method.
    pub async fn method(&self, rpc_path: &str) -> Result<MethodDescriptor, ApiError> {
        self.any_instance().map_err(|s| ApiError::grpc(zero_edge::error::code::UNAVAILABLE, s.message()))?;
        if let Some(m) = self.methods.read().await.get(rpc_path) {
            return Ok(m.clone());
        }
        let service = rpc_path.trim_start_matches('/').split_once('/').map_or(rpc_path, |(s, _)| s).to_owned();
        let have = self.pool.read().await.as_ref().is_some_and(|p| p.get_service_by_name(&service).is_some());
        if !have && !self.from_files {
            let fetched = tokio::time::timeout(self.timeout, reflect(self.channel.clone(), &service))
                .await
                .unwrap_or_else(|_| Err("no instance answered in time".into()))
                .map_err(|e| {
                    ApiError::grpc(zero_edge::error::code::UNAVAILABLE, format!("descriptors of {service}: {e}"))
                })?;
            let mut pool = self.pool.write().await;
            let mut merged = pool.take().unwrap_or_default();
            for f in fetched {
                if merged.get_file_by_name(f.name()).is_none() {
                    if let Err(e) = merged.add_file_descriptor_proto(f) {
                        *pool = Some(merged);
                        return Err(ApiError::bad_gateway(format!("descriptors of {service}: {e}")));
                    }
                }
            }
            *pool = Some(merged);
        }
        let pool = self.pool.read().await;
        let m = crate::transcode::method(pool.as_ref().unwrap_or(&DescriptorPool::new()), rpc_path)
            .map_err(ApiError::not_found)?;
        self.methods.write().await.insert(rpc_path.to_owned(), m.clone());
        Ok(m)
    }

    /// Waits (within `timeout`) for an instance to take calls.
    async fn ready(&self, timeout: Duration) -> Result<tonic::client::Grpc<Channel>, tonic::Status> {
        self.any_instance()?;
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        // no instance (discovery found none yet): fail within the timeout, do not wait for one
        match tokio::time::timeout(timeout, grpc.ready()).await {
            Ok(Ok(())) => Ok(grpc),
            Ok(Err(e)) => Err(tonic::Status::unavailable(format!("upstream not ready: {e}"))),
            Err(_) => Err(tonic::Status::unavailable("no upstream instance ready")),
        }
    }

    fn with_token(&self, mut metadata: tonic::metadata::MetadataMap) -> tonic::metadata::MetadataMap {
        if let Some(t) = &self.token {
            if !metadata.contains_key("authorization") {
                metadata.insert("authorization", t.clone());
            }
        }
        metadata
    }

    /// A client-streaming call of `rpc_path`: the encoded `messages` as they come, the encoded
    /// reply once the server answers. No overall deadline (an upload runs as long as it
    /// moves). An `Err` message resets the stream instead of ending it, so the server never
    /// takes a stream cut short for a whole one.
    ///
    /// # Errors
    /// The call's status.
    pub async fn client_streaming<S>(
        &self,
        rpc_path: &str,
        messages: S,
        metadata: tonic::metadata::MetadataMap,
    ) -> Result<(Bytes, tonic::metadata::MetadataMap), tonic::Status>
    where
        S: futures_core::Stream<Item = Result<Bytes, tonic::Status>> + Send + 'static,
    {
        let mut grpc = self.ready(self.timeout).await?;
        let req = tonic::Request::from_parts(self.with_token(metadata), tonic::Extensions::default(), messages);
        let path: http::uri::PathAndQuery = format!("/{}", rpc_path.trim_start_matches('/'))
            .parse()
            .map_err(|_| tonic::Status::invalid_argument("bad RpcPath"))?;
        let (md, body, _) = grpc.client_streaming(req, path, crate::grpc::FallibleRawCodec).await?.into_parts();
        Ok((body, md))
    }

    /// Calls `rpc_path` with the encoded `request` and `metadata`, within `timeout`.
    ///
    /// # Errors
    /// The call's status.
    pub async fn call(
        &self,
        rpc_path: &str,
        request: Bytes,
        metadata: tonic::metadata::MetadataMap,
        timeout: Duration,
    ) -> Result<(Bytes, tonic::metadata::MetadataMap), tonic::Status> {
        let mut grpc = self.ready(timeout).await?;
        let mut req = tonic::Request::from_parts(self.with_token(metadata), tonic::Extensions::default(), request);
        req.set_timeout(timeout);
        let path: http::uri::PathAndQuery = format!("/{}", rpc_path.trim_start_matches('/'))
            .parse()
            .map_err(|_| tonic::Status::invalid_argument("bad RpcPath"))?;
        let reply = tokio::time::timeout(timeout, grpc.unary(req, path, RawCodec))
            .await
            .map_err(|_| tonic::Status::deadline_exceeded(format!("no reply within {} ms", timeout.as_millis())))?
            // tonic reports its own deadline as Cancelled; a Go client sees DeadlineExceeded
            .map_err(|s| {
                if s.code() == tonic::Code::Cancelled && s.message() == "Timeout expired" {
                    tonic::Status::deadline_exceeded(format!("no reply within {} ms", timeout.as_millis()))
                } else {
                    s
                }
            })?;
        let (md, body, _) = reply.into_parts();
        Ok((body, md))
    }
}

/// A call's status as the HTTP answer go-zero's gateways give it (`{"code": <gRPC code>,
/// "message"}` with the mapped HTTP status).
pub fn http_error(s: &tonic::Status) -> ApiError {
    ApiError::grpc(s.code() as i32, s.message())
}

/// The identity metadata of an internal call (spec §0.3): `authorization` (the caller's token
/// as it came), `x-user-id`, `x-user-name`, `x-dept-code` from the token's claims, and
/// `x-auth-type`; a value that is not printable ASCII travels as `b64:` + base64.
pub fn identity(
    claims: Option<&zero_edge::auth::Claims>,
    authorization: Option<&str>,
    auth_type: &str,
) -> tonic::metadata::MetadataMap {
    use base64::Engine as _;
    let mut md = tonic::metadata::MetadataMap::new();
    let mut put = |key: &'static str, v: &str| {
        if v.is_empty() {
            return;
        }
        let printable = v.bytes().all(|b| (0x20..0x7f).contains(&b));
        let text = if printable {
            v.to_owned()
        } else {
            format!("b64:{}", base64::engine::general_purpose::STANDARD.encode(v))
        };
        if let Ok(val) = text.parse() {
            md.insert(key, val);
        }
    };
    if let Some(a) = authorization {
        put("authorization", a);
    }
    for (claim, key) in [("user-id", "x-user-id"), ("user-name", "x-user-name"), ("dept-code", "x-dept-code")] {
        if let Some(serde_json::Value::String(v)) = claims.and_then(|c| c.get(claim)) {
            put(key, v);
        }
    }
    put("x-auth-type", auth_type);
    md
}

/// The files defining `service` and everything they import, by server reflection (v1), in an
/// order a pool accepts (dependencies first); well-known types the server does not send come
/// from prost-reflect's own pool.
async fn reflect(channel: Channel, service: &str) -> Result<Vec<FileDescriptorProto>, String> {
    let mut client = ServerReflectionClient::new(channel);
    let mut files: BTreeMap<String, FileDescriptorProto> = BTreeMap::new();
    let mut wanted = vec![MessageRequest::FileContainingSymbol(service.to_owned())];
    while let Some(req) = wanted.pop() {
        let msg = ServerReflectionRequest { host: String::new(), message_request: Some(req.clone()) };
        let mut answers = client
            .server_reflection_info(tokio_stream::once(msg))
            .await
            .map_err(|s| format!("reflection: {}", s.message()))?
            .into_inner();
        let answer = answers.message().await.map_err(|s| format!("reflection: {}", s.message()))?;
        match answer.and_then(|a| a.message_response) {
            Some(MessageResponse::FileDescriptorResponse(r)) => {
                for raw in r.file_descriptor_proto {
                    let f = FileDescriptorProto::decode(raw.as_slice()).map_err(|e| format!("reflection: {e}"))?;
                    files.insert(f.name().to_owned(), f);
                }
            }
            Some(MessageResponse::ErrorResponse(e)) => {
                // a well-known import the server does not hold
                if let MessageRequest::FileByFilename(name) = &req {
                    if let Some(f) = DescriptorPool::global().get_file_by_name(name) {
                        files.insert(name.clone(), f.file_descriptor_proto().clone());
                        continue;
                    }
                }
                return Err(format!("reflection: {}", e.error_message));
            }
            _ => return Err("reflection: no answer".into()),
        }
        for f in files.values() {
            for d in &f.dependency {
                if !files.contains_key(d)
                    && !wanted.iter().any(|w| matches!(w, MessageRequest::FileByFilename(n) if n == d))
                {
                    wanted.push(MessageRequest::FileByFilename(d.clone()));
                }
            }
        }
    }
    // dependencies first
    let mut ordered = Vec::with_capacity(files.len());
    let mut placed = std::collections::HashSet::new();
    while !files.is_empty() {
        let ready: Vec<String> = files
            .iter()
            .filter(|(_, f)| f.dependency.iter().all(|d| placed.contains(d)))
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            return Err("reflection: files import each other in a cycle".into());
        }
        for n in ready {
            if let Some(f) = files.remove(&n) {
                placed.insert(n);
                ordered.push(f);
            }
        }
    }
    Ok(ordered)
}
