//! Accepting connections and serving one master per task.

use super::{lock, Command, Group, PointConfig, Queued, Redundancy, Shared};
use crate::asdu::{Asdu, AsduParams, Body, Cause, OwnedAsdu, OwnedBody};
use crate::codec::ApduCodec;
use crate::error::Error;
use crate::link::{Link, LinkEvent, Role};
use crate::master::CommandValue;
use crate::point::{encode_points, max_objects, Point, PointValue, TimeTag};
use crate::transport::Acceptor;
use crate::types::{CommonAddress, Cot, Cp56Time2a, Ioa};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

pub(super) async fn accept_loop<A: Acceptor>(listener: TcpListener, acceptor: Arc<A>, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    let max = shared.cfg.max_connections;
                    if max > 0 && shared.connections.load(Ordering::Relaxed) >= max {
                        tracing::warn!(%peer, "iec104 slave: connection limit reached, refusing");
                        continue;
                    }
                    next_id += 1;
                    let id = next_id;
                    let Some(gid) = join_group(&shared, id, peer) else {
                        tracing::warn!(%peer, "iec104 slave: no redundancy group allows this address, refusing");
                        continue;
                    };
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    let shared = shared.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(shared.cfg.link.t0, acceptor.accept(tcp)).await {
                            Ok(Ok(io)) => {
                                let reason = Session::new(&shared, id, gid, peer).run(io).await;
                                tracing::info!(%peer, %reason, "iec104 slave: connection closed");
                            }
                            Ok(Err(e)) => tracing::warn!(%peer, error = %e, "iec104 slave: transport handshake failed"),
                            Err(_) => tracing::warn!(%peer, "iec104 slave: transport handshake timed out"),
                        }
                        leave_group(&shared, id, gid);
                        shared.connections.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "iec104 slave: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Puts connection `id` into a group and returns the group's id; `None` when no group allows
/// `peer`.
fn join_group(shared: &Shared, id: u64, peer: SocketAddr) -> Option<u64> {
    let mut groups = lock(&shared.groups);
    match &shared.cfg.redundancy {
        Redundancy::ConnectionIsGroup => {
            let gid = (1 << 32) | id;
            groups.insert(gid, Group::new(None, Some(id)));
            Some(gid)
        }
        _ => {
            let mut ids: Vec<_> = groups.keys().copied().collect();
            ids.sort_unstable();
            ids.into_iter().find(|g| groups[g].allowed.as_ref().is_none_or(|l| l.contains(&peer.ip())))
        }
    }
}

fn leave_group(shared: &Shared, id: u64, gid: u64) {
    let mut groups = lock(&shared.groups);
    if groups.get(&gid).is_some_and(|g| g.owner == Some(id)) {
        groups.remove(&gid);
    } else if let Some(g) = groups.get_mut(&gid) {
        if g.active == Some(id) {
            g.active = None;
        }
    }
}

type SelKey = (u16, u32, u8);

/// Responses (confirmations, interrogation data) one connection may have waiting for the send
/// window; a master that asks for more without acknowledging is closed.
const MAX_PENDING_RESPONSES: usize = 8192;

struct Session<'a> {
    shared: &'a Shared,
    id: u64,
    gid: u64,
    peer: SocketAddr,
    params: AsduParams,
    direct: VecDeque<Bytes>,
    /// Parallel to the link's unacknowledged I-frames: the events each carried.
    inflight: VecDeque<Option<Vec<Queued>>>,
    selected: HashMap<SelKey, Instant>,
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared, id: u64, gid: u64, peer: SocketAddr) -> Self {
        Session {
            shared,
            id,
            gid,
            peer,
            params: shared.cfg.asdu,
            direct: VecDeque::new(),
            inflight: VecDeque::new(),
            selected: HashMap::new(),
        }
    }

    fn is_active(&self) -> bool {
        lock(&self.shared.groups).get(&self.gid).is_some_and(|g| g.active == Some(self.id))
    }

    fn notify(&self) -> Option<Arc<tokio::sync::Notify>> {
        lock(&self.shared.groups).get(&self.gid).map(|g| g.notify.clone())
    }

    fn set_active(&self, on: bool) {
        let mut groups = lock(&self.shared.groups);
        if let Some(g) = groups.get_mut(&self.gid) {
            if on {
                g.active = Some(self.id);
                g.notify.notify_one();
            } else if g.active == Some(self.id) {
                g.active = None;
            }
        }
    }

    /// Takes the next batch of events from our group, if active: the front event and the events
    /// of the same CA, cause and type among the next few, so interleaved types still fill ASDUs.
    /// Events of one point share its type, so they stay in order.
    fn take_events(&self) -> Option<(Vec<Queued>, Bytes)> {
        let mut groups = lock(&self.shared.groups);
        let g = groups.get_mut(&self.gid)?;
        if g.active != Some(self.id) {
            return None;
        }
        let first = *g.queue.front()?;
        let tid = first.point.type_id();
        let max = max_objects(tid, &self.params);
        let same = |q: &Queued| q.ca == first.ca && q.cot == first.cot && q.point.type_id() == tid;
        let look = (max * 8).min(g.queue.len());
        let mut batch = Vec::with_capacity(max);
        let mut keep = Vec::new();
        for _ in 0..look {
            let Some(q) = g.queue.pop_front() else { break };
            if batch.len() < max && same(&q) {
                batch.push(q);
            } else {
                keep.push(q);
            }
        }
        for q in keep.into_iter().rev() {
            g.queue.push_front(q);
        }
        drop(groups);
        let body = encode_points(tid, batch.iter().map(|q| &q.point)).ok()?;
        let asdu = OwnedAsdu { cause: Cause::new(first.cot), common_address: first.ca, body };
        let mut b = BytesMut::new();
        asdu.encode(&self.params, &mut b).ok()?;
        Some((batch, b.freeze()))
    }

    /// Puts unacknowledged events back at the front of the group's queue.
    fn requeue_inflight(&mut self) {
        let lost: Vec<Queued> = self.inflight.drain(..).flatten().flatten().collect();
        if lost.is_empty() {
            return;
        }
        let mut groups = lock(&self.shared.groups);
        if let Some(g) = groups.get_mut(&self.gid) {
            for q in lost.into_iter().rev() {
                g.queue.push_front(q);
            }
            while g.queue.len() > self.shared.cfg.event_queue.max(1) {
                g.queue.pop_back();
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            g.notify.notify_one();
        }
    }

    async fn run<IO: AsyncRead + AsyncWrite + Unpin>(mut self, io: IO) -> String {
        let reason = self.serve(io).await;
        self.set_active(false);
        self.requeue_inflight();
        reason
    }

    async fn serve<IO: AsyncRead + AsyncWrite + Unpin>(&mut self, io: IO) -> String {
        let cfg = &self.shared.cfg;
        let mut framed = Framed::new(io, ApduCodec::default());
        let Ok(mut link) = Link::new(cfg.link, Role::Slave, Instant::now()) else {
            return "invalid link parameters".into();
        };
        let mut shutdown = self.shared.shutdown.subscribe();
        let Some(notify) = self.notify() else { return "no redundancy group".into() };
        let mut next_periodic = cfg.periodic.map(|d| Instant::now() + d);
        let mut next_background = cfg.background.map(|d| Instant::now() + d);
        loop {
            let now = Instant::now();
            while link.can_send() {
                if let Some(b) = self.direct.pop_front() {
                    let _ = link.send_asdu(b, now);
                    self.inflight.push_back(None);
                } else if let Some((batch, b)) = self.take_events() {
                    let _ = link.send_asdu(b, now);
                    self.inflight.push_back(Some(batch));
                } else {
                    break;
                }
            }
            let mut wrote = false;
            while let Some(f) = link.poll_transmit() {
                if let Err(e) = framed.feed(f).await {
                    return format!("write: {e}");
                }
                wrote = true;
            }
            if wrote {
                match tokio::time::timeout(cfg.link.t1, framed.flush()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return format!("write: {e}"),
                    Err(_) => return "write stalled for t1".into(),
                }
            }
            let mut again = false;
            while let Some(ev) = link.poll_event() {
                match ev {
                    LinkEvent::Started => {
                        self.set_active(true);
                        again = true;
                    }
                    LinkEvent::Stopped => self.set_active(false),
                    LinkEvent::Asdu(b) => {
                        if let Err(e) = self.on_request(&b) {
                            return e.to_string();
                        }
                        if self.direct.len() > MAX_PENDING_RESPONSES {
                            return format!("peer requested more than {MAX_PENDING_RESPONSES} unsent responses");
                        }
                        again = true;
                    }
                    LinkEvent::Acknowledged => {
                        while self.inflight.len() > link.unacknowledged() {
                            self.inflight.pop_front();
                        }
                        again = true;
                    }
                }
            }
            if again {
                continue;
            }
            let active = link.is_started() && self.is_active();
            let deadline = [link.poll_timeout(), next_periodic, next_background].into_iter().flatten().min();
            let sleep = tokio::time::sleep_until(deadline.unwrap_or(now + Duration::from_secs(3600)).into());
            tokio::select! {
                frame = framed.next() => match frame {
                    Some(Ok(f)) => {
                        if let Err(r) = link.handle_frame(f, Instant::now()) {
                            return Error::Closed(r).to_string();
                        }
                    }
                    Some(Err(e)) => return e.to_string(),
                    None => return "peer closed the connection".into(),
                },
                _ = notify.notified(), if active && link.can_send() => {}
                _ = shutdown.changed() => return "slave closed".into(),
                _ = sleep => {
                    let now = Instant::now();
                    if let Err(r) = link.handle_timeout(now) {
                        return Error::Closed(r).to_string();
                    }
                    if let (Some(at), Some(d)) = (next_periodic, cfg.periodic) {
                        if now >= at {
                            next_periodic = Some(now + d);
                            if active {
                                self.cyclic(Cot::PERIODIC, |e| e.periodic);
                            }
                        }
                    }
                    if let (Some(at), Some(d)) = (next_background, cfg.background) {
                        if now >= at {
                            next_background = Some(now + d);
                            if active {
                                self.cyclic(Cot::BACKGROUND, |_| true);
                            }
                        }
                    }
                }
            }
        }
    }

    fn push(&mut self, asdu: &OwnedAsdu) {
        let mut b = BytesMut::new();
        if asdu.encode(&self.params, &mut b).is_ok() {
            self.direct.push_back(b.freeze());
        }
    }

    /// Sends `points` (already filtered) untimed, batched by CA and type, with `cot`.
    fn send_points(&mut self, cot: Cot, mut pts: Vec<(CommonAddress, Point)>, keep_time: bool) {
        if !keep_time {
            for (_, p) in pts.iter_mut() {
                p.time = TimeTag::None;
            }
        }
        pts.sort_by_key(|(ca, p)| (ca.0, p.type_id().0, p.ioa.get()));
        let mut i = 0;
        while i < pts.len() {
            let (ca, tid) = (pts[i].0, pts[i].1.type_id());
            let max = max_objects(tid, &self.params);
            let mut j = i;
            while j < pts.len() && j - i < max && pts[j].0 == ca && pts[j].1.type_id() == tid {
                j += 1;
            }
            if let Ok(body) = encode_points(tid, pts[i..j].iter().map(|(_, p)| p)) {
                self.push(&OwnedAsdu { cause: Cause::new(cot), common_address: ca, body });
            }
            i = j;
        }
    }

    fn cyclic(&mut self, cot: Cot, filter: impl Fn(&PointConfig) -> bool) {
        let pts: Vec<_> = lock(&self.shared.db)
            .iter()
            .filter(|(_, e)| filter(e) && interrogable(&e.point))
            .map(|((ca, _), e)| (CommonAddress(*ca), e.point))
            .collect();
        self.send_points(cot, pts, false);
    }

    /// Confirms an interrogation, sends the points of `ca` (every CA for the global address) that
    /// pass `filter` untimed with `data_cot`, and terminates it.
    fn interrogation(
        &mut self,
        req: OwnedAsdu,
        ca: CommonAddress,
        data_cot: Cot,
        filter: impl Fn(&PointConfig) -> bool,
    ) {
        self.reply(req.clone(), Cot::ACTIVATION_CON, false);
        let all = self.global(ca);
        let pts: Vec<_> = lock(&self.shared.db)
            .iter()
            .filter(|((c, _), e)| (all || *c == ca.0) && filter(e))
            .map(|((c, _), e)| (CommonAddress(*c), e.point))
            .collect();
        self.send_points(data_cot, pts, false);
        self.reply(req, Cot::ACTIVATION_TERMINATION, false);
    }

    fn reply(&mut self, mut asdu: OwnedAsdu, cot: Cot, negative: bool) {
        asdu.cause.cot = cot;
        asdu.cause.negative = negative;
        self.push(&asdu);
    }

    fn global(&self, ca: CommonAddress) -> bool {
        ca.0 == if self.params.ca_len() == 1 { 0xFF } else { 0xFFFF }
    }

    fn on_request(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let asdu = Asdu::decode(bytes, &self.params)?;
        let ca = asdu.common_address;
        let cot = asdu.cause.cot;
        let tid = asdu.type_id();
        let owned = asdu.into_owned();
        let known_type = matches!(tid.0, 45..=51 | 58..=64 | 100..=107 | 110..=113);
        if !known_type {
            self.reply(owned, Cot::UNKNOWN_TYPE_ID, true);
            return Ok(());
        }
        if !self.global(ca) && !self.shared.knows_ca(ca) {
            self.reply(owned, Cot::UNKNOWN_CA, true);
            return Ok(());
        }
        match &asdu.body {
            Body::Interrogation(o) => {
                if cot != Cot::ACTIVATION {
                    self.reply(owned, Cot::UNKNOWN_COT, true);
                    return Ok(());
                }
                let qoi = o.first().map_or(20, |x| x.value.0);
                let group = qoi.checked_sub(20).filter(|g| *g <= 16);
                let Some(group) = group else {
                    self.reply(owned, Cot::ACTIVATION_CON, true);
                    return Ok(());
                };
                self.interrogation(owned, ca, Cot(20 + group), |e| {
                    interrogable(&e.point) && (group == 0 || e.group == group)
                });
            }
            Body::CounterInterrogation(o) => {
                if cot != Cot::ACTIVATION {
                    self.reply(owned, Cot::UNKNOWN_COT, true);
                    return Ok(());
                }
                let rqt = o.first().map_or(5, |x| x.value.request());
                if !(1..=5).contains(&rqt) {
                    self.reply(owned, Cot::ACTIVATION_CON, true);
                    return Ok(());
                }
                let cot = if rqt == 5 { Cot::REQUESTED_BY_GENERAL_COUNTER } else { Cot(37 + rqt) };
                self.interrogation(owned, ca, cot, |e| {
                    matches!(e.point.value, PointValue::Counter(_)) && (rqt == 5 || e.group == rqt)
                });
            }
            Body::Read(o) => {
                let ioa = o.first().map_or(0, |x| x.ioa.get());
                let p = lock(&self.shared.db).get(&(ca.0, ioa)).map(|e| e.point);
                match p {
                    Some(p) => self.send_points(Cot::REQUEST, vec![(ca, p)], true),
                    None => self.reply(owned, Cot::UNKNOWN_IOA, true),
                }
            }
            Body::ClockSync(o) => {
                let t = o.first().map(|x| x.value).unwrap_or_default();
                let ok = cot == Cot::ACTIVATION && self.shared.handler.clock_sync(ca, t);
                self.reply(owned, if cot == Cot::ACTIVATION { Cot::ACTIVATION_CON } else { Cot::UNKNOWN_COT }, !ok);
            }
            Body::ResetProcess(o) => {
                let q = o.first().map(|x| x.value).unwrap_or_default();
                let ok = cot == Cot::ACTIVATION && self.shared.handler.reset_process(ca, q);
                self.reply(owned, if cot == Cot::ACTIVATION { Cot::ACTIVATION_CON } else { Cot::UNKNOWN_COT }, !ok);
            }
            Body::Test(_)
            | Body::TestTime56(_)
            | Body::DelayAcquisition(_)
            | Body::ParameterNormalized(_)
            | Body::ParameterScaled(_)
            | Body::ParameterFloat(_)
            | Body::ParameterActivation(_) => {
                let ok = cot == Cot::ACTIVATION;
                self.reply(owned, if ok { Cot::ACTIVATION_CON } else { Cot::UNKNOWN_COT }, !ok);
            }
            _ => self.on_command(owned, cot),
        }
        Ok(())
    }

    fn on_command(&mut self, owned: OwnedAsdu, cot: Cot) {
        let Some(cmd) = command_of(&owned, self.peer) else {
            self.reply(owned, Cot::UNKNOWN_TYPE_ID, true);
            return;
        };
        let key: SelKey = (cmd.common_address.0, cmd.ioa.get(), cmd.type_id.0);
        let now = Instant::now();
        self.selected.retain(|_, until| *until > now);
        if cot == Cot::DEACTIVATION {
            self.selected.remove(&key);
            self.reply(owned, Cot::DEACTIVATION_CON, false);
            return;
        }
        if cot != Cot::ACTIVATION {
            self.reply(owned, Cot::UNKNOWN_COT, true);
            return;
        }
        let h = &self.shared.handler;
        if cmd.select {
            let ok = h.command(&cmd);
            if ok {
                self.selected.insert(key, now + self.shared.cfg.select_timeout);
            }
            self.reply(owned, Cot::ACTIVATION_CON, !ok);
            return;
        }
        let was_selected = self.selected.remove(&key).is_some();
        if h.requires_select(cmd.common_address, cmd.ioa) && !was_selected {
            self.reply(owned, Cot::ACTIVATION_CON, true);
            return;
        }
        let ok = h.command(&cmd);
        self.reply(owned.clone(), Cot::ACTIVATION_CON, !ok);
        if ok && self.shared.cfg.command_termination {
            self.reply(owned, Cot::ACTIVATION_TERMINATION, false);
        }
    }
}

