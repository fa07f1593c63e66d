//! One master per configured station, all in this process, and the push decision for every
//! information object they receive (spec §2.3).

use crate::channel::{Fanout, Outgoing};
use crate::config::{Config, Station};
use iec104::master::{connect, ConnectionState, Event, Events, Master, MasterConfig};
use iec104::types::CommonAddress;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use streamevent::msg::{now_string, station_id, MsgBody, Source};
use streamevent::store::MappingStore;

/// A running station.
#[derive(Debug, Clone)]
pub struct StationHandle {
    /// Its configuration.
    pub cfg: Station,
    /// The master.
    pub master: Master,
}

/// Every station, by `host:port` of every address it has (primary and backups).
#[derive(Debug, Default, Clone)]
pub struct Stations {
    by_addr: HashMap<String, Arc<StationHandle>>,
    all: Vec<Arc<StationHandle>>,
}

impl Stations {
    /// The station answering at `host:port`.
    pub fn get(&self, host: &str, port: i32) -> Option<&Arc<StationHandle>> {
        self.by_addr.get(&format!("{host}:{port}"))
    }

    /// Every station.
    pub fn all(&self) -> &[Arc<StationHandle>] {
        &self.all
    }

    /// How many are started.
    pub fn connected(&self) -> usize {
        self.all.iter().filter(|s| matches!(s.master.state(), ConnectionState::Started { .. })).count()
    }

    /// Stops every master (STOPDT, close).
    pub async fn close(&self) {
        for s in &self.all {
            s.master.close().await;
        }
    }
}

/// Starts a master and its consumer for every station.
///
/// # Errors
/// An invalid station configuration.
pub fn start(cfg: &Config, fanout: Arc<Fanout>, store: Option<Arc<MappingStore>>) -> Result<Stations, String> {
    let mut out = Stations::default();
    for st in &cfg.stations {
        let mut addresses = vec![st.key()];
        addresses.extend(st.backup.iter().cloned());
        let mcfg = MasterConfig {
            addresses: addresses.clone(),
            interrogate_on_start: if st.interrogate_on_start {
                st.ic_coa_list.iter().map(|c| CommonAddress(*c)).collect()
            } else {
                vec![]
            },
            reconnect_max: Duration::from_secs(st.reconnect_seconds.max(1)),
            reconnect_min: Duration::from_millis(500).min(Duration::from_secs(st.reconnect_seconds.max(1))),
            command_timeout: Duration::from_secs(cfg.command_timeout_seconds.max(1)),
            event_capacity: 65_536,
            ..Default::default()
        };
        let (master, events, driver) = connect(mcfg).map_err(|e| format!("station {}: {e}", st.key()))?;
        tokio::spawn(driver);
        tokio::spawn(consume(st.clone(), events, fanout.clone(), store.clone(), cfg.utc_offset_minutes));
        let h = Arc::new(StationHandle { cfg: st.clone(), master });
        for a in addresses {
            out.by_addr.insert(a, h.clone());
        }
        out.all.push(h);
    }
    Ok(out)
}

async fn consume(
    st: Station,
    mut events: Events,
    fanout: Arc<Fanout>,
    store: Option<Arc<MappingStore>>,
    utc_offset: i32,
) {
    let src = Source { host: st.host.clone(), port: st.port, meta_data: st.meta() };
    let sid = station_id(&src.meta_data, &st.host, st.port);
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Data(d) => {
                let time = now_string(utc_offset);
                let coa = u32::from(d.common_address.0);
                for p in &d.points {
                    let mut m = MsgBody::from_point(&src, d.type_id, coa, p, time.clone());
                    if let Some(store) = &store {
                        match store.lookup(&sid, i32::from(d.common_address.0), p.ioa.get() as i32).await {
                            Ok(Some(pm)) if pm.enable_push != 1 => {
                                metrics::counter!("ieccaller_points_dropped_total", "reason" => "enable_push")
                                    .increment(1);
                                continue;
                            }
                            Ok(Some(pm)) => m.pm = Some(pm.to_json()),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(station = %sid, error = %e, "point mapping lookup failed; pushing without pm")
                            }
                        }
                    }
                    metrics::counter!("ieccaller_points_total").increment(1);
                    fanout.publish(Outgoing::new(m)).await;
                }
            }
            Event::State(s) => {
                tracing::info!(station = %sid, state = ?s, "station state");
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
