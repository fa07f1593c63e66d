//! The acquisition panel ([`crate::dashboard`]) of `zero up` and of the ieccaller service:
//! stations with their link state, points and points/s, last frame and reconnects; the
//! channels' queues; with [`Acquisition::flow`] (`zero up`, where the store is in the same
//! process) the pipeline's flow (points on the bus, chunks stored, redeliveries, errors); a
//! station's latest values on demand. Every figure comes from counters the pipeline keeps
//! anyway; nothing reads the database.

use crate::dashboard::{BoxFuture, Panel, Row, Table, Tone, View};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use streamevent::caller::station::Stations;
use streamevent::channel::Fanout;
use streamevent::pipeline::IngestStats;

/// Latest values shown per station at most.
const VALUES_SHOWN: usize = 5_000;

/// The acquisition panel.
pub struct Acquisition {
    stations: Stations,
    /// What was stored, and the points the masters published (in-process flow).
    flow: Option<(Arc<IngestStats>, Arc<AtomicU64>)>,
    channels: Arc<Fanout>,
    /// The counts at the previous view, for rates: the bus total and each station's points.
    last: Mutex<(Instant, u64, HashMap<String, u64>)>,
}

impl Acquisition {
    /// The panel over a running pipeline's stations and channels.
    pub fn new(stations: Stations, channels: Arc<Fanout>) -> Acquisition {
        Acquisition { stations, flow: None, channels, last: Mutex::new((Instant::now(), 0, HashMap::new())) }
    }

    /// With the flow of a store in the same process: what it stored (`ingest`) of the points
    /// the masters `published`.
    #[must_use]
    pub fn flow(mut self, ingest: Arc<IngestStats>, published: Arc<AtomicU64>) -> Acquisition {
        self.flow = Some((ingest, published));
        self
    }
}

fn state_text(s: &iec104::master::ConnectionState) -> (String, Tone) {
    use iec104::master::ConnectionState as S;
    match s {
        S::Started { .. } => ("started".into(), Tone::Good),
        S::Connected { .. } => ("connected (STARTDT sent)".into(), Tone::Plain),
        S::Connecting { .. } => ("disconnected (connecting)".into(), Tone::Bad),
        S::Disconnected { reason, .. } => (format!("disconnected: {reason}"), Tone::Bad),
        _ => ("stopped".into(), Tone::Bad),
    }
}

fn age(now_us: u64, at_us: u64) -> String {
    if at_us == 0 {
        return "never".into();
    }
    let ms = now_us.saturating_sub(at_us) / 1000;
    if ms < 1000 {
        format!("{ms} ms ago")
    } else {
        format!("{:.1} s ago", ms as f64 / 1000.0)
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl Panel for Acquisition {
    fn id(&self) -> &str {
        "acquisition"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }

    fn detail<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<View>> {
        Box::pin(std::future::ready(self.station(key)))
    }
}

impl Acquisition {
    /// The panel's view now.
    fn now(&self) -> View {
        let all = self.stations.all();
        let now = now_us();
        // without a store here: the points the stations received
        let published = match &self.flow {
            Some((_, p)) => p.load(Relaxed),
            None => all.iter().map(|st| st.stats.points.load(Relaxed)).sum(),
        };
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let secs = last.0.elapsed().as_secs_f64().max(1e-3);
        let bus_rate = published.saturating_sub(last.1) as f64 / secs;
        let mut rows = Vec::with_capacity(all.len());
        let mut started = 0;
        let mut counts = HashMap::with_capacity(all.len());
        for st in &all {
            let key = st.cfg.key();
            let (state, tone) = state_text(&st.master.state());
            if tone == Tone::Good {
                started += 1;
            }
            let points = st.stats.points.load(Relaxed);
            let rate = points.saturating_sub(last.2.get(&key).copied().unwrap_or(points)) as f64 / secs;
            rows.push(Row {
                key: Some(key.clone()),
                cells: vec![
                    key.clone(),
                    state,
                    points.to_string(),
                    format!("{rate:.0}"),
                    age(now, st.stats.last_frame_us.load(Relaxed)),
                    st.stats.reconnects.load(Relaxed).to_string(),
                ],
                tone,
                value: None,
                actions: vec![],
            });
            counts.insert(key, points);
        }
        *last = (Instant::now(), published, counts);
        drop(last);
        let mut v = View::new("Acquisition")
            .stat_toned(
                "stations started",
                format!("{started}/{}", all.len()),
                if started == all.len() { Tone::Good } else { Tone::Bad },
            )
            .stat("points/s", format!("{bus_rate:.0}"));
        match &self.flow {
            Some((i, _)) => {
                let errors = i.errors.load(Relaxed);
                let stored = i.messages.load(Relaxed);
                v = v
                    .stat("points on the bus", published)
                    .stat("points in stored chunks", stored)
                    .stat("compacted away or in flight", published.saturating_sub(stored))
                    .stat("chunks stored", i.chunks.load(Relaxed))
                    .stat("rows written", i.rows.load(Relaxed))
                    .stat("redelivered (already stored)", i.duplicates.load(Relaxed))
                    .stat_toned("store errors", errors, if errors > 0 { Tone::Bad } else { Tone::Plain });
            }
            None => v = v.stat("points received", published),
        }
        v.table(Table {
            title: "Stations".into(),
            columns: ["station", "link", "points", "points/s", "last frame", "reconnects"].map(String::from).into(),
            rows,
        })
        .table(self.channel_table())
    }

    /// The channels' queues and deliveries.
    fn channel_table(&self) -> Table {
        let mut t = Table::new("Channels", &["channel", "queued", "queue size", "delivered", "failed deliveries"]);
        for c in self.channels.queues() {
            let tone = if c.errors > 0 || c.queued * 2 > c.capacity { Tone::Bad } else { Tone::Plain };
            t = t.row(
                Row::new(vec![
                    c.name.to_owned(),
                    c.queued.to_string(),
                    c.capacity.to_string(),
                    c.sent.to_string(),
                    c.errors.to_string(),
                ])
                .tone(tone),
            );
        }
        t
    }

    /// A station's latest values.
    fn station(&self, key: &str) -> Option<View> {
        let st = self.stations.by_key(key)?;
        let now = now_us();
        let latest = st.stats.latest();
        let (state, tone) = state_text(&st.master.state());
        let rows = latest
            .iter()
            .take(VALUES_SHOWN)
            .map(|((ca, ioa), l)| Row {
                key: Some(format!("{ca}:{ioa}")),
                cells: vec![
                    ca.to_string(),
                    ioa.to_string(),
                    l.value.map_or_else(|| "-".into(), |v| v.to_string()),
                    if l.quality == 0 { "good".into() } else { format!("0x{:02x}", l.quality) },
                    age(now, l.at_us),
                ],
                tone: if l.quality == 0 { Tone::Plain } else { Tone::Bad },
                value: l.value,
                actions: vec![],
            })
            .collect();
        Some(
            View::new(&format!("Station {key}"))
                .stat_toned("link", state, tone)
                .stat("frames", st.stats.frames.load(Relaxed))
                .stat("points", latest.len())
                .table(Table {
                    title: format!("Latest values ({} shown of {})", latest.len().min(VALUES_SHOWN), latest.len()),
                    columns: ["CA", "IOA", "value", "quality", "age"].map(String::from).into(),
                    rows,
                }),
        )
    }
}
