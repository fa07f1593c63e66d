//! Points, encoding of monitored points, and the asyncio master and slave (the crate's tokio
//! drivers on pyo3-async-runtimes' runtime; every coroutine is awaitable from asyncio).

use crate::{params, CommandError, EncodeError, Iec104Error, Iec104Timeout, LinkError};
use iec104::asdu::{Cause, Nva, OwnedAsdu};
use iec104::master::{CommandMode, CommandValue, Event, Events, MasterConfig};
use iec104::point::{encode_points as encode_body, Point as P, PointValue, TimeTag};
use iec104::slave::{Command, CommandHandler, PointConfig, SlaveConfig};
use iec104::types::{CommonAddress, Cot, Cp56Time2a, DoublePoint, Ioa, Qds, TypeId};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
enum Val {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl<'py> IntoPyObject<'py> for Val {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = std::convert::Infallible;
    fn into_pyobject(self, py: Python<'py>) -> Result<Bound<'py, PyAny>, Self::Error> {
        Ok(match self {
            Val::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
            Val::Int(i) => i.into_pyobject(py)?.into_any(),
            Val::Float(f) => f.into_pyobject(py)?.into_any(),
        })
    }
}

fn val(v: &PointValue) -> Val {
    match *v {
        PointValue::Single(b) => Val::Bool(b),
        PointValue::Double(d) => Val::Int(i64::from(d as u8)),
        PointValue::Step { value, .. } => Val::Int(i64::from(value)),
        PointValue::Bitstring(b) => Val::Int(i64::from(b)),
        PointValue::Scaled(s) => Val::Int(i64::from(s)),
        PointValue::Counter(c) => Val::Int(i64::from(c.value)),
        PointValue::Normalized(n) => Val::Float(f64::from(n.to_f32())),
        PointValue::Float(f) => Val::Float(f64::from(f)),
        ref other => Val::Float(iec104::columns::point_value(other)),
    }
}

/// One monitored point as received (or held by a slave).
#[pyclass(frozen, module = "zero104")]
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// Common address of its ASDU.
    #[pyo3(get)]
    common_address: u16,
    /// Information object address.
    #[pyo3(get)]
    ioa: u32,
    /// Type identification it came as.
    #[pyo3(get)]
    type_id: u8,
    /// Cause of transmission.
    #[pyo3(get)]
    cot: u8,
    v: Val,
    /// Quality bits (QDS layout: OV 0x01, BL 0x10, SB 0x20, NT 0x40, IV 0x80).
    #[pyo3(get)]
    quality: u8,
    /// CP56Time2a time tag as ms since the epoch (UTC), or None.
    #[pyo3(get)]
    time_ms: Option<i64>,
}

#[pymethods]
impl Point {
    /// bool for single points; int for double points, steps, bitstrings, scaled values and
    /// counters; float for normalised (a fraction) and float values.
    #[getter]
    fn value(&self) -> Val {
        self.v
    }

