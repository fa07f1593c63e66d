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
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::Channel;

/// Where uploads go (RabbitMQ in the msgbus service): `store` resolves once the message is safe
/// (publisher-confirmed), and may be called again for the same message (at-least-once: the
/// message's `(from, seq)` names it).
pub trait Store: Send + Sync + 'static {
    /// Stores one upload.
    fn store(&self, m: pb::Message) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Where online and offline events are published (RabbitMQ and streamevent in the msgbus
/// service); called for the events a comet asked this bus to publish, without waiting.
pub trait Events: Send + Sync + 'static {
    /// `id` came online (or went offline) with `login`.
    fn presence(&self, id: TerminalId, login: &Login, online: bool);
}

/// The bus.
pub struct Bus {
    locations: Mutex<Locations>,
    comets: crate::clients::Clients<pb::comet_client::CometClient<Channel>>,
    store: Arc<dyn Store>,
    events: std::sync::OnceLock<Arc<dyn Events>>,
    timeout: Duration,
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

impl Bus {
    /// A bus storing uploads in `store`; calls to comets time out after `timeout`.
    pub fn new(store: Arc<dyn Store>, timeout: Duration) -> Arc<Bus> {
        Arc::new(Bus {
            locations: Mutex::default(),
            comets: crate::clients::Clients::new(pb::comet_client::CometClient::new),
            store,
            events: Default::default(),
            timeout,
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

    /// Delivers or stores one message.
    pub async fn send(&self, m: pb::Message) -> pb::SendRes {
        if m.flags & u32::from(super::packet::flags::UPLOAD) != 0 {
            return match self.store.store(m).await {
                Ok(()) => {
                    metrics::counter!("msgbus_stored_total").increment(1);
                    pb::SendRes { ok: true, ..Default::default() }
                }
                Err(e) => {
                    metrics::counter!("msgbus_store_failures_total").increment(1);
                    refuse(Reason::Unavailable, format!("storage: {e}"))
                }
            };
        }
        let Ok(to) = TerminalId::new(m.to) else { return refuse(Reason::Malformed, "no target") };
        let node = self.table().get(to).map(str::to_owned);
        let Some(node) = node else {
            metrics::counter!("msgbus_offline_targets_total").increment(1);
            return refuse(Reason::UnknownTarget, format!("{to} is not online"));
        };
        let Some(mut c) = self.comet(&node) else {
            return refuse(Reason::Unavailable, format!("{node} is no address"));
        };
        match tokio::time::timeout(self.timeout, c.deliver(m)).await {
            Ok(Ok(r)) => {
                metrics::counter!("msgbus_delivered_total").increment(1);
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

    async fn r#where(&self, r: tonic::Request<pb::WhereReq>) -> Res<pb::WhereRes> {
        let id = r.into_inner().id;
        if id == 0 {
            return Err(tonic::Status::invalid_argument("id: 0 names no terminal"));
        }
        let login = self.0.locate(id);
        Ok(tonic::Response::new(pb::WhereRes { online: login.is_some(), login }))
    }
}
