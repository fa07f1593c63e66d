//! The message bus (`comet.v1.Bus`): which comet holds which terminal ([`Locations`], fed by the
//! comets' presence events and, for a comet it has not heard from, that comet's list), messages
//! delivered on the comet holding their target, uploads handed to a [`Store`] and answered only
//! once it confirmed them, and `Where` for "is X online, and where". Several buses may run: the
//! comets tell each of them, and send each message to one.

use super::id::TerminalId;
use super::locations::{Locations, Login, Online};
use super::packet::Reason;
use crate::pb::comet as pb;
use crate::registry::Endpoints;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::Channel;

/// What [`Store::store_many`] resolves to: one result per message, in their order.
pub type Stored<'a> = Pin<Box<dyn Future<Output = Vec<Result<(), String>>> + Send + 'a>>;

/// Where uploads go (RabbitMQ in the msgbus service): `store` resolves once the message is safe
/// (publisher-confirmed), and may be called again for the same message (at-least-once: the
/// message's `(from, seq)` names it).
pub trait Store: Send + Sync + 'static {
    /// Stores one upload.
    fn store(&self, m: pb::Message) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;

    /// Stores several uploads, one result each in their order. By default each is stored with
    /// [`Store::store`], concurrently; a store that can do better (one publish round for all,
    /// confirms awaited together) overrides it.
    fn store_many(&self, ms: Vec<pb::Message>) -> Stored<'_> {
        Box::pin(futures_util::future::join_all(ms.into_iter().map(|m| self.store(m))))
    }
}

/// Where online and offline events are published (RabbitMQ and streamevent in the msgbus
/// service); called for the events a comet asked this bus to publish, without waiting.
pub trait Events: Send + Sync + 'static {
    /// `id` came online (or went offline) with `login`.
    fn presence(&self, id: TerminalId, login: &Login, online: bool);
}

/// The most messages a `SendBatch` may carry.
pub const MAX_BATCH: usize = 4096;

/// The bus.
pub struct Bus {
    locations: Mutex<Locations>,
    comets: crate::clients::Clients<pb::comet_client::CometClient<Channel>>,
    store: Arc<dyn Store>,
    events: std::sync::OnceLock<Arc<dyn Events>>,
    timeout: Duration,
    counts: Counts,
}

/// What a bus counted since it started.
#[derive(Debug, Default)]
struct Counts {
    stored: AtomicU64,
    store_failures: AtomicU64,
    delivered: AtomicU64,
    offline_targets: AtomicU64,
}

/// A bus's state at a glance (its dashboard panel).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Terminals online.
    pub online: usize,
    /// Terminals online per comet, most first.
    pub per_comet: Vec<(String, usize)>,
    /// Uploads stored (confirmed).
    pub stored: u64,
    /// Uploads the store failed (refused to their device, which sends them again).
    pub store_failures: u64,
    /// Messages delivered on their target's comet.
    pub delivered: u64,
    /// Messages for a terminal not online.
    pub offline_targets: u64,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("online", &self.online()).finish_non_exhaustive()
    }
}

fn login_of(l: &pb::Login) -> Login {
    Login { node: l.node.as_str().into(), at: l.at, n: l.n }
}

fn pb_login(l: &Login) -> pb::Login {
    pb::Login { node: l.node.to_string(), at: l.at, n: l.n }
}

fn refuse(reason: Reason, message: impl Into<String>) -> pb::SendRes {
    pb::SendRes { ok: false, reason: reason as u32, message: message.into() }
}

fn is_upload(m: &pb::Message) -> bool {
    m.flags & u32::from(super::packet::flags::UPLOAD) != 0
}

impl Bus {
    /// A bus storing uploads in `store`; calls to comets time out after `timeout`.
    pub fn new(store: Arc<dyn Store>, timeout: Duration) -> Arc<Bus> {
        Arc::new(Bus {
            locations: Mutex::default(),
            comets: crate::clients::Clients::new(pb::comet_client::CometClient::new),
            store,
            events: Default::default(),
            timeout,
            counts: Counts::default(),
        })
    }

