//! One master per station, all in this process, and the push decision for every information
//! object they receive (spec §2.3). The set is dynamic: cluster mode starts and stops stations
//! as ownership moves between instances.

use super::config::{Config, Station};
use crate::channel::{Fanout, Outgoing};
use crate::point::PointMsg;
use crate::store::MappingStore;
use iec104::master::{connect, ConnectionState, Event, Events, Master, MasterConfig};
use iec104::types::CommonAddress;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A running station.
#[derive(Debug, Clone)]
pub struct StationHandle {
    /// Its configuration.
    pub cfg: Station,
    /// The master.
    pub master: Master,
    /// What it received, for the dashboard.
    pub stats: Arc<StationStats>,
}

/// What a station's master received: counters and the latest value of each point (kept in
/// memory as frames arrive, so a dashboard reads them without touching the database).
#[derive(Debug, Default)]
pub struct StationStats {
    /// Points received.
    pub points: std::sync::atomic::AtomicU64,
    /// Data frames (ASDUs) received.
    pub frames: std::sync::atomic::AtomicU64,
    /// When the last data frame came, unix microseconds (0: none yet).
    pub last_frame_us: std::sync::atomic::AtomicU64,
    /// Data transfer (re)started after the first time: reconnects.
    pub reconnects: std::sync::atomic::AtomicU64,
    started_once: std::sync::atomic::AtomicBool,
    latest: std::sync::Mutex<HashMap<(u16, u32), Latest>>,
}

/// The latest value of a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latest {
    /// Its numeric value (`None` for protection events and packed types).
    pub value: Option<f64>,
    /// Its quality bits (QDS layout; 0 is good).
    pub quality: u8,
    /// When it arrived, unix microseconds.
    pub at_us: u64,
}

impl StationStats {
    /// The latest value of every point received, by (common address, IOA).
    pub fn latest(&self) -> Vec<((u16, u32), Latest)> {
        let mut all: Vec<_> = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        all
    }

    /// Notes a data frame's points.
    fn frame(&self, ca: u16, points: impl Iterator<Item = (u32, Option<f64>, u8)>, now_us: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut n = 0;
        {
            let mut latest = self.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (ioa, value, quality) in points {
                latest.insert((ca, ioa), Latest { value, quality, at_us: now_us });
                n += 1;
            }
        }
        self.points.fetch_add(n, Relaxed);
        self.frames.fetch_add(1, Relaxed);
        self.last_frame_us.store(now_us, Relaxed);
    }

