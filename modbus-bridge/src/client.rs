//! A device: a pool of connections to one Modbus endpoint (TCP, RTU framing over TCP, or RTU on
//! a serial port with the `serial` feature) with
//! timeouts, idle timeout, connect delay and reconnects with capped backoff, none of which
//! tokio-modbus has built in. Requests to different devices run concurrently; the requests of
//! one device share its connections in arrival order (tokio's semaphore is fair), so a device
//! with one connection (a serial bus) is a fair FIFO queue. Unit ids are set per request.

use crate::error::{Error, Result};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_modbus::client::{Client as _, Context};
use tokio_modbus::slave::SlaveContext as _;
use tokio_modbus::{ExceptionCode, Request, Response, Slave};

/// How to reach a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Modbus TCP (MBAP framing).
    Tcp(SocketAddr),
    /// RTU framing (with CRC) over a TCP connection, as serial-to-Ethernet gateways speak it.
    RtuOverTcp(SocketAddr),
    /// Modbus TCP inside TLS (Modbus/TCP Security, port 802 by convention), feature `tls`.
    #[cfg(feature = "tls")]
    Tls(SocketAddr, crate::tls::Tls),
    /// RTU on a serial port (8 data bits, no parity, 1 stop bit). Use one connection: the
    /// requests of every unit on the line then queue fairly.
    #[cfg(feature = "serial")]
    Rtu {
        /// The port (`/dev/ttyUSB0`, a pseudo-terminal, ...).
        path: String,
        /// Baud rate.
        baud_rate: u32,
    },
}

impl Transport {
    fn describe(&self) -> String {
        match self {
            Transport::Tcp(a) | Transport::RtuOverTcp(a) => a.to_string(),
            #[cfg(feature = "tls")]
            Transport::Tls(a, _) => a.to_string(),
            #[cfg(feature = "serial")]
            Transport::Rtu { path, .. } => path.clone(),
        }
    }
}

/// A device's settings (the upstream `ModbusClientConf` and pool size).
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Where it is.
    pub transport: Transport,
    /// Default unit id (slave) for requests that name none.
    pub unit: u8,
    /// Connections at most (upstream `ModbusPool`, 32). Use 1 for a serial line behind a
    /// gateway: its requests then queue fairly.
    pub connections: usize,
    /// Answer timeout per request (upstream 10 s).
    pub timeout: Duration,
    /// A connection unused this long is closed (upstream 60 s).
    pub idle_timeout: Duration,
    /// Pause after connecting before the first request (upstream 100 ms).
    pub connect_delay: Duration,
    /// First reconnect backoff after a failed connect (upstream link recovery 3 s)...
    pub backoff: Duration,
    /// ...doubling up to this.
    pub max_backoff: Duration,
}

impl DeviceConfig {
    /// Upstream defaults for `transport`.
    pub fn new(transport: Transport) -> DeviceConfig {
        DeviceConfig {
            transport,
            unit: 1,
            connections: 32,
            timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            connect_delay: Duration::from_millis(100),
            backoff: Duration::from_secs(3),
            max_backoff: Duration::from_secs(60),
        }
    }
}

struct Conn {
    ctx: Context,
    /// When its last request started.
    last_used: tokio::time::Instant,
    /// The answer timeout, re-armed for each request: pushing a registered timer later is one
    /// atomic update, while a fresh timer per request is registered with and removed from the
    /// timer wheel each time (a measurable share of a loopback round trip).
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

#[derive(Default)]
struct State {
    /// Requests answered (data or an exception), and failed (unreachable, timeout, transport).
    answered: u64,
    failed: u64,
    last_error: Option<String>,
    idle: Vec<Conn>,
    /// No connect before this (backoff after a failed one), and the failure.
    down_until: Option<(Instant, String)>,
    backoff: Option<Duration>,
}

/// A device's pool at a moment ([`Device::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// The device (transport and address).
    pub device: String,
    /// Connections it may hold.
    pub connections: usize,
    /// Requests in flight.
    pub busy: usize,
    /// Open connections waiting for a request.
    pub idle: usize,
    /// Requests answered (data or an exception).
    pub answered: u64,
    /// Requests failed (unreachable, timeout, transport, protocol).
    pub failed: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// How long the next connect still waits after a failed one.
    pub down_for: Option<Duration>,
}

