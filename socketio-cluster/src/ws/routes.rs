//! Which service handles which protocol id, and its instances, balanced round-robin.
//!
//! Two sources: a static table from configuration, or etcd, where each logic service registers
//! its instances as go-zero does (`<app>/<leaseID>` -> `host:port`, the platform's format) and each
//! protocol id it serves as `<protocols prefix>/<id>/<leaseID>` -> `<app>`. The frontend watches both;
//! an instance whose lease expires (its process died) leaves the table with its key, so nothing
//! is routed to it after that.
//!
//! ```
//! use socketio_cluster::ws::routes::{AppConf, Routes};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let r = Routes::default();
//! r.set_static(&[AppConf { name: "chat.rpc".into(), endpoints: vec!["127.0.0.1:1".into()], protocols: vec![1001, 1002] }]).unwrap();
//! assert_eq!(&*r.pick(1001).unwrap().app, "chat.rpc");
//! assert!(r.pick(7).is_err());
//! # }
//! ```

use crate::pb::wsgate::logic_client::LogicClient;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use tonic::transport::Channel;

/// A logic service in the static table (`Apps` of the frontend's configuration).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AppConf {
    /// Its name (the etcd key it would register under, `chat.rpc`).
    pub name: String,
    /// Its instances, `host:port`.
    pub endpoints: Vec<String>,
    /// The protocol ids it handles.
    pub protocols: Vec<u32>,
}

/// Why a request cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No service registered the id.
    #[error("no service handles protocol {0}")]
    Unknown(u32),
    /// The service has no instance now.
    #[error("{0} has no instance")]
    NoInstance(String),
}

/// One instance of a service.
#[derive(Clone)]
pub struct Instance {
    /// `host:port`.
    pub addr: String,
    /// Its client (connected lazily, shared by every request).
    pub client: LogicClient<Channel>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("addr", &self.addr).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct App {
    instances: RwLock<Arc<Vec<Instance>>>,
    next: AtomicUsize,
}

/// A request's service and its instances in the order to try them ([`Routes::pick`]).
#[derive(Debug)]
pub struct Picked {
    /// The service.
    pub app: Arc<str>,
    list: Arc<Vec<Instance>>,
    start: usize,
}

impl Picked {
    /// The instances, the chosen one first.
    pub fn order(&self) -> impl Iterator<Item = &Instance> {
        let n = self.list.len();
        (0..n).map(move |k| &self.list[(self.start + k) % n])
    }
}

/// The table.
#[derive(Default)]
pub struct Routes {
    protocols: RwLock<Arc<HashMap<u32, Arc<str>>>>,
    apps: RwLock<HashMap<String, Arc<App>>>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes").field("protocols", &self.protocols()).finish_non_exhaustive()
    }
}

fn client(addr: &str) -> Result<LogicClient<Channel>, String> {
    let uri = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
    let ep = tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| format!("{addr}: {e}"))?
        .connect_timeout(std::time::Duration::from_secs(2))
        .tcp_nodelay(true);
    Ok(LogicClient::new(ep.connect_lazy()))
}

impl Routes {
    /// The protocol ids and the service of each.
    pub fn protocols(&self) -> BTreeMap<u32, String> {
        self.protocols
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect()
    }

