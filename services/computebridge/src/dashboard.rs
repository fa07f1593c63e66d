//! The bridge's part of the platform dashboard, on its metrics port: workers, tasks in flight,
//! retrying and held, and the counts of results, retries, dead letters and refused workers.

use std::sync::Arc;
use trigger_core::compute::bridge::Bridge;
use zero_svc::dashboard::{BoxFuture, Panel, Tone, View};

/// The bridge panel.
pub struct BridgePanel {
    bridge: Arc<Bridge>,
    broker: String,
}

impl std::fmt::Debug for BridgePanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgePanel").field("broker", &self.broker).finish_non_exhaustive()
    }
}

impl BridgePanel {
    /// The panel of `bridge` consuming from `broker` (a description).
    pub fn new(bridge: Arc<Bridge>, broker: String) -> BridgePanel {
        BridgePanel { bridge, broker }
    }
}

impl Panel for BridgePanel {
    fn id(&self) -> &str {
        "computebridge"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        let s = self.bridge.stats();
        View::new("Compute bridge")
            .stat("broker", &self.broker)
            .stat_toned("workers", s.workers, if s.workers == 0 { Tone::Bad } else { Tone::Good })
            .stat("tasks in flight", s.running)
            .stat("retrying", s.retrying)
            .stat("held", s.held)
            .stat("done", s.done)
            .stat("retries", s.retries)
            .stat_toned("dead letters", s.dead, if s.dead > 0 { Tone::Bad } else { Tone::Plain })
            .stat("workers refused", s.refused)
            .ready()
    }
}
