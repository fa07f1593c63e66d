//! The device comet's load tool (`cometbench`), as a library the benchmark suite runs too:
//! terminals logged in over WebSocket and UDP, devices sending uploads with a window of
//! unacknowledged ones each (resent after a timeout, as a device does), and the peer the uploads
//! are measured against: a plain `lapin` publisher with publisher confirms into a queue of its
//! own, the same bodies and as many in flight.
//!
//! ```no_run
//! # async fn f() -> Result<(), String> {
//! let auth = zero_edge::auth::JwtAuth::new("", "", 0); // the comet takes any login
//! let load = cometbench::Load { devices: 100, window: 8, secs: 5.0, ..Default::default() };
//! let r = cometbench::uploads("127.0.0.1:21113", &load, &auth).await;
//! println!("{} uploads acked in {:.1} s", r.acked, r.secs);
//! # Ok(()) }
//! ```

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use socketio_cluster::comet::client::{Terminal, UdpTerminal};
use socketio_cluster::comet::packet::{Kind, Packet};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use zero_edge::auth::JwtAuth;

/// An upload's payload (64 bytes, as a small device reading).
pub const PAYLOAD: &[u8] = &[b'k'; 64];

/// What the uploading devices do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Devices uploading.
    pub devices: usize,
    /// The first device's id magnitude (ids `-first`, `-first - 1`, ...).
    pub first: i64,
    /// Unacknowledged uploads per device.
    pub window: u32,
    /// Seconds of uploads.
    pub secs: f64,
    /// An unacknowledged upload is sent again after this long (a device's retransmission
    /// timeout; 2 s by default, as CoAP's).
    pub resend: Duration,
}

impl Default for Load {
    fn default() -> Self {
        Load { devices: 100, first: 1_000_000, window: 8, secs: 5.0, resend: Duration::from_secs(2) }
    }
}

/// The token of terminal `id` signed by `auth` (empty when `auth` has no secret: the comet then
/// takes any login).
pub fn token(auth: &JwtAuth, id: i64) -> String {
    if !auth.enabled() {
        return String::new();
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    auth.issue(&id.to_string(), [], now).map(|t| t.access_token).unwrap_or_default()
}

/// A UDP device `id` logged in on the comet at `addr`.
///
/// # Errors
/// The comet did not answer, or refused the login.
pub async fn udp_device(addr: &str, id: i64, auth: &JwtAuth) -> Result<UdpTerminal, String> {
    let d = UdpTerminal::connect(addr).await.map_err(|e| e.to_string())?;
    let ok = d
        .request(&Packet::login(id, token(auth, id)), Duration::from_millis(500), 20)
        .await
        .map_err(|e| format!("device {id}: {e}"))?;
    if ok.kind != Kind::LoginOk {
        return Err(format!("device {id}: {ok:?}"));
    }
    Ok(d)
}

/// A WebSocket terminal `id` logged in on the comet at `url`.
///
/// # Errors
/// No connection, or the login refused.
pub async fn ws_terminal(url: &str, id: i64, auth: &JwtAuth) -> Result<Terminal, String> {
    let t = Terminal::connect(url).await.map_err(|e| format!("terminal {id}: {e}"))?;
    let ok = t.login(id, &token(auth, id)).await.map_err(|e| format!("terminal {id}: {e}"))?;
    if ok.kind != Kind::LoginOk {
        return Err(format!("terminal {id}: {ok:?}"));
    }
    Ok(t)
}

/// What the devices' uploads came to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Uploads {
    /// Uploads acknowledged by the comet (each once per device and sequence).
    pub acked: u64,
    /// Uploads sent again (no answer within [`Load::resend`]).
    pub resent: u64,
    /// Refusals received (the upload is sent again later).
    pub refused: u64,
    /// Seconds from the first upload to the last answer.
    pub secs: f64,
}

impl Uploads {
    /// Acknowledged uploads per second.
    pub fn rate(&self) -> f64 {
        self.acked as f64 / self.secs.max(1e-9)
    }
}

