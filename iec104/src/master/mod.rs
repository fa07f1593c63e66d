//! The async controlling station (client): handle + driver over tokio.
//!
//! [`connect`] returns a cloneable [`Master`] handle, an [`Events`] stream and a `#[must_use]`
//! [`MasterDriver`] future to spawn. The driver connects to the first reachable address of an
//! ordered list (redundant stations: on loss it fails over to the next), starts data transfer,
//! optionally runs a general interrogation and a clock synchronisation after every (re)start,
//! and reconnects with capped exponential backoff.
//!
//! **Events** come through a bounded queue. A slow consumer never stalls the link: when the queue
//! is full the *newest* event is dropped and counted ([`Master::dropped_events`]). The connection
//! state is also kept outside the queue ([`Master::state`], [`Master::wait_started`]), so the
//! latest state is never lost.
//!
//! **Acknowledge after storing** ([`LinkConfig::ack_on_release`]): each [`DataUnit`] then
//! carries a [`Receipt`], and the station is acknowledged for the I-frame only once every clone
//! of it is dropped (after what it carried is stored, say). A station that keeps unacknowledged
//! events and sends them again on the next connection then loses nothing when the receiving
//! process crashes. A full event queue then ends the connection instead of dropping the event,
//! so the station sends it again.
//!
//! **Commands** resolve to their activation confirmation, positive or negative (a negative
//! confirmation is data, not an error), and optionally their activation termination. They are
//! correlated by (common address, type id, IOA), for the time-tagged commands 58-64 as well.
//!
//! ```no_run
//! use iec104::master::{connect, MasterConfig, Event};
//! use iec104::types::CommonAddress;
//! # async fn run() -> Result<(), iec104::Error> {
//! let cfg = MasterConfig { addresses: vec!["127.0.0.1:2404".into()], ..Default::default() };
//! let (master, mut events, driver) = connect(cfg)?;
//! tokio::spawn(driver);
//! master.wait_started().await?;
//! let gi = master.general_interrogation(CommonAddress(1)).await?;
//! println!("GI confirmed: {}", !gi.confirmation.negative);
//! while let Some(ev) = events.recv().await {
//!     if let Event::Data(d) = ev {
//!         for p in &d.points {
//!             println!("{} {:?} {:?}", p.ioa, p.value, p.quality);
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

mod driver;

use crate::asdu::{AsduParams, Cause, InfoObjects, OwnedAsdu, Qcc, Qoi, Qrp, Read};
use crate::asdu::{Bsi, Dco, Qos, Rco, Sco, SetpointFloat, SetpointNormalized, SetpointScaled, Timed};
use crate::error::{Error, ParamsError};
use crate::link::LinkConfig;
use crate::point::Point;
use crate::transport::{Connector, Tcp};
use crate::types::{CommonAddress, Cot, Cp56Time2a, Ioa, TypeId};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Master configuration. Every field has a documented default.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterConfig {
    /// Station addresses (`"host:port"`), tried in order; the next on loss. No default.
    pub addresses: Vec<String>,
    /// Link parameters (standard defaults).
    pub link: LinkConfig,
    /// ASDU field sizes (IEC 104 profile: 2/2/3).
    pub asdu: AsduParams,
    /// Reconnect after loss (default true).
    pub reconnect: bool,
    /// First reconnect delay (default 1 s), doubled after each failed round of addresses.
    pub reconnect_min: Duration,
    /// Longest reconnect delay (default 60 s).
    pub reconnect_max: Duration,
    /// General interrogation of these common addresses after each start (default none).
    pub interrogate_on_start: Vec<CommonAddress>,
    /// Clock synchronisation of these common addresses after each start (default none).
    pub clock_sync_on_start: Vec<CommonAddress>,
    /// Event queue capacity (default 8192).
    pub event_capacity: usize,
    /// Time a command waits for its confirmation or termination (default 10 s).
    pub command_timeout: Duration,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            addresses: vec![],
            link: LinkConfig::default(),
            asdu: AsduParams::default(),
            reconnect: true,
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            interrogate_on_start: vec![],
            clock_sync_on_start: vec![],
            event_capacity: 8192,
            command_timeout: Duration::from_secs(10),
        }
    }
}

impl MasterConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`ParamsError`] naming what is wrong.
    pub fn validate(&self) -> Result<(), ParamsError> {
        self.link.validate()?;
        if self.addresses.is_empty() {
            return Err(ParamsError::Config("no station address".into()));
        }
        if self.event_capacity == 0 {
            return Err(ParamsError::Config("event_capacity must be above zero".into()));
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return Err(ParamsError::Config("need 0 < reconnect_min <= reconnect_max".into()));
        }
        Ok(())
    }
}