/// Points a station interrogation reports: not counters (counter interrogation) and not
/// protection events.
fn interrogable(p: &Point) -> bool {
    !matches!(
        p.value,
        PointValue::Counter(_)
            | PointValue::ProtectionEvent(_)
            | PointValue::PackedStartEvents(_)
            | PointValue::PackedOutputCircuit(_)
    )
}

fn command_of(asdu: &OwnedAsdu, peer: SocketAddr) -> Option<Command> {
    use crate::asdu::InfoObjects;
    fn one<E: Copy>(o: &InfoObjects<E>) -> Option<(Ioa, E)> {
        match o {
            InfoObjects::Single(v) => v.first().map(|x| (x.ioa, x.value)),
            InfoObjects::Sequence { start, items } => items.first().map(|e| (*start, *e)),
        }
    }
    let (ioa, value, select, time): (Ioa, CommandValue, bool, Option<Cp56Time2a>) = match &asdu.body {
        OwnedBody::SingleCommand(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Single { on: v.on(), qu: v.qu() }, v.select(), None))?
        }
        OwnedBody::DoubleCommand(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Double { state: v.state(), qu: v.qu() }, v.select(), None))?
        }
        OwnedBody::StepCommand(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Step { state: v.state(), qu: v.qu() }, v.select(), None))?
        }
        OwnedBody::SetpointNormalized(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Normalized(v.nva), v.qos.select(), None))?
        }
        OwnedBody::SetpointScaled(o) => one(o).map(|(i, v)| (i, CommandValue::Scaled(v.sva), v.qos.select(), None))?,
        OwnedBody::SetpointFloat(o) => one(o).map(|(i, v)| (i, CommandValue::Float(v.value), v.qos.select(), None))?,
        OwnedBody::BitstringCommand(o) => one(o).map(|(i, v)| (i, CommandValue::Bitstring(v.0), false, None))?,
        OwnedBody::SingleCommandTime56(o) => one(o).map(|(i, v)| {
            (i, CommandValue::Single { on: v.value.on(), qu: v.value.qu() }, v.value.select(), Some(v.time))
        })?,
        OwnedBody::DoubleCommandTime56(o) => one(o).map(|(i, v)| {
            (i, CommandValue::Double { state: v.value.state(), qu: v.value.qu() }, v.value.select(), Some(v.time))
        })?,
        OwnedBody::StepCommandTime56(o) => one(o).map(|(i, v)| {
            (i, CommandValue::Step { state: v.value.state(), qu: v.value.qu() }, v.value.select(), Some(v.time))
        })?,
        OwnedBody::SetpointNormalizedTime56(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Normalized(v.value.nva), v.value.qos.select(), Some(v.time)))?
        }
        OwnedBody::SetpointScaledTime56(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Scaled(v.value.sva), v.value.qos.select(), Some(v.time)))?
        }
        OwnedBody::SetpointFloatTime56(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Float(v.value.value), v.value.qos.select(), Some(v.time)))?
        }
        OwnedBody::BitstringCommandTime56(o) => {
            one(o).map(|(i, v)| (i, CommandValue::Bitstring(v.value.0), false, Some(v.time)))?
        }
        _ => return None,
    };
    Some(Command { common_address: asdu.common_address, ioa, type_id: asdu.type_id(), value, select, time, peer })
}
