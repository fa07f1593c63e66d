//! Where the gateways are: a fixed list ([`fixed`]), or etcd in go-zero's format ([`discover`],
//! [`register`], feature `etcd`).
//!
//! go-zero registers a server as the key `<Key>/<leaseID>` (decimal; `<Key>/<ID>` when `ID` is
//! set) with the value `host:port`, under a 10 s lease it keeps alive; a client watches the prefix
//! `<Key>/`. [`register`] and [`discover`] do the same, so Go and Rust gateways and push nodes find
//! each other in one etcd. Either side keeps retrying while etcd is unreachable and picks up again
//! when it comes (a gateway whose lease was lost registers anew; a watcher that lost its stream
//! reads the prefix again).
//!
//! ```
//! # async fn f() {
//! let nodes = zero_edge::registry::fixed(&["127.0.0.1:25001".to_owned()]);
//! assert_eq!(nodes.borrow().len(), 1);
//! # }
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tokio::sync::watch;

/// The gateways' gRPC addresses as they come and go.
pub type Endpoints = watch::Receiver<BTreeSet<String>>;

/// A registry that never changes: `SocketGtwConf.Endpoints`.
pub fn fixed(endpoints: &[String]) -> Endpoints {
    let (tx, rx) = watch::channel(endpoints.iter().cloned().collect());
    // the receiver keeps the value; nothing will ever change it
    drop(tx);
    rx
}

/// go-zero's `discov.EtcdConf` (the `Etcd` section of a server, `<Client>.Etcd` of a client).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EtcdConf {
    /// etcd endpoints (`host:port` or `http://host:port`); empty: no etcd.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The service's key: instances are `<Key>/<leaseID>`.
    #[serde(default)]
    pub key: String,
    /// A fixed instance id instead of the lease id (0: the lease id).
    #[serde(default, rename = "ID")]
    pub id: i64,
    /// etcd user (empty: no authentication).
    #[serde(default)]
    pub user: String,
    /// etcd password.
    #[serde(default)]
    pub pass: String,
}

impl EtcdConf {
    /// Whether the section names an etcd.
    pub fn enabled(&self) -> bool {
        !self.hosts.is_empty() && !self.key.is_empty()
    }

    /// The watched prefix, `<Key>/`.
    pub fn prefix(&self) -> String {
        format!("{}/", self.key)
    }

    /// An instance's key: `<Key>/<ID>` when `ID` is set, else `<Key>/<lease>`.
    pub fn instance_key(&self, lease: i64) -> String {
        format!("{}/{}", self.key, if self.id > 0 { self.id } else { lease })
    }
}

/// The lease a registration holds (go-zero's `TimeToLive`).
pub const LEASE_TTL: i64 = 10;

#[cfg(feature = "etcd")]
mod etcd {
    use super::{Endpoints, EtcdConf, LEASE_TTL};
    use etcd_client::{Client, ConnectOptions, EventType, GetOptions, PutOptions, WatchOptions};
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::time::Duration;
    use tokio::sync::watch;

    /// How long a broken etcd connection waits before the next attempt.
    const RETRY: Duration = Duration::from_secs(1);

    /// A client of the etcd `c` names (for writes next to the watches: an admin API's).
    ///
    /// # Errors
    /// etcd cannot be reached.
    pub async fn client(c: &EtcdConf) -> Result<Client, etcd_client::Error> {
        let mut o = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_keep_alive(Duration::from_secs(3), Duration::from_secs(3));
        if !c.user.is_empty() {
            o = o.with_user(c.user.clone(), c.pass.clone());
        }
        Client::connect(&c.hosts, Some(o)).await
    }

    /// Watches `<Key>/` in etcd: the values (`host:port`) of the instances registered now, kept
    /// current until the receiver is dropped. Starts empty; retries while etcd is unreachable.
    pub fn discover(conf: EtcdConf) -> Endpoints {
        let prefix = conf.prefix();
        spawn_follower(conf, prefix, |kvs| kvs.values().cloned().collect())
    }

    /// Watches every key under `prefix` in etcd: key -> value, kept current until the receiver
    /// is dropped. Starts empty; retries while etcd is unreachable (reading the prefix again).
    pub fn watch_prefix(conf: EtcdConf, prefix: String) -> watch::Receiver<BTreeMap<String, String>> {
        spawn_follower(conf, prefix, BTreeMap::clone)
    }

