//! The sans-IO IEC 104 link layer: STARTDT/STOPDT/TESTFR, I- and S-frame numbering, the k and w
//! windows and the t1, t2 and t3 timers.
//!
//! [`Link`] touches no socket and no clock: the caller feeds it received [`Frame`]s and the
//! current [`Instant`], and pulls out frames to send ([`Link::poll_transmit`]), events
//! ([`Link::poll_event`]) and the next deadline ([`Link::poll_timeout`]). The async master and
//! slave drive it; tests drive two of them against each other on virtual time.
//!
//! t0 (connection establishment) belongs to whoever opens the transport and is carried in
//! [`LinkConfig`] for it.
//!
//! ```
//! use iec104::link::{Link, LinkConfig, LinkEvent, Role};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut master = Link::new(LinkConfig::default(), Role::Master, now).unwrap();
//! let mut slave = Link::new(LinkConfig::default(), Role::Slave, now).unwrap();
//! master.start_dt(now);
//! while let Some(f) = master.poll_transmit() { slave.handle_frame(f, now).unwrap(); }
//! while let Some(f) = slave.poll_transmit() { master.handle_frame(f, now).unwrap(); }
//! assert_eq!(master.poll_event(), Some(LinkEvent::Started));
//! assert!(master.is_started() && slave.is_started());
//! ```

use crate::apci::{Apci, UFunction};
use crate::codec::Frame;
use crate::error::ParamsError;
use crate::types::SeqNo;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Link parameters. Defaults are the standard's: k 12, w 8, t0 30 s, t1 15 s, t2 10 s, t3 20 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct LinkConfig {
    /// Most I-frames sent and not yet acknowledged.
    pub k: u16,
    /// Acknowledge at the latest after this many received I-frames.
    pub w: u16,
    /// Connection establishment time-out.
    #[cfg_attr(feature = "serde", serde(with = "secs"))]
    pub t0: Duration,
    /// Time-out for the acknowledgement of a sent I-frame or U-frame act.
    #[cfg_attr(feature = "serde", serde(with = "secs"))]
    pub t1: Duration,
    /// Longest wait before acknowledging received I-frames with an S-frame (t2 < t1).
    #[cfg_attr(feature = "serde", serde(with = "secs"))]
    pub t2: Duration,
    /// Idle time after which a TESTFR act is sent.
    #[cfg_attr(feature = "serde", serde(with = "secs"))]
    pub t3: Duration,
    /// Acknowledge a received I-frame only once the application has released it
    /// ([`Link::release`]), for instance after storing what it carried: a station that keeps
    /// unacknowledged events and sends them again on the next connection (this crate's slave
    /// does; the c104 Python station does not) then loses nothing when the receiver crashes. Released frames are
    /// acknowledged in order, after `w` of them, when everything received is released, or after
    /// t2. Off by default: frames are acknowledged on receipt.
    pub ack_on_release: bool,
}

#[cfg(feature = "serde")]
mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            k: 12,
            w: 8,
            t0: Duration::from_secs(30),
            t1: Duration::from_secs(15),
            t2: Duration::from_secs(10),
            t3: Duration::from_secs(20),
            ack_on_release: false,
        }
    }
}

impl LinkConfig {
    /// Checks the parameters: 1 <= k <= 32767, 1 <= w <= 2k/3, t2 < t1, no zero timer.
    ///
    /// # Errors
    /// [`ParamsError::Window`] or [`ParamsError::Timers`].
    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.k == 0 || self.k > 32767 || self.w == 0 || u32::from(self.w) * 3 > u32::from(self.k) * 2 {
            return Err(ParamsError::Window { k: self.k, w: self.w });
        }
        if [self.t0, self.t1, self.t2, self.t3].iter().any(Duration::is_zero) {
            return Err(ParamsError::Timers("every timer must be above zero"));
        }
        if self.t2 >= self.t1 {
            return Err(ParamsError::Timers("t2 must be shorter than t1"));
        }
        Ok(())
    }
}

/// Which end of the link: the controlling station starts data transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Controlling station (client): sends STARTDT/STOPDT act.
    Master,
    /// Controlled station (server): answers them.
    Slave,
}

