//! The message bus's part of the platform dashboard, on its metrics port: terminals online,
//! per comet, the store (RabbitMQ connected or not) and what the bus counted (uploads stored,
//! store failures, messages delivered, messages for terminals not online).

use crate::store::Rabbit;
use socketio_cluster::comet::bus::Bus;
use std::sync::Arc;
use zero_svc::dashboard::{BoxFuture, Panel, Row, Table, Tone, View};

/// The bus panel.
pub struct BusPanel {
    bus: Arc<Bus>,
    rabbit: Option<Arc<Rabbit>>,
}

impl std::fmt::Debug for BusPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusPanel").finish_non_exhaustive()
    }
}

impl BusPanel {
    /// The panel of `bus`, storing in `rabbit` (none: uploads refused).
    pub fn new(bus: Arc<Bus>, rabbit: Option<Arc<Rabbit>>) -> BusPanel {
        BusPanel { bus, rabbit }
    }

    fn now(&self) -> View {
        let s = self.bus.stats();
        let mut comets = Table::new("Comets", &["comet", "terminals"]);
        for (node, n) in &s.per_comet {
            comets = comets.row(Row::new(vec![node.clone(), n.to_string()]));
        }
        let (store, tone) = match &self.rabbit {
            None => ("none (uploads refused)", Tone::Bad),
            Some(r) if r.connected() => ("RabbitMQ connected", Tone::Good),
            Some(_) => ("RabbitMQ not connected (the next upload connects)", Tone::Bad),
        };
        View::new("Message bus")
            .stat("terminals online", s.online)
            .stat("comets", s.per_comet.len())
            .stat_toned("store", store, tone)
            .stat("uploads stored", s.stored)
            .stat_toned("store failures", s.store_failures, if s.store_failures > 0 { Tone::Bad } else { Tone::Plain })
            .stat("delivered", s.delivered)
            .stat("targets not online", s.offline_targets)
            .table(comets)
    }
}

impl Panel for BusPanel {
    fn id(&self) -> &str {
        "msgbus"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }
}
