//! The comet's part of the platform dashboard, on its metrics port: terminals, connections and
//! UDP peers here, the buses known, whether this comet is the elected pusher, and what it
//! counted (logins, messages acked, duplicates dropped, refusals, timeouts).

use socketio_cluster::comet::node::Comet;
use std::sync::Arc;
use zero_svc::dashboard::{BoxFuture, Panel, Row, Table, Tone, View};

/// The comet panel.
pub struct CometPanel {
    comet: Arc<Comet>,
    mode: &'static str,
}

impl std::fmt::Debug for CometPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CometPanel").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl CometPanel {
    /// The panel of `comet`, running in `mode` (`ws` or `udp`).
    pub fn new(comet: Arc<Comet>, mode: &'static str) -> CometPanel {
        CometPanel { comet, mode }
    }

    fn now(&self) -> View {
        let s = self.comet.stats();
        let mut buses = Table::new("Message buses", &["bus"]);
        for b in &s.buses {
            buses = buses.row(Row::new(vec![b.clone()]).tone(Tone::Good));
        }
        let view = View::new("Device comet")
            .stat("mode", self.mode)
            .stat("terminals online", s.sessions)
            .stat("connections", s.connections)
            .stat("UDP peers", s.udp_peers)
            .stat_toned("buses", s.buses.len(), if s.buses.is_empty() { Tone::Bad } else { Tone::Good })
            .stat("logins", s.logins)
            .stat("messages acked", s.messages)
            .stat("duplicates dropped", s.duplicates)
            .stat_toned("refused", s.refused, if s.refused > 0 { Tone::Bad } else { Tone::Plain })
            .stat("timeouts", s.timeouts);
        let view = if self.mode == "udp" {
            view.stat_toned("pusher", if s.pusher { "this comet" } else { "another comet" }, Tone::Plain)
        } else {
            view
        };
        view.table(buses)
    }
}

impl Panel for CometPanel {
    fn id(&self) -> &str {
        "comet"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }
}
