//! The async controlled station (server): a point database, spontaneous, periodic and background
//! transmission, interrogation, clock sync, read, and a command handler with
//! select-before-operate.
//!
//! [`serve`] takes a bound listener and returns a cloneable [`Slave`] handle and a `#[must_use]`
//! [`SlaveDriver`] future to spawn. Several masters may connect. Redundancy follows lib60870's
//! server modes ([`Redundancy`]): one group for all connections (only the most recently started
//! one receives events), every connection its own group, or several groups chosen by the client's
//! IP address.
//!
//! **Event queue**: spontaneous changes ([`Slave::update`]) go to each group's bounded queue,
//! which buffers while no master of the group has started data transfer; when full, the *oldest*
//! event is dropped and counted ([`Slave::dropped_events`]). Events are delivered in order after
//! STARTDT, and those sent but not acknowledged when a connection is lost are queued again.
//!
//! ```no_run
//! use iec104::slave::{serve, AcceptAll, PointConfig, SlaveConfig};
//! use iec104::point::{Point, PointValue};
//! use iec104::types::{CommonAddress, Ioa};
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2404").await?;
//! let (slave, driver) = serve(listener, SlaveConfig::default(), AcceptAll);
//! tokio::spawn(driver);
//! let ca = CommonAddress(1);
//! let ioa = Ioa::new(100).unwrap();
//! slave.add_point(ca, PointConfig::new(Point::new(ioa, PointValue::Float(0.0))));
//! slave.update(ca, Point::new(ioa, PointValue::Float(230.1))); // spontaneous, COT 3
//! # Ok(()) }
//! ```

mod conn;
pub mod sim;

use crate::asdu::AsduParams;
use crate::link::LinkConfig;
use crate::master::CommandValue;
use crate::point::Point;
use crate::transport::{Acceptor, Tcp};
use crate::types::{CommonAddress, Cot, Cp56Time2a, Ioa, TypeId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// How connections share events (lib60870's server modes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Redundancy {
    /// One group: all connections share one event queue; only the most recently started
    /// connection receives events.
    #[default]
    SingleGroup,
    /// Every connection is its own group with its own queue (events while nobody is connected
    /// are not buffered).
    ConnectionIsGroup,
    /// Several groups, each with its own queue; a connection joins the first group whose
    /// allow-list holds its IP (an empty list allows any). Others are refused.
    Groups(Vec<Vec<IpAddr>>),
}

/// Slave configuration. Every field has a documented default.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaveConfig {
    /// Link parameters (standard defaults).
    pub link: LinkConfig,
    /// ASDU field sizes (IEC 104 profile: 2/2/3).
    pub asdu: AsduParams,
    /// Redundancy mode (default one group).
    pub redundancy: Redundancy,
    /// Capacity of each group's event queue (default 10 000); the oldest is dropped when full.
    pub event_queue: usize,
    /// Cycle of periodic transmission (COT 1) of points marked periodic (default none).
    pub periodic: Option<Duration>,
    /// Cycle of background scan (COT 2) of every point (default none).
    pub background: Option<Duration>,
    /// How long a select stays valid for its execute (default 10 s).
    pub select_timeout: Duration,
    /// Send ACT_TERM after a positively confirmed execute (default true).
    pub command_termination: bool,
    /// Most simultaneous connections; 0 for no limit (default 0).
    pub max_connections: usize,
}

impl Default for SlaveConfig {
    fn default() -> Self {
        SlaveConfig {
            link: LinkConfig::default(),
            asdu: AsduParams::default(),
            redundancy: Redundancy::SingleGroup,
            event_queue: 10_000,
            periodic: None,
            background: None,
            select_timeout: Duration::from_secs(10),
            command_termination: true,
            max_connections: 0,
        }
    }
}

/// A point in the database: the current point and how it is reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointConfig {
    /// Current value, quality and time (the time tag decides the spontaneous type).
    pub point: Point,
    /// Interrogation group 1..=16 (and counter group 1..=4), 0 for none.
    pub group: u8,
    /// Sent in the periodic cycle.
    pub periodic: bool,
}

impl PointConfig {
    /// A point in no group, not periodic.
    pub fn new(point: Point) -> Self {
        PointConfig { point, group: 0, periodic: false }
    }
}

/// A control command received by the slave.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Common address.
    pub common_address: CommonAddress,
    /// Information object address.
    pub ioa: Ioa,
    /// Type identification (45-51, 58-64).
    pub type_id: TypeId,
    /// The commanded value.
    pub value: CommandValue,
    /// Select (true) or execute.
    pub select: bool,
    /// Time tag of 58-64.
    pub time: Option<Cp56Time2a>,
    /// The master that sent it.
    pub peer: SocketAddr,
}

/// What the station does with commands and system requests. Every method has a default.
pub trait CommandHandler: Send + Sync + 'static {
    /// Accept (true) or reject a command; called for selects and executes alike.
    fn command(&self, cmd: &Command) -> bool {
        let _ = cmd;
        false
    }
    /// Whether a point requires select-before-operate (default: no).
    fn requires_select(&self, common_address: CommonAddress, ioa: Ioa) -> bool {
        let _ = (common_address, ioa);
        false
    }
    /// Clock synchronisation request; accept (default) or reject.
    fn clock_sync(&self, common_address: CommonAddress, time: Cp56Time2a) -> bool {
        let _ = (common_address, time);
        true
    }
    /// Reset process request; accept (default) or reject.
    fn reset_process(&self, common_address: CommonAddress, qrp: crate::asdu::Qrp) -> bool {
        let _ = (common_address, qrp);
        true
    }
}

/// Rejects every command, accepts clock sync and reset.
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectCommands;
impl CommandHandler for RejectCommands {}