    fn __repr__(&self) -> String {
        let v = match self.v {
            Val::Bool(b) => {
                if b {
                    "True".to_owned()
                } else {
                    "False".to_owned()
                }
            }
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format!("{f:?}"),
        };
        format!(
            "Point(common_address={}, ioa={}, type_id={}, cot={}, value={v}, quality={}, time_ms={:?})",
            self.common_address, self.ioa, self.type_id, self.cot, self.quality, self.time_ms
        )
    }
}

impl Point {
    fn of(ca: u16, type_id: u8, cot: u8, p: &P) -> Point {
        Point {
            common_address: ca,
            ioa: p.ioa.get(),
            type_id,
            cot,
            v: val(&p.value),
            quality: p.quality.0,
            time_ms: match p.time {
                TimeTag::Cp56(t) if !t.invalid() => Some(t.to_unix_millis()),
                _ => None,
            },
        }
    }
}

fn ioa(v: u32) -> PyResult<Ioa> {
    Ioa::new(v).ok_or_else(|| PyValueError::new_err(format!("ioa {v}: 0..=16777215")))
}

/// The point value of `kind` from a Python value.
fn point_value(kind: &str, v: &Bound<'_, PyAny>) -> PyResult<PointValue> {
    let int = |lo: i64, hi: i64| -> PyResult<i64> {
        let x: i64 = v.extract()?;
        if x < lo || x > hi {
            return Err(PyValueError::new_err(format!("{kind} value {x}: {lo}..={hi}")));
        }
        Ok(x)
    };
    Ok(match kind {
        "single" => PointValue::Single(v.extract()?),
        "double" => PointValue::Double(DoublePoint::from_bits(int(0, 3)? as u8)),
        "step" => PointValue::Step { value: int(-64, 63)? as i8, transient: false },
        "bitstring" => PointValue::Bitstring(int(0, i64::from(u32::MAX))? as u32),
        "normalized" => PointValue::Normalized(Nva::from_f32(v.extract::<f32>()?)),
        "scaled" => PointValue::Scaled(int(-32768, 32767)? as i16),
        "float" => PointValue::Float(v.extract()?),
        "counter" => PointValue::Counter(iec104::asdu::Bcr::new(
            int(i64::from(i32::MIN), i64::from(i32::MAX))? as i32,
            0,
            false,
            false,
            false,
        )),
        k => {
            return Err(PyValueError::new_err(format!(
                "kind {k:?}: single, double, step, bitstring, normalized, scaled, float or counter"
            )))
        }
    })
}

/// The point kind a monitor type identification carries.
fn kind_of(type_id: u8) -> PyResult<&'static str> {
    use iec104::types::{Family as F, TypeId};
    let t = TypeId(type_id);
    Ok(match t.family().filter(|_| t.is_monitor_point()) {
        Some(F::Single) => "single",
        Some(F::Double) => "double",
        Some(F::Step) => "step",
        Some(F::Bitstring) => "bitstring",
        Some(F::Normalized) => "normalized",
        Some(F::Scaled) => "scaled",
        Some(F::Float) => "float",
        Some(F::IntegratedTotals) => "counter",
        _ => {
            let t = type_id;
            return Err(EncodeError::new_err(format!(
                "type {t}: encode_points takes the monitor types 1-16, 21, 30-37 (use encode_asdu for the others)"
            )));
        }
    })
}

fn make_point(kind: &str, ioa_v: u32, v: &Bound<'_, PyAny>, quality: u8, time_ms: Option<i64>) -> PyResult<P> {
    let value = match point_value(kind, v)? {
        // a counter carries its own IV bit
        PointValue::Counter(c) => {
            PointValue::Counter(iec104::asdu::Bcr::new(c.value, 0, false, false, quality & 0x80 != 0))
        }
        other => other,
    };
    Ok(P {
        ioa: ioa(ioa_v)?,
        value,
        quality: Qds(quality),
        time: time_ms.map_or(TimeTag::None, |ms| TimeTag::Cp56(Cp56Time2a::from_unix_millis(ms))),
    })
}

/// encode_points(type_id, points, *, common_address=1, cot=3, originator=0, test=False,
/// negative=False, cot_size=2, ca_size=2, ioa_size=3) -> bytes
///
/// One ASDU of monitored points; each point is `(ioa, value)`, `(ioa, value, quality)` or
/// `(ioa, value, quality, time_ms)`. Types without a time tag drop the time; a time-tagged
/// type sends a point given without one with its time marked invalid (IV).
#[pyfunction]
#[pyo3(signature = (type_id, points, *, common_address=1, cot=3, originator=0, test=false, negative=false, cot_size=2, ca_size=2, ioa_size=3))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_points<'py>(
    py: Python<'py>,
    type_id: u8,
    points: Vec<Bound<'py, PyAny>>,
    common_address: u16,
    cot: u8,
    originator: u8,
    test: bool,
    negative: bool,
    cot_size: u8,
    ca_size: u8,
    ioa_size: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    let p = params(cot_size, ca_size, ioa_size)?;
    let kind = kind_of(type_id)?;
    let mut pts = Vec::with_capacity(points.len());
    for t in &points {
        let n = t.len()?;
        if !(2..=4).contains(&n) {
            return Err(PyValueError::new_err("a point is (ioa, value[, quality[, time_ms]])"));
        }
        let q: u8 = if n > 2 { t.get_item(2)?.extract()? } else { 0 };
        let tm: Option<i64> = if n > 3 { t.get_item(3)?.extract()? } else { None };
        pts.push(make_point(kind, t.get_item(0)?.extract()?, &t.get_item(1)?, q, tm)?);
    }
    let body = encode_body(TypeId(type_id), pts.iter()).map_err(|e| EncodeError::new_err(e.to_string()))?;
    let mut cause = Cause::new(Cot(cot));
    cause.originator = originator;
    cause.test = test;
    cause.negative = negative;
    let asdu = OwnedAsdu { cause, common_address: CommonAddress(common_address), body };
    let mut out = bytes::BytesMut::new();
    asdu.encode(&p, &mut out).map_err(|e| EncodeError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

fn link_err(e: iec104::Error) -> PyErr {
    match e {
        iec104::Error::Timeout(w) => Iec104Timeout::new_err(format!("timed out waiting for {w}")),
        e
        @ (iec104::Error::NotConnected | iec104::Error::Closed(_) | iec104::Error::Io(_) | iec104::Error::Stopped) => {
            LinkError::new_err(e.to_string())
        }
        e => Iec104Error::new_err(e.to_string()),
    }
}

fn secs(s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| PyValueError::new_err(format!("{s}: a duration in seconds")))
}