/// Connection state, reported as [`Event::State`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Trying an address.
    Connecting {
        /// The address.
        addr: String,
    },
    /// Transport open, STARTDT sent.
    Connected {
        /// The address.
        addr: String,
    },
    /// STARTDT confirmed: data transfer running.
    Started {
        /// The address.
        addr: String,
    },
    /// Connection lost or closed, with the reason.
    Disconnected {
        /// The address.
        addr: String,
        /// What happened.
        reason: String,
    },
    /// The driver has stopped.
    Stopped,
}

/// A received I-frame not yet acknowledged to the station (with
/// [`LinkConfig::ack_on_release`]): the acknowledgement is released when the last clone is
/// dropped. Dropped after the connection it came on ended, it does nothing (the station sends
/// the frame again on the next one).
#[derive(Clone)]
pub struct Receipt(Arc<ReceiptInner>);

struct ReceiptInner {
    seq: crate::types::SeqNo,
    tx: mpsc::UnboundedSender<crate::types::SeqNo>,
}

impl Drop for ReceiptInner {
    fn drop(&mut self) {
        let _ = self.tx.send(self.seq);
    }
}

impl Receipt {
    pub(crate) fn new(seq: crate::types::SeqNo, tx: mpsc::UnboundedSender<crate::types::SeqNo>) -> Receipt {
        Receipt(Arc::new(ReceiptInner { seq, tx }))
    }

    /// The I-frame's send sequence number N(S).
    pub fn seq(&self) -> crate::types::SeqNo {
        self.0.seq
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Receipt").field(&self.0.seq).finish()
    }
}

impl PartialEq for Receipt {
    fn eq(&self, other: &Receipt) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Monitored data: the points of one received ASDU.
#[derive(Debug, Clone, PartialEq)]
pub struct DataUnit {
    /// Common address.
    pub common_address: CommonAddress,
    /// Cause of transmission.
    pub cause: Cause,
    /// Type identification it arrived as.
    pub type_id: TypeId,
    /// The points, in ASDU order.
    pub points: Vec<Point>,
    /// With [`LinkConfig::ack_on_release`]: the frame's acknowledgement, released when the last
    /// clone is dropped. `None` otherwise (acknowledged on receipt).
    pub receipt: Option<Receipt>,
}

/// What the master reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Connection state change (the latest is always in [`Master::state`]).
    State(ConnectionState),
    /// Monitored data (types 1-21, 30-40).
    Data(DataUnit),
    /// End of initialisation (M_EI_NA_1) of a station.
    EndOfInitialization {
        /// Common address.
        common_address: CommonAddress,
        /// Cause of initialisation.
        coi: crate::asdu::Coi,
    },
    /// A confirmation or termination no pending command was waiting for (for example of the
    /// start-up GI), or a system or command ASDU sent by the station.
    Unsolicited(OwnedAsdu),
}

/// A command's outcome: its confirmation and, if asked for, its termination.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// The activation confirmation's cause (COT 7, or 44-47 for unknown type/cause/CA/IOA);
    /// `negative` set when the station refused.
    pub confirmation: Cause,
    /// The ASDU the station confirmed with (it echoes the command's value).
    pub echo: OwnedAsdu,
    /// The activation termination's cause, when waited for and positively confirmed.
    pub termination: Option<Cause>,
}

impl CommandOutcome {
    /// Confirmed positively (COT 7 or 9 without P/N), and terminated positively when asked.
    /// A confirmation with any other cause (an echo with COT 6, say) is not positive.
    pub fn is_positive(&self) -> bool {
        let con = !self.confirmation.negative
            && matches!(
                self.confirmation.cot,
                Cot::ACTIVATION_CON | Cot::DEACTIVATION_CON | Cot::ACTIVATION_TERMINATION
            );
        con && self.termination.is_none_or(|t| !t.negative)
    }
}

/// How a command is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommandMode {
    /// Direct execute.
    #[default]
    Direct,
    /// Select, then execute once the select is confirmed.
    SelectBeforeOperate,
}

/// The value of a control command (types 45-51, or 58-64 when time-tagged).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum CommandValue {
    /// C_SC: on/off with qualifier (QU).
    Single {
        /// On.
        on: bool,
        /// QU (0 default, 1 short pulse, 2 long pulse, 3 persistent).
        qu: u8,
    },
    /// C_DC: DCS 1 off, 2 on.
    Double {
        /// DCS.
        state: u8,
        /// QU.
        qu: u8,
    },
    /// C_RC: RCS 1 lower, 2 higher.
    Step {
        /// RCS.
        state: u8,
        /// QU.
        qu: u8,
    },
    /// C_SE_NA: normalised set-point.
    Normalized(crate::asdu::Nva),
    /// C_SE_NB: scaled set-point.
    Scaled(i16),
    /// C_SE_NC: floating-point set-point.
    Float(f32),
    /// C_BO: 32-bit bitstring.
    Bitstring(u32),
}

