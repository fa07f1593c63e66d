//! The master's connection loop: connect, failover, backoff, one session per connection.

use super::{CommandOutcome, ConnectionState, DataUnit, Event, MasterConfig, Receipt, Request, Shared};
use crate::asdu::{Asdu, Body, Cause, InfoObjects, OwnedAsdu, Qoi};
use crate::codec::ApduCodec;
use crate::error::Error;
use crate::link::{Link, LinkEvent, Role};
use crate::point::points;
use crate::transport::Connector;
use crate::types::{Cot, Cp56Time2a, Ioa, SeqNo, TypeId};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

type Key = (u16, u8, u32);

struct Pending {
    tx: oneshot::Sender<Result<CommandOutcome, Error>>,
    want_term: bool,
    deadline: Instant,
    con: Option<(Cause, OwnedAsdu)>,
}

/// Commands in flight, and the terminations still to come of commands already answered.
#[derive(Default)]
struct Commands {
    pending: HashMap<Key, Pending>,
    /// Per key: how many activation terminations are owed by commands that were resolved on
    /// their confirmation (the caller did not wait for the termination), and until when one is
    /// expected. A termination that comes before the confirmation of the next command to the
    /// same object is one of these, not that command's answer.
    owed: HashMap<Key, (u32, Instant)>,
}

impl Commands {
    /// Takes an owed termination of `key`, if one is expected now.
    fn take_owed(&mut self, key: &Key, now: Instant) -> bool {
        match self.owed.get_mut(key) {
            Some((n, until)) if *n > 0 && *until > now => {
                *n -= 1;
                if *n == 0 {
                    self.owed.remove(key);
                }
                true
            }
            Some(_) => {
                self.owed.remove(key);
                false
            }
            None => false,
        }
    }
}

enum End {
    /// Closed on request, or every handle dropped: stop the driver.
    Closed,
    /// Lost; reconnect. `started`: data transfer had started.
    Lost { reason: String, started: bool },
}

struct Ctx<'a> {
    cfg: &'a MasterConfig,
    events: &'a mpsc::Sender<Event>,
    shared: &'a Shared,
}

impl Ctx<'_> {
    fn emit(&self, ev: Event) {
        if self.events.try_send(ev).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn state(&self, s: ConnectionState) {
        self.shared.state.send_replace(s.clone());
        self.emit(Event::State(s));
    }
}

pub(super) async fn run<C: Connector>(
    cfg: Arc<MasterConfig>,
    connector: C,
    mut rx: mpsc::Receiver<Request>,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
) {
    let ctx = Ctx { cfg: &cfg, events: &events, shared: &shared };
    let mut backoff = cfg.reconnect_min;
    let mut idx = 0;
    let mut failed_round = 0;
    loop {
        let addr = cfg.addresses[idx].clone();
        ctx.state(ConnectionState::Connecting { addr: addr.clone() });
        let end = match tokio::time::timeout(cfg.link.t0, connector.connect(&addr)).await {
            Ok(Ok(io)) => session(&ctx, io, &addr, &mut rx).await,
            Ok(Err(e)) => End::Lost { reason: format!("connect: {e}"), started: false },
            Err(_) => End::Lost { reason: "connect: t0 expired".into(), started: false },
        };
        match end {
            End::Closed => break,
            End::Lost { reason, started } => {
                tracing::info!(%addr, %reason, "iec104 master disconnected");
                ctx.state(ConnectionState::Disconnected { addr, reason });
                if started {
                    backoff = cfg.reconnect_min;
                    failed_round = 0;
                }
            }
        }
        if !cfg.reconnect {
            break;
        }
        // fail over to the next address; after a whole round without success, back off
        idx = (idx + 1) % cfg.addresses.len();
        failed_round += 1;
        if failed_round >= cfg.addresses.len() {
            failed_round = 0;
            if wait_backoff(backoff, &mut rx).await {
                break;
            }
            backoff = (backoff * 2).min(cfg.reconnect_max);
        }
    }
    ctx.state(ConnectionState::Stopped);
}

/// Sleeps `d`, refusing requests meanwhile; true when asked to close.
async fn wait_backoff(d: Duration, rx: &mut mpsc::Receiver<Request>) -> bool {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return false,
            req = rx.recv() => match req {
                None | Some(Request::Close) => return true,
                Some(Request::Send { reply, .. }) => {
                    if let Some((_, tx)) = reply {
                        let _ = tx.send(Err(Error::NotConnected));
                    }
                }
            },
        }
    }
}

fn command_key(asdu: &OwnedAsdu) -> Key {
    (asdu.common_address.0, asdu.type_id().0, asdu.body.first_ioa().map_or(0, Ioa::get))
}