struct Inbox {
    events: Events,
    queue: VecDeque<Point>,
    closed: bool,
}

/// The native master; use `zero104.Master` (an async context manager and iterator).
#[pyclass(module = "zero104")]
pub(crate) struct Master {
    m: iec104::master::Master,
    inbox: Arc<tokio::sync::Mutex<Inbox>>,
    ca: u16,
}

fn outcome(what: &str, o: iec104::master::CommandOutcome) -> PyResult<()> {
    if o.is_positive() {
        Ok(())
    } else {
        Err(CommandError::new_err(format!(
            "{what}: the station answered {:?}{}{}",
            o.confirmation.cot,
            if o.confirmation.negative { " (negative)" } else { "" },
            match o.termination {
                Some(t) if t.negative => ", negative termination",
                _ => "",
            }
        )))
    }
}

#[pymethods]
impl Master {
    /// connect(addresses, *, common_address=1, interrogate=True, timeout=10.0, reconnect=True,
    /// command_timeout=10.0, cot_size=2, ca_size=2, ioa_size=3) -> awaitable Master
    #[staticmethod]
    #[pyo3(signature = (addresses, *, common_address=1, interrogate=true, timeout=10.0, reconnect=true, command_timeout=10.0, cot_size=2, ca_size=2, ioa_size=3))]
    #[allow(clippy::too_many_arguments)]
    fn connect<'py>(
        py: Python<'py>,
        addresses: Vec<String>,
        common_address: u16,
        interrogate: bool,
        timeout: f64,
        reconnect: bool,
        command_timeout: f64,
        cot_size: u8,
        ca_size: u8,
        ioa_size: u8,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cfg = MasterConfig {
            addresses,
            asdu: params(cot_size, ca_size, ioa_size)?,
            reconnect,
            command_timeout: secs(command_timeout)?,
            ..MasterConfig::default()
        };
        cfg.validate().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let timeout = secs(timeout)?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let (m, events, driver) = iec104::master::connect(cfg).map_err(link_err)?;
            tokio::spawn(driver);
            match tokio::time::timeout(timeout, m.wait_started()).await {
                Ok(r) => r.map_err(link_err)?,
                Err(_) => {
                    m.close().await;
                    return Err(Iec104Timeout::new_err(format!("no started link within {timeout:?}")));
                }
            }
            if interrogate {
                let o = m.general_interrogation(CommonAddress(common_address)).await.map_err(link_err)?;
                outcome("general interrogation", o)?;
            }
            let inbox = Inbox { events, queue: VecDeque::new(), closed: false };
            Ok(Master { m, inbox: Arc::new(tokio::sync::Mutex::new(inbox)), ca: common_address })
        })
    }

    /// next_point(timeout=None) -> awaitable Point | None: the next point received; None when
    /// the link is closed for good (or the timeout passed).
    #[pyo3(signature = (timeout=None))]
    fn next_point<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let inbox = self.inbox.clone();
        let timeout = timeout.map(secs).transpose()?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut ib = inbox.lock().await;
            let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
            loop {
                if let Some(p) = ib.queue.pop_front() {
                    return Ok(Some(p));
                }
                if ib.closed {
                    return Ok(None);
                }
                let ev = match deadline {
                    Some(d) => match tokio::time::timeout_at(d, ib.events.recv()).await {
                        Ok(e) => e,
                        Err(_) => return Ok(None),
                    },
                    None => ib.events.recv().await,
                };
                match ev {
                    Some(Event::Data(du)) => {
                        let (ca, tid, cot) = (du.common_address.0, du.type_id.0, du.cause.cot.0);
                        ib.queue.extend(du.points.iter().map(|p| Point::of(ca, tid, cot, p)));
                    }
                    Some(Event::State(iec104::master::ConnectionState::Stopped)) | None => ib.closed = true,
                    Some(_) => {}
                }
            }
        })
    }

    /// interrogate(common_address=None) -> awaitable: a general interrogation, awaited until
    /// confirmed and terminated (CommandError when refused).
    #[pyo3(signature = (common_address=None))]
    fn interrogate<'py>(&self, py: Python<'py>, common_address: Option<u16>) -> PyResult<Bound<'py, PyAny>> {
        let (m, ca) = (self.m.clone(), common_address.unwrap_or(self.ca));
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let o = m.general_interrogation(CommonAddress(ca)).await.map_err(link_err)?;
            outcome("general interrogation", o)
        })
    }

    /// command(ioa, value, kind="single", *, select=False, common_address=None, time_ms=None,
    /// wait_termination=False, qualifier=0) -> awaitable: a control command, awaited until the
    /// station confirms it (CommandError when refused). Kinds: single (bool), double (1 off,
    /// 2 on), step (1 lower, 2 higher), normalized (float), scaled (int), float, bitstring (int).
    #[pyo3(signature = (ioa_v, value, kind="single", *, select=false, common_address=None, time_ms=None, wait_termination=false, qualifier=0))]
    #[allow(clippy::too_many_arguments)]
    fn command<'py>(
        &self,
        py: Python<'py>,
        ioa_v: u32,
        value: &Bound<'py, PyAny>,
        kind: &str,
        select: bool,
        common_address: Option<u16>,
        time_ms: Option<i64>,
        wait_termination: bool,
        qualifier: u8,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cv = match kind {
            "single" => CommandValue::Single { on: value.extract()?, qu: qualifier },
            "double" => CommandValue::Double { state: value.extract()?, qu: qualifier },
            "step" => CommandValue::Step { state: value.extract()?, qu: qualifier },
            "normalized" => CommandValue::Normalized(Nva::from_f32(value.extract()?)),
            "scaled" => CommandValue::Scaled(value.extract()?),
            "float" => CommandValue::Float(value.extract()?),
            "bitstring" => CommandValue::Bitstring(value.extract()?),
            k => return Err(PyValueError::new_err(format!("command kind {k:?}"))),
        };
        let (m, ca, ioa) = (self.m.clone(), common_address.unwrap_or(self.ca), ioa(ioa_v)?);
        let mode = if select { CommandMode::SelectBeforeOperate } else { CommandMode::Direct };
        let time = time_ms.map(Cp56Time2a::from_unix_millis);
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let o = m.command(CommonAddress(ca), ioa, cv, mode, time, wait_termination).await.map_err(link_err)?;
            outcome("command", o)
        })
    }

    /// close() -> awaitable: STOPDT, then the connection is closed.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = self.m.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            m.close().await;
            Ok(())
        })
    }
}