impl CommandValue {
    /// The ASDU body for this value, selecting or executing, with an optional time tag.
    pub fn body(&self, ioa: Ioa, select: bool, time: Option<Cp56Time2a>) -> crate::asdu::OwnedBody {
        use crate::asdu::AsduType;
        fn wrap<E: AsduType>(ioa: Ioa, e: E) -> crate::asdu::OwnedBody {
            E::into_body(InfoObjects::one(ioa, e))
        }
        fn timed<E: AsduType>(ioa: Ioa, e: E, time: Option<Cp56Time2a>) -> crate::asdu::OwnedBody
        where
            Timed<E, Cp56Time2a>: AsduType,
        {
            match time {
                Some(t) => wrap(ioa, Timed { value: e, time: t }),
                None => wrap(ioa, e),
            }
        }
        let q = |ql: u8| Qos::new(ql, select);
        match *self {
            CommandValue::Single { on, qu } => timed(ioa, Sco::new(on, qu, select), time),
            CommandValue::Double { state, qu } => timed(ioa, Dco::new(state, qu, select), time),
            CommandValue::Step { state, qu } => timed(ioa, Rco::new(state, qu, select), time),
            CommandValue::Normalized(nva) => timed(ioa, SetpointNormalized { nva, qos: q(0) }, time),
            CommandValue::Scaled(sva) => timed(ioa, SetpointScaled { sva, qos: q(0) }, time),
            CommandValue::Float(value) => timed(ioa, SetpointFloat { value, qos: q(0) }, time),
            CommandValue::Bitstring(b) => timed(ioa, Bsi(b), time),
        }
    }
}

/// A request from the handle to the driver.
#[derive(Debug)]
pub(crate) enum Request {
    Send {
        asdu: OwnedAsdu,
        /// Waiter for correlation; `None`: fire and forget.
        reply: Option<(bool, oneshot::Sender<Result<CommandOutcome, Error>>)>,
    },
    Close,
}

/// The bounded event queue's receiving end.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the driver has stopped and the queue is drained.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

/// Shared between handle and driver.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dropped: AtomicU64,
    pub(crate) state: watch::Sender<ConnectionState>,
}

/// Cheap, cloneable handle to a running master.
#[derive(Debug, Clone)]
pub struct Master {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    cfg: Arc<MasterConfig>,
}

/// The future that runs the connection; spawn it.
#[must_use = "the master does nothing unless its driver is spawned or awaited"]
pub struct MasterDriver {
    fut: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for MasterDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterDriver")
    }
}

impl Future for MasterDriver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.fut.as_mut().poll(cx)
    }
}

/// A master over plain TCP.
///
/// # Errors
/// [`Error::Params`] for an invalid configuration.
pub fn connect(cfg: MasterConfig) -> Result<(Master, Events, MasterDriver), Error> {
    connect_with(cfg, Tcp)
}

/// A master over any transport (for example [`crate::transport::TlsConnector`]).
///
/// # Errors
/// [`Error::Params`] for an invalid configuration.
pub fn connect_with<C: Connector>(cfg: MasterConfig, connector: C) -> Result<(Master, Events, MasterDriver), Error> {
    cfg.validate()?;
    let cfg = Arc::new(cfg);
    let (tx, rx) = mpsc::channel(1024);
    let (ev_tx, ev_rx) = mpsc::channel(cfg.event_capacity);
    let (state, _) = watch::channel(ConnectionState::Connecting { addr: cfg.addresses[0].clone() });
    let shared = Arc::new(Shared { dropped: AtomicU64::new(0), state });
    let fut = driver::run(cfg.clone(), connector, rx, ev_tx, shared.clone());
    Ok((Master { tx, shared, cfg }, Events { rx: ev_rx }, MasterDriver { fut: Box::pin(fut) }))
}

