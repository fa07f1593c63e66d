//! Cluster mode (spec §2.6): instances connected to one MQTT broker share the configured
//! stations so that each is polled by exactly one of them.
//!
//! Every instance keeps a retained presence record at `{MembersTopic}/{instance id}` with a
//! last will that clears it, and watches `{MembersTopic}/+`. The live members decide ownership by
//! rendezvous hashing (the member with the highest hash of `member + station` owns the station),
//! so all instances agree without talking to each other, and when a member is lost (its will
//! fires) only its stations move. An instance that loses the broker keeps polling what it owns.
//!
//! Commands for a station another instance owns are routed as the Go cluster does: a broadcast
//! on `iec/broadcast` (`{"tId","ackTopic","method","body": <protojson request>}` inside the
//! trace envelope `{"topic","payload": <base64>,"headers"}`); the owner executes and answers on
//! the caller's `iec/broadcast-ack/{instance}` with `{"tId","method","success","responseBody",
//! "error","errorKind"}`. The caller waits 10 s. `ClearPointMappingCache` is broadcast without
//! an answer so every instance clears its cache.

use super::config::Config;
use super::station::Starter;
use crate::errcode::ErrCode;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

/// The broadcast topic.
pub const BROADCAST: &str = "iec/broadcast";

pub use crate::envelope::Envelope;

/// A routed call.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Broadcast {
    /// Call id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub t_id: String,
    /// Where the answer goes.
    #[serde(default)]
    pub ack_topic: String,
    /// `/ieccaller.IecCaller/<Rpc>`.
    pub method: String,
    /// The request, protojson.
    pub body: String,
}

/// The answer to a routed call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    /// Call id.
    pub t_id: String,
    /// The method.
    pub method: String,
    /// Executed successfully.
    pub success: bool,
    /// The response, protojson (`{}` on failure).
    pub response_body: String,
    /// Error text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// `timeout`, `duplicate`, `iec_rejected` or `unknown`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_kind: String,
}

fn wrap(topic: &str, body: &impl Serialize) -> Vec<u8> {
    crate::envelope::wrap(topic, &serde_json::to_vec(body).unwrap_or_default(), BTreeMap::new())
}

/// The body of a cluster message: the envelope's payload, or the raw payload.
fn unwrap_body(raw: &[u8]) -> Vec<u8> {
    crate::envelope::unwrap(raw).0
}

/// A boxed executor future: `None` when this instance does not own the station.
pub type ExecFuture<'a> = Pin<Box<dyn Future<Output = Option<Result<String, (String, String)>>> + Send + 'a>>;

/// Runs a routed call here (the ieccaller service implements it).
pub trait Executor: Send + Sync + 'static {
    /// Executes `method` with the protojson `body`; `Err((error_kind, message))` on failure.
    fn execute<'a>(&'a self, method: &'a str, body: &'a str) -> ExecFuture<'a>;
}

/// This instance's end of command routing.
pub struct ClusterLink {
    me: String,
    client: OnceLock<AsyncClient>,
    pending: Mutex<HashMap<String, oneshot::Sender<Ack>>>,
    executor: OnceLock<Arc<dyn Executor>>,
    pool: DescriptorPool,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink").field("me", &self.me).finish()
    }
}

impl ClusterLink {
    /// A link for instance `me`.
    pub fn new(me: String) -> Arc<ClusterLink> {
        Arc::new(ClusterLink {
            me,
            client: OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
            executor: OnceLock::new(),
            pool: DescriptorPool::decode(super::pb::FILE_DESCRIPTOR_SET).unwrap_or_default(),
        })
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.me
    }

    fn ack_topic(&self) -> String {
        format!("iec/broadcast-ack/{}", self.me)
    }

    /// Sets who executes routed calls here.
    pub fn set_executor(&self, e: Arc<dyn Executor>) {
        let _ = self.executor.set(e);
    }

    /// `m` as protojson, for message type `name` (`ieccaller.X`).
    pub fn to_json<M: prost::Message>(&self, name: &str, m: &M) -> String {
        self.pool
            .get_message_by_name(name)
            .and_then(|d| DynamicMessage::decode(d, m.encode_to_vec().as_slice()).ok())
            .and_then(|d| serde_json::to_string(&d).ok())
            .unwrap_or_else(|| "{}".into())
    }