/// A command a slave received: common address, IOA, type id, select, value.
type SeenCommand = (u16, u32, u8, bool, String);

#[derive(Default)]
struct Recorder {
    accept: bool,
    refuse: std::collections::HashSet<u32>,
    seen: Mutex<Vec<SeenCommand>>,
}

struct Rec(Arc<Recorder>);

impl CommandHandler for Rec {
    fn command(&self, c: &Command) -> bool {
        if let Ok(mut s) = self.0.seen.lock() {
            s.push((c.common_address.0, c.ioa.get(), c.type_id.0, c.select, format!("{:?}", c.value)));
        }
        self.0.accept && !self.0.refuse.contains(&c.ioa.get())
    }
}

/// The native slave (a station simulator for tests); use `zero104.Slave`.
#[pyclass(module = "zero104")]
pub(crate) struct Slave {
    s: iec104::slave::Slave,
    port: u16,
    ca: u16,
    rec: Arc<Recorder>,
}

#[pymethods]
impl Slave {
    /// start(host="127.0.0.1", port=0, *, common_address=1, accept_commands=True, refuse_ioas=())
    /// -> awaitable Slave. Commands are accepted when `accept_commands` and their IOA is not in
    /// `refuse_ioas`.
    #[staticmethod]
    #[pyo3(signature = (host="127.0.0.1".to_owned(), port=0, *, common_address=1, accept_commands=true, refuse_ioas=Vec::new()))]
    fn start(
        py: Python<'_>,
        host: String,
        port: u16,
        common_address: u16,
        accept_commands: bool,
        refuse_ioas: Vec<u32>,
    ) -> PyResult<Bound<'_, PyAny>> {
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let l = tokio::net::TcpListener::bind((host.as_str(), port))
                .await
                .map_err(|e| LinkError::new_err(format!("cannot listen on {host}:{port}: {e}")))?;
            let port = l.local_addr().map_err(|e| LinkError::new_err(e.to_string()))?.port();
            let rec = Arc::new(Recorder {
                accept: accept_commands,
                refuse: refuse_ioas.into_iter().collect(),
                seen: Mutex::default(),
            });
            let (s, driver) = iec104::slave::serve(l, SlaveConfig::default(), Rec(rec.clone()));
            tokio::spawn(driver);
            Ok(Slave { s, port, ca: common_address, rec })
        })
    }

    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// Masters connected now.
    fn connections(&self) -> usize {
        self.s.connections()
    }

    /// add_point(ioa, value, kind="float", *, quality=0, time_ms=None, common_address=None)
    #[pyo3(signature = (ioa_v, value, kind="float", *, quality=0, time_ms=None, common_address=None))]
    fn add_point(
        &self,
        ioa_v: u32,
        value: &Bound<'_, PyAny>,
        kind: &str,
        quality: u8,
        time_ms: Option<i64>,
        common_address: Option<u16>,
    ) -> PyResult<()> {
        let p = make_point(kind, ioa_v, value, quality, time_ms)?;
        self.s.add_point(CommonAddress(common_address.unwrap_or(self.ca)), PointConfig::new(p));
        Ok(())
    }

    /// update(ioa, value, kind="float", *, quality=0, time_ms=None, common_address=None) -> bool:
    /// a new value, sent spontaneously to connected masters (False: no such point).
    #[pyo3(signature = (ioa_v, value, kind="float", *, quality=0, time_ms=None, common_address=None))]
    fn update(
        &self,
        ioa_v: u32,
        value: &Bound<'_, PyAny>,
        kind: &str,
        quality: u8,
        time_ms: Option<i64>,
        common_address: Option<u16>,
    ) -> PyResult<bool> {
        let p = make_point(kind, ioa_v, value, quality, time_ms)?;
        Ok(self.s.update(CommonAddress(common_address.unwrap_or(self.ca)), p))
    }

    /// point(ioa, common_address=None) -> Point | None: the value held.
    #[pyo3(signature = (ioa_v, common_address=None))]
    fn point(&self, ioa_v: u32, common_address: Option<u16>) -> PyResult<Option<Point>> {
        let ca = common_address.unwrap_or(self.ca);
        Ok(self
            .s
            .point(CommonAddress(ca), ioa(ioa_v)?)
            .map(|p| Point::of(ca, p.type_id().0, Cot::INTERROGATED_BY_STATION.0, &p)))
    }

    /// commands() -> list of (common_address, ioa, type_id, select, value text) received.
    fn commands(&self) -> Vec<SeenCommand> {
        self.rec.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// close(): stops listening and drops the connections.
    fn close(&self) {
        self.s.close();
    }
}
