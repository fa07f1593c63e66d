//! The sources of routes that change at run time: a watched YAML file, etcd keys
//! (`<Key>/upstreams/<id>`, `<Key>/routes/<id>`, JSON objects of the `HttpUpstreams` /
//! `HttpRoutes` shape) and the admin API. A change is applied within a second; one that does not
//! fit is logged and the routes in force stay.

use crate::config::{DynamicSet, HttpRouteConf, HttpUpstreamConf};
use crate::routes::{Routes, Source};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use zero_edge::registry::EtcdConf;

/// How often the file is looked at.
pub const FILE_POLL: Duration = Duration::from_millis(200);

/// Follows the YAML file at `path` until aborted: read at start and again whenever its size or
/// modification time changes.
pub fn watch_file(routes: Arc<Routes>, path: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen: Option<(SystemTime, u64)> = None;
        loop {
            let stamp = tokio::fs::metadata(&path)
                .await
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
            if stamp != seen {
                seen = stamp;
                match tokio::fs::read_to_string(&path).await {
                    Ok(text) => match serde_yaml_ng::from_str::<Option<DynamicSet>>(&text) {
                        Ok(set) => match routes.replace(Source::File, set.unwrap_or_default()) {
                            Ok(()) => {
                                tracing::info!(file = %path.display(), routes = routes.table().len(), "routes from the file applied")
                            }
                            Err(e) => {
                                tracing::warn!(file = %path.display(), error = %e, "routes from the file refused; the routes in force stay")
                            }
                        },
                        Err(e) => {
                            tracing::warn!(file = %path.display(), error = %e, "routes file unreadable; the routes in force stay")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "routes file gone; its routes are removed");
                        let _ = routes.replace(Source::File, DynamicSet::default());
                    }
                }
            }
            tokio::time::sleep(FILE_POLL).await;
        }
    })
}

/// The key of an upstream or route `id` under `prefix`.
pub fn key(prefix: &str, kind: &str, id: &str) -> String {
    format!("{}/{kind}/{id}", prefix.trim_end_matches('/'))
}

fn set_of(prefix: &str, kvs: &BTreeMap<String, String>) -> DynamicSet {
    let mut set = DynamicSet::default();
    let ups = key(prefix, "upstreams", "");
    let routes = key(prefix, "routes", "");
    for (k, v) in kvs {
        if let Some(id) = k.strip_prefix(&ups) {
            match serde_json::from_str::<HttpUpstreamConf>(v) {
                Ok(mut u) => {
                    u.id = id.to_owned();
                    set.http_upstreams.push(u);
                }
                Err(e) => tracing::warn!(key = %k, error = %e, "upstream in etcd skipped"),
            }
        } else if let Some(id) = k.strip_prefix(&routes) {
            match serde_json::from_str::<HttpRouteConf>(v) {
                Ok(mut r) => {
                    r.id = id.to_owned();
                    set.http_routes.push(r);
                }
                Err(e) => tracing::warn!(key = %k, error = %e, "route in etcd skipped"),
            }
        }
    }
    set
}

fn apply(routes: &Routes, prefix: &str, kvs: &BTreeMap<String, String>) {
    match routes.replace(Source::Etcd, set_of(prefix, kvs)) {
        Ok(()) => tracing::info!(routes = routes.table().len(), "routes from etcd applied"),
        Err(e) => tracing::warn!(error = %e, "routes from etcd refused; the routes in force stay"),
    }
}

/// Follows `<Key>/` in etcd until aborted (the registry's watch: reconnects while etcd is away).
pub fn watch_etcd(routes: Arc<Routes>, conf: EtcdConf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let prefix = format!("{}/", conf.key.trim_end_matches('/'));
        let mut kvs = zero_edge::registry::watch_prefix(conf.clone(), prefix);
        loop {
            let now = kvs.borrow_and_update().clone();
            apply(&routes, &conf.key, &now);
            if kvs.changed().await.is_err() {
                return;
            }
        }
    })
}

/// Where the admin API writes.
#[derive(Debug, Clone)]
pub enum Store {
    /// etcd (the watch applies the change).
    Etcd(EtcdConf),
    /// This process's own set.
    Local,
}

/// What the admin API changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `routes`.
    Route,
    /// `upstreams`.
    Upstream,
}

impl Kind {
    fn segment(self) -> &'static str {
        match self {
            Kind::Route => "routes",
            Kind::Upstream => "upstreams",
        }
    }
}

impl Store {
    /// Puts (`Some`) or deletes (`None`) the `kind` entry `id`, a JSON object.
    ///
    /// # Errors
    /// The entry does not fit (400), etcd cannot be reached (503).
    pub async fn write(
        &self,
        routes: &Routes,
        kind: Kind,
        id: &str,
        value: Option<serde_json::Value>,
    ) -> Result<(), zero_edge::error::ApiError> {
        use zero_edge::error::ApiError;
        // check the shape first, whatever the store
        let parsed: Option<Result<(), String>> = value.as_ref().map(|v| match kind {
            Kind::Route => serde_json::from_value::<HttpRouteConf>(v.clone()).map(|_| ()).map_err(|e| e.to_string()),
            Kind::Upstream => {
                serde_json::from_value::<HttpUpstreamConf>(v.clone()).map(|_| ()).map_err(|e| e.to_string())
            }
        });
        if let Some(Err(e)) = parsed {
            return Err(ApiError::bad_request(e));
        }
        match self {
            Store::Etcd(conf) => {
                let mut c =
                    zero_edge::registry::client(conf).await.map_err(|e| ApiError::grpc(14, format!("etcd: {e}")))?;
                let k = key(&conf.key, kind.segment(), id);
                match value {
                    Some(v) => c.put(k, v.to_string(), None).await.map(|_| ()),
                    None => c.delete(k, None).await.map(|_| ()),
                }
                .map_err(|e| ApiError::grpc(14, format!("etcd: {e}")))
            }
            Store::Local => {
                let mut set = routes.set_of(Source::Admin);
                match kind {
                    Kind::Route => {
                        set.http_routes.retain(|r| r.id != id);
                        if let Some(v) = value {
                            let mut r: HttpRouteConf =
                                serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))?;
                            r.id = id.to_owned();
                            set.http_routes.push(r);
                        }
                    }
                    Kind::Upstream => {
                        set.http_upstreams.retain(|u| u.id != id);
                        if let Some(v) = value {
                            let mut u: HttpUpstreamConf =
                                serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))?;
                            u.id = id.to_owned();
                            set.http_upstreams.push(u);
                        }
                    }
                }
                routes.replace(Source::Admin, set).map_err(ApiError::bad_request)
            }
        }
    }
}