    fn spawn_follower<T: PartialEq + Default + Send + Sync + 'static>(
        conf: EtcdConf,
        prefix: String,
        view: fn(&BTreeMap<String, String>) -> T,
    ) -> watch::Receiver<T> {
        let (tx, rx) = watch::channel(T::default());
        tokio::spawn(async move {
            while !tx.is_closed() {
                if let Err(e) = follow(&conf, &prefix, &tx, view).await {
                    tracing::warn!(hosts = ?conf.hosts, %prefix, error = %e, "etcd watch");
                }
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => {}
                    () = tx.closed() => {}
                }
            }
        });
        rx
    }

    fn publish<T: PartialEq>(tx: &watch::Sender<T>, value: T) {
        tx.send_if_modified(|v| {
            let changed = *v != value;
            *v = value;
            changed
        });
    }

    /// One session: read the prefix, then follow its changes until the stream breaks.
    async fn follow<T: PartialEq>(
        conf: &EtcdConf,
        prefix: &str,
        tx: &watch::Sender<T>,
        view: fn(&BTreeMap<String, String>) -> T,
    ) -> Result<(), etcd_client::Error> {
        let mut client = client(conf).await?;
        let got = client.get(prefix, Some(GetOptions::new().with_prefix())).await?;
        let revision = got.header().map_or(0, etcd_client::ResponseHeader::revision);
        let mut kvs = BTreeMap::new();
        for kv in got.kvs() {
            if let (Ok(k), Ok(v)) = (kv.key_str(), kv.value_str()) {
                kvs.insert(k.to_owned(), v.to_owned());
            }
        }
        publish(tx, view(&kvs));
        let opts = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
        let mut stream = client.watch(prefix, Some(opts)).await?;
        loop {
            tokio::select! {
                m = stream.message() => {
                    let Some(m) = m? else { return Ok(()) };
                    if m.canceled() {
                        return Err(etcd_client::Error::WatchError(m.cancel_reason().to_owned()));
                    }
                    for ev in m.events() {
                        let Some(kv) = ev.kv() else { continue };
                        let Ok(k) = kv.key_str() else { continue };
                        match ev.event_type() {
                            EventType::Put => {
                                if let Ok(v) = kv.value_str() {
                                    kvs.insert(k.to_owned(), v.to_owned());
                                }
                            }
                            EventType::Delete => {
                                kvs.remove(k);
                            }
                        }
                    }
                    publish(tx, view(&kvs));
                }
                () = tx.closed() => return Ok(()),
            }
        }
    }

    /// Registers `value` (`host:port`) as `<Key>/<leaseID>` under a [`LEASE_TTL`] lease kept
    /// alive until `stop`, then revokes the lease (the key goes at once). Retries while etcd is
    /// unreachable; registers anew when the lease is lost.
    pub async fn register(conf: EtcdConf, value: String, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let mut held = None;
            let r = tokio::select! {
                r = hold(&conf, &value, &mut held) => r,
                () = &mut stop => {
                    if let Some((mut client, lease)) = held {
                        let _ = tokio::time::timeout(Duration::from_secs(2), client.lease_revoke(lease)).await;
                    }
                    return;
                }
            };
            if let Err(e) = r {
                tracing::warn!(hosts = ?conf.hosts, key = %conf.key, error = %e, "etcd registration");
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = &mut stop => return,
            }
        }
    }

    /// Campaigns for the leadership of `name` (etcd's election API) with `value`, under a
    /// [`LEASE_TTL`] lease: `leader` is true while this process holds it, false the moment the
    /// lease cannot be kept alive (before it expires), and the campaign starts anew after a
    /// loss. A leader that dies without a word is replaced once its lease expires; on `stop` the
    /// lease is revoked and the next candidate takes over at once.
    pub async fn elect(
        conf: EtcdConf,
        name: String,
        value: String,
        leader: watch::Sender<bool>,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let mut held = None;
            let r = tokio::select! {
                r = lead(&conf, &name, &value, &leader, &mut held) => r,
                () = &mut stop => {
                    leader.send_replace(false);
                    if let Some((mut client, lease)) = held {
                        let _ = tokio::time::timeout(Duration::from_secs(2), client.lease_revoke(lease)).await;
                    }
                    return;
                }
            };
            leader.send_replace(false);
            if let Err(e) = r {
                tracing::warn!(hosts = ?conf.hosts, %name, error = %e, "etcd election");
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = &mut stop => return,
            }
        }
    }

    /// One campaign: a lease kept alive while waiting to be elected and while leading.
    async fn lead(
        conf: &EtcdConf,
        name: &str,
        value: &str,
        leader: &watch::Sender<bool>,
        held: &mut Option<(Client, i64)>,
    ) -> Result<(), etcd_client::Error> {
        let mut client = client(conf).await?;
        let lease = client.lease_grant(LEASE_TTL, None).await?.id();
        *held = Some((client.clone(), lease));
        let (mut keeper, mut answers) = client.lease_keep_alive(lease).await?;
        let mut campaigner = client.clone();
        let campaign = campaigner.campaign(name, value, lease);
        tokio::pin!(campaign);
        let mut elected = false;
        let mut tick = tokio::time::interval(Duration::from_secs(u64::try_from(LEASE_TTL / 3).unwrap_or(3)));
        loop {
            tokio::select! {
                r = &mut campaign, if !elected => {
                    r?;
                    elected = true;
                    leader.send_replace(true);
                    tracing::info!(%name, %value, "elected");
                }
                _ = tick.tick() => {
                    keeper.keep_alive().await?;
                    match answers.message().await? {
                        Some(a) if a.ttl() > 0 => {}
                        _ => return Err(etcd_client::Error::LeaseKeepAliveError(format!("lease {lease} lost"))),
                    }
                }
            }
        }
    }

    /// Grants a lease, puts the key, keeps the lease alive until it is lost.
    async fn hold(conf: &EtcdConf, value: &str, held: &mut Option<(Client, i64)>) -> Result<(), etcd_client::Error> {
        let mut client = client(conf).await?;
        let lease = client.lease_grant(LEASE_TTL, None).await?.id();
        *held = Some((client.clone(), lease));
        let key = conf.instance_key(lease);
        client.put(key.as_str(), value, Some(PutOptions::new().with_lease(lease))).await?;
        tracing::info!(%key, %value, "registered in etcd");
        let (mut keeper, mut answers) = client.lease_keep_alive(lease).await?;
        let mut tick = tokio::time::interval(Duration::from_secs(u64::try_from(LEASE_TTL / 3).unwrap_or(3)));
        loop {
            tick.tick().await;
            keeper.keep_alive().await?;
            match answers.message().await? {
                Some(a) if a.ttl() > 0 => {}
                _ => return Err(etcd_client::Error::LeaseKeepAliveError(format!("lease {lease} lost"))),
            }
        }
    }
}