    /// A message of type `name` from protojson.
    ///
    /// # Errors
    /// Unknown type or invalid JSON.
    pub fn from_json<M: prost::Message + Default>(&self, name: &str, json: &str) -> Result<M, String> {
        let d = self.pool.get_message_by_name(name).ok_or_else(|| format!("unknown message {name}"))?;
        let mut de = serde_json::Deserializer::from_str(json);
        let dm = DynamicMessage::deserialize(d, &mut de).map_err(|e| e.to_string())?;
        M::decode(dm.encode_to_vec().as_slice()).map_err(|e| e.to_string())
    }

    /// Routes `rpc` to the instance that owns the station and waits for its answer (10 s).
    ///
    /// # Errors
    /// The owner's error mapped back (timeout 100997, duplicate 105103, rejected 105102, other
    /// 106102); no answer in time is 100997.
    pub async fn forward<Req: prost::Message, Res: prost::Message + Default>(
        &self,
        rpc: &str,
        req: &Req,
    ) -> Result<Res, tonic::Status> {
        let client = self
            .client
            .get()
            .ok_or_else(|| ErrCode::RemoteCallFailed.status("client does not exist (cluster not connected)"))?;
        let t_id = uuid::Uuid::now_v7().simple().to_string();
        let method = format!("/ieccaller.IecCaller/{rpc}");
        let b = Broadcast {
            t_id: t_id.clone(),
            ack_topic: self.ack_topic(),
            method: method.clone(),
            body: self.to_json(&format!("ieccaller.{rpc}Req"), req),
        };
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(t_id.clone(), tx);
        client
            .publish(BROADCAST, QoS::AtLeastOnce, false, wrap(BROADCAST, &b))
            .await
            .map_err(|e| ErrCode::ThirdPartyFailure.status(e.to_string()))?;
        let ack = tokio::time::timeout(Duration::from_secs(10), rx).await;
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&t_id);
        let ack = match ack {
            Ok(Ok(a)) => a,
            _ => return Err(ErrCode::Timeout.status(format!("no instance answered {method} within 10 s"))),
        };
        if ack.success {
            return self
                .from_json(&format!("ieccaller.{rpc}Res"), &ack.response_body)
                .map_err(|e| ErrCode::ThirdPartyFailure.status(e));
        }
        Err(match ack.error_kind.as_str() {
            "timeout" => ErrCode::Timeout.status(ack.error),
            "duplicate" => ErrCode::DuplicateOperation.status(ack.error),
            "iec_rejected" => ErrCode::StateNotAllowed.status(ack.error),
            _ => ErrCode::ThirdPartyFailure.status(ack.error),
        })
    }

    /// Broadcasts `rpc` without waiting (ClearPointMappingCache).
    pub async fn notify<Req: prost::Message>(&self, rpc: &str, req: &Req) {
        if let Some(client) = self.client.get() {
            let b = Broadcast {
                t_id: String::new(),
                ack_topic: self.ack_topic(),
                method: format!("/ieccaller.IecCaller/{rpc}"),
                body: self.to_json(&format!("ieccaller.{rpc}Req"), req),
            };
            let _ = client.publish(BROADCAST, QoS::AtLeastOnce, false, wrap(BROADCAST, &b)).await;
        }
    }

    fn on_message(self: &Arc<Self>, topic: &str, payload: &[u8]) {
        let body = unwrap_body(payload);
        if topic == self.ack_topic() {
            if let Ok(ack) = serde_json::from_slice::<Ack>(&body) {
                if let Some(tx) =
                    self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&ack.t_id)
                {
                    let _ = tx.send(ack);
                }
            }
            return;
        }
        let Ok(b) = serde_json::from_slice::<Broadcast>(&body) else { return };
        if b.ack_topic == self.ack_topic() {
            return; // our own
        }
        let (Some(exec), Some(client)) = (self.executor.get().cloned(), self.client.get().cloned()) else { return };
        tokio::spawn(async move {
            let Some(result) = exec.execute(&b.method, &b.body).await else { return };
            if b.t_id.is_empty() {
                return; // fire and forget
            }
            let ack = match result {
                Ok(res) => Ack {
                    t_id: b.t_id,
                    method: b.method,
                    success: true,
                    response_body: res,
                    error: String::new(),
                    error_kind: String::new(),
                },
                Err((kind, msg)) => Ack {
                    t_id: b.t_id,
                    method: b.method,
                    success: false,
                    response_body: "{}".into(),
                    error: msg,
                    error_kind: kind,
                },
            };
            let _ = client.publish(&b.ack_topic, QoS::AtLeastOnce, false, wrap(&b.ack_topic, &ack)).await;
        });
    }
}