/// Accepts every command.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;
impl CommandHandler for AcceptAll {
    fn command(&self, _: &Command) -> bool {
        true
    }
}

/// A queued spontaneous (or other) event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Queued {
    pub(crate) ca: CommonAddress,
    pub(crate) cot: Cot,
    pub(crate) point: Point,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) allowed: Option<Vec<IpAddr>>,
    pub(crate) queue: VecDeque<Queued>,
    /// Connection id of the connection that receives events.
    pub(crate) active: Option<u64>,
    pub(crate) notify: Arc<Notify>,
    /// Created for one connection (ConnectionIsGroup): removed with it.
    pub(crate) owner: Option<u64>,
}

impl Group {
    fn new(allowed: Option<Vec<IpAddr>>, owner: Option<u64>) -> Self {
        Group { allowed, queue: VecDeque::new(), active: None, notify: Arc::new(Notify::new()), owner }
    }
}

pub(crate) struct Shared {
    pub(crate) cfg: SlaveConfig,
    pub(crate) db: Mutex<BTreeMap<(u16, u32), PointConfig>>,
    /// Redundancy groups by id.
    pub(crate) groups: Mutex<HashMap<u64, Group>>,
    pub(crate) dropped: AtomicU64,
    pub(crate) connections: AtomicUsize,
    pub(crate) handler: Box<dyn CommandHandler>,
    pub(crate) shutdown: watch::Sender<bool>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn enqueue(&self, items: impl IntoIterator<Item = Queued> + Clone) {
        let cap = self.cfg.event_queue.max(1);
        let mut groups = lock(&self.groups);
        for g in groups.values_mut() {
            for q in items.clone() {
                if g.queue.len() >= cap {
                    g.queue.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                g.queue.push_back(q);
            }
            g.notify.notify_one();
        }
    }

    pub(crate) fn knows_ca(&self, ca: CommonAddress) -> bool {
        let db = lock(&self.db);
        db.range((ca.0, 0)..=(ca.0, u32::MAX)).next().is_some()
    }
}

/// Cheap, cloneable handle to a running slave.
#[derive(Clone)]
pub struct Slave {
    shared: Arc<Shared>,
    local_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Slave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slave").field("local_addr", &self.local_addr).finish()
    }
}

impl Slave {
    /// The listening address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Adds or replaces a point without sending anything.
    pub fn add_point(&self, ca: CommonAddress, cfg: PointConfig) {
        lock(&self.shared.db).insert((ca.0, cfg.point.ioa.get()), cfg);
    }

    /// Stores a new value and queues it as a spontaneous event (COT 3). Returns false (and does
    /// nothing) for a point never added.
    pub fn update(&self, ca: CommonAddress, point: Point) -> bool {
        self.update_many(ca, std::iter::once(point)) == 1
    }

    /// [`Slave::update`] for several points at once (one lock, one wake-up); returns how many
    /// were known.
    pub fn update_many(&self, ca: CommonAddress, points: impl IntoIterator<Item = Point>) -> usize {
        let mut queued = Vec::new();
        {
            let mut db = lock(&self.shared.db);
            for p in points {
                if let Some(e) = db.get_mut(&(ca.0, p.ioa.get())) {
                    e.point = p;
                    queued.push(Queued { ca, cot: Cot::SPONTANEOUS, point: p });
                }
            }
        }
        let n = queued.len();
        if n > 0 {
            self.shared.enqueue(queued.iter().copied());
        }
        n
    }

    /// The current value of a point.
    pub fn point(&self, ca: CommonAddress, ioa: Ioa) -> Option<Point> {
        lock(&self.shared.db).get(&(ca.0, ioa.get())).map(|e| e.point)
    }

    /// Events dropped because a group's queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Events waiting in the queues (all groups).
    pub fn queued_events(&self) -> usize {
        lock(&self.shared.groups).values().map(|g| g.queue.len()).sum()
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Stops accepting, closes every connection and ends the driver.
    pub fn close(&self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// The future that accepts and serves connections; spawn it.
#[must_use = "the slave does nothing unless its driver is spawned or awaited"]
pub struct SlaveDriver {
    fut: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for SlaveDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlaveDriver")
    }
}

impl Future for SlaveDriver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.fut.as_mut().poll(cx)
    }
}

/// Serves plain TCP connections from `listener`.
pub fn serve(listener: TcpListener, cfg: SlaveConfig, handler: impl CommandHandler) -> (Slave, SlaveDriver) {
    serve_with(listener, Tcp, cfg, handler)
}

/// Serves connections from `listener` through `acceptor` (for example
/// [`crate::transport::TlsAcceptor`]).
pub fn serve_with<A: Acceptor>(
    listener: TcpListener,
    acceptor: A,
    cfg: SlaveConfig,
    handler: impl CommandHandler,
) -> (Slave, SlaveDriver) {
    let groups: HashMap<u64, Group> = match &cfg.redundancy {
        Redundancy::SingleGroup => HashMap::from([(0, Group::new(None, None))]),
        Redundancy::ConnectionIsGroup => HashMap::new(),
        Redundancy::Groups(lists) => lists
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64, Group::new(if l.is_empty() { None } else { Some(l.clone()) }, None)))
            .collect(),
    };
    let (shutdown, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        cfg,
        db: Mutex::new(BTreeMap::new()),
        groups: Mutex::new(groups),
        dropped: AtomicU64::new(0),
        connections: AtomicUsize::new(0),
        handler: Box::new(handler),
        shutdown,
    });
    let local_addr = listener.local_addr().ok();
    let fut = conn::accept_loop(listener, Arc::new(acceptor), shared.clone());
    (Slave { shared, local_addr }, SlaveDriver { fut: Box::pin(fut) })
}
