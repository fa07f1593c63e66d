//! A station simulator: points of mixed types that change at a steady rate (it replaces the Go
//! `iecagent` tool, and feeds `zero up` and the benchmarks).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use iec104::slave::{serve, sim::Simulator, AcceptAll, SlaveConfig};
//! use iec104::types::CommonAddress;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2404").await?;
//! let (slave, driver) = serve(listener, SlaveConfig::default(), AcceptAll);
//! tokio::spawn(driver);
//! let sim = Simulator::new(slave, CommonAddress(1), 100, 100);
//! tokio::spawn(sim.run()); // 100 points, 100 changes per second
//! # Ok(()) }
//! ```

use super::{PointConfig, Slave};
use crate::asdu::{Bcr, Nva};
use crate::point::{Point, PointValue, TimeTag};
use crate::types::{CommonAddress, Cp56Time2a, DoublePoint, Ioa, Qds};
use std::time::Duration;

/// The first information object address of simulated points.
pub const FIRST_IOA: u32 = 100;

/// The simulated value of point `index` at change `step`: single, double, step, bitstring,
/// normalised, scaled, float and counter points in turn.
pub fn value(index: u32, step: u64) -> PointValue {
    let s = step as i64;
    match index % 8 {
        0 => PointValue::Single(step % 2 == 0),
        1 => PointValue::Double(if step % 2 == 0 { DoublePoint::On } else { DoublePoint::Off }),
        2 => PointValue::Step { value: (s % 64) as i8, transient: false },
        3 => PointValue::Bitstring(step as u32),
        4 => PointValue::Normalized(Nva((s % 32_768) as i16)),
        5 => PointValue::Scaled((s % 32_768) as i16),
        6 => PointValue::Float(step as f32 * 0.5),
        _ => PointValue::Counter(Bcr::new(s as i32, (step % 32) as u8, false, false, false)),
    }
}

/// Simulated points on one common address of a slave.
#[derive(Debug, Clone)]
pub struct Simulator {
    slave: Slave,
    ca: CommonAddress,
    points: u32,
    rate: u32,
}

impl Simulator {
    /// Adds `points` points (IOA 100 on, groups 1..=16 in turn) to `slave` and returns a
    /// simulator changing `rate` of them per second.
    pub fn new(slave: Slave, ca: CommonAddress, points: u32, rate: u32) -> Simulator {
        for i in 0..points {
            let ioa = Ioa::from_u24(FIRST_IOA + i);
            slave.add_point(
                ca,
                PointConfig { group: (i % 16 + 1) as u8, ..PointConfig::new(Point::new(ioa, value(i, 0))) },
            );
        }
        Simulator { slave, ca, points, rate }
    }

    /// The slave.
    pub fn slave(&self) -> &Slave {
        &self.slave
    }

    /// Changes `rate` points per second (in ticks of 100 ms), CP56-tagged with the current time,
    /// until the task is dropped.
    pub async fn run(self) {
        if self.points == 0 || self.rate == 0 {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut step, mut next, mut carry) = (0u64, 0u64, 0u64);
        loop {
            tick.tick().await;
            step += 1;
            // spread the rate over ten ticks without losing the remainder
            carry += u64::from(self.rate);
            let n = carry / 10;
            carry %= 10;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let t = Cp56Time2a::from_unix_millis(now);
            let changes = (0..n).map(|_| {
                let i = (next % u64::from(self.points)) as u32;
                next += 1;
                Point {
                    ioa: Ioa::from_u24(FIRST_IOA + i),
                    value: value(i, step),
                    quality: Qds::GOOD,
                    time: TimeTag::Cp56(t),
                }
            });
            self.slave.update_many(self.ca, changes);
        }
    }
}