/// Why the link must be closed. The standard says to close the connection in each case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// A received I-frame's N(S) is not the expected one.
    #[error("sequence error: expected N(S)={expected}, received {received}")]
    Sequence {
        /// The expected send sequence number.
        expected: SeqNo,
        /// The one received.
        received: SeqNo,
    },
    /// A received N(R) acknowledges frames never sent, or goes backwards.
    #[error("N(R)={received} outside the unacknowledged window {oldest}..={next}")]
    AckOutOfRange {
        /// The N(R) received.
        received: SeqNo,
        /// Oldest unacknowledged N(S).
        oldest: SeqNo,
        /// Next N(S) to be sent.
        next: SeqNo,
    },
    /// t1 expired waiting for an acknowledgement.
    #[error("t1 expired waiting for {0}")]
    T1Expired(&'static str),
    /// The peer sent a frame it may not send in this state (for example an I-frame to a slave
    /// that was never started).
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
}

/// Something the link reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkEvent {
    /// Data transfer started (master: STARTDT con received; slave: STARTDT act received).
    Started,
    /// Data transfer stopped.
    Stopped,
    /// An ASDU arrived (raw bytes; decode with [`crate::asdu::Asdu::decode`]).
    Asdu(Bytes),
    /// Sent I-frames were acknowledged; the window has room again.
    Acknowledged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DtState {
    Stopped,
    PendingStart,
    Started,
    PendingStop,
}

/// The link state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    role: Role,
    dt: DtState,
    /// V(S): N(S) of the next I-frame to send.
    vs: SeqNo,
    /// V(R): N(S) expected in the next received I-frame.
    vr: SeqNo,
    /// Send times of unacknowledged I-frames, oldest first; the oldest has N(S) = vs - len.
    unacked: VecDeque<Instant>,
    /// I-frames received and not yet acknowledged (with `ack_on_release`: released, at the head
    /// of `held`, and not yet acknowledged), and when the first of them arrived.
    recv_unacked: u16,
    /// With `ack_on_release`: the received I-frames not yet acknowledged, oldest first (the
    /// first has N(S) = V(R) - len), each with whether the application released it.
    held: VecDeque<bool>,
    recv_unacked_since: Option<Instant>,
    /// An outstanding U act (STARTDT/STOPDT/TESTFR) and when it was sent.
    pending_u: Option<(UFunction, Instant)>,
    last_rx: Instant,
    out: VecDeque<Frame>,
    events: VecDeque<LinkEvent>,
    closed: Option<CloseReason>,
}