/// One Modbus endpoint; cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct Device {
    cfg: Arc<DeviceConfig>,
    permits: Arc<Semaphore>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("transport", &self.cfg.transport).finish()
    }
}

/// A device's answer: data, or the exception it answered with.
pub type Answer<T> = Result<std::result::Result<T, ExceptionCode>>;

/// Device identification objects (FC 43/14): id and raw value.
pub type Identification = Vec<(u8, Vec<u8>)>;

/// The upstream name of a device identification object.
pub fn object_name(id: u8) -> String {
    match id {
        0x00 => "VendorName".into(),
        0x01 => "ProductCode".into(),
        0x02 => "MajorMinorRevision".into(),
        0x03 => "VendorURL".into(),
        0x04 => "ProductName".into(),
        0x05 => "ModelName".into(),
        0x06 => "UserApplicationName".into(),
        x => format!("Object_0x{x:02X}"),
    }
}

fn range(what: &str, n: usize, max: usize) -> Result<u16> {
    if n == 0 || n > max {
        return Err(Error::InvalidArgument(format!("{what}: 1..={max}, got {n}")));
    }
    Ok(n as u16)
}

fn span(addr: u16, n: u16) -> Result<()> {
    if u32::from(addr) + u32::from(n) > 0x1_0000 {
        return Err(Error::InvalidArgument(format!("address {addr} + quantity {n} passes 65535")));
    }
    Ok(())
}

impl Device {
    /// A device; nothing connects until the first request.
    pub fn new(cfg: DeviceConfig) -> Device {
        let n = cfg.connections.max(1);
        Device { cfg: Arc::new(cfg), permits: Arc::new(Semaphore::new(n)), state: Arc::default() }
    }

