//! The gateway's part of the platform dashboard, on its metrics port: the routes in force
//! (the native ping, the gRPC mappings, the HTTP routes from every source merged) and the HTTP
//! upstreams' nodes (taking requests or out after failed checks, requests in flight). Made once
//! per tick from the table and the upstreams' own counters.

use crate::routes::Routes;
use std::sync::Arc;
use zero_svc::dashboard::{BoxFuture, Panel, Row, Table, Tone, View};

/// The Routes panel.
#[derive(Debug)]
pub struct RoutesPanel {
    routes: Arc<Routes>,
}

impl RoutesPanel {
    /// The panel over the gateway's routes.
    pub fn new(routes: Arc<Routes>) -> RoutesPanel {
        RoutesPanel { routes }
    }

    fn now(&self) -> View {
        let mut table = Table::new("Routes", &["route", "methods", "path", "goes to", "rate limit"]);
        table = table.row(Row::new(vec![
            "ping".into(),
            "GET".into(),
            "/bridge/v1/ping".into(),
            "this gateway".into(),
            "-".into(),
        ]));
        for (method, path, rpc) in self.routes.mappings() {
            table =
                table.row(Row::new(vec![path.clone(), method.to_uppercase(), path, format!("gRPC {rpc}"), "-".into()]));
        }
        let set = self.routes.merged();
        for r in &set.http_routes {
            let limit = if r.rate_limit.rate == 0 {
                "-".into()
            } else {
                format!("{}/s (burst {}) per {}", r.rate_limit.rate, r.rate_limit.burst, r.rate_limit.key)
            };
            table = table.row(Row::new(vec![
                if r.id.is_empty() { r.path.clone() } else { r.id.clone() },
                if r.methods.is_empty() { "any".into() } else { r.methods.join(", ").to_uppercase() },
                r.path.clone(),
                format!("HTTP {}{}", r.upstream, if r.strip_prefix { " (prefix stripped)" } else { "" }),
                limit,
            ]));
        }
        let mut nodes = Table::new("Upstream nodes", &["upstream", "node", "state", "in flight"]);
        let (mut count, mut out) = (0, 0);
        let ups = self.routes.upstream_states();
        for (id, states) in &ups {
            for (addr, healthy, active) in states {
                count += 1;
                if !healthy {
                    out += 1;
                }
                nodes = nodes.row(
                    Row::new(vec![
                        id.clone(),
                        addr.clone(),
                        if *healthy { "taking requests" } else { "out (failed checks)" }.into(),
                        active.to_string(),
                    ])
                    .tone(if *healthy { Tone::Good } else { Tone::Bad }),
                );
            }
        }
        View::new("Gateway routes")
            .stat("routes", self.routes.table().len())
            .stat("upstreams", ups.len())
            .stat("nodes", count)
            .stat_toned("nodes out", out, if out > 0 { Tone::Bad } else { Tone::Plain })
            .table(table)
            .table(nodes)
    }
}

impl Panel for RoutesPanel {
    fn id(&self) -> &str {
        "routes"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DynamicSet, HttpRouteConf, HttpUpstreamConf};

    #[tokio::test]
    async fn routes_and_a_node_out_after_its_checks() {
        // one node answers its health checks, the other is gone
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
            let _ = axum::serve(l, app).await;
        });
        let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
        let yaml = format!(
            "{{Id: app, Nodes: ['{up}', '{gone}'], HealthCheck: {{Path: /health, IntervalMs: 50, UnhealthyAfter: 1}}}}"
        );
        let upstream: HttpUpstreamConf = serde_yaml_ng::from_str(&yaml).unwrap();
        let route = HttpRouteConf {
            id: "app".into(),
            path: "/app/*".into(),
            upstream: "app".into(),
            strip_prefix: true,
            methods: vec!["get".into()],
            ..Default::default()
        };
        let routes =
            Routes::new(vec![], DynamicSet { http_upstreams: vec![upstream], http_routes: vec![route] }).unwrap();
        let panel = RoutesPanel::new(Arc::new(routes));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let v = loop {
            let v = panel.view().await;
            if v.stats[3].value == "1" {
                break v;
            }
            assert!(std::time::Instant::now() < deadline, "the gone node never went out: {v:?}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(v.stats[0].value, "2", "ping and the route: {v:?}");
        let app = &v.tables[0].rows[1].cells;
        assert_eq!(app, &["app", "GET", "/app/*", "HTTP app (prefix stripped)", "-"]);
        let nodes: Vec<(&str, &str)> =
            v.tables[1].rows.iter().map(|r| (r.cells[1].as_str(), r.cells[2].as_str())).collect();
        assert_eq!(nodes, [(up.as_str(), "taking requests"), (gone.as_str(), "out (failed checks)")]);
    }
}