    /// The instances of `app` now.
    pub fn instances(&self, app: &str) -> Vec<String> {
        let apps = self.apps.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        apps.get(app)
            .map(|a| {
                a.instances
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .map(|i| i.addr.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replaces the protocol table.
    pub fn set_protocols(&self, table: HashMap<u32, String>) {
        let table = table.into_iter().map(|(k, v)| (k, Arc::from(v))).collect();
        *self.protocols.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(table);
    }

    /// Sets `app`'s instances (clients of addresses it had are kept).
    ///
    /// # Errors
    /// An address that is no URI.
    pub fn set_instances(&self, app: &str, addrs: &BTreeSet<String>) -> Result<(), String> {
        let entry = {
            let mut apps = self.apps.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            apps.entry(app.to_owned()).or_default().clone()
        };
        let old = entry.instances.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut next = Vec::with_capacity(addrs.len());
        for a in addrs {
            match old.iter().find(|i| &i.addr == a) {
                Some(i) => next.push(i.clone()),
                None => next.push(Instance { addr: a.clone(), client: client(a)? }),
            }
        }
        *entry.instances.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    /// The static table of configuration.
    ///
    /// # Errors
    /// An address that is no URI, or a protocol id claimed twice or below 1000.
    pub fn set_static(&self, apps: &[AppConf]) -> Result<(), String> {
        let mut table = HashMap::new();
        for a in apps {
            for p in &a.protocols {
                if *p < super::frame::FIRST_APP_ID {
                    return Err(format!(
                        "{}: protocol {p} is the frontend's own (logic services use {}+)",
                        a.name,
                        super::frame::FIRST_APP_ID
                    ));
                }
                if let Some(other) = table.insert(*p, a.name.clone()) {
                    return Err(format!("protocol {p} claimed by {other} and {}", a.name));
                }
            }
            self.set_instances(&a.name, &a.endpoints.iter().cloned().collect())?;
        }
        self.set_protocols(table);
        Ok(())
    }

    /// The service for `protocol` and its next instance (round-robin), with the instances after
    /// it for a retry when that one cannot be reached ([`Picked::order`]).
    ///
    /// # Errors
    /// [`RouteError`].
    pub fn pick(&self, protocol: u32) -> Result<Picked, RouteError> {
        let app = {
            let t = self.protocols.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            t.get(&protocol).cloned().ok_or(RouteError::Unknown(protocol))?
        };
        let entry = self.apps.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&*app).cloned();
        let Some(entry) = entry else { return Err(RouteError::NoInstance(app.to_string())) };
        let list = entry.instances.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if list.is_empty() {
            return Err(RouteError::NoInstance(app.to_string()));
        }
        let start = entry.next.fetch_add(1, Ordering::Relaxed) % list.len();
        Ok(Picked { app, list, start })
    }

    /// Follows etcd: the protocol table under `protocols_prefix` (`<prefix>/<id>/<lease>` ->
    /// app) and each app's instances (`<app>/<lease>` -> `host:port`), until the task is
    /// aborted.
    #[cfg(feature = "etcd")]
    pub async fn follow_etcd(self: Arc<Self>, conf: crate::registry::EtcdConf, protocols_prefix: String) {
        let mut table =
            crate::registry::watch_prefix(conf.clone(), format!("{}/", protocols_prefix.trim_end_matches('/')));
        let mut watching: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let kvs = table.borrow_and_update().clone();
            let mut t = HashMap::new();
            for (k, app) in &kvs {
                // <prefix>/<id>/<lease>
                let id = k.rsplit('/').nth(1).and_then(|s| s.parse::<u32>().ok());
                match id {
                    Some(id) if id >= super::frame::FIRST_APP_ID => {
                        t.insert(id, app.clone());
                    }
                    _ => tracing::warn!(key = %k, "not a protocol registration"),
                }
            }
            for app in t.values() {
                if watching.contains_key(app) {
                    continue;
                }
                let mut c = conf.clone();
                c.key.clone_from(app);
                let mut eps = crate::registry::discover(c);
                let (me, name) = (self.clone(), app.clone());
                watching.insert(
                    app.clone(),
                    tokio::spawn(async move {
                        loop {
                            let now = eps.borrow_and_update().clone();
                            if let Err(e) = me.set_instances(&name, &now) {
                                tracing::warn!(app = %name, error = %e, "instances");
                            }
                            tracing::info!(app = %name, instances = ?now, "instances");
                            if eps.changed().await.is_err() {
                                return;
                            }
                        }
                    }),
                );
            }
            tracing::info!(protocols = ?t, "protocol table");
            self.set_protocols(t);
            if table.changed().await.is_err() {
                break;
            }
        }
        for (_, h) in watching {
            h.abort();
        }
    }
}

/// Registers `protocols` as served by `app` in etcd (`<protocols_prefix>/<id>/<lease>` -> `app`,
/// one lease each, revoked at `stop`), beside the app's own instance registration.
#[cfg(feature = "etcd")]
pub async fn register_protocols(
    conf: crate::registry::EtcdConf,
    protocols_prefix: String,
    app: String,
    protocols: Vec<u32>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for p in protocols {
        let mut c = conf.clone();
        c.key = format!("{}/{p}", protocols_prefix.trim_end_matches('/'));
        c.id = 0;
        let (app, mut stop) = (app.clone(), stop.clone());
        tasks.spawn(crate::registry::register(c, app, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_robin_with_the_rest_for_a_retry() {
        let r = Routes::default();
        let apps = [AppConf {
            name: "chat".into(),
            endpoints: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
            protocols: vec![1001],
        }];
        r.set_static(&apps).unwrap();
        let order = |r: &Routes| r.pick(1001).unwrap().order().map(|i| i.addr.clone()).collect::<Vec<_>>();
        assert_eq!(order(&r), ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(order(&r), ["127.0.0.1:2", "127.0.0.1:1"]);
        assert_eq!(r.pick(999).unwrap_err(), RouteError::Unknown(999));
        r.set_instances("chat", &BTreeSet::new()).unwrap();
        assert_eq!(r.pick(1001).unwrap_err(), RouteError::NoInstance("chat".into()));
        let twice = [apps[0].clone(), AppConf { name: "other".into(), endpoints: vec![], protocols: vec![1001] }];
        assert!(r.set_static(&twice).unwrap_err().contains("claimed by chat and other"));
        let own = [AppConf { name: "x".into(), endpoints: vec![], protocols: vec![2] }];
        assert!(r.set_static(&own).unwrap_err().contains("the frontend's own"));
    }
}