    /// Its settings.
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn tcp(&self, addr: SocketAddr) -> Result<tokio::net::TcpStream> {
        match tokio::time::timeout(self.cfg.timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed(format!("connect timed out after {:?}", self.cfg.timeout))),
        }
    }

    async fn connect(&self) -> Result<Conn> {
        let now = Instant::now();
        let down = self.lock().down_until.clone();
        if let Some((until, why)) = down {
            if now < until {
                return Err(self.count(Error::Unreachable { device: self.cfg.transport.describe(), reason: why }));
            }
        }
        let unit = Slave(self.cfg.unit);
        let ctx = match &self.cfg.transport {
            Transport::Tcp(a) => tokio_modbus::client::tcp::attach_slave(self.tcp(*a).await?, unit),
            Transport::RtuOverTcp(a) => tokio_modbus::client::rtu::attach_slave(self.tcp(*a).await?, unit),
            #[cfg(feature = "tls")]
            Transport::Tls(a, tls) => {
                let tcp = self.tcp(*a).await?;
                let s = match tokio::time::timeout(self.cfg.timeout, tls.handshake(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Err(self.failed(format!("TLS: {e}"))),
                    Err(_) => return Err(self.failed(format!("TLS handshake timed out after {:?}", self.cfg.timeout))),
                };
                tokio_modbus::client::tcp::attach_slave(s, unit)
            }
            #[cfg(feature = "serial")]
            Transport::Rtu { path, baud_rate } => {
                use tokio_serial::SerialPortBuilderExt as _;
                let port = tokio_serial::new(path, *baud_rate)
                    .timeout(self.cfg.timeout)
                    .open_native_async()
                    .map_err(|e| self.failed(e.to_string()))?;
                tokio_modbus::client::rtu::attach_slave(port, unit)
            }
        };
        {
            let mut s = self.lock();
            s.down_until = None;
            s.backoff = None;
        }
        if !self.cfg.connect_delay.is_zero() {
            tokio::time::sleep(self.cfg.connect_delay).await;
        }
        tracing::debug!(device = %self.cfg.transport.describe(), "connected");
        Ok(Conn {
            ctx,
            last_used: tokio::time::Instant::now(),
            deadline: Box::pin(tokio::time::sleep(self.cfg.timeout)),
        })
    }

    /// Records a failed connect and starts (or doubles) the backoff.
    fn failed(&self, why: String) -> Error {
        let mut s = self.lock();
        s.failed += 1;
        s.last_error = Some(why.clone());
        let b = s.backoff.map_or(self.cfg.backoff, |b| (b * 2).min(self.cfg.max_backoff));
        s.backoff = Some(b);
        s.down_until = Some((Instant::now() + b, why.clone()));
        tracing::warn!(device = %self.cfg.transport.describe(), backoff = ?b, error = %why, "connect failed");
        Error::Unreachable { device: self.cfg.transport.describe(), reason: why }
    }

    /// Sends one request to unit `unit` (None: the configured one) and waits for its answer.
    ///
    /// # Errors
    /// [`Error::Unreachable`], [`Error::Timeout`], [`Error::Transport`], [`Error::Protocol`];
    /// after the last three the connection is closed and the next request makes a new one.
    pub async fn call(&self, unit: Option<u8>, req: Request<'static>) -> Answer<Response> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Protocol("device closed".into()))?;
        // one clock read per request: the idle check, the deadline and the connection's
        // last use (its start) all come from it
        let now = tokio::time::Instant::now();
        let pooled = {
            // the most recently used connection first; older ones past the idle timeout go
            let fresh = |c: &Conn| now.duration_since(c.last_used) < self.cfg.idle_timeout;
            let mut s = self.lock();
            let mut found = None;
            while let Some(c) = s.idle.pop() {
                if fresh(&c) {
                    found = Some(c);
                    break;
                }
            }
            if found.is_some() && s.idle.first().is_some_and(|c| !fresh(c)) {
                s.idle.retain(fresh);
            }
            found
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().await?,
        };
        conn.ctx.set_slave(Slave(unit.unwrap_or(self.cfg.unit)));
        conn.deadline.as_mut().reset(now + self.cfg.timeout);
        let r = tokio::select! {
            biased;
            r = conn.ctx.call(req) => Ok(r),
            () = conn.deadline.as_mut() => Err(()),
        };
        match r {
            Ok(Ok(answer)) => {
                conn.last_used = now;
                let mut s = self.lock();
                s.answered += 1;
                s.idle.push(conn);
                Ok(answer)
            }
            // the connection's state is unknown after these: it is dropped
            Ok(Err(tokio_modbus::Error::Transport(e))) => Err(self.count(Error::Transport(e))),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(self.count(Error::Protocol(e.to_string()))),
            Err(_) => Err(self.count(Error::Timeout(self.cfg.timeout))),
        }
    }

    /// Counts a failed request.
    fn count(&self, e: Error) -> Error {
        let mut s = self.lock();
        s.failed += 1;
        s.last_error = Some(e.to_string());
        e
    }

    /// The pool now: connections in use and idle, requests answered and failed, the last
    /// failure, and how long connecting waits (backoff after a failed connect).
    pub fn stats(&self) -> PoolStats {
        let s = self.lock();
        let now = Instant::now();
        PoolStats {
            device: self.cfg.transport.describe(),
            connections: self.cfg.connections.max(1),
            busy: self.cfg.connections.max(1).saturating_sub(self.permits.available_permits()),
            idle: s.idle.len(),
            answered: s.answered,
            failed: s.failed,
            last_error: s.last_error.clone(),
            down_for: s.down_until.as_ref().and_then(|(until, _)| until.checked_duration_since(now)),
        }
    }

    /// FC 1: `quantity` coils from `addr`.
    ///
    /// # Errors
    /// As [`Device::call`]; [`Error::InvalidArgument`] for a quantity outside 1..=2000.
    pub async fn read_coils(&self, unit: Option<u8>, addr: u16, quantity: usize) -> Answer<Vec<bool>> {
        let n = range("quantity", quantity, 2000)?;
        span(addr, n)?;
        Ok(self.call(unit, Request::ReadCoils(addr, n)).await?.map(|r| match r {
            Response::ReadCoils(mut v) => {
                v.truncate(quantity);
                v
            }
            _ => vec![],
        }))
    }

    /// FC 2: `quantity` discrete inputs from `addr`.
    ///
    /// # Errors
    /// As [`Device::read_coils`].
    pub async fn read_discrete_inputs(&self, unit: Option<u8>, addr: u16, quantity: usize) -> Answer<Vec<bool>> {
        let n = range("quantity", quantity, 2000)?;
        span(addr, n)?;
        Ok(self.call(unit, Request::ReadDiscreteInputs(addr, n)).await?.map(|r| match r {
            Response::ReadDiscreteInputs(mut v) => {
                v.truncate(quantity);
                v
            }
            _ => vec![],
        }))
    }

    /// FC 3: `quantity` holding registers from `addr`.
    ///
    /// # Errors
    /// As [`Device::call`]; [`Error::InvalidArgument`] for a quantity outside 1..=125.
    pub async fn read_holding_registers(&self, unit: Option<u8>, addr: u16, quantity: usize) -> Answer<Vec<u16>> {
        let n = range("quantity", quantity, 125)?;
        span(addr, n)?;
        Ok(self.call(unit, Request::ReadHoldingRegisters(addr, n)).await?.map(|r| match r {
            Response::ReadHoldingRegisters(v) => v,
            _ => vec![],
        }))
    }

    /// FC 4: `quantity` input registers from `addr`.
    ///
    /// # Errors
    /// As [`Device::read_holding_registers`].
    pub async fn read_input_registers(&self, unit: Option<u8>, addr: u16, quantity: usize) -> Answer<Vec<u16>> {
        let n = range("quantity", quantity, 125)?;
        span(addr, n)?;
        Ok(self.call(unit, Request::ReadInputRegisters(addr, n)).await?.map(|r| match r {
            Response::ReadInputRegisters(v) => v,
            _ => vec![],
        }))
    }

    /// FC 5: one coil.
    ///
    /// # Errors
    /// As [`Device::call`].
    pub async fn write_single_coil(&self, unit: Option<u8>, addr: u16, on: bool) -> Answer<()> {
        Ok(self.call(unit, Request::WriteSingleCoil(addr, on)).await?.map(|_| ()))
    }

    /// FC 6: one register.
    ///
    /// # Errors
    /// As [`Device::call`].
    pub async fn write_single_register(&self, unit: Option<u8>, addr: u16, value: u16) -> Answer<()> {
        Ok(self.call(unit, Request::WriteSingleRegister(addr, value)).await?.map(|_| ()))
    }

    /// FC 15: coils from `addr`.
    ///
    /// # Errors
    /// As [`Device::call`]; [`Error::InvalidArgument`] for 0 or more than 1968 coils.
    pub async fn write_multiple_coils(&self, unit: Option<u8>, addr: u16, values: Vec<bool>) -> Answer<()> {
        let n = range("coils", values.len(), 1968)?;
        span(addr, n)?;
        Ok(self.call(unit, Request::WriteMultipleCoils(addr, values.into())).await?.map(|_| ()))
    }

    /// FC 16: registers from `addr`.
    ///
    /// # Errors
    /// As [`Device::call`]; [`Error::InvalidArgument`] for 0 or more than 123 registers.
    pub async fn write_multiple_registers(&self, unit: Option<u8>, addr: u16, values: Vec<u16>) -> Answer<()> {
        let n = range("registers", values.len(), 123)?;
        span(addr, n)?;
        Ok(self.call(unit, Request::WriteMultipleRegisters(addr, values.into())).await?.map(|_| ()))
    }

    /// FC 22: `register = (register & and_mask) | (or_mask & !and_mask)`.
    ///
    /// # Errors
    /// As [`Device::call`].
    pub async fn mask_write_register(&self, unit: Option<u8>, addr: u16, and_mask: u16, or_mask: u16) -> Answer<()> {
        Ok(self.call(unit, Request::MaskWriteRegister(addr, and_mask, or_mask)).await?.map(|_| ()))
    }

    /// FC 23: writes `values` at `write_addr`, then reads `read_quantity` registers at `read_addr`.
    ///
    /// # Errors
    /// As [`Device::call`]; [`Error::InvalidArgument`] for a read outside 1..=125 or a write
    /// outside 1..=121 registers.
    pub async fn read_write_multiple_registers(
        &self,
        unit: Option<u8>,
        read_addr: u16,
        read_quantity: usize,
        write_addr: u16,
        values: Vec<u16>,
    ) -> Answer<Vec<u16>> {
        let r = range("read quantity", read_quantity, 125)?;
        let w = range("write quantity", values.len(), 121)?;
        span(read_addr, r)?;
        span(write_addr, w)?;
        Ok(self.call(unit, Request::ReadWriteMultipleRegisters(read_addr, r, write_addr, values.into())).await?.map(
            |x| match x {
                Response::ReadWriteMultipleRegisters(v) => v,
                _ => vec![],
            },
        ))
    }

    /// FC 24: the FIFO queue behind `addr` (at most 31 registers).
    ///
    /// # Errors
    /// As [`Device::call`]; [`Error::Protocol`] for a malformed answer.
    pub async fn read_fifo_queue(&self, unit: Option<u8>, addr: u16) -> Answer<Vec<u16>> {
        let req = Request::Custom(0x18, addr.to_be_bytes().to_vec().into());
        match self.call(unit, req).await? {
            Ok(Response::Custom(0x18, b)) => {
                // byte count (2), FIFO count (2), then the registers
                if b.len() < 4 {
                    return Err(Error::Protocol(format!("FIFO answer of {} bytes", b.len())));
                }
                let count = usize::from(u16::from_be_bytes([b[2], b[3]]));
                if count > 31 || b.len() < 4 + 2 * count {
                    return Err(Error::Protocol(format!("FIFO answer: {count} registers in {} bytes", b.len())));
                }
                Ok(Ok(b[4..4 + 2 * count].chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()))
            }
            Ok(other) => Err(Error::Protocol(format!("unexpected answer to FC 24: {other:?}"))),
            Err(e) => Ok(Err(e)),
        }
    }

    /// FC 43/14: device identification. `code` 1 basic, 2 regular, 3 extended (stream access,
    /// following "more follows" until done), 4 one specific `object_id`.
    ///
    /// # Errors
    /// As [`Device::call`]; [`Error::InvalidArgument`] for another code.
    pub async fn read_device_identification(
        &self,
        unit: Option<u8>,
        code: u8,
        object_id: u8,
    ) -> Answer<Identification> {
        use tokio_modbus::prelude::ReadCode;
        let read_code = match code {
            1 => ReadCode::Basic,
            2 => ReadCode::Regular,
            3 => ReadCode::Extended,
            4 => ReadCode::Specific,
            x => return Err(Error::InvalidArgument(format!("read_device_id_code {x}: 1..=4"))),
        };
        let mut out = Identification::new();
        let mut next = if code == 4 { object_id } else { 0 };
        for _ in 0..256 {
            match self.call(unit, Request::ReadDeviceIdentification(read_code, next)).await? {
                Ok(Response::ReadDeviceIdentification(r)) => {
                    out.extend(r.device_id_objects.into_iter().map(|o| (o.id, o.value.to_vec())));
                    if code == 4 || !r.more_follows || r.next_object_id <= next {
                        break;
                    }
                    next = r.next_object_id;
                }
                Ok(other) => return Err(Error::Protocol(format!("unexpected answer to FC 43: {other:?}"))),
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(out))
    }
}
