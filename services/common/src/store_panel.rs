//! The store panel ([`crate::dashboard`]) of the streamevent service: what its sink stored
//! (points in stored chunks, rows, chunks, transactions), redeliveries found stored already,
//! failed tries, and the latency from a point's arrival at the master to its chunk's commit
//! (median and 99th percentile). From the counters the sink keeps as it commits.

use crate::dashboard::{BoxFuture, Panel, Tone, View};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use streamevent::pipeline::IngestStats;

/// The store panel.
pub struct StorePanel {
    stats: Arc<IngestStats>,
    /// The rows at the previous view, for the rate.
    last: Mutex<(Instant, u64)>,
}

impl std::fmt::Debug for StorePanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePanel").finish_non_exhaustive()
    }
}

impl StorePanel {
    /// The panel over a sink's counters.
    pub fn new(stats: Arc<IngestStats>) -> StorePanel {
        StorePanel { stats, last: Mutex::new((Instant::now(), 0)) }
    }

    fn now(&self) -> View {
        let s = &self.stats;
        let rows = s.rows.load(Relaxed);
        let rate = {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let r = rows.saturating_sub(last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
            *last = (Instant::now(), rows);
            r
        };
        let (chunks, commits, errors) = (s.chunks.load(Relaxed), s.commits.load(Relaxed), s.errors.load(Relaxed));
        let ms = |q: f64| s.latency_quantile(q).map_or_else(|| "-".into(), |v| format!("{v} ms"));
        View::new("Store")
            .stat("points in stored chunks", s.messages.load(Relaxed))
            .stat("rows written", rows)
            .stat("rows/s", format!("{rate:.0}"))
            .stat("chunks stored", chunks)
            .stat(
                "chunks per commit",
                if commits == 0 { "-".into() } else { format!("{:.1}", chunks as f64 / commits as f64) },
            )
            .stat("redelivered (already stored)", s.duplicates.load(Relaxed))
            .stat_toned("store errors", errors, if errors > 0 { Tone::Bad } else { Tone::Plain })
            .stat("arrival to commit, median", ms(0.5))
            .stat("arrival to commit, p99", ms(0.99))
    }
}

impl Panel for StorePanel {
    fn id(&self) -> &str {
        "store"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }
}