/// FNV-1a: a hash every instance computes the same way, whatever it was built with.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xFF)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The member that owns `station` (rendezvous hashing).
pub fn owner<'a>(members: &'a BTreeSet<String>, station: &str) -> Option<&'a str> {
    members.iter().max_by_key(|m| fnv1a(&[m.as_str(), station])).map(String::as_str)
}

/// This instance's id: the configured one, or `iec-caller-{uuid}`.
pub fn instance_id(cfg: &Config) -> String {
    if cfg.cluster.instance_id.is_empty() {
        format!("iec-caller-{}", crate::msg::new_msg_id())
    } else {
        cfg.cluster.instance_id.clone()
    }
}

async fn rebalance(cfg: &Config, starter: &Starter, members: &BTreeSet<String>, me: &str) {
    let mine: BTreeSet<String> =
        cfg.stations.iter().filter(|s| owner(members, &s.key()) == Some(me)).map(|s| s.key()).collect();
    for k in starter.stations.keys() {
        if !mine.contains(&k) {
            tracing::info!(station = %k, "cluster: station moves to another instance");
            starter.stations.stop(&k).await;
        }
    }
    for st in cfg.stations.iter().filter(|s| mine.contains(&s.key())) {
        if let Err(e) = starter.start(st) {
            tracing::error!(error = %e, "cluster: cannot start station");
        }
    }
    metrics::gauge!("ieccaller_cluster_members").set(members.len() as f64);
    metrics::gauge!("ieccaller_cluster_owned_stations").set(mine.len() as f64);
}

/// Joins the cluster, keeps this instance's share of the stations running and serves routed
/// calls, until dropped.
pub async fn run(cfg: Config, starter: Starter, link: Arc<ClusterLink>) {
    let me = link.instance().to_owned();
    let (host, port) = match cfg.mqtt.broker_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("cluster: {e}");
            return;
        }
    };
    let prefix = cfg.cluster.members_topic.trim_end_matches('/').to_owned();
    let my_topic = format!("{prefix}/{me}");
    let mut opts = MqttOptions::new(format!("{me}-cluster"), host, port);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_last_will(LastWill::new(&my_topic, Vec::<u8>::new(), QoS::AtLeastOnce, true));
    if !cfg.mqtt.username.is_empty() {
        opts.set_credentials(cfg.mqtt.username.clone(), cfg.mqtt.password.clone());
    }
    let (client, mut events) = AsyncClient::new(opts, 1000);
    let _ = link.client.set(client.clone());
    let mut members = BTreeSet::new();
    tracing::info!(instance = %me, "cluster: joining");
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client.subscribe(format!("{prefix}/+"), QoS::AtLeastOnce).await;
                let _ = client.subscribe(BROADCAST, QoS::AtLeastOnce).await;
                let _ = client.subscribe(link.ack_topic(), QoS::AtLeastOnce).await;
                let _ = client.publish(&my_topic, QoS::AtLeastOnce, true, me.clone().into_bytes()).await;
            }
            Ok(Event::Incoming(Packet::Publish(p))) if !p.topic.starts_with(&prefix) => {
                link.on_message(&p.topic, &p.payload)
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some(member) = p.topic.rsplit('/').next() else { continue };
                let changed =
                    if p.payload.is_empty() { members.remove(member) } else { members.insert(member.to_owned()) };
                if changed {
                    tracing::info!(members = ?members, "cluster: membership changed");
                    rebalance(&cfg, &starter, &members, &me).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cluster: broker connection; keeping the stations this instance owns");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_moves_only_the_lost_members_stations() {
        let stations: Vec<String> = (0..200).map(|i| format!("10.0.0.{i}:2404")).collect();
        let three: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let two: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let mut counts = std::collections::HashMap::new();
        for s in &stations {
            let o3 = owner(&three, s).unwrap();
            *counts.entry(o3).or_insert(0) += 1;
            let o2 = owner(&two, s).unwrap();
            if o3 != "c" {
                assert_eq!(o3, o2, "{s} moved although its owner is alive");
            }
        }
        assert!(counts.values().all(|n| *n > 40), "roughly even: {counts:?}");
        assert_eq!(owner(&BTreeSet::new(), "x"), None);
    }
}
