//! gRPC upstreams: a channel balanced over the endpoints (fixed, or go-zero's etcd discovery),
//! the descriptors (from `ProtoSets`, or fetched by reflection at first use and kept), and the
//! unary call of an encoded message.

use crate::config::GrpcClientConf;
use crate::transcode::RawCodec;
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use prost_types::FileDescriptorProto;
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

/// One gRPC upstream.
#[derive(Debug)]
pub struct GrpcUpstream {
    channel: Channel,
    /// The call timeout.
    pub timeout: Duration,
    from_files: bool,
    pool: RwLock<Option<DescriptorPool>>,
    methods: RwLock<HashMap<String, MethodDescriptor>>,
    discovery: Option<tokio::task::JoinHandle<()>>,
    /// Instances discovery knows of now (`None`: fixed endpoints).
    instances: Option<Arc<AtomicUsize>>,
}

impl Drop for GrpcUpstream {
    fn drop(&mut self) {
        if let Some(d) = &self.discovery {
            d.abort();
        }
    }
}

fn endpoint(addr: &str) -> Result<Endpoint, String> {
    let uri = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
    Endpoint::from_shared(uri)
        .map(|e| e.connect_timeout(Duration::from_secs(3)).tcp_nodelay(true).http2_adaptive_window(true))
        .map_err(|e| format!("endpoint {addr:?}: {e}"))
}

/// `etcd://host:port[,host:port]/key` as an etcd section.
fn etcd_target(target: &str) -> Option<EtcdConf> {
    let rest = target.strip_prefix("etcd://")?;
    let (hosts, key) = rest.split_once('/')?;
    Some(EtcdConf { hosts: hosts.split(',').map(str::to_owned).collect(), key: key.to_owned(), ..EtcdConf::default() })
}

impl GrpcUpstream {
    /// The upstream of `conf`, descriptors from `proto_sets` (empty: reflection). Connects on
    /// first use.
    ///
    /// # Errors
    /// No endpoint, a bad endpoint, a descriptor file that cannot be read.
    pub fn new(
        conf: &GrpcClientConf,
        proto_sets: &[String],
        default_timeout: Duration,
    ) -> Result<GrpcUpstream, String> {
        let timeout = if conf.timeout > 0 { Duration::from_millis(conf.timeout) } else { default_timeout };
        let etcd = if conf.etcd.enabled() { Some(conf.etcd.clone()) } else { etcd_target(&conf.target) };
        let mut instances = None;
        let (channel, discovery) = if let Some(etcd) = etcd {
            let (channel, tx) = Channel::balance_channel::<String>(64);
            let mut nodes = zero_edge::registry::discover(etcd);
            let count = Arc::new(AtomicUsize::new(0));
            instances = Some(count.clone());
            let task = tokio::spawn(async move {
                let mut have = std::collections::BTreeSet::<String>::new();
                loop {
                    let now = nodes.borrow_and_update().clone();
                    for gone in have.difference(&now) {
                        let _ = tx.send(tonic::transport::channel::Change::Remove(gone.clone())).await;
                    }
                    for new in now.difference(&have) {
                        match endpoint(new) {
                            Ok(e) => {
                                let _ = tx.send(tonic::transport::channel::Change::Insert(new.clone(), e)).await;
                            }
                            Err(e) => tracing::warn!(error = %e, "discovered endpoint refused"),
                        }
                    }
                    count.store(now.len(), Ordering::Relaxed);
                    have = now;
                    if nodes.changed().await.is_err() {
                        return;
                    }
                }
            });
            (channel, Some(task))
        } else {
            let mut list: Vec<String> = conf.endpoints.clone();
            if list.is_empty() && !conf.target.is_empty() {
                list.push(conf.target.trim_start_matches("dns:///").to_owned());
            }
            if list.is_empty() {
                return Err("Grpc: no Endpoints, Target or Etcd".into());
            }
            let eps = list.iter().map(|a| endpoint(a)).collect::<Result<Vec<_>, _>>()?;
            (Channel::balance_list(eps.into_iter()), None)
        };
        let (pool, from_files) = if proto_sets.is_empty() {
            (None, false)
        } else {
            (Some(crate::transcode::pool_of_files(proto_sets)?), true)
        };
        Ok(GrpcUpstream {
            channel,
            timeout,
            from_files,
            pool: RwLock::new(pool),
            methods: RwLock::new(HashMap::new()),
            discovery,
            instances,
        })
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
        self.any_instance()?;
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        // no instance (discovery found none yet): fail within the timeout, do not wait for one
        match tokio::time::timeout(timeout, grpc.ready()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(tonic::Status::unavailable(format!("upstream not ready: {e}"))),
            Err(_) => return Err(tonic::Status::unavailable("no upstream instance ready")),
        }
        let mut req = tonic::Request::from_parts(metadata, tonic::Extensions::default(), request);
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
