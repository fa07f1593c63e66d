//! gRPC clients by address (`host:port` or a URI), each over one channel connected lazily at its
//! first call and reused: the peers a node calls (other frontends, comets, buses).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tonic::transport::Channel;

/// The clients of type `C` a node keeps.
pub(crate) struct Clients<C> {
    map: Mutex<HashMap<String, C>>,
    make: fn(Channel) -> C,
}

impl<C> std::fmt::Debug for Clients<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

impl<C: Clone> Clients<C> {
    /// No clients yet; `make` wraps a channel (`FooClient::new`).
    pub(crate) fn new(make: fn(Channel) -> C) -> Clients<C> {
        Clients { map: Mutex::default(), make }
    }

    /// The client of `addr` (made now if new); `None` when `addr` is no URI.
    pub(crate) fn get(&self, addr: &str) -> Option<C> {
        let mut m = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = m.get(addr) {
            return Some(c.clone());
        }
        let uri = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
        let ch = tonic::transport::Endpoint::from_shared(uri)
            .ok()?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .connect_lazy();
        let c = (self.make)(ch);
        m.insert(addr.to_owned(), c.clone());
        Some(c)
    }

    /// Forgets the client of `addr` (the peer left).
    pub(crate) fn remove(&self, addr: &str) {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(addr);
    }
}
