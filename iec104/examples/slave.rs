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

use iec104::slave::{serve, sim::Simulator, Command, CommandHandler, SlaveConfig};
use iec104::types::CommonAddress;

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
    let sim = Simulator::new(slave.clone(), CommonAddress(ca), points, rate);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sim.run() => {}
    }
    slave.close();
    Ok(())
}