    /// Publishes presence events to `events` (set once; false when one was set already).
    pub fn set_events(&self, events: Arc<dyn Events>) -> bool {
        self.events.set(events).is_ok()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Locations> {
        self.locations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Terminals online.
    pub fn online(&self) -> usize {
        self.table().len()
    }

    /// Terminals online per comet.
    pub fn per_comet(&self) -> HashMap<Arc<str>, usize> {
        self.table().per_node()
    }

    /// The state at a glance.
    pub fn stats(&self) -> BusStats {
        let (online, per) = {
            let t = self.table();
            (t.len(), t.per_node())
        };
        let mut per_comet: Vec<(String, usize)> = per.into_iter().map(|(n, k)| (n.to_string(), k)).collect();
        per_comet.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let c = &self.counts;
        BusStats {
            online,
            per_comet,
            stored: c.stored.load(Ordering::Relaxed),
            store_failures: c.store_failures.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            offline_targets: c.offline_targets.load(Ordering::Relaxed),
        }
    }

    fn comet(&self, node: &str) -> Option<pb::comet_client::CometClient<Channel>> {
        self.comets.get(node)
    }

    /// Tells `login`'s comet to close that session (replaced by a newer login).
    fn kick(self: &Arc<Self>, id: TerminalId, login: &Login) {
        let Some(mut c) = self.comet(&login.node) else { return };
        let req = pb::KickReq { id: id.get(), login: Some(pb_login(login)) };
        metrics::counter!("msgbus_kicks_total").increment(1);
        tokio::spawn(async move {
            let _ = c.kick(req).await;
        });
    }

    /// Follows the comets of the registry: a comet seen for the first time is asked for its list
    /// (the bus may have missed its events), a comet gone takes its terminals with it.
    pub async fn follow(self: Arc<Self>, mut comets: Endpoints) {
        let mut known: BTreeSet<String> = BTreeSet::new();
        loop {
            let now: BTreeSet<String> = comets.borrow_and_update().clone();
            for gone in known.difference(&now) {
                let n = self.table().drop_node(gone);
                self.comets.remove(gone);
                tracing::info!(comet = %gone, terminals = n, "comet left");
            }
            for new in now.difference(&known) {
                let (me, node) = (self.clone(), new.clone());
                tokio::spawn(async move { me.list(&node).await });
            }
            known = now;
            if comets.changed().await.is_err() {
                return;
            }
        }
    }

    async fn list(self: &Arc<Self>, node: &str) {
        let Some(mut c) = self.comet(node) else { return };
        match tokio::time::timeout(self.timeout * 4, c.list(pb::ListReq {})).await {
            Ok(Ok(r)) => {
                let logins = r
                    .into_inner()
                    .sessions
                    .into_iter()
                    .filter_map(|p| Some((TerminalId::new(p.id).ok()?, login_of(p.login.as_ref()?))));
                let stale = self.table().replace_node(node, logins);
                for (id, l) in stale {
                    self.kick(id, &l);
                }
                tracing::info!(comet = %node, "comet listed");
            }
            Ok(Err(e)) => tracing::warn!(comet = %node, error = %e.message(), "comet's list"),
            Err(_) => tracing::warn!(comet = %node, "comet's list: timed out"),
        }
    }

    /// Applies presence events (and publishes them when `publish`); the logins found stale are
    /// returned (their comet closes them).
    pub fn presence(self: &Arc<Self>, events: Vec<pb::Presence>, publish: bool) -> Vec<pb::Presence> {
        let sink = if publish { self.events.get().cloned() } else { None };
        let mut stale = vec![];
        let mut kicks = vec![];
        {
            let mut t = self.table();
            for p in events {
                let (Ok(id), Some(l)) = (TerminalId::new(p.id), p.login.as_ref()) else { continue };
                let login = login_of(l);
                if let Some(e) = &sink {
                    e.presence(id, &login, p.online);
                }
                if p.online {
                    match t.online(id, login) {
                        Online::Here(Some(old)) => kicks.push((id, old)),
                        Online::Here(None) => {}
                        Online::Stale => stale.push(pb::Presence { online: false, ..p }),
                    }
                } else {
                    t.offline(id, &login);
                }
            }
        }
        for (id, old) in kicks {
            self.kick(id, &old);
        }
        stale
    }

    /// The answer to an upload the store took (or did not).
    fn stored(&self, r: Result<(), String>) -> pb::SendRes {
        match r {
            Ok(()) => {
                metrics::counter!("msgbus_stored_total").increment(1);
                self.counts.stored.fetch_add(1, Ordering::Relaxed);
                pb::SendRes { ok: true, ..Default::default() }
            }
            Err(e) => {
                metrics::counter!("msgbus_store_failures_total").increment(1);
                self.counts.store_failures.fetch_add(1, Ordering::Relaxed);
                refuse(Reason::Unavailable, format!("storage: {e}"))
            }
        }
    }

    /// Delivers or stores one message.
    pub async fn send(&self, m: pb::Message) -> pb::SendRes {
        if is_upload(&m) {
            return self.stored(self.store.store(m).await);
        }
        self.deliver(m).await
    }

    /// Delivers or stores several messages (each as [`Bus::send`] would, the uploads stored
    /// together): one answer each, in their order.
    pub async fn send_batch(&self, ms: Vec<pb::Message>) -> Vec<pb::SendRes> {
        let n = ms.len();
        let (uploads, others): (Vec<_>, Vec<_>) = ms.into_iter().enumerate().partition(|(_, m)| is_upload(m));
        let (at, uploads): (Vec<usize>, Vec<pb::Message>) = uploads.into_iter().unzip();
        let stores = async {
            if uploads.is_empty() {
                vec![]
            } else {
                self.store.store_many(uploads).await
            }
        };
        let delivers =
            futures_util::future::join_all(others.into_iter().map(|(i, m)| async move { (i, self.deliver(m).await) }));
        let (stores, delivered) = tokio::join!(stores, delivers);
        let mut out = vec![pb::SendRes::default(); n];
        for (k, i) in at.into_iter().enumerate() {
            out[i] = match stores.get(k) {
                Some(r) => self.stored(r.clone()),
                None => refuse(Reason::Unavailable, "storage: no answer for this message"),
            };
        }
        for (i, r) in delivered {
            out[i] = r;
        }
        out
    }

    /// Delivers one message to the comet holding its target.
    async fn deliver(&self, m: pb::Message) -> pb::SendRes {
        let Ok(to) = TerminalId::new(m.to) else { return refuse(Reason::Malformed, "no target") };
        let node = self.table().get(to).map(str::to_owned);
        let Some(node) = node else {
            metrics::counter!("msgbus_offline_targets_total").increment(1);
            self.counts.offline_targets.fetch_add(1, Ordering::Relaxed);
            return refuse(Reason::UnknownTarget, format!("{to} is not online"));
        };
        let Some(mut c) = self.comet(&node) else {
            return refuse(Reason::Unavailable, format!("{node} is no address"));
        };
        match tokio::time::timeout(self.timeout, c.deliver(m)).await {
            Ok(Ok(r)) => {
                metrics::counter!("msgbus_delivered_total").increment(1);
                self.counts.delivered.fetch_add(1, Ordering::Relaxed);
                r.into_inner()
            }
            Ok(Err(e)) => refuse(Reason::Unavailable, format!("{node}: {}", e.message())),
            Err(_) => refuse(Reason::Unavailable, format!("{node} did not answer within {:?}", self.timeout)),
        }
    }

    /// Where `id` is.
    pub fn locate(&self, id: i64) -> Option<pb::Login> {
        let id = TerminalId::new(id).ok()?;
        self.table().login(id).map(pb_login)
    }

    /// The `comet.v1.Bus` gRPC service.
    pub fn grpc(self: &Arc<Self>) -> pb::bus_server::BusServer<BusApi> {
        pb::bus_server::BusServer::new(BusApi(self.clone()))
    }
}

/// `comet.v1.Bus` over a [`Bus`].
#[derive(Debug, Clone)]
pub struct BusApi(Arc<Bus>);

type Res<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl pb::bus_server::Bus for BusApi {
    async fn presence(&self, r: tonic::Request<pb::PresenceReq>) -> Res<pb::PresenceRes> {
        let r = r.into_inner();
        let stale = self.0.presence(r.events, r.publish);
        Ok(tonic::Response::new(pb::PresenceRes { stale }))
    }

    async fn send(&self, r: tonic::Request<pb::Message>) -> Res<pb::SendRes> {
        let m = r.into_inner();
        if m.from == 0 {
            return Err(tonic::Status::invalid_argument("from: 0 names no terminal"));
        }
        Ok(tonic::Response::new(self.0.send(m).await))
    }

    async fn send_batch(&self, r: tonic::Request<pb::Batch>) -> Res<pb::BatchRes> {
        let ms = r.into_inner().messages;
        if let Some(i) = ms.iter().position(|m| m.from == 0) {
            return Err(tonic::Status::invalid_argument(format!("messages[{i}].from: 0 names no terminal")));
        }
        if ms.len() > MAX_BATCH {
            return Err(tonic::Status::invalid_argument(format!(
                "messages: {} in one batch, at most {MAX_BATCH}",
                ms.len()
            )));
        }
        Ok(tonic::Response::new(pb::BatchRes { results: self.0.send_batch(ms).await }))
    }

    async fn r#where(&self, r: tonic::Request<pb::WhereReq>) -> Res<pb::WhereRes> {
        let id = r.into_inner().id;
        if id == 0 {
            return Err(tonic::Status::invalid_argument("id: 0 names no terminal"));
        }
        let login = self.0.locate(id);
        Ok(tonic::Response::new(pb::WhereRes { online: login.is_some(), login }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Keeps uploads in memory; refuses those whose payload is `no`; counts `store_many` calls.
    #[derive(Default)]
    struct Memory {
        kept: Mutex<Vec<(i64, u32)>>,
        rounds: AtomicUsize,
    }

    impl Store for Memory {
        fn store(&self, m: pb::Message) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            Box::pin(async move {
                if &m.payload[..] == b"no" {
                    return Err("refused".into());
                }
                self.kept.lock().unwrap().push((m.from, m.seq));
                Ok(())
            })
        }

        fn store_many(&self, ms: Vec<pb::Message>) -> Stored<'_> {
            self.rounds.fetch_add(1, Ordering::Relaxed);
            Box::pin(futures_util::future::join_all(ms.into_iter().map(|m| self.store(m))))
        }
    }

    fn upload(from: i64, seq: u32, payload: &'static [u8]) -> pb::Message {
        pb::Message { from, seq, flags: 1, payload: payload.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn a_batch_is_answered_in_order_with_its_uploads_stored_in_one_round() {
        let store = Arc::new(Memory::default());
        let bus = Bus::new(store.clone(), Duration::from_millis(200));
        let to_offline = pb::Message { from: 1, to: 2, seq: 9, payload: "hi".into(), ..Default::default() };
        let batch = vec![upload(-1, 1, b"a"), to_offline, upload(-1, 2, b"no"), upload(-3, 1, b"b")];
        let r = bus.send_batch(batch).await;
        assert_eq!(r.len(), 4);
        assert!(r[0].ok && r[3].ok, "{r:?}");
        assert_eq!((r[1].ok, r[1].reason), (false, Reason::UnknownTarget as u32), "{r:?}");
        assert_eq!((r[2].ok, r[2].reason), (false, Reason::Unavailable as u32), "{r:?}");
        assert!(r[2].message.contains("refused"), "{r:?}");
        assert_eq!(*store.kept.lock().unwrap(), vec![(-1, 1), (-3, 1)]);
        assert_eq!(store.rounds.load(Ordering::Relaxed), 1, "the uploads went to the store together");
        let st = bus.stats();
        assert_eq!((st.stored, st.store_failures, st.offline_targets), (2, 1, 1), "{st:?}");
        // a batch of no upload does not call the store
        let r = bus.send_batch(vec![pb::Message { from: 1, to: 5, ..Default::default() }]).await;
        assert!(!r[0].ok);
        assert_eq!(store.rounds.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn the_grpc_batch_refuses_a_message_from_no_terminal_and_an_oversized_batch() {
        use pb::bus_server::Bus as _;
        let api = BusApi(Bus::new(Arc::new(Memory::default()), Duration::from_millis(200)));
        let bad = pb::Batch { messages: vec![upload(-1, 1, b"a"), upload(0, 2, b"a")] };
        let e = api.send_batch(tonic::Request::new(bad)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("messages[1].from"), "{e:?}");
        let big = pb::Batch { messages: vec![upload(-1, 1, b"a"); MAX_BATCH + 1] };
        let e = api.send_batch(tonic::Request::new(big)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        let ok = api.send_batch(tonic::Request::new(pb::Batch { messages: vec![upload(-1, 1, b"a")] })).await.unwrap();
        assert!(ok.get_ref().results[0].ok);
    }
}
