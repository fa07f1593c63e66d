//! The route table: the gRPC mappings, the HTTP routes (configured, from the watched file, from
//! etcd, from the admin API) and the native ping, matched per method. A change builds a new
//! table and swaps it in; requests in flight keep the table they started with.

use crate::config::{DynamicSet, HttpRouteConf, HttpUpstreamConf, Mapping};
use crate::proxy::HttpUpstream;
use crate::upstream::RpcClient;
use http::Method;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use zero_edge::limit::Limiter;

/// Where a route goes.
#[derive(Debug)]
pub enum Target {
    /// An RPC, transcoded.
    Grpc {
        /// The server.
        upstream: Arc<RpcClient>,
        /// `pkg.Service/Method`.
        rpc_path: String,
    },
    /// An HTTP upstream.
    Http {
        /// The upstream.
        upstream: Arc<HttpUpstream>,
        /// The prefix removed before forwarding.
        strip: Option<String>,
    },
    /// `GET /bridge/v1/ping`.
    Ping,
}

/// A route.
#[derive(Debug)]
pub struct Route {
    /// The route's pattern as configured (the metrics' `route`, the RBAC object's pattern).
    pub label: Arc<str>,
    /// Where it goes.
    pub target: Target,
    /// Its own rate limit.
    pub limiter: Option<Limiter>,
}

/// Routes by method and path.
#[derive(Debug, Default)]
pub struct Table {
    by_method: HashMap<Method, matchit::Router<usize>>,
    any: matchit::Router<usize>,
    routes: Vec<Route>,
}

/// go-zero's `:name` segments and a trailing `/*` as matchit patterns.
pub fn pattern(path: &str) -> String {
    let (base, prefix) = match path.strip_suffix("/*") {
        Some(b) => (b, true),
        None => (path, false),
    };
    let mut out: String = base
        .split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => seg.replace('{', "{{").replace('}', "}}"),
        })
        .collect::<Vec<_>>()
        .join("/");
    if prefix {
        out.push_str("/{*__rest}");
    }
    out
}

impl Table {
    fn add(&mut self, methods: &[Method], path: &str, route: Route) -> Result<(), String> {
        let i = self.routes.len();
        self.routes.push(route);
        let p = pattern(path);
        if methods.is_empty() {
            self.any.insert(p.clone(), i).map_err(|e| format!("route {path}: {e}"))?;
            if path.ends_with("/*") {
                // the prefix itself too
                let bare = pattern(path.trim_end_matches("/*"));
                let _ = self.any.insert(if bare.is_empty() { "/".into() } else { bare }, i);
            }
        } else {
            for m in methods {
                let r = self.by_method.entry(m.clone()).or_default();
                r.insert(p.clone(), i).map_err(|e| format!("route {m} {path}: {e}"))?;
                if path.ends_with("/*") {
                    let bare = pattern(path.trim_end_matches("/*"));
                    let _ = r.insert(if bare.is_empty() { "/".into() } else { bare }, i);
                }
            }
        }
        Ok(())
    }

    /// The route of `method` `path` and its path parameters.
    pub fn find(&self, method: &Method, path: &str) -> Option<(&Route, Vec<(String, String)>)> {
        let hit = self.by_method.get(method).and_then(|r| r.at(path).ok()).or_else(|| self.any.at(path).ok())?;
        let params =
            hit.params.iter().filter(|(k, _)| *k != "__rest").map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Some((&self.routes[*hit.value], params))
    }

    /// How many routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn methods(list: &[String]) -> Result<Vec<Method>, String> {
    list.iter().map(|m| m.to_uppercase().parse::<Method>().map_err(|_| format!("method {m:?}"))).collect()
}

/// Where the dynamic part comes from; later sources win over earlier ones for the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The main configuration file.
    Config,
    /// The watched file.
    File,
    /// etcd.
    Etcd,
    /// The admin API without etcd.
    Admin,
}

