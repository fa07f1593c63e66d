//! `cometbench`: the device comet's load tool.
//!
//! ```text
//! cometbench -udp 127.0.0.1:21113 -ws ws://127.0.0.1:21110/ws -terminals 10000 -devices 10000 \
//!            -uploaders 1000 -window 8 -duration 5 [-resend 2000] [-secret S] [-pid P] \
//!            [-rabbit URL -queue Q]
//! ```
//!
//! 1. logs in `-devices` UDP devices (their sockets closed afterwards: the sessions stay until
//!    their timeout) and `-terminals` WebSocket terminals (held open), with the comet's RSS per
//!    terminal when `-pid` names its process;
//! 2. `-uploaders` devices send uploads for `-duration` seconds with `-window` unacknowledged
//!    each (resent after `-resend` ms, 2,000 by default): the acknowledged rate; with `-rabbit`, the messages that
//!    arrived in `-queue` meanwhile (at least one per acknowledged upload, or exit 1) and, beside
//!    it, a plain `lapin` publisher with confirms (the same bodies, as many in flight) into a
//!    queue of its own, and the ratio of the two.
//!
//! Text lines and, last, one JSON line.

use clap::Parser;
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(version, about = "Load tool of the device comet", rename_all = "lower")]
struct Args {
    /// The comet's UDP address.
    #[arg(long, default_value = "127.0.0.1:21113")]
    udp: String,
    /// The comet's WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:21110/ws")]
    ws: String,
    /// WebSocket terminals logged in and held (ids from -id up).
    #[arg(long, default_value_t = 0)]
    terminals: usize,
    /// UDP devices logged in (ids from -(id) down).
    #[arg(long, default_value_t = 0)]
    devices: usize,
    /// UDP devices sending uploads (ids below the logged-in ones).
    #[arg(long, default_value_t = 100)]
    uploaders: usize,
    /// Unacknowledged uploads per device.
    #[arg(long, default_value_t = 8)]
    window: u32,
    /// Seconds of uploads.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Milliseconds before an unacknowledged upload is sent again.
    #[arg(long, default_value_t = 2000)]
    resend: u64,
    /// First terminal id (its magnitude; devices are negative).
    #[arg(long, default_value_t = 1)]
    id: i64,
    /// HS256 secret of the comet's tokens (empty: the comet takes any login).
    #[arg(long, default_value = "")]
    secret: String,
    /// The comet's process id: its RSS per terminal logged in.
    #[arg(long)]
    pid: Option<u32>,
    /// RabbitMQ URL: count the uploads in -queue and run a plain lapin publisher beside.
    #[arg(long)]
    rabbit: Option<String>,
    /// The queue msgbus stores uploads in.
    #[arg(long, default_value = "comet.uploads")]
    queue: String,
}

fn main() {
    // go-style single-dash flags: -udp -> --udp
    let args: Vec<String> = std::env::args()
        .map(|a| if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 { format!("-{a}") } else { a })
        .collect();
    let a = Args::parse_from(args);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    match rt.block_on(run(a)) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("cometbench: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(a: Args) -> Result<serde_json::Value, String> {
    let auth = zero_edge::auth::JwtAuth::new(&a.secret, "", 3600);
    let mut out = json!({});
    // 1. logins
    let before = a.pid.map(cometbench::rss_kib);
    let t0 = Instant::now();
    for k in 0..a.devices {
        cometbench::udp_device(&a.udp, -(a.id + k as i64), &auth).await?;
    }
    let udp_rate = a.devices as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut held = Vec::with_capacity(a.terminals);
    for k in 0..a.terminals {
        held.push(cometbench::ws_terminal(&a.ws, a.id + k as i64, &auth).await?);
    }
    let ws_rate = a.terminals as f64 / t0.elapsed().as_secs_f64();
    if a.devices + a.terminals > 0 {
        println!("logins: {} UDP ({udp_rate:.0}/s), {} WebSocket ({ws_rate:.0}/s)", a.devices, a.terminals);
        out["udp_logins_per_s"] = json!(udp_rate.round());
        out["ws_logins_per_s"] = json!(ws_rate.round());
    }
    if let (Some(pid), Some(before)) = (a.pid, before) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = cometbench::rss_kib(pid);
        let per = after.saturating_sub(before) as f64 / (a.devices + a.terminals).max(1) as f64;
        println!("memory: {per:.2} KiB per terminal (RSS {before} -> {after} KiB)");
        out["kib_per_terminal"] = json!((per * 100.0).round() / 100.0);
    }
    for t in &held {
        t.close();
    }
    drop(held);
    if a.uploaders == 0 {
        return Ok(out);
    }
    // 2. uploads
    let ch = match &a.rabbit {
        Some(url) => Some(cometbench::rabbit(url).await?),
        None => None,
    };
    let queued_before = match &ch {
        Some(ch) => cometbench::queue_len(ch, &a.queue).await,
        None => 0,
    };
    let load = cometbench::Load {
        devices: a.uploaders,
        first: a.id + a.devices as i64 + 1_000_000,
        window: a.window,
        secs: a.duration,
        resend: Duration::from_millis(a.resend),
    };
    let r = cometbench::uploads(&a.udp, &load, &auth).await;
    println!(
        "uploads: {} acked in {:.2} s, {:.0}/s ({} resent, {} refused)",
        r.acked,
        r.secs,
        r.rate(),
        r.resent,
        r.refused
    );
    out["acked"] = json!(r.acked);
    out["uploads_per_s"] = json!(r.rate().round());
    out["resent"] = json!(r.resent);
    let (Some(url), Some(ch)) = (&a.rabbit, &ch) else { return Ok(out) };
    let stored = u64::from(cometbench::queue_len(ch, &a.queue).await.saturating_sub(queued_before));
    println!("RabbitMQ: {stored} uploads in {}", a.queue);
    out["stored"] = json!(stored);
    if stored < r.acked {
        return Err(format!("{} uploads acknowledged but {stored} in {}: lost", r.acked, a.queue));
    }
    let in_flight = (a.uploaders * a.window as usize).min(8192);
    let peer =
        cometbench::lapin_peer(url, &format!("{}-peer-{}", a.queue, std::process::id()), in_flight, a.duration).await?;
    let ratio = r.rate() / peer.rate().max(1e-9);
    println!(
        "lapin peer: {} confirmed ({} in its queue) in {:.2} s, {:.0}/s, {in_flight} in flight; the comet's uploads {ratio:.2}x",
        peer.confirmed,
        peer.stored,
        peer.secs,
        peer.rate()
    );
    out["peer_per_s"] = json!(peer.rate().round());
    out["ratio"] = json!((ratio * 100.0).round() / 100.0);
    Ok(out)
}