/// One device `id` sending uploads as `load` says, then waiting (at most 10 s) for the answers
/// still due.
pub async fn device_uploads(dev: &UdpTerminal, id: i64, load: &Load) -> Uploads {
    let (window, resend) = (load.window, load.resend);
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs_f64(load.secs);
    let mut out = Uploads::default();
    let mut next = 1u32;
    let mut unacked: BTreeMap<u32, Instant> = BTreeMap::new();
    loop {
        let now = Instant::now();
        if now < until {
            while unacked.len() < window as usize {
                let _ = dev.send(&Packet::upload(next, id, PAYLOAD)).await;
                unacked.insert(next, now);
                next += 1;
            }
        } else if unacked.is_empty() || now > until + Duration::from_secs(10) {
            break;
        }
        for (seq, at) in unacked.iter_mut() {
            if now.duration_since(*at) > resend {
                let _ = dev.send(&Packet::upload(*seq, id, PAYLOAD)).await;
                *at = now;
                out.resent += 1;
            }
        }
        match dev.next_within(Duration::from_millis(100)).await {
            Ok(p) if p.kind == Kind::Ack && unacked.remove(&p.seq).is_some() => out.acked += 1,
            Ok(p) if p.kind == Kind::Refused => out.refused += 1,
            _ => {}
        }
    }
    out.secs = t0.elapsed().as_secs_f64();
    out
}

/// `load.devices` UDP devices logged in on the comet at `addr`, each sending uploads as `load`
/// says: the sum (seconds: the longest).
pub async fn uploads(addr: &str, load: &Load, auth: &JwtAuth) -> Uploads {
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..load.devices {
        let (addr, auth, id, load) = (addr.to_owned(), auth.clone(), -(load.first + k as i64), *load);
        tasks.spawn(async move {
            match udp_device(&addr, id, &auth).await {
                Ok(d) => device_uploads(&d, id, &load).await,
                Err(_) => Uploads { refused: 1, ..Default::default() },
            }
        });
    }
    let mut sum = Uploads::default();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap_or_default();
        sum.acked += r.acked;
        sum.resent += r.resent;
        sum.refused += r.refused;
        sum.secs = sum.secs.max(r.secs);
    }
    sum
}

fn props() -> lapin::ConnectionProperties {
    lapin::ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current())
}

/// A RabbitMQ channel on `url`.
///
/// # Errors
/// No connection.
pub async fn rabbit(url: &str) -> Result<lapin::Channel, String> {
    let conn = lapin::Connection::connect(url, props()).await.map_err(|e| format!("RabbitMQ {url}: {e}"))?;
    conn.create_channel().await.map_err(|e| format!("RabbitMQ channel: {e}"))
}

/// Messages in `queue` (0 when it does not exist).
pub async fn queue_len(ch: &lapin::Channel, queue: &str) -> u32 {
    let opts = QueueDeclareOptions { passive: true, ..Default::default() };
    ch.queue_declare(queue, opts, FieldTable::default()).await.map(|q| q.message_count()).unwrap_or(0)
}

/// What the plain publisher did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Peer {
    /// Messages the broker confirmed.
    pub confirmed: u64,
    /// Messages counted in its queue afterwards.
    pub stored: u32,
    /// Seconds.
    pub secs: f64,
}

impl Peer {
    /// Confirmed messages per second.
    pub fn rate(&self) -> f64 {
        self.confirmed as f64 / self.secs.max(1e-9)
    }
}

/// The body msgbus stores for an upload of [`PAYLOAD`] (the same bytes for the peer).
pub fn upload_body() -> Vec<u8> {
    let payload = String::from_utf8_lossy(PAYLOAD);
    serde_json::json!({"from": -1, "seq": 1, "flags": 1, "payload": payload}).to_string().into_bytes()
}

/// The ceiling of a plain `lapin` publisher with confirms on `ch`'s connection: persistent
/// messages into the durable queue `queue` (made, and deleted afterwards) for `secs` with
/// `in_flight` unconfirmed at a time.
///
/// # Errors
/// The channel or the queue could not be set up.
pub async fn lapin_peer(url: &str, queue: &str, in_flight: usize, secs: f64) -> Result<Peer, String> {
    let ch = rabbit(url).await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    ch.queue_declare(queue, durable, FieldTable::default()).await.map_err(|e| e.to_string())?;
    let body = upload_body();
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs_f64(secs);
    let mut pending = VecDeque::new();
    let mut confirmed = 0u64;
    while Instant::now() < until || !pending.is_empty() {
        while Instant::now() < until && pending.len() < in_flight.max(1) {
            let props = lapin::BasicProperties::default().with_delivery_mode(2);
            let c = ch
                .basic_publish("", queue, BasicPublishOptions::default(), &body, props)
                .await
                .map_err(|e| e.to_string())?;
            pending.push_back(c);
        }
        if let Some(c) = pending.pop_front() {
            if matches!(c.await, Ok(lapin::publisher_confirm::Confirmation::Ack(_))) {
                confirmed += 1;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let stored = queue_len(&ch, queue).await;
    let _ = ch.queue_delete(queue, QueueDeleteOptions::default()).await;
    Ok(Peer { confirmed, stored, secs })
}

/// The resident memory of process `pid` (KiB; 0 when unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
