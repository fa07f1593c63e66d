//! `wsbench`: the load client of the long-connection frontend (wsgate).
//!
//! ```text
//! wsbench -addr ws://127.0.0.1:21100/ws -id 1000 -cnt 500 [-secret S] [-rooms 10] [-rate 20] [-duration 10]
//! ```
//!
//! Connects `cnt` clients as users `id`, `id+1`, ... (tokens signed with `-secret`, else `?uid=`),
//! each joins one of `rooms` rooms and says something `rate` times a second for `duration`
//! seconds, while every member of the room receives what is said. Prints a progress line each
//! second (connected, requests, pushes, errors) and at the end: the connect rate, the request
//! round trip p50/p99 (say -> its reply) and the push latency p50/p99 (say sent -> the push
//! received by another member), as text and as one JSON line.

use clap::Parser;
use serde_json::json;
use socketio_cluster::ws::client::Client;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The chat example's protocol ids.
const JOIN: u32 = 1001;
const SAY: u32 = 1003;

#[derive(Debug, Parser)]
#[command(version, about = "Load client of the wsgate frontend", rename_all = "lower")]
struct Args {
    /// WebSocket URL of the frontend.
    #[arg(long = "addr", short = 'a', default_value = "ws://127.0.0.1:21100/ws")]
    addr: String,
    /// First user id.
    #[arg(long = "id", default_value_t = 1)]
    id: u64,
    /// Clients.
    #[arg(long = "cnt", default_value_t = 100)]
    cnt: u64,
    /// HS256 secret of the frontend's tokens (empty: ?uid=).
    #[arg(long, default_value = "")]
    secret: String,
    /// Rooms the clients spread over.
    #[arg(long, default_value_t = 10)]
    rooms: u64,
    /// Messages per second per client.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of chat.
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

#[derive(Default)]
struct Counts {
    connected: AtomicU64,
    requests: AtomicU64,
    pushes: AtomicU64,
    errors: AtomicU64,
}

fn quantile(v: &mut [u64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i] as f64 / 1000.0
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // go-style single-dash flags: -id -> --id
    let args: Vec<String> = std::env::args()
        .map(|a| if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 { format!("-{a}") } else { a })
        .collect();
    let a = Args::parse_from(args);
    let counts = Arc::new(Counts::default());
    let rtt: Arc<Mutex<Vec<u64>>> = Arc::default();
    let push_lat: Arc<Mutex<Vec<u64>>> = Arc::default();
    let auth = zero_edge::auth::JwtAuth::new(&a.secret, "", 3600);
    let started = Instant::now();
    // progress
    let c = counts.clone();
    let progress = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            eprintln!(
                "wsbench: {:>4.0}s connected {} requests {} pushes {} errors {}",
                started.elapsed().as_secs_f64(),
                c.connected.load(Relaxed),
                c.requests.load(Relaxed),
                c.pushes.load(Relaxed),
                c.errors.load(Relaxed)
            );
        }
    });
    // connect everyone (64 at a time)
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut joins = tokio::task::JoinSet::new();
    for k in 0..a.cnt {
        let uid = (a.id + k).to_string();
        let (sem, counts, addr) = (sem.clone(), counts.clone(), a.addr.clone());
        let token = auth
            .enabled()
            .then(|| auth.issue(&uid, [], (now_us() / 1_000_000) as i64).map(|t| t.access_token).ok())
            .flatten();
        joins.spawn(async move {
            let _p = sem.acquire_owned().await.ok()?;
            let url = if token.is_some() {
                addr
            } else {
                format!("{addr}{}uid={uid}", if addr.contains('?') { '&' } else { '?' })
            };
            match Client::connect(&url, token.as_deref()).await {
                Ok(c) => {
                    counts.connected.fetch_add(1, Relaxed);
                    Some((k, c))
                }
                Err(e) => {
                    counts.errors.fetch_add(1, Relaxed);
                    eprintln!("wsbench: connect {uid}: {e}");
                    None
                }
            }
        });
    }
    let mut clients = vec![];
    while let Some(r) = joins.join_next().await {
        if let Ok(Some(c)) = r {
            clients.push(c);
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let connected = clients.len();
    // join rooms
    let clients: Vec<(u64, Arc<Client>)> = clients.into_iter().map(|(k, c)| (k, Arc::new(c))).collect();
    for (k, c) in &clients {
        let room = format!("bench-{}", k % a.rooms.max(1));
        if c.request_json(JOIN, &json!({"room": room})).await.ok().and_then(|f| f.error_body()).is_some() {
            counts.errors.fetch_add(1, Relaxed);
        }
    }
    // chat: each client says `rate` times a second; every push's latency is taken from its text
    let until = Instant::now() + Duration::from_secs(a.duration);
    let period = Duration::from_secs_f64(1.0 / a.rate.max(0.001));
    let mut tasks = tokio::task::JoinSet::new();
    for (k, client) in &clients {
        let (c, pushed, push_lat) = (client.clone(), counts.clone(), push_lat.clone());
        tasks.spawn(async move {
            while let Some(f) = c.next_push().await {
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&f.payload) else { continue };
                if let Some(sent) =
                    v["text"].as_str().and_then(|t| t.strip_prefix("t=")).and_then(|t| t.parse::<u64>().ok())
                {
                    pushed.pushes.fetch_add(1, Relaxed);
                    push_lat
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(now_us().saturating_sub(sent));
                }
            }
        });
        let (c, counts, rtt, room) =
            (client.clone(), counts.clone(), rtt.clone(), format!("bench-{}", k % a.rooms.max(1)));
        let offset = period.mul_f64((*k as f64 * 0.618_034) % 1.0);
        tasks.spawn(async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < until {
                tick.tick().await;
                let t0 = Instant::now();
                let r = c.request_json(SAY, &json!({"room": room, "text": format!("t={}", now_us())})).await;
                match r {
                    Ok(f) if f.error_body().is_none() => {
                        counts.requests.fetch_add(1, Relaxed);
                        rtt.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(t0.elapsed().as_micros() as u64);
                    }
                    _ => {
                        counts.errors.fetch_add(1, Relaxed);
                    }
                }
            }
        });
    }
    tokio::time::sleep_until((until + Duration::from_millis(500)).into()).await;
    for (_, c) in &clients {
        c.close();
    }
    tasks.abort_all();
    progress.abort();
    let mut rtt = std::mem::take(&mut *rtt.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let mut pl = std::mem::take(&mut *push_lat.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let requests = rtt.len();
    let out = json!({
        "connected": connected,
        "connect_per_s": connected as f64 / connect_secs.max(1e-6),
        "requests": requests,
        "requests_per_s": requests as f64 / a.duration.max(1) as f64,
        "request_p50_ms": quantile(&mut rtt, 0.5),
        "request_p99_ms": quantile(&mut rtt, 0.99),
        "pushes": pl.len(),
        "push_p50_ms": quantile(&mut pl, 0.5),
        "push_p99_ms": quantile(&mut pl, 0.99),
        "errors": counts.errors.load(Relaxed),
    });
    println!(
        "wsbench: {connected} connected ({:.0}/s); {requests} requests ({:.0}/s) p50 {:.2} ms p99 {:.2} ms; {} pushes p50 {:.2} ms p99 {:.2} ms; {} errors",
        out["connect_per_s"].as_f64().unwrap_or(0.0),
        out["requests_per_s"].as_f64().unwrap_or(0.0),
        out["request_p50_ms"].as_f64().unwrap_or(f64::NAN),
        out["request_p99_ms"].as_f64().unwrap_or(f64::NAN),
        out["pushes"],
        out["push_p50_ms"].as_f64().unwrap_or(f64::NAN),
        out["push_p99_ms"].as_f64().unwrap_or(f64::NAN),
        out["errors"],
    );
    println!("{out}");
    if counts.errors.load(Relaxed) > 0 || connected == 0 {
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}
