//! A station simulator (replaces the Go `iecagent` tool).
//!
//! ```text
//! cargo run -p iec104 --features tokio --example slave -- [--listen 127.0.0.1:2404] [--ca 1] [--points 100] [--rate 10]
//! ```
//!
//! Serves `--points` points of common address `--ca`, cycling through single, double, step,
//! bitstring, normalised, scaled, float and counter types from IOA 100 on, and changes `--rate`
//! of them per second spontaneously (CP56Time2a-tagged). Accepts every command and prints it.
//! Answers GI, counter interrogation, read, clock sync, test and reset.

use iec104::asdu::{Bcr, Nva};
use iec104::point::{Point, PointValue, TimeTag};
use iec104::slave::{serve, Command, CommandHandler, PointConfig, SlaveConfig};
use iec104::types::{CommonAddress, Cp56Time2a, DoublePoint, Ioa, Qds};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct PrintCommands;

impl CommandHandler for PrintCommands {
    fn command(&self, cmd: &Command) -> bool {
        println!(
            "command from {}: CA {} IOA {} {} {:?} select={}",
            cmd.peer, cmd.common_address, cmd.ioa, cmd.type_id, cmd.value, cmd.select
        );
        true
    }
}

fn value(kind: usize, step: u64) -> PointValue {
    let s = step as i64;
    match kind % 8 {
        0 => PointValue::Single(step % 2 == 0),
        1 => PointValue::Double(if step % 2 == 0 { DoublePoint::On } else { DoublePoint::Off }),
        2 => PointValue::Step { value: (s % 64) as i8, transient: false },
        3 => PointValue::Bitstring(step as u32),
        4 => PointValue::Normalized(Nva((s % 32768) as i16)),
        5 => PointValue::Scaled((s % 32768) as i16),
        6 => PointValue::Float(step as f32 * 0.5),
        _ => PointValue::Counter(Bcr::new(s as i32, (step % 32) as u8, false, false, false)),
    }
}

fn now56() -> Cp56Time2a {
    Cp56Time2a::from_unix_millis(
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut listen, mut ca, mut points, mut rate) = ("127.0.0.1:2404".to_string(), 1u16, 100u32, 10u32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--ca", Some(v)) => ca = v.parse()?,
            ("--points", Some(v)) => points = v.parse()?,
            ("--rate", Some(v)) => rate = v.parse()?,
            _ => return Err(format!("usage: slave [--listen ADDR] [--ca N] [--points N] [--rate N]; got {a}").into()),
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("station CA {ca} with {points} points on {}", listener.local_addr()?);
    let (slave, driver) = serve(listener, SlaveConfig::default(), PrintCommands);
    tokio::spawn(driver);
    let ca = CommonAddress(ca);
    for i in 0..points {
        let ioa = Ioa::new(100 + i).ok_or("IOA out of range")?;
        slave.add_point(
            ca,
            PointConfig { group: (i % 16 + 1) as u8, ..PointConfig::new(Point::new(ioa, value(i as usize, 0))) },
        );
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut step = 0u64;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                step += 1;
                let t = now56();
                let changes = (0..rate.min(points)).map(|k| {
                    let i = ((step * u64::from(rate) + u64::from(k)) % u64::from(points)) as u32;
                    Point { ioa: Ioa::from_u24(100 + i), value: value(i as usize, step), quality: Qds::GOOD, time: TimeTag::Cp56(t) }
                });
                slave.update_many(ca, changes);
            }
        }
    }
    slave.close();
    Ok(())
}