#[cfg(feature = "etcd")]
pub use etcd::{client, discover, elect, register, watch_prefix};

/// The address to register for a server bound to `local`: itself, or for an unspecified host
/// (`0.0.0.0`) as go-zero does, `POD_IP` when set, else the first non-loopback IPv4 address of
/// this host's name, else `127.0.0.1`.
pub async fn advertised(local: std::net::SocketAddr) -> String {
    if !local.ip().is_unspecified() {
        return local.to_string();
    }
    let port = local.port();
    match std::env::var("POD_IP") {
        Ok(ip) if !ip.is_empty() => return format!("{ip}:{port}"),
        _ => {}
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    if let Ok(addrs) = tokio::net::lookup_host((host.trim(), port)).await {
        let mut addrs = addrs.filter(|a| a.is_ipv4() && !a.ip().is_loopback());
        if let Some(a) = addrs.next() {
            return a.to_string();
        }
    }
    format!("127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_keys() {
        let c = EtcdConf { hosts: vec!["127.0.0.1:2379".into()], key: "socketgtw.rpc".into(), ..EtcdConf::default() };
        assert!(c.enabled());
        assert_eq!(c.prefix(), "socketgtw.rpc/");
        assert_eq!(c.instance_key(7_587_868_243_781_542_000), "socketgtw.rpc/7587868243781542000");
        assert_eq!(EtcdConf { id: 3, ..c.clone() }.instance_key(99), "socketgtw.rpc/3");
        assert!(!EtcdConf::default().enabled());
    }

    #[tokio::test]
    async fn a_bound_address_is_advertised_as_is() {
        let a = "127.0.0.1:25001".parse().unwrap();
        assert_eq!(advertised(a).await, "127.0.0.1:25001");
        let any: std::net::SocketAddr = "0.0.0.0:25001".parse().unwrap();
        assert!(advertised(any).await.ends_with(":25001"));
        assert!(!advertised(any).await.starts_with("0.0.0.0"));
    }

    #[test]
    fn fixed_endpoints_stay() {
        let rx = fixed(&["a:1".to_owned(), "b:2".to_owned()]);
        assert_eq!(rx.borrow().iter().cloned().collect::<Vec<_>>(), ["a:1", "b:2"]);
    }
}
