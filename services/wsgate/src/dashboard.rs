//! The frontend's part of the platform dashboard, on its metrics port: its connections and
//! users, and the routing table (protocol id -> service -> instances now), from the hub and the
//! table the frontend keeps.

use socketio_cluster::ws::gate::Gate;
use std::collections::BTreeMap;
use std::sync::Arc;
use zero_svc::dashboard::{BoxFuture, Panel, Row, Table, Tone, View};

/// The frontend panel.
#[derive(Debug)]
pub struct Frontend {
    gate: Arc<Gate>,
}

impl Frontend {
    /// The panel over a frontend.
    pub fn new(gate: Arc<Gate>) -> Frontend {
        Frontend { gate }
    }

    fn now(&self) -> View {
        let (sessions, users, _) = self.gate.hub().online(&[]);
        let routes = self.gate.routes();
        let mut by_app: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (p, app) in routes.protocols() {
            by_app.entry(app).or_default().push(p);
        }
        let mut table = Table::new("Routes", &["service", "protocol ids", "instances"]);
        let mut down = 0;
        for (app, ids) in &by_app {
            let inst = routes.instances(app);
            if inst.is_empty() {
                down += 1;
            }
            table = table.row(
                Row::new(vec![
                    app.clone(),
                    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
                    if inst.is_empty() { "none".into() } else { inst.join(", ") },
                ])
                .tone(if inst.is_empty() { Tone::Bad } else { Tone::Good }),
            );
        }
        View::new("Frontend")
            .stat("connections", sessions)
            .stat("users", users)
            .stat("frontends", self.gate.frontends().len())
            .stat("services", by_app.len())
            .stat_toned("services without instances", down, if down > 0 { Tone::Bad } else { Tone::Plain })
            .table(table)
    }
}

impl Panel for Frontend {
    fn id(&self) -> &str {
        "frontend"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }
}