    /// Notes a connection state.
    fn state(&self, s: &ConnectionState) {
        use std::sync::atomic::Ordering::Relaxed;
        if matches!(s, ConnectionState::Started { .. }) && self.started_once.swap(true, Relaxed) {
            self.reconnects.fetch_add(1, Relaxed);
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_addr: HashMap<String, Arc<StationHandle>>,
    all: BTreeMap<String, Arc<StationHandle>>,
}

/// The running stations, by `host:port` of every address they have (primary and backups).
#[derive(Debug, Default, Clone)]
pub struct Stations {
    inner: Arc<RwLock<Inner>>,
}

impl Stations {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The station answering at `host:port`.
    pub fn get(&self, host: &str, port: u32) -> Option<Arc<StationHandle>> {
        self.read().by_addr.get(&format!("{host}:{port}")).cloned()
    }

    /// Every running station.
    pub fn all(&self) -> Vec<Arc<StationHandle>> {
        self.read().all.values().cloned().collect()
    }

    /// Primary keys (`host:port`) of the running stations.
    pub fn keys(&self) -> Vec<String> {
        self.read().all.keys().cloned().collect()
    }

    /// The station whose key (`host:port` of its primary address) is `key`.
    pub fn by_key(&self, key: &str) -> Option<Arc<StationHandle>> {
        self.read().all.get(key).cloned()
    }

    /// How many are started.
    pub fn connected(&self) -> usize {
        self.read().all.values().filter(|s| matches!(s.master.state(), ConnectionState::Started { .. })).count()
    }

    fn insert(&self, h: Arc<StationHandle>) {
        let mut w = self.write();
        w.by_addr.insert(h.cfg.key(), h.clone());
        for b in &h.cfg.backup {
            w.by_addr.insert(b.clone(), h.clone());
        }
        w.all.insert(h.cfg.key(), h);
    }

    /// Stops one station (STOPDT, close) and forgets it.
    pub async fn stop(&self, key: &str) {
        let h = {
            let mut w = self.write();
            let h = w.all.remove(key);
            w.by_addr.retain(|_, v| v.cfg.key() != key);
            h
        };
        if let Some(h) = h {
            h.master.close().await;
        }
    }

    /// Stops every station.
    pub async fn close(&self) {
        for k in self.keys() {
            self.stop(&k).await;
        }
    }
}

/// Starts stations: everything they need besides their configuration.
#[derive(Debug, Clone)]
pub struct Starter {
    fanout: Arc<Fanout>,
    store: Option<Arc<MappingStore>>,
    command_timeout: Duration,
    utc_offset: i32,
    /// The running stations.
    pub stations: Stations,
}

impl Starter {
    /// A starter publishing to `fanout`.
    pub fn new(cfg: &Config, fanout: Arc<Fanout>, store: Option<Arc<MappingStore>>) -> Starter {
        Starter {
            fanout,
            store,
            command_timeout: Duration::from_secs(cfg.command_timeout_seconds.max(1)),
            utc_offset: cfg.utc_offset_minutes,
            stations: Stations::default(),
        }
    }

    /// Starts a master and its consumer for `st` (no-op when it runs already).
    ///
    /// # Errors
    /// An invalid station configuration.
    pub fn start(&self, st: &Station) -> Result<(), String> {
        if self.stations.read().all.contains_key(&st.key()) {
            return Ok(());
        }
        let mut addresses = vec![st.key()];
        addresses.extend(st.backup.iter().cloned());
        let reconnect = Duration::from_secs(st.reconnect_seconds.max(1));
        let mcfg = MasterConfig {
            addresses,
            interrogate_on_start: if st.interrogate_on_start {
                st.ic_coa_list.iter().map(|c| CommonAddress(*c)).collect()
            } else {
                vec![]
            },
            reconnect_max: reconnect,
            reconnect_min: Duration::from_millis(500).min(reconnect),
            command_timeout: self.command_timeout,
            event_capacity: 65_536,
            link: iec104::link::LinkConfig { ack_on_release: st.ack_after_store, ..Default::default() },
            ..Default::default()
        };
        let (master, events, driver) = connect(mcfg).map_err(|e| format!("station {}: {e}", st.key()))?;
        tokio::spawn(driver);
        let stats = Arc::new(StationStats::default());
        tokio::spawn(consume(
            st.clone(),
            events,
            self.fanout.clone(),
            self.store.clone(),
            self.utc_offset,
            stats.clone(),
        ));
        self.stations.insert(Arc::new(StationHandle { cfg: st.clone(), master, stats }));
        tracing::info!(station = %st.key(), "station started");
        Ok(())
    }
}

async fn consume(
    st: Station,
    mut events: Events,
    fanout: Arc<Fanout>,
    store: Option<Arc<MappingStore>>,
    utc_offset: i32,
    stats: Arc<StationStats>,
) {
    let station = crate::point::Station::new(&st.host, st.port, st.meta(), utc_offset);
    let sid = station.id.clone();
    let points_total = metrics::counter!("ieccaller_points_total");
    let dropped = metrics::counter!("ieccaller_points_dropped_total", "reason" => "enable_push");
    let mut out = Vec::new();
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Data(d) => {
                if st.log_enable {
                    tracing::info!(station = %sid, type_id = d.type_id.0, coa = d.common_address.0, points = d.points.len(), "asdu");
                }
                let now = crate::point::now_us();
                stats.frame(
                    d.common_address.0,
                    d.points.iter().map(|p| (p.ioa.get(), crate::point::value_f64(&p.value), p.quality.0)),
                    u64::try_from(now).unwrap_or(0),
                );
                // acknowledged to the station once every point of the frame is stored
                let receipt = d.receipt.clone().map(|r| Arc::new(r) as Arc<dyn std::any::Any + Send + Sync>);
                // the push decision: the mappings of the ASDU's points in one cache pass (none,
                // and nothing allocated, without a mapping store)
                let pms = match &store {
                    None => Vec::new(),
                    Some(store) => {
                        let ioas = d.points.iter().map(|p| p.ioa.get() as i32);
                        match store.lookup_many(sid.as_str(), i32::from(d.common_address.0), ioas).await {
                            Ok(pms) => pms,
                            Err(e) => {
                                tracing::warn!(station = %sid, error = %e, "point mapping lookup failed; pushing without pm");
                                Vec::new()
                            }
                        }
                    }
                };
                let mut pms = pms.into_iter();
                for p in &d.points {
                    let pm = pms.next().flatten();
                    if pm.as_ref().is_some_and(|pm| pm.enable_push != 1) {
                        dropped.increment(1);
                        continue;
                    }
                    let mut m = PointMsg::new(station.clone(), d.type_id, d.common_address, *p, now);
                    if let Some(r) = &receipt {
                        m = m.resendable(Some(r.clone()));
                    }
                    m.pm = pm;
                    out.push(Outgoing::new(m));
                }
                points_total.increment(out.len() as u64);
                fanout.publish_all(&mut out).await;
            }
            Event::State(s) => {
                stats.state(&s);
                tracing::info!(station = %sid, state = ?s, "station state")
            }
            Event::EndOfInitialization { common_address, coi } => {
                tracing::info!(station = %sid, %common_address, cause = coi.cause(), local_change = coi.local_change(), "end of initialisation");
            }
            Event::Unsolicited(a) => {
                tracing::debug!(station = %sid, asdu = ?a.type_id(), cot = %a.cause.cot, "confirmation")
            }
            _ => {}
        }
    }
}
