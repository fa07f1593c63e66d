//! The service's part of the platform dashboard, on its metrics port: the device pools
//! (connections in use and idle, requests answered and failed, the last failure, a connect
//! backoff) and the polling groups (cycles, points sent, failures, the last cycle). Made once
//! per tick from counters the pools and pollers keep; no device or database is asked.

use crate::poll::GroupStats;
use crate::Devices;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use zero_svc::dashboard::{BoxFuture, Panel, Row, Table, Tone, View};

/// The Modbus panel.
#[derive(Debug)]
pub struct Modbus {
    devices: Arc<Devices>,
    groups: Vec<Arc<GroupStats>>,
}

impl Modbus {
    /// The panel over the service's pools and polling groups.
    pub fn new(devices: Arc<Devices>, groups: Vec<Arc<GroupStats>>) -> Modbus {
        Modbus { devices, groups }
    }

    fn now(&self) -> View {
        let pools = self.devices.pools();
        let mut devices = Table::new(
            "Devices",
            &["modbus_code", "device", "connections", "busy", "idle", "answered", "failed", "state", "last failure"],
        );
        let (mut answered, mut failed, mut down) = (0, 0, 0);
        for (code, d) in &pools {
            let s = d.stats();
            answered += s.answered;
            failed += s.failed;
            let (state, tone) = match s.down_for {
                Some(w) => {
                    down += 1;
                    (format!("backing off {:.1} s", w.as_secs_f64()), Tone::Bad)
                }
                None if s.idle + s.busy > 0 => ("connected".into(), Tone::Good),
                None => ("idle".into(), Tone::Plain),
            };
            devices = devices.row(
                Row::new(vec![
                    if code.is_empty() { "(default)".into() } else { code.clone() },
                    s.device,
                    s.connections.to_string(),
                    s.busy.to_string(),
                    s.idle.to_string(),
                    s.answered.to_string(),
                    s.failed.to_string(),
                    state,
                    s.last_error.unwrap_or_default(),
                ])
                .tone(tone),
            );
        }
        let mut polling = Table::new(
            "Polling",
            &["station", "modbus_code", "every", "points", "cycles", "points sent", "failures", "last cycle"],
        );
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        for g in &self.groups {
            let last = g.last_cycle_ms.load(Relaxed);
            let failures = g.failures.load(Relaxed);
            polling = polling.row(
                Row::new(vec![
                    g.station.clone(),
                    if g.modbus_code.is_empty() { "(default)".into() } else { g.modbus_code.clone() },
                    format!("{} ms", g.interval_millis),
                    g.points.to_string(),
                    g.cycles.load(Relaxed).to_string(),
                    g.sent.load(Relaxed).to_string(),
                    failures.to_string(),
                    if last == 0 {
                        "-".into()
                    } else {
                        format!("{:.1} s ago", now_ms.saturating_sub(last) as f64 / 1000.0)
                    },
                ])
                .tone(if failures > 0 { Tone::Bad } else { Tone::Plain }),
            );
        }
        View::new("Modbus")
            .stat("devices", pools.len())
            .stat_toned("backing off", down, if down > 0 { Tone::Bad } else { Tone::Plain })
            .stat("requests answered", answered)
            .stat_toned("requests failed", failed, if failed > 0 { Tone::Bad } else { Tone::Plain })
            .stat("polling groups", self.groups.len())
            .stat("points sent", self.groups.iter().map(|g| g.sent.load(Relaxed)).sum::<u64>())
            .table(devices)
            .table(polling)
    }
}

impl Panel for Modbus {
    fn id(&self) -> &str {
        "modbus"
    }

    fn view(&self) -> BoxFuture<'_, View> {
        self.now().ready()
    }
}