impl Link {
    /// A link in the stopped state, its t3 clock starting at `now`.
    ///
    /// # Errors
    /// [`LinkConfig::validate`]'s.
    pub fn new(cfg: LinkConfig, role: Role, now: Instant) -> Result<Link, ParamsError> {
        cfg.validate()?;
        Ok(Link {
            cfg,
            role,
            dt: DtState::Stopped,
            vs: SeqNo::default(),
            vr: SeqNo::default(),
            unacked: VecDeque::with_capacity(usize::from(cfg.k)),
            recv_unacked: 0,
            held: VecDeque::new(),
            recv_unacked_since: None,
            pending_u: None,
            last_rx: now,
            out: VecDeque::new(),
            events: VecDeque::new(),
            closed: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// True once data transfer is started.
    pub fn is_started(&self) -> bool {
        self.dt == DtState::Started
    }

    /// Why the link must be closed, once it must.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.closed.as_ref()
    }

    /// Number of sent I-frames not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.unacked.len()
    }

    /// True when an I-frame may be sent now: started, not closed, fewer than k unacknowledged.
    pub fn can_send(&self) -> bool {
        self.closed.is_none() && self.dt == DtState::Started && self.unacked.len() < usize::from(self.cfg.k)
    }

    /// Master: sends STARTDT act.
    pub fn start_dt(&mut self, now: Instant) {
        if self.role == Role::Master && self.pending_u.is_none() {
            self.dt = DtState::PendingStart;
            self.send_u(UFunction::StartDtAct, now);
        }
    }

    /// Master: sends STOPDT act.
    pub fn stop_dt(&mut self, now: Instant) {
        if self.role == Role::Master && matches!(self.dt, DtState::Started | DtState::PendingStart) {
            self.dt = DtState::PendingStop;
            self.pending_u = None;
            self.send_u(UFunction::StopDtAct, now);
        }
    }

    /// Queues an I-frame carrying `asdu`. Returns it back when [`Link::can_send`] is false.
    ///
    /// # Errors
    /// The ASDU, unsent.
    pub fn send_asdu(&mut self, asdu: Bytes, now: Instant) -> Result<(), Bytes> {
        if !self.can_send() {
            return Err(asdu);
        }
        // the I-frame carries N(R): it acknowledges everything received (or released)
        let recv = self.take_ack();
        self.out.push_back(Frame { apci: Apci::I { send: self.vs, recv }, asdu });
        self.vs = self.vs.next();
        self.unacked.push_back(now);
        Ok(())
    }

    /// Processes a received frame.
    ///
    /// # Errors
    /// The [`CloseReason`] when the frame violates the protocol; the link is then closed.
    pub fn handle_frame(&mut self, frame: Frame, now: Instant) -> Result<(), CloseReason> {
        if let Some(r) = &self.closed {
            return Err(r.clone());
        }
        self.last_rx = now;
        let r = self.handle_inner(frame, now);
        if let Err(e) = &r {
            self.closed = Some(e.clone());
        }
        r
    }

    fn handle_inner(&mut self, frame: Frame, now: Instant) -> Result<(), CloseReason> {
        match frame.apci {
            Apci::I { send, recv } => {
                if self.role == Role::Slave && self.dt != DtState::Started {
                    return Err(CloseReason::Protocol("I-frame before STARTDT"));
                }
                if send != self.vr {
                    return Err(CloseReason::Sequence { expected: self.vr, received: send });
                }
                self.ack(recv)?;
                self.vr = self.vr.next();
                if self.cfg.ack_on_release {
                    if self.held.len() >= usize::from(SeqNo::MODULUS - 1) {
                        return Err(CloseReason::Protocol("more unacknowledged I-frames than sequence numbers"));
                    }
                    self.held.push_back(false);
                } else {
                    self.recv_unacked += 1;
                    if self.recv_unacked_since.is_none() {
                        self.recv_unacked_since = Some(now);
                    }
                    if self.recv_unacked >= self.cfg.w {
                        self.send_s();
                    }
                }
                self.events.push_back(LinkEvent::Asdu(frame.asdu));
            }
            Apci::S { recv } => self.ack(recv)?,
            Apci::U(f) => self.handle_u(f, now)?,
        }
        Ok(())
    }

    fn handle_u(&mut self, f: UFunction, now: Instant) -> Result<(), CloseReason> {
        match (f, self.role) {
            (UFunction::TestFrAct, _) => self.send_u(UFunction::TestFrCon, now),
            (UFunction::TestFrCon, _) => {
                if matches!(self.pending_u, Some((UFunction::TestFrAct, _))) {
                    self.pending_u = None;
                }
            }
            (UFunction::StartDtAct, Role::Slave) => {
                self.send_u(UFunction::StartDtCon, now);
                if self.dt != DtState::Started {
                    self.dt = DtState::Started;
                    self.events.push_back(LinkEvent::Started);
                }
            }
            (UFunction::StopDtAct, Role::Slave) => {
                // acknowledge what we received before confirming, as the standard asks
                if self.recv_unacked > 0 {
                    self.send_s();
                }
                self.send_u(UFunction::StopDtCon, now);
                if self.dt != DtState::Stopped {
                    self.dt = DtState::Stopped;
                    self.events.push_back(LinkEvent::Stopped);
                }
            }
            (UFunction::StartDtCon, Role::Master) => {
                if self.dt == DtState::PendingStart {
                    self.pending_u = None;
                    self.dt = DtState::Started;
                    self.events.push_back(LinkEvent::Started);
                }
            }
            (UFunction::StopDtCon, Role::Master) => {
                if self.dt == DtState::PendingStop {
                    self.pending_u = None;
                    self.dt = DtState::Stopped;
                    self.events.push_back(LinkEvent::Stopped);
                }
            }
            (UFunction::StartDtAct | UFunction::StopDtAct, Role::Master) => {
                return Err(CloseReason::Protocol("STARTDT/STOPDT act sent to a controlling station"));
            }
            (UFunction::StartDtCon | UFunction::StopDtCon, Role::Slave) => {
                return Err(CloseReason::Protocol("STARTDT/STOPDT con sent to a controlled station"));
            }
        }
        Ok(())
    }

    /// Processes N(R): everything before it is acknowledged.
    fn ack(&mut self, nr: SeqNo) -> Result<(), CloseReason> {
        let outstanding = self.unacked.len() as u16;
        let oldest = SeqNo::wrapping(self.vs.get().wrapping_sub(outstanding));
        let acked = nr.distance_from(oldest);
        if acked > outstanding {
            return Err(CloseReason::AckOutOfRange { received: nr, oldest, next: self.vs });
        }
        if acked > 0 {
            self.unacked.drain(..usize::from(acked));
            self.events.push_back(LinkEvent::Acknowledged);
        }
        Ok(())
    }

    /// With `ack_on_release`: marks the received I-frame numbered `seq` as released (what it
    /// carried is safe); released frames are acknowledged in order, as soon as `w` of them
    /// are, or everything received is, or t2 after the first. A number outside the frames held
    /// (acknowledged already, or from before a reconnection) is ignored. Without
    /// `ack_on_release` it does nothing.
    pub fn release(&mut self, seq: SeqNo, now: Instant) {
        if !self.cfg.ack_on_release || self.closed.is_some() {
            return;
        }
        let base = SeqNo::wrapping(self.vr.get().wrapping_sub(self.held.len() as u16));
        let idx = usize::from(seq.distance_from(base));
        let Some(slot) = self.held.get_mut(idx) else { return };
        *slot = true;
        // the acknowledgeable head grows while the next frame is released
        let mut head = usize::from(self.recv_unacked);
        while self.held.get(head) == Some(&true) {
            head += 1;
        }
        if head > usize::from(self.recv_unacked) {
            self.recv_unacked = head as u16;
            self.recv_unacked_since.get_or_insert(now);
            if self.recv_unacked >= self.cfg.w || head == self.held.len() {
                self.send_s();
            }
        }
    }

    /// Received I-frames that the application has not released yet (always 0 without
    /// `ack_on_release`).
    pub fn unreleased(&self) -> usize {
        self.held.len() - usize::from(self.recv_unacked)
    }

    /// N(R) for the next frame sent, forgetting what it acknowledges: V(R), or with
    /// `ack_on_release` the first frame not released.
    fn take_ack(&mut self) -> SeqNo {
        if self.cfg.ack_on_release {
            self.held.drain(..usize::from(self.recv_unacked));
        }
        self.recv_unacked = 0;
        self.recv_unacked_since = None;
        SeqNo::wrapping(self.vr.get().wrapping_sub(self.held.len() as u16))
    }

    fn send_s(&mut self) {
        let recv = self.take_ack();
        self.out.push_back(Frame::control(Apci::S { recv }));
    }

    fn send_u(&mut self, f: UFunction, now: Instant) {
        if matches!(f, UFunction::StartDtAct | UFunction::StopDtAct | UFunction::TestFrAct) {
            self.pending_u = Some((f, now));
        }
        self.out.push_back(Frame::control(Apci::U(f)));
    }

    /// Advances the timers to `now`: t1 expiry closes the link, t2 sends an S-frame, t3 a TESTFR.
    ///
    /// # Errors
    /// [`CloseReason::T1Expired`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), CloseReason> {
        if let Some(r) = &self.closed {
            return Err(r.clone());
        }
        let t1 = self.cfg.t1;
        let expired = if self.unacked.front().is_some_and(|sent| now >= *sent + t1) {
            Some("the acknowledgement of an I-frame")
        } else {
            match self.pending_u {
                Some((f, sent)) if now >= sent + t1 => Some(match f {
                    UFunction::StartDtAct => "STARTDT con",
                    UFunction::StopDtAct => "STOPDT con",
                    _ => "TESTFR con",
                }),
                _ => None,
            }
        };
        if let Some(what) = expired {
            let r = CloseReason::T1Expired(what);
            self.closed = Some(r.clone());
            return Err(r);
        }
        if self.recv_unacked_since.is_some_and(|since| now >= since + self.cfg.t2) {
            self.send_s();
        }
        if self.pending_u.is_none() && now >= self.last_rx + self.cfg.t3 {
            self.send_u(UFunction::TestFrAct, now);
        }
        Ok(())
    }