fn is_command_family(t: TypeId) -> bool {
    matches!(t.0, 45..=51 | 58..=64 | 100..=107)
}

async fn session<IO: AsyncRead + AsyncWrite + Unpin>(
    ctx: &Ctx<'_>,
    io: IO,
    addr: &str,
    rx: &mut mpsc::Receiver<Request>,
) -> End {
    let cfg = ctx.cfg;
    let mut framed = Framed::new(io, ApduCodec::default());
    let Ok(mut link) = Link::new(cfg.link, Role::Master, Instant::now()) else {
        return End::Closed; // validated in connect(); unreachable
    };
    link.start_dt(Instant::now());
    ctx.state(ConnectionState::Connected { addr: addr.to_owned() });
    let mut outq: VecDeque<Bytes> = VecDeque::new();
    let mut commands = Commands::default();
    // with ack_on_release: the receipts of this connection's frames come back here when dropped
    let (release_tx, mut release_rx) = mpsc::unbounded_channel::<SeqNo>();
    let mut next_rx = SeqNo::default();
    let mut started = false;
    let mut closing = false;
    let backlog = usize::from(cfg.link.k) * 4;

    let end = 'session: loop {
        let now = Instant::now();
        while link.can_send() {
            let Some(a) = outq.pop_front() else { break };
            let _ = link.send_asdu(a, now);
        }
        let mut wrote = false;
        while let Some(f) = link.poll_transmit() {
            if let Err(e) = framed.feed(f).await {
                break 'session End::Lost { reason: format!("write: {e}"), started };
            }
            wrote = true;
        }
        if wrote {
            match tokio::time::timeout(cfg.link.t1, framed.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break 'session End::Lost { reason: format!("write: {e}"), started },
                Err(_) => break 'session End::Lost { reason: "write stalled for t1".into(), started },
            }
        }
        let mut again = false;
        while let Some(ev) = link.poll_event() {
            match ev {
                LinkEvent::Started => {
                    started = true;
                    ctx.state(ConnectionState::Started { addr: addr.to_owned() });
                    startup(cfg, &mut outq);
                    again = true;
                }
                LinkEvent::Stopped if closing => break 'session End::Closed,
                LinkEvent::Asdu(bytes) => {
                    let receipt = cfg.link.ack_on_release.then(|| Receipt::new(next_rx, release_tx.clone()));
                    next_rx = next_rx.next();
                    if let Err(e) = on_asdu(ctx, &bytes, &mut commands, receipt) {
                        break 'session End::Lost { reason: e.to_string(), started };
                    }
                }
                _ => {}
            }
        }
        if again {
            continue;
        }
        let deadline =
            [link.poll_timeout(), commands.pending.values().map(|p| p.deadline).min()].into_iter().flatten().min();
        let sleep = tokio::time::sleep_until(deadline.unwrap_or(now + Duration::from_secs(3600)).into());
        tokio::select! {
            frame = framed.next() => match frame {
                Some(Ok(f)) => {
                    if let Err(r) = link.handle_frame(f, Instant::now()) {
                        break 'session End::Lost { reason: Error::Closed(r).to_string(), started };
                    }
                }
                Some(Err(e)) => break 'session End::Lost { reason: e.to_string(), started },
                None => break 'session End::Lost { reason: "peer closed the connection".into(), started },
            },
            Some(seq) = release_rx.recv() => {
                let now = Instant::now();
                link.release(seq, now);
                while let Ok(seq) = release_rx.try_recv() {
                    link.release(seq, now);
                }
            }
            req = rx.recv(), if !closing && outq.len() < backlog => match req {
                None => break 'session End::Closed,
                Some(Request::Close) => {
                    if !started {
                        break 'session End::Closed;
                    }
                    closing = true;
                    link.stop_dt(Instant::now());
                }
                Some(Request::Send { asdu, reply }) => {
                    let mut b = BytesMut::new();
                    if let Err(e) = asdu.encode(&cfg.asdu, &mut b) {
                        if let Some((_, tx)) = reply {
                            let _ = tx.send(Err(e.into()));
                        }
                        continue;
                    }
                    if let Some((want_term, tx)) = reply {
                        let key = command_key(&asdu);
                        if commands.pending.contains_key(&key) {
                            let _ = tx.send(Err(Error::Duplicate { common_address: key.0, type_id: TypeId(key.1), ioa: key.2 }));
                            continue;
                        }
                        let deadline = Instant::now() + cfg.command_timeout;
                        commands.pending.insert(key, Pending { tx, want_term, deadline, con: None });
                    }
                    outq.push_back(b.freeze());
                }
            },
            _ = sleep => {
                let now = Instant::now();
                if let Err(r) = link.handle_timeout(now) {
                    break 'session End::Lost { reason: Error::Closed(r).to_string(), started };
                }
                let expired: Vec<Key> = commands.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(k, _)| *k).collect();
                commands.owed.retain(|_, (_, until)| *until > now);
                for k in expired {
                    if let Some(p) = commands.pending.remove(&k) {
                        let what = if p.con.is_some() { "activation termination" } else { "activation confirmation" };
                        let _ = p.tx.send(Err(Error::Timeout(what)));
                    }
                }
            }
        }
    };
    for (_, p) in commands.pending.drain() {
        let _ = p.tx.send(Err(Error::NotConnected));
    }
    // a close was asked for: however the session ended, the driver stops
    if closing {
        End::Closed
    } else {
        end
    }
}

