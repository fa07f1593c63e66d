//! Prints what a real station sends.
//!
//! ```text
//! cargo run -p iec104 --features tokio --example master -- --addr 192.0.2.10:2404 [--ca 1] [--addr BACKUP:2404]
//! ```
//!
//! Connects (failing over between the `--addr`s in order), runs a general interrogation and a
//! clock synchronisation of `--ca` after every start, and prints every event until Ctrl-C.

use iec104::master::{connect, Event, MasterConfig};
use iec104::types::CommonAddress;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = MasterConfig::default();
    let mut ca = 1u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => cfg.addresses.push(v),
            ("--ca", Some(v)) => ca = v.parse()?,
            _ => return Err(format!("usage: master --addr HOST:PORT [--addr HOST:PORT] [--ca N]; got {a}").into()),
        }
    }
    if cfg.addresses.is_empty() {
        cfg.addresses.push("127.0.0.1:2404".into());
    }
    cfg.interrogate_on_start = vec![CommonAddress(ca)];
    cfg.clock_sync_on_start = vec![CommonAddress(ca)];
    let (master, mut events, driver) = connect(cfg)?;
    tokio::spawn(driver);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            ev = events.recv() => match ev {
                Some(Event::Data(d)) => {
                    for p in &d.points {
                        println!("CA {} {} COT {} IOA {}: {:?} quality {:#04x} {:?}", d.common_address, d.type_id, d.cause.cot, p.ioa, p.value, p.quality.0, p.time);
                    }
                }
                Some(other) => println!("{other:?}"),
                None => break,
            },
        }
    }
    master.close().await;
    if master.dropped_events() > 0 {
        eprintln!("{} events dropped (slow consumer)", master.dropped_events());
    }
    Ok(())
}