impl Master {
    /// Events dropped because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        self.shared.state.borrow().clone()
    }

    /// Waits until data transfer is started.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the driver stops first.
    pub async fn wait_started(&self) -> Result<(), Error> {
        let mut rx = self.shared.state.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                ConnectionState::Started { .. } => return Ok(()),
                ConnectionState::Stopped => return Err(Error::Stopped),
                _ => {}
            }
            rx.changed().await.map_err(|_| Error::Stopped)?;
        }
    }

    /// Sends an ASDU without waiting for anything.
    ///
    /// # Errors
    /// [`Error::NotConnected`] when data transfer is not started, [`Error::Stopped`].
    pub async fn send(&self, asdu: OwnedAsdu) -> Result<(), Error> {
        self.ensure_started()?;
        self.tx.send(Request::Send { asdu, reply: None }).await.map_err(|_| Error::Stopped)
    }

    fn ensure_started(&self) -> Result<(), Error> {
        match &*self.shared.state.borrow() {
            ConnectionState::Started { .. } => Ok(()),
            ConnectionState::Stopped => Err(Error::Stopped),
            _ => Err(Error::NotConnected),
        }
    }

    /// Sends an ASDU of the command family and waits for its confirmation (and termination when
    /// `wait_termination`), correlated by (common address, type id, IOA of the first object).
    ///
    /// # Errors
    /// [`Error::NotConnected`], [`Error::Duplicate`], [`Error::Timeout`], [`Error::Stopped`].
    pub async fn request(&self, asdu: OwnedAsdu, wait_termination: bool) -> Result<CommandOutcome, Error> {
        self.ensure_started()?;
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Send { asdu, reply: Some((wait_termination, tx)) }).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    fn system(ca: CommonAddress, body: crate::asdu::OwnedBody) -> OwnedAsdu {
        OwnedAsdu { cause: Cause::new(Cot::ACTIVATION), common_address: ca, body }
    }

    /// Station interrogation (QOI 20); resolves on ACT_TERM.
    ///
    /// # Errors
    /// As [`Master::request`].
    pub async fn general_interrogation(&self, ca: CommonAddress) -> Result<CommandOutcome, Error> {
        self.interrogation(ca, Qoi::STATION).await
    }

    /// Interrogation with any qualifier (20 station, 21-36 groups); resolves on ACT_TERM.
    ///
    /// # Errors
    /// As [`Master::request`].
    pub async fn interrogation(&self, ca: CommonAddress, qoi: Qoi) -> Result<CommandOutcome, Error> {
        let asdu = OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), qoi));
        self.request(asdu, true).await
    }

    /// Counter interrogation; resolves on ACT_TERM.
    ///
    /// # Errors
    /// As [`Master::request`].
    pub async fn counter_interrogation(&self, ca: CommonAddress, qcc: Qcc) -> Result<CommandOutcome, Error> {
        let asdu = OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), qcc));
        self.request(asdu, true).await
    }

    /// Read command (C_RD_NA_1, COT 5). The value comes back as data with COT 5; this sends only.
    ///
    /// # Errors
    /// As [`Master::send`].
    pub async fn read(&self, ca: CommonAddress, ioa: Ioa) -> Result<(), Error> {
        self.send(OwnedAsdu::new(Cause::new(Cot::REQUEST), ca, InfoObjects::one(ioa, Read))).await
    }

    /// Clock synchronisation with `time`; resolves on ACT_CON.
    ///
    /// # Errors
    /// As [`Master::request`].
    pub async fn clock_sync(&self, ca: CommonAddress, time: Cp56Time2a) -> Result<CommandOutcome, Error> {
        let asdu = OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), time));
        self.request(asdu, false).await
    }

    /// Test command with time tag (C_TS_TA_1, the 104 profile's test); resolves on ACT_CON.
    ///
    /// # Errors
    /// As [`Master::request`].
    pub async fn test(&self, ca: CommonAddress, counter: u16, time: Cp56Time2a) -> Result<CommandOutcome, Error> {
        let v = crate::asdu::TestWithTime { tsc: counter, time };
        self.request(OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), v)), false).await
    }

    /// Reset process command; resolves on ACT_CON.
    ///
    /// # Errors
    /// As [`Master::request`].
    pub async fn reset_process(&self, ca: CommonAddress, qrp: Qrp) -> Result<CommandOutcome, Error> {
        self.request(OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), qrp)), false)
            .await
    }

    /// A control command (45-51; 58-64 with `time`). Direct: resolves on ACT_CON, or ACT_TERM
    /// when `wait_termination`. Select-before-operate: selects, and executes only if the select
    /// was confirmed positively (the select's outcome is returned otherwise).
    ///
    /// # Errors
    /// As [`Master::request`].
    pub async fn command(
        &self,
        ca: CommonAddress,
        ioa: Ioa,
        value: CommandValue,
        mode: CommandMode,
        time: Option<Cp56Time2a>,
        wait_termination: bool,
    ) -> Result<CommandOutcome, Error> {
        if mode == CommandMode::SelectBeforeOperate {
            let sel = self.request(Self::system(ca, value.body(ioa, true, time)), false).await?;
            if !sel.is_positive() {
                return Ok(sel);
            }
        }
        self.request(Self::system(ca, value.body(ioa, false, time)), wait_termination).await
    }

    /// Stops data transfer (STOPDT), closes the connection and ends the driver.
    pub async fn close(&self) {
        let _ = self.tx.send(Request::Close).await;
        let mut rx = self.shared.state.subscribe();
        while !matches!(*rx.borrow_and_update(), ConnectionState::Stopped) {
            if rx.changed().await.is_err() {
                break;
            }
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &MasterConfig {
        &self.cfg
    }
}