    /// The next instant [`Link::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        let t1 = self.cfg.t1;
        [
            self.unacked.front().map(|s| *s + t1),
            self.pending_u.map(|(_, s)| s + t1),
            self.recv_unacked_since.map(|s| s + self.cfg.t2),
            self.pending_u.is_none().then(|| self.last_rx + self.cfg.t3),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    struct Pair {
        m: Link,
        s: Link,
        now: Instant,
    }

    impl Pair {
        fn new(cfg: LinkConfig) -> Pair {
            let now = Instant::now();
            Pair { m: Link::new(cfg, Role::Master, now).unwrap(), s: Link::new(cfg, Role::Slave, now).unwrap(), now }
        }
        /// Delivers every queued frame both ways until quiet; returns frames moved m->s and s->m.
        fn pump(&mut self) -> (Vec<Frame>, Vec<Frame>) {
            let (mut ms, mut sm) = (vec![], vec![]);
            loop {
                let mut moved = false;
                while let Some(f) = self.m.poll_transmit() {
                    ms.push(f.clone());
                    self.s.handle_frame(f, self.now).unwrap();
                    moved = true;
                }
                while let Some(f) = self.s.poll_transmit() {
                    sm.push(f.clone());
                    self.m.handle_frame(f, self.now).unwrap();
                    moved = true;
                }
                if !moved {
                    return (ms, sm);
                }
            }
        }
        fn advance(&mut self, d: Duration) -> (Result<(), CloseReason>, Result<(), CloseReason>) {
            self.now += d;
            (self.m.handle_timeout(self.now), self.s.handle_timeout(self.now))
        }
        fn started(cfg: LinkConfig) -> Pair {
            let mut p = Pair::new(cfg);
            p.m.start_dt(p.now);
            p.pump();
            assert!(p.m.is_started() && p.s.is_started());
            p.drain_events();
            p
        }
        fn drain_events(&mut self) -> (Vec<LinkEvent>, Vec<LinkEvent>) {
            (std::iter::from_fn(|| self.m.poll_event()).collect(), std::iter::from_fn(|| self.s.poll_event()).collect())
        }
    }

    fn asdu(n: u8) -> Bytes {
        Bytes::from(vec![100, 1, 6, 0, 1, 0, 0, 0, 0, n])
    }

    #[test]
    fn config_validation() {
        assert!(LinkConfig::default().validate().is_ok());
        let c = LinkConfig { w: 9, ..Default::default() };
        assert_eq!(c.validate(), Err(ParamsError::Window { k: 12, w: 9 }));
        let c = LinkConfig { k: 0, ..Default::default() };
        assert!(matches!(c.validate(), Err(ParamsError::Window { .. })));
        let c = LinkConfig { t2: Duration::from_secs(15), ..Default::default() };
        assert_eq!(c.validate(), Err(ParamsError::Timers("t2 must be shorter than t1")));
        let c = LinkConfig { t3: Duration::ZERO, ..Default::default() };
        assert!(matches!(c.validate(), Err(ParamsError::Timers(_))));
        assert!(Link::new(LinkConfig { w: 100, ..Default::default() }, Role::Master, Instant::now()).is_err());
    }

    #[test]
    fn startdt_stopdt_handshake() {
        let mut p = Pair::new(LinkConfig::default());
        assert!(!p.m.can_send());
        p.m.start_dt(p.now);
        let (ms, sm) = p.pump();
        assert_eq!(ms, [Frame::control(Apci::U(UFunction::StartDtAct))]);
        assert_eq!(sm, [Frame::control(Apci::U(UFunction::StartDtCon))]);
        assert_eq!(p.drain_events(), (vec![LinkEvent::Started], vec![LinkEvent::Started]));
        p.m.stop_dt(p.now);
        let (ms, sm) = p.pump();
        assert_eq!(ms, [Frame::control(Apci::U(UFunction::StopDtAct))]);
        assert_eq!(sm, [Frame::control(Apci::U(UFunction::StopDtCon))]);
        assert_eq!(p.drain_events(), (vec![LinkEvent::Stopped], vec![LinkEvent::Stopped]));
        assert!(!p.s.can_send());
    }

    #[test]
    fn i_frames_numbered_and_delivered() {
        let mut p = Pair::started(LinkConfig::default());
        p.s.send_asdu(asdu(1), p.now).unwrap();
        p.s.send_asdu(asdu(2), p.now).unwrap();
        let (_, sm) = p.pump();
        assert_eq!(sm[0].apci, Apci::I { send: SeqNo::new(0).unwrap(), recv: SeqNo::new(0).unwrap() });
        assert_eq!(sm[1].apci, Apci::I { send: SeqNo::new(1).unwrap(), recv: SeqNo::new(0).unwrap() });
        let (me, _) = p.drain_events();
        assert_eq!(me, [LinkEvent::Asdu(asdu(1)), LinkEvent::Asdu(asdu(2))]);
        // master's reply piggy-backs the acknowledgement
        p.m.send_asdu(asdu(3), p.now).unwrap();
        let (ms, _) = p.pump();
        assert_eq!(ms[0].apci, Apci::I { send: SeqNo::new(0).unwrap(), recv: SeqNo::new(2).unwrap() });
        assert_eq!(p.s.unacknowledged(), 0);
    }

    #[test]
    fn k_window_blocks_and_reopens() {
        let cfg = LinkConfig { k: 3, w: 2, ..Default::default() };
        let mut p = Pair::started(cfg);
        for n in 0..3 {
            p.s.send_asdu(asdu(n), p.now).unwrap();
        }
        assert!(!p.s.can_send(), "k=3 frames outstanding");
        assert_eq!(p.s.send_asdu(asdu(9), p.now), Err(asdu(9)));
        // deliver the three I-frames only; master acknowledges after w=2 with an S-frame
        let mut to_master: Vec<_> = std::iter::from_fn(|| p.s.poll_transmit()).collect();
        for f in to_master.drain(..) {
            p.m.handle_frame(f, p.now).unwrap();
        }
        let acks: Vec<_> = std::iter::from_fn(|| p.m.poll_transmit()).collect();
        assert_eq!(acks, [Frame::control(Apci::S { recv: SeqNo::new(2).unwrap() })]);
        for f in acks {
            p.s.handle_frame(f, p.now).unwrap();
        }
        assert_eq!(p.s.unacknowledged(), 1);
        assert!(p.s.can_send());
    }

    #[test]
    fn t2_sends_s_frame_for_fewer_than_w() {
        let mut p = Pair::started(LinkConfig::default());
        p.s.send_asdu(asdu(1), p.now).unwrap();
        p.pump();
        assert_eq!(p.s.unacknowledged(), 1);
        let deadline = p.m.poll_timeout().unwrap();
        assert_eq!(deadline, p.now + 10 * S, "t2 is the next deadline");
        p.advance(10 * S - Duration::from_millis(1)).0.unwrap();
        assert!(p.m.poll_transmit().is_none(), "not before t2");
        p.advance(Duration::from_millis(1)).0.unwrap();
        assert_eq!(p.m.poll_transmit(), Some(Frame::control(Apci::S { recv: SeqNo::new(1).unwrap() })));
    }

    #[test]
    fn t1_expires_without_acknowledgement() {
        let mut p = Pair::started(LinkConfig::default());
        p.s.send_asdu(asdu(1), p.now).unwrap();
        let _lost = p.s.poll_transmit(); // never delivered
        assert_eq!(p.s.poll_timeout(), Some(p.now + 15 * S));
        assert!(p.advance(15 * S - Duration::from_millis(1)).1.is_ok());
        assert_eq!(
            p.advance(Duration::from_millis(1)).1,
            Err(CloseReason::T1Expired("the acknowledgement of an I-frame"))
        );
        assert!(p.s.close_reason().is_some());
        assert!(p.s.handle_frame(Frame::control(Apci::S { recv: SeqNo::new(1).unwrap() }), p.now).is_err());
    }

    #[test]
    fn t1_expires_waiting_for_startdt_con() {
        let mut p = Pair::new(LinkConfig::default());
        p.m.start_dt(p.now);
        let _ = p.m.poll_transmit();
        assert_eq!(p.advance(15 * S).0, Err(CloseReason::T1Expired("STARTDT con")));
    }

    #[test]
    fn t3_sends_testfr_and_t1_guards_it() {
        let mut p = Pair::started(LinkConfig::default());
        p.advance(20 * S - Duration::from_millis(1)).0.unwrap();
        assert!(p.m.poll_transmit().is_none(), "not before t3");
        p.advance(Duration::from_millis(1)).0.unwrap();
        let (ms, sm) = p.pump();
        // both ends were idle for t3: each tests, each answers
        assert_eq!(ms[0], Frame::control(Apci::U(UFunction::TestFrAct)));
        assert!(sm.contains(&Frame::control(Apci::U(UFunction::TestFrCon))));
        assert!(p.advance(15 * S).0.is_ok(), "answered: no close");
        // next TESTFR unanswered: t1 closes
        p.advance(5 * S).0.unwrap();
        assert_eq!(p.m.poll_transmit(), Some(Frame::control(Apci::U(UFunction::TestFrAct))));
        assert_eq!(p.advance(15 * S).0, Err(CloseReason::T1Expired("TESTFR con")));
    }

    #[test]
    fn received_traffic_postpones_t3() {
        let mut p = Pair::started(LinkConfig::default());
        p.advance(19 * S).0.unwrap();
        p.m.handle_frame(Frame::control(Apci::S { recv: SeqNo::default() }), p.now).unwrap();
        p.advance(19 * S).0.unwrap();
        assert!(p.m.poll_transmit().is_none());
    }

    #[test]
    fn sequence_error_closes() {
        let mut p = Pair::started(LinkConfig::default());
        let f = Frame { apci: Apci::I { send: SeqNo::new(1).unwrap(), recv: SeqNo::default() }, asdu: asdu(1) };
        assert_eq!(
            p.m.handle_frame(f, p.now),
            Err(CloseReason::Sequence { expected: SeqNo::default(), received: SeqNo::new(1).unwrap() })
        );
        assert!(p.m.poll_timeout().is_none(), "closed links have no timers");
    }

    #[test]
    fn ack_out_of_range_closes() {
        let mut p = Pair::started(LinkConfig::default());
        p.s.send_asdu(asdu(1), p.now).unwrap();
        // N(R)=2 acknowledges a frame never sent
        let err = p.s.handle_frame(Frame::control(Apci::S { recv: SeqNo::new(2).unwrap() }), p.now).unwrap_err();
        assert_eq!(
            err,
            CloseReason::AckOutOfRange {
                received: SeqNo::new(2).unwrap(),
                oldest: SeqNo::default(),
                next: SeqNo::new(1).unwrap()
            }
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let cfg = LinkConfig { k: 12, w: 8, ..Default::default() };
        let mut p = Pair::started(cfg);
        for n in 0..40_000u32 {
            p.s.send_asdu(asdu(n as u8), p.now).unwrap();
            if n % 8 == 7 {
                p.pump(); // w=8: the master acknowledges every eighth frame
            }
        }
        p.pump();
        p.advance(10 * S).0.unwrap();
        p.pump();
        assert_eq!(p.s.unacknowledged(), 0);
        let asdus = p.drain_events().0.into_iter().filter(|e| matches!(e, LinkEvent::Asdu(_))).count();
        assert_eq!(asdus, 40_000);
    }

    #[test]
    fn slave_rejects_i_frame_before_startdt_and_master_rejects_startdt_act() {
        let mut p = Pair::new(LinkConfig::default());
        let f = Frame { apci: Apci::I { send: SeqNo::default(), recv: SeqNo::default() }, asdu: asdu(1) };
        assert_eq!(p.s.handle_frame(f, p.now), Err(CloseReason::Protocol("I-frame before STARTDT")));
        assert!(matches!(
            p.m.handle_frame(Frame::control(Apci::U(UFunction::StartDtAct)), p.now),
            Err(CloseReason::Protocol(_))
        ));
    }

    #[test]
    fn stopdt_acknowledges_outstanding_first() {
        let mut p = Pair::started(LinkConfig::default());
        p.m.send_asdu(asdu(1), p.now).unwrap();
        let f = p.m.poll_transmit().unwrap();
        p.s.handle_frame(f, p.now).unwrap();
        p.m.stop_dt(p.now);
        let f = p.m.poll_transmit().unwrap();
        p.s.handle_frame(f, p.now).unwrap();
        let out: Vec<_> = std::iter::from_fn(|| p.s.poll_transmit()).collect();
        assert_eq!(
            out,
            [Frame::control(Apci::S { recv: SeqNo::new(1).unwrap() }), Frame::control(Apci::U(UFunction::StopDtCon))]
        );
    }

    /// A started pair whose master acknowledges only what was released.
    fn deferred() -> Pair {
        let now = Instant::now();
        let mcfg = LinkConfig { ack_on_release: true, ..Default::default() };
        let mut p = Pair {
            m: Link::new(mcfg, Role::Master, now).unwrap(),
            s: Link::new(LinkConfig::default(), Role::Slave, now).unwrap(),
            now,
        };
        p.m.start_dt(p.now);
        p.pump();
        p.drain_events();
        p
    }

    fn seq(n: u16) -> SeqNo {
        SeqNo::new(n).unwrap()
    }

    /// The N(R) of the S-frames `l` queued (other frames are dropped).
    fn acks(l: &mut Link) -> Vec<SeqNo> {
        std::iter::from_fn(|| l.poll_transmit())
            .filter_map(|f| match f.apci {
                Apci::S { recv } => Some(recv),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ack_on_release_acknowledges_only_released_frames_in_order() {
        let mut p = deferred();
        for n in 0..5 {
            p.s.send_asdu(asdu(n), p.now).unwrap();
        }
        let (ms, _) = p.pump();
        assert!(ms.is_empty(), "nothing acknowledged on receipt: {ms:?}");
        assert_eq!(p.m.unreleased(), 5);
        // not even after t2: nothing was released
        let (m, s) = p.advance(Duration::from_secs(11));
        assert!(m.is_ok() && s.is_ok());
        assert_eq!(acks(&mut p.m), []);
        // released out of order: only the released head is acknowledged
        p.m.release(seq(2), p.now);
        p.m.release(seq(1), p.now);
        assert_eq!(acks(&mut p.m), [], "frame 0 is not released yet");
        p.m.release(seq(0), p.now);
        // three released, two not: under w, so the ack waits for more or for t2
        assert_eq!(acks(&mut p.m), []);
        let _ = p.advance(Duration::from_secs(10));
        assert_eq!(acks(&mut p.m), [seq(3)]);
        // releasing everything received acknowledges at once
        p.m.release(seq(4), p.now);
        assert_eq!(acks(&mut p.m), []);
        p.m.release(seq(3), p.now);
        assert_eq!(acks(&mut p.m), [seq(5)]);
        assert_eq!(p.m.unreleased(), 0);
        // stale and unknown numbers are ignored
        p.m.release(seq(1), p.now);
        p.m.release(seq(900), p.now);
        assert_eq!(acks(&mut p.m), []);
    }

    #[test]
    fn ack_on_release_piggybacks_only_the_released_head() {
        let mut p = deferred();
        for n in 0..3 {
            p.s.send_asdu(asdu(n), p.now).unwrap();
        }
        p.pump();
        p.m.release(seq(0), p.now);
        p.m.send_asdu(asdu(9), p.now).unwrap();
        let f = p.m.poll_transmit().unwrap();
        assert_eq!(f.apci, Apci::I { send: seq(0), recv: seq(1) }, "N(R) is the release frontier, not V(R)");
        assert_eq!(p.m.unreleased(), 2);
    }

    #[test]
    fn ack_on_release_acknowledges_after_w_released() {
        let mut p = deferred();
        for n in 0..12 {
            p.s.send_asdu(asdu(n), p.now).unwrap();
        }
        p.pump();
        assert!(!p.s.can_send(), "the slave's window (k) is full");
        for n in 0..7 {
            p.m.release(seq(n), p.now);
        }
        assert_eq!(p.m.poll_transmit(), None, "7 released, under w");
        p.m.release(seq(7), p.now);
        let (ms, _) = p.pump();
        assert_eq!(ms, [Frame::control(Apci::S { recv: seq(8) })]);
        assert!(p.s.can_send(), "the acknowledgement opened the slave's window");
    }

    #[test]
    fn an_unreleased_frame_closes_the_senders_link_after_t1() {
        let mut p = deferred();
        p.s.send_asdu(asdu(1), p.now).unwrap();
        p.pump();
        let (_, s) = p.advance(Duration::from_secs(16));
        assert_eq!(s, Err(CloseReason::T1Expired("the acknowledgement of an I-frame")));
    }
}