fn startup(cfg: &MasterConfig, outq: &mut VecDeque<Bytes>) {
    let mut push = |a: OwnedAsdu| {
        let mut b = BytesMut::new();
        if a.encode(&cfg.asdu, &mut b).is_ok() {
            outq.push_back(b.freeze());
        }
    };
    for ca in &cfg.interrogate_on_start {
        push(OwnedAsdu::new(Cause::new(Cot::ACTIVATION), *ca, InfoObjects::one(Ioa::default(), Qoi::STATION)));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    for ca in &cfg.clock_sync_on_start {
        push(OwnedAsdu::new(
            Cause::new(Cot::ACTIVATION),
            *ca,
            InfoObjects::one(Ioa::default(), Cp56Time2a::from_unix_millis(now)),
        ));
    }
}

/// Handles one received ASDU. Its `receipt` (with `ack_on_release`) travels with the data to
/// the application; for anything else it is dropped here, which releases the frame.
fn on_asdu(ctx: &Ctx<'_>, bytes: &[u8], commands: &mut Commands, receipt: Option<Receipt>) -> Result<(), Error> {
    let asdu = Asdu::decode(bytes, &ctx.cfg.asdu)?;
    let tid = asdu.type_id();
    if let Body::EndOfInitialization(o) = &asdu.body {
        for x in o.iter() {
            ctx.emit(Event::EndOfInitialization { common_address: asdu.common_address, coi: x.value });
        }
        return Ok(());
    }
    let pts = points(&asdu.body);
    if !pts.is_empty() || tid.is_monitor_point() {
        let held = receipt.is_some();
        let ev = Event::Data(DataUnit {
            common_address: asdu.common_address,
            cause: asdu.cause,
            type_id: tid,
            points: pts,
            receipt,
        });
        if held {
            // never acknowledge what the application did not get: end the connection instead
            // (the receipt's release goes to this session's channel, which ends with it)
            if ctx.events.try_send(ev).is_err() {
                ctx.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return Err(Error::EventQueueFull);
            }
        } else {
            ctx.emit(ev);
        }
        return Ok(());
    }
    let owned = asdu.into_owned();
    if is_command_family(tid) {
        let key = command_key(&owned);
        let c = owned.cause;
        let now = Instant::now();
        let con_seen = commands.pending.get(&key).map(|p| p.con.is_some());
        // a termination before this command's confirmation belongs to an earlier command
        // (IEC 60870-5-104 confirms before it terminates; TCP keeps the order)
        let stale = c.cot == Cot::ACTIVATION_TERMINATION && con_seen != Some(true) && commands.take_owed(&key, now);
        if !stale {
            if let Some(mut p) = commands.pending.remove(&key) {
                let resolved = match c.cot {
                    _ if c.negative => Some(match p.con.take() {
                        Some((con, echo)) => CommandOutcome { confirmation: con, echo, termination: Some(c) },
                        None => CommandOutcome { confirmation: c, echo: owned.clone(), termination: None },
                    }),
                    Cot::ACTIVATION_CON | Cot::DEACTIVATION_CON if p.want_term && p.con.is_none() => {
                        p.con = Some((c, owned.clone()));
                        None
                    }
                    Cot::ACTIVATION_TERMINATION => {
                        let (con, echo) = p.con.take().unwrap_or((c, owned.clone()));
                        Some(CommandOutcome { confirmation: con, echo, termination: Some(c) })
                    }
                    _ => {
                        if c.cot == Cot::ACTIVATION_CON {
                            // answered on its confirmation: its termination may follow
                            let e = commands.owed.entry(key).or_insert((0, now));
                            e.0 += 1;
                            e.1 = now + ctx.cfg.command_timeout;
                        }
                        Some(CommandOutcome { confirmation: c, echo: owned.clone(), termination: None })
                    }
                };
                match resolved {
                    Some(outcome) => {
                        let _ = p.tx.send(Ok(outcome));
                    }
                    None => {
                        commands.pending.insert(key, p);
                    }
                }
                return Ok(());
            }
        }
    }
    ctx.emit(Event::Unsolicited(owned));
    Ok(())
}