/// The routes of the gateway, rebuilt whenever a source changes.
#[derive(Debug)]
pub struct Routes {
    table: RwLock<Arc<Table>>,
    mappings: Vec<(Mapping, Arc<RpcClient>)>,
    sets: Mutex<std::collections::BTreeMap<Source, DynamicSet>>,
    upstreams: Mutex<HashMap<String, (HttpUpstreamConf, Arc<HttpUpstream>)>>,
}

impl Routes {
    /// The table of the gRPC `mappings` and the configured HTTP `set`.
    ///
    /// # Errors
    /// A route or upstream that does not fit.
    pub fn new(mappings: Vec<(Mapping, Arc<RpcClient>)>, set: DynamicSet) -> Result<Routes, String> {
        let r = Routes {
            table: RwLock::new(Arc::new(Table::default())),
            mappings,
            sets: Mutex::new([(Source::Config, set)].into_iter().collect()),
            upstreams: Mutex::new(HashMap::new()),
        };
        r.rebuild()?;
        Ok(r)
    }

    /// The table in force.
    pub fn table(&self) -> Arc<Table> {
        self.table.read().map(|t| t.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The merged dynamic set in force (later sources win per id).
    pub fn merged(&self) -> DynamicSet {
        let sets = self.sets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ups: Vec<HttpUpstreamConf> = vec![];
        let mut routes: Vec<HttpRouteConf> = vec![];
        for set in sets.values() {
            for u in &set.http_upstreams {
                ups.retain(|x| x.id != u.id);
                ups.push(u.clone());
            }
            for r in &set.http_routes {
                routes.retain(|x| x.id != r.id || r.id.is_empty());
                routes.push(r.clone());
            }
        }
        DynamicSet { http_upstreams: ups, http_routes: routes }
    }

    /// The gRPC mappings: method, path, `pkg.Service/Method`.
    pub fn mappings(&self) -> Vec<(String, String, String)> {
        self.mappings.iter().map(|(m, _)| (m.method.clone(), m.path.clone(), m.rpc_path.clone())).collect()
    }

    /// The HTTP upstreams in force and their nodes ([`HttpUpstream::node_states`]), by id.
    pub fn upstream_states(&self) -> Vec<(String, Vec<crate::proxy::NodeState>)> {
        let ups = self.upstreams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<_> = ups.iter().map(|(id, (_, u))| (id.clone(), u.node_states())).collect();
        drop(ups);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The set `source` holds.
    pub fn set_of(&self, source: Source) -> DynamicSet {
        self.sets.lock().map(|s| s.get(&source).cloned().unwrap_or_default()).unwrap_or_default()
    }

    /// Replaces what `source` holds and rebuilds the table; on error the table in force stays
    /// (and so does what the source held before).
    ///
    /// # Errors
    /// A route or upstream that does not fit.
    pub fn replace(&self, source: Source, set: DynamicSet) -> Result<(), String> {
        let previous = {
            let mut sets = self.sets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            sets.insert(source, set)
        };
        if let Err(e) = self.rebuild() {
            let mut sets = self.sets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match previous {
                Some(p) => sets.insert(source, p),
                None => sets.remove(&source),
            };
            return Err(e);
        }
        Ok(())
    }

    fn rebuild(&self) -> Result<(), String> {
        let set = self.merged();
        let mut t = Table::default();
        t.add(
            &[Method::GET],
            "/bridge/v1/ping",
            Route { label: "/bridge/v1/ping".into(), target: Target::Ping, limiter: None },
        )?;
        for (m, up) in &self.mappings {
            let label: Arc<str> = m.path.as_str().into();
            t.add(
                &methods(std::slice::from_ref(&m.method))?,
                &m.path,
                Route {
                    label,
                    target: Target::Grpc { upstream: up.clone(), rpc_path: m.rpc_path.clone() },
                    limiter: None,
                },
            )?;
        }
        // upstreams whose configuration did not change keep their state (health, connections)
        let mut ups = self.upstreams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next: HashMap<String, (HttpUpstreamConf, Arc<HttpUpstream>)> = HashMap::new();
        for u in &set.http_upstreams {
            let kept = ups.get(&u.id).filter(|(c, _)| c == u).map(|(_, a)| a.clone());
            let up = match kept {
                Some(a) => a,
                None => HttpUpstream::new(u)?,
            };
            next.insert(u.id.clone(), (u.clone(), up));
        }
        for r in &set.http_routes {
            let Some((_, up)) = next.get(&r.upstream) else {
                return Err(format!("route {:?}: no upstream {:?}", r.id, r.upstream));
            };
            let strip = r.strip_prefix.then(|| r.path.trim_end_matches("/*").trim_end_matches('/').to_owned());
            let label: Arc<str> = if r.id.is_empty() { r.path.as_str().into() } else { r.id.as_str().into() };
            let limiter = Limiter::new(&r.rate_limit)?;
            t.add(
                &methods(&r.methods)?,
                &r.path,
                Route { label, target: Target::Http { upstream: up.clone(), strip }, limiter },
            )?;
        }
        *ups = next;
        drop(ups);
        if let Ok(mut cur) = self.table.write() {
            *cur = Arc::new(t);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(pattern("/api/external/cable/workList"), "/api/external/cable/workList");
        assert_eq!(pattern("/api/station/:id/points/:ioa"), "/api/station/{id}/points/{ioa}");
        assert_eq!(pattern("/svc/*"), "/svc/{*__rest}");
    }

    #[test]
    fn prefix_exact_and_methods() {
        let set = DynamicSet {
            http_upstreams: vec![HttpUpstreamConf {
                id: "u".into(),
                nodes: vec!["127.0.0.1:1".into()],
                ..Default::default()
            }],
            http_routes: vec![
                HttpRouteConf { id: "all".into(), path: "/svc/*".into(), upstream: "u".into(), ..Default::default() },
                HttpRouteConf {
                    id: "one".into(),
                    path: "/svc/items/:id".into(),
                    methods: vec!["DELETE".into()],
                    upstream: "u".into(),
                    ..Default::default()
                },
            ],
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let r = Routes::new(vec![], set).unwrap();
            let t = r.table();
            assert_eq!(&*t.find(&Method::GET, "/svc/a/b").unwrap().0.label, "all");
            assert_eq!(&*t.find(&Method::GET, "/svc").unwrap().0.label, "all");
            let (route, params) = t.find(&Method::DELETE, "/svc/items/7").unwrap();
            assert_eq!((&*route.label, params), ("one", vec![("id".to_owned(), "7".to_owned())]));
            assert_eq!(&*t.find(&Method::GET, "/svc/items/7").unwrap().0.label, "all");
            assert!(t.find(&Method::GET, "/other").is_none());
            assert!(t.find(&Method::GET, "/bridge/v1/ping").is_some());
            // a route naming a missing upstream is refused and the table stays
            let bad = DynamicSet {
                http_upstreams: vec![],
                http_routes: vec![HttpRouteConf {
                    id: "x".into(),
                    path: "/x".into(),
                    upstream: "none".into(),
                    ..Default::default()
                }],
            };
            assert!(r.replace(Source::File, bad).is_err());
            assert!(r.table().find(&Method::GET, "/svc/a").is_some());
            assert!(r.set_of(Source::File).http_routes.is_empty());
            // a node that is no host:port is refused when loaded, named, and the table stays
            for node in ["127.0.0.1", "http://127.0.0.1:80", "127.0.0.1:80/x", "bad host:80", ""] {
                let bad = DynamicSet {
                    http_upstreams: vec![HttpUpstreamConf {
                        id: "n".into(),
                        nodes: vec![node.into()],
                        ..Default::default()
                    }],
                    http_routes: vec![],
                };
                let err = r.replace(Source::File, bad).unwrap_err();
                assert!(err.contains("is no host:port") && err.contains(&format!("{node:?}")), "{node}: {err}");
                assert!(r.table().find(&Method::GET, "/svc/a").is_some());
            }
        });
    }
}
