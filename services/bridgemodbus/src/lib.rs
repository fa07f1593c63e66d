//! # bridgemodbus (service)
//!
//! `bridgemodbus.BridgeModbus` on :25004 (spec §10): every Modbus function code the upstream
//! bridge serves, as gRPC, on [`modbus_bridge`] device pools; device settings in the
//! `modbus_slave_config` table (SQLite by default, PostgreSQL or MySQL); and a polling mode that
//! reads typed points and pushes them to streamevent (`PushChunkAsdu`).
//!
//! Every data RPC takes `modbus_code`: empty selects the configuration file's device
//! (`ModbusClientConf`), else the row with that code (its pool is made on first use, remade
//! when the row changes, dropped when it is deleted). Beyond upstream (TCP only): addresses may
//! name RTU framing over TCP (`rtuovertcp://host:port`) or a serial line
//! (`rtu:///dev/ttyUSB0?baud=9600`), and TLS really is applied (`enable_tls`).
//!
//! Errors (spec §0.2): bad arguments 101102/101103 (InvalidArgument) before anything is sent;
//! unknown code 102102 (NotFound); a disabled device 105102 (Aborted); a device's Modbus
//! exception 105101 (InvalidArgument class, the exception named in the message); device
//! unreachable or the link failing 106101 (Unavailable); no answer in time 100997
//! (DeadlineExceeded); database errors 102101.

pub mod poll;
pub mod store;

use modbus_bridge::client::{Device, DeviceConfig, Transport};
use modbus_bridge::value::{binary, decimal_to_register, hex, pack_bits, register_bytes};
use modbus_bridge::{Error as MbError, ExceptionCode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};
use zero_svc::errcode::status;

/// The generated protocol (`package bridgemodbus`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("bridgemodbus");

    /// Encoded descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bridgemodbus_descriptor.bin"));
}

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/bridgemodbus.yaml");

/// Configuration (see `etc/bridgemodbus.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Connections per device pool.
    pub modbus_pool: usize,
    /// The default device.
    pub modbus_client_conf: ClientConf,
    /// Where device rows live.
    #[serde(rename = "DB")]
    pub db: DbCfg,
    /// How long a device row read from DB is trusted before checking it again (ms).
    pub config_refresh_millis: u64,
    /// streamevent, which receives polled points.
    pub stream_event_conf: StreamEventConf,
    /// Polling groups.
    pub poll: Vec<poll::Group>,
}

/// `ModbusClientConf`: a device's link settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ClientConf {
    /// `host:port`, `tcp://…`, `rtuovertcp://…` or `rtu://path?baud=N`.
    pub address: String,
    /// Unit id.
    pub slave: u8,
    /// Answer timeout (ms).
    pub timeout: u64,
    /// Idle connection timeout (ms).
    pub idle_timeout: u64,
    /// First reconnect backoff (ms).
    pub link_recovery_timeout: u64,
    /// Unused (a connection is made anew after a protocol error), kept for compatibility (ms).
    pub protocol_recovery_timeout: u64,
    /// Pause after connecting (ms).
    pub connect_delay: u64,
    /// TLS.
    pub tls: TlsConf,
}

/// `ModbusClientConf.Tls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TlsConf {
    /// Modbus TCP inside TLS.
    pub enable: bool,
    /// Client certificate (PEM), optional.
    pub cert_file: String,
    /// Client key (PEM), optional.
    pub key_file: String,
    /// CA certificate(s) (PEM).
    pub ca_file: String,
    /// Name to check on the device's certificate; empty: the address's host.
    #[serde(default)]
    pub server_name: String,
}

/// `DB`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DbCfg {
    /// `sqlite://…`, `postgres://…` or `mysql://…`.
    pub data_source: String,
}

/// `StreamEventConf`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamEventConf {
    /// gRPC endpoints (the first is used).
    pub endpoints: Vec<String>,
    /// Call timeout (ms).
    pub timeout: u64,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "bridgemodbus";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

fn socket_addr(s: &str) -> Result<(std::net::SocketAddr, String), String> {
    use std::net::ToSocketAddrs as _;
    let host = s.rsplit_once(':').map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']')).unwrap_or(s);
    let addr = s
        .to_socket_addrs()
        .map_err(|e| format!("address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {s:?} resolves to nothing"))?;
    Ok((addr, host.to_owned()))
}

/// The device settings of `conf` with `connections` per pool.
///
/// # Errors
/// A message naming what does not fit (address, TLS files).
pub fn device_config(conf: &ClientConf, connections: usize) -> Result<DeviceConfig, String> {
    let a = conf.address.trim();
    if a.is_empty() {
        return Err("address is empty".into());
    }
    let transport = if let Some(rest) = a.strip_prefix("rtuovertcp://") {
        Transport::RtuOverTcp(socket_addr(rest)?.0)
    } else if let Some(rest) = a.strip_prefix("rtu://") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut baud_rate = 9600;
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some(("baud", v)) => baud_rate = v.parse().map_err(|_| format!("address {a:?}: baud {v:?}"))?,
                _ => return Err(format!("address {a:?}: unknown option {kv:?} (only baud=N)")),
            }
        }
        if path.is_empty() {
            return Err(format!("address {a:?}: no serial port"));
        }
        Transport::Rtu { path: path.to_owned(), baud_rate }
    } else {
        let rest = a.strip_prefix("tcp://").unwrap_or(a);
        let (addr, host) = socket_addr(rest)?;
        if conf.tls.enable {
            let t = &conf.tls;
            let name = if t.server_name.is_empty() { host } else { t.server_name.clone() };
            let tls = modbus_bridge::tls::Tls::from_files(&t.ca_file, &t.cert_file, &t.key_file, &name)
                .map_err(|e| format!("TLS: {e}"))?;
            Transport::Tls(addr, tls)
        } else {
            Transport::Tcp(addr)
        }
    };
    if conf.tls.enable && !matches!(transport, Transport::Tls(..)) {
        return Err(format!("address {a:?}: TLS is for Modbus TCP addresses only"));
    }
    let serial = matches!(transport, Transport::Rtu { .. });
    let mut d = DeviceConfig::new(transport);
    d.unit = conf.slave;
    d.connections = if serial { 1 } else { connections.max(1) };
    d.timeout = Duration::from_millis(conf.timeout.max(1));
    d.idle_timeout = Duration::from_millis(conf.idle_timeout.max(1));
    d.connect_delay = Duration::from_millis(conf.connect_delay);
    d.backoff = Duration::from_millis(conf.link_recovery_timeout.max(1));
    d.max_backoff = d.backoff * 20;
    Ok(d)
}

/// [`device_config`] on a blocking thread: it may resolve a host name and read TLS files.
async fn off_runtime(conf: ClientConf, connections: usize) -> Result<DeviceConfig, String> {
    tokio::task::spawn_blocking(move || device_config(&conf, connections))
        .await
        .unwrap_or_else(|e| Err(format!("address check failed: {e}")))
}

/// A row's link settings, upstream defaults for its zero fields.
pub fn row_conf(r: &store::Config) -> ClientConf {
    let or = |v: i64, d: u64| if v > 0 { v as u64 } else { d };
    ClientConf {
        address: r.slave_address.clone(),
        slave: u8::try_from(r.slave).unwrap_or(1),
        timeout: or(r.timeout, 10_000),
        idle_timeout: or(r.idle_timeout, 60_000),
        link_recovery_timeout: or(r.link_recovery_timeout, 3_000),
        protocol_recovery_timeout: or(r.protocol_recovery_timeout, 2_000),
        connect_delay: or(r.connect_delay, 100),
        tls: TlsConf {
            enable: r.enable_tls == 1,
            cert_file: r.tls_cert_file.clone(),
            key_file: r.tls_key_file.clone(),
            ca_file: r.tls_ca_file.clone(),
            server_name: String::new(),
        },
    }
}

struct Cached {
    device: Device,
    update_time: i64,
    checked: Instant,
}

/// The devices: the file's default and one pool per `modbus_code` in use.
pub struct Devices {
    default: Result<Device, String>,
    store: store::Store,
    connections: usize,
    refresh: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices").field("default", &self.default).finish_non_exhaustive()
    }
}

fn db_err(e: sqlx::Error) -> Status {
    status(102_101, format!("database: {e}"))
}

impl Devices {
    /// The registry over `store`.
    pub fn new(default: Result<Device, String>, store: store::Store, connections: usize, refresh: Duration) -> Devices {
        Devices { default, store, connections, refresh, cache: Mutex::default() }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The device of `code` (empty: the default).
    ///
    /// # Errors
    /// 102102 unknown code, 105102 disabled, 101103 unusable row, 102101 database.
    pub async fn get(&self, code: &str) -> Result<Device, Status> {
        if code.is_empty() {
            return self.default.clone().map_err(|e| status(101_103, format!("ModbusClientConf: {e}")));
        }
        if let Some(c) = self.cache().get(code) {
            if c.checked.elapsed() < self.refresh {
                return Ok(c.device.clone());
            }
        }
        let Some(row) = self.store.by_code(code).await.map_err(db_err)? else {
            self.forget(code);
            return Err(status(102_102, format!("modbus_code {code:?} not found")));
        };
        if row.status == store::DISABLED {
            self.forget(code);
            return Err(status(105_102, format!("modbus_code {code:?} is disabled")));
        }
        if let Some(c) = self.cache().get_mut(code) {
            if c.update_time == row.update_time {
                c.checked = Instant::now();
                return Ok(c.device.clone());
            }
        }
        let cfg = off_runtime(row_conf(&row), self.connections)
            .await
            .map_err(|e| status(101_103, format!("modbus_code {code:?}: {e}")))?;
        let device = Device::new(cfg);
        let mut cache = self.cache();
        // a concurrent first use of the same row may have won: share its pool
        if let Some(c) = cache.get(code) {
            if c.update_time == row.update_time {
                return Ok(c.device.clone());
            }
        }
        cache.insert(
            code.to_owned(),
            Cached { device: device.clone(), update_time: row.update_time, checked: Instant::now() },
        );
        Ok(device)
    }

    /// Drops the pool of `code` (its row changed or went).
    pub fn forget(&self, code: &str) {
        self.cache().remove(code);
    }
}

/// The BridgeModbus service.
#[derive(Debug, Clone)]
pub struct Service {
    devices: Arc<Devices>,
    store: store::Store,
}

fn addr16(what: &str, v: u32) -> Result<u16, Status> {
    u16::try_from(v).map_err(|_| status(101_103, format!("{what} {v}: 0..=65535")))
}

fn exception_name(e: ExceptionCode) -> String {
    format!("{e:?}")
}

fn exception_code(e: ExceptionCode) -> u8 {
    match e {
        ExceptionCode::IllegalFunction => 0x01,
        ExceptionCode::IllegalDataAddress => 0x02,
        ExceptionCode::IllegalDataValue => 0x03,
        ExceptionCode::ServerDeviceFailure => 0x04,
        ExceptionCode::Acknowledge => 0x05,
        ExceptionCode::ServerDeviceBusy => 0x06,
        ExceptionCode::MemoryParityError => 0x08,
        ExceptionCode::GatewayPathUnavailable => 0x0A,
        ExceptionCode::GatewayTargetDevice => 0x0B,
        ExceptionCode::Custom(c) => c,
    }
}

/// A device call's outcome as the RPC's result (errors mapped as the crate docs say).
///
/// # Errors
/// The mapped status.
pub fn answer<T>(r: modbus_bridge::Result<Result<T, ExceptionCode>>) -> Result<T, Status> {
    let outcome = match &r {
        Ok(Ok(_)) => "ok",
        Ok(Err(_)) => "exception",
        Err(MbError::Timeout(_)) => "timeout",
        Err(MbError::InvalidArgument(_) | MbError::Layout(_)) => "invalid",
        Err(_) => "unreachable",
    };
    metrics::counter!("bridgemodbus_device_calls_total", "outcome" => outcome).increment(1);
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(status(
            105_101,
            format!("the device answered exception 0x{:02X} ({})", exception_code(e), exception_name(e)),
        )),
        Err(e @ (MbError::InvalidArgument(_) | MbError::Layout(_))) => Err(status(101_103, e.to_string())),
        Err(e @ MbError::Timeout(_)) => Err(status(100_997, e.to_string())),
        Err(e) => Err(status(106_101, e.to_string())),
    }
}

/// Registers as the upstream responses render them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Big-endian, two bytes per register.
    pub bytes: Vec<u8>,
    /// Unsigned.
    pub uint: Vec<u32>,
    /// Signed (two's complement).
    pub int: Vec<i32>,
    /// `0xFF01`.
    pub hex: Vec<String>,
    /// `0b` and 16 digits.
    pub binary: Vec<String>,
}

/// The renderings of registers.
pub fn renderings(regs: &[u16]) -> Rendered {
    Rendered {
        bytes: register_bytes(regs),
        uint: regs.iter().map(|r| u32::from(*r)).collect(),
        int: regs.iter().map(|r| i32::from(*r as i16)).collect(),
        hex: regs.iter().map(|r| hex(*r)).collect(),
        binary: regs.iter().map(|r| binary(*r)).collect(),
    }
}

fn regs_of(values: &[u32]) -> Result<Vec<u16>, Status> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| u16::try_from(*v).map_err(|_| status(101_103, format!("values[{i}] {v}: 0..=65535"))))
        .collect()
}

fn decimals(values: &[i32], unsigned: bool) -> Result<Vec<u16>, Status> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            decimal_to_register(i64::from(*v), unsigned).map_err(|e| status(101_103, format!("values[{i}]: {e}")))
        })
        .collect()
}

/// `quantity` checked against the number of values (0: take the values' count).
fn quantity(what: &str, quantity: u32, n: usize) -> Result<(), Status> {
    if n == 0 {
        return Err(status(101_102, format!("{what}: no values")));
    }
    if quantity != 0 && quantity as usize != n {
        return Err(status(101_103, format!("{what}: quantity {quantity} but {n} values")));
    }
    Ok(())
}

fn ident_maps(objs: Vec<(u8, Vec<u8>)>) -> (HashMap<u32, String>, HashMap<String, String>, HashMap<String, String>) {
    let mut r = HashMap::new();
    let mut h = HashMap::new();
    let mut s = HashMap::new();
    for (id, v) in objs {
        let text = String::from_utf8_lossy(&v).into_owned();
        h.insert(format!("0x{id:02X}"), text.clone());
        s.insert(modbus_bridge::client::object_name(id), text.clone());
        r.insert(u32::from(id), text);
    }
    (r, h, s)
}

fn datetime(ms: i64) -> String {
    let tz = chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00");
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A row as `PbModbusConfig`.
pub fn to_pb(r: &store::Config) -> pb::PbModbusConfig {
    let u = |v: i64| u32::try_from(v).unwrap_or(0);
    pb::PbModbusConfig {
        id: r.id.clone(),
        create_time: datetime(r.create_time),
        update_time: datetime(r.update_time),
        modbus_code: r.modbus_code.clone(),
        slave_address: r.slave_address.clone(),
        slave: u(r.slave),
        timeout: u(r.timeout),
        idle_timeout: u(r.idle_timeout),
        link_recovery_timeout: u(r.link_recovery_timeout),
        protocol_recovery_timeout: u(r.protocol_recovery_timeout),
        connect_delay: u(r.connect_delay),
        enable_tls: u(r.enable_tls),
        tls_cert_file: r.tls_cert_file.clone(),
        tls_key_file: r.tls_key_file.clone(),
        tls_ca_file: r.tls_ca_file.clone(),
        status: u(r.status),
        remark: r.remark.clone(),
    }
}

/// A `SaveConfigReq` checked, upstream defaults filled in.
///
/// # Errors
/// 101102 / 101103 naming the field.
pub async fn checked_row(q: &pb::SaveConfigReq, connections: usize) -> Result<store::Config, Status> {
    let code = q.modbus_code.trim();
    if code.is_empty() {
        return Err(status(101_102, "modbus_code is required"));
    }
    if code.len() > 128 {
        return Err(status(101_103, "modbus_code: at most 128 bytes"));
    }
    if q.slave_address.trim().is_empty() {
        return Err(status(101_102, "slave_address is required"));
    }
    if q.slave > 255 {
        return Err(status(101_103, format!("slave {}: 0..=255", q.slave)));
    }
    let row = store::Config {
        modbus_code: code.to_owned(),
        slave_address: q.slave_address.trim().to_owned(),
        slave: if q.slave == 0 { 1 } else { i64::from(q.slave) },
        timeout: 10_000,
        idle_timeout: 60_000,
        link_recovery_timeout: 3_000,
        protocol_recovery_timeout: 2_000,
        connect_delay: 100,
        status: store::ENABLED,
        ..Default::default()
    };
    // the address and TLS files must make a device now, not fail at the first read
    off_runtime(row_conf(&row), connections).await.map_err(|e| status(101_103, e))?;
    Ok(row)
}

type Res<T> = Result<Response<T>, Status>;

impl Service {
    /// The service over `devices` and `store`.
    pub fn new(devices: Arc<Devices>, store: store::Store) -> Service {
        Service { devices, store }
    }

    /// As a tonic service.
    pub fn into_server(self) -> pb::bridge_modbus_server::BridgeModbusServer<Service> {
        pb::bridge_modbus_server::BridgeModbusServer::new(self)
    }

    async fn dev(&self, code: &str) -> Result<Device, Status> {
        self.devices.get(code).await
    }
}

#[tonic::async_trait]
impl pb::bridge_modbus_server::BridgeModbus for Service {
    async fn save_config(&self, r: Request<pb::SaveConfigReq>) -> Res<pb::SaveConfigRes> {
        let row = checked_row(r.get_ref(), self.devices.connections).await?;
        let id = self.store.save(&row).await.map_err(db_err)?;
        self.devices.forget(&row.modbus_code);
        Ok(Response::new(pb::SaveConfigRes { id }))
    }

    async fn delete_config(&self, r: Request<pb::DeleteConfigReq>) -> Res<pb::DeleteConfigRes> {
        let ids = r.into_inner().ids;
        if ids.is_empty() {
            return Err(status(101_102, "ids is required"));
        }
        if ids.len() > 1000 {
            return Err(status(101_103, "ids: at most 1000"));
        }
        for code in self.store.delete(&ids).await.map_err(db_err)? {
            self.devices.forget(&code);
        }
        Ok(Response::new(pb::DeleteConfigRes {}))
    }

    async fn page_list_config(&self, r: Request<pb::PageListConfigReq>) -> Res<pb::PageListConfigRes> {
        let q = r.into_inner();
        if q.status > 2 {
            return Err(status(101_103, format!("status {}: 0 any, 1 enabled, 2 disabled", q.status)));
        }
        let page = q.page.max(1);
        let size = if q.page_size <= 0 { 10 } else { q.page_size.min(1000) };
        let (total, rows) = self.store.page(page, size, q.keyword.trim(), i64::from(q.status)).await.map_err(db_err)?;
        Ok(Response::new(pb::PageListConfigRes {
            total: u32::try_from(total).unwrap_or(u32::MAX),
            cfg: rows.iter().map(to_pb).collect(),
        }))
    }

    async fn get_config_by_code(&self, r: Request<pb::GetConfigByCodeReq>) -> Res<pb::GetConfigByCodeRes> {
        let code = r.into_inner().modbus_code;
        if code.is_empty() {
            return Err(status(101_102, "modbus_code is required"));
        }
        match self.store.by_code(&code).await.map_err(db_err)? {
            Some(row) => Ok(Response::new(pb::GetConfigByCodeRes { cfg: Some(to_pb(&row)) })),
            None => Err(status(102_102, format!("modbus_code {code:?} not found"))),
        }
    }

    async fn batch_get_config_by_code(
        &self,
        r: Request<pb::BatchGetConfigByCodeReq>,
    ) -> Res<pb::BatchGetConfigByCodeRes> {
        let codes = r.into_inner().modbus_code;
        if codes.len() > 1000 {
            return Err(status(101_103, "modbus_code: at most 1000 codes"));
        }
        let rows = self.store.by_codes(&codes).await.map_err(db_err)?;
        Ok(Response::new(pb::BatchGetConfigByCodeRes { cfg: rows.iter().map(to_pb).collect() }))
    }

    async fn read_coils(&self, r: Request<pb::ReadCoilsReq>) -> Res<pb::ReadCoilsRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let bits = answer(self.dev(&q.modbus_code).await?.read_coils(None, a, q.quantity as usize).await)?;
        Ok(Response::new(pb::ReadCoilsRes { results: pack_bits(&bits), values: bits }))
    }

    async fn read_discrete_inputs(&self, r: Request<pb::ReadDiscreteInputsReq>) -> Res<pb::ReadDiscreteInputsRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let bits = answer(self.dev(&q.modbus_code).await?.read_discrete_inputs(None, a, q.quantity as usize).await)?;
        Ok(Response::new(pb::ReadDiscreteInputsRes { results: pack_bits(&bits), values: bits }))
    }

    async fn write_single_coil(&self, r: Request<pb::WriteSingleCoilReq>) -> Res<pb::WriteSingleCoilRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        answer(self.dev(&q.modbus_code).await?.write_single_coil(None, a, q.value).await)?;
        Ok(Response::new(pb::WriteSingleCoilRes { results: if q.value { vec![0xFF, 0x00] } else { vec![0, 0] } }))
    }

    async fn write_multiple_coils(&self, r: Request<pb::WriteMultipleCoilsReq>) -> Res<pb::WriteMultipleCoilsRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        quantity("values", q.quantity, q.values.len())?;
        let n = q.values.len() as u16;
        answer(self.dev(&q.modbus_code).await?.write_multiple_coils(None, a, q.values).await)?;
        Ok(Response::new(pb::WriteMultipleCoilsRes { results: n.to_be_bytes().to_vec() }))
    }

    async fn read_input_registers(&self, r: Request<pb::ReadInputRegistersReq>) -> Res<pb::ReadInputRegistersRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let regs = answer(self.dev(&q.modbus_code).await?.read_input_registers(None, a, q.quantity as usize).await)?;
        let Rendered { bytes: results, uint: uint_values, int: int_values, hex: hex_values, binary: binary_values } =
            renderings(&regs);
        Ok(Response::new(pb::ReadInputRegistersRes { results, uint_values, int_values, hex_values, binary_values }))
    }

    async fn read_holding_registers(
        &self,
        r: Request<pb::ReadHoldingRegistersReq>,
    ) -> Res<pb::ReadHoldingRegistersRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let regs = answer(self.dev(&q.modbus_code).await?.read_holding_registers(None, a, q.quantity as usize).await)?;
        let Rendered { bytes: results, uint: uint_values, int: int_values, hex: hex_values, binary: binary_values } =
            renderings(&regs);
        Ok(Response::new(pb::ReadHoldingRegistersRes { results, uint_values, int_values, hex_values, binary_values }))
    }

    async fn write_single_register(&self, r: Request<pb::WriteSingleRegisterReq>) -> Res<pb::WriteSingleRegisterRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let v = addr16("value", q.value)?;
        answer(self.dev(&q.modbus_code).await?.write_single_register(None, a, v).await)?;
        Ok(Response::new(pb::WriteSingleRegisterRes { results: v.to_be_bytes().to_vec() }))
    }

    async fn write_single_register_with_decimal(
        &self,
        r: Request<pb::WriteSingleRegisterWithDecimalReq>,
    ) -> Res<pb::WriteSingleRegisterWithDecimalRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let v = decimals(&[q.value], q.unsigned)?[0];
        answer(self.dev(&q.modbus_code).await?.write_single_register(None, a, v).await)?;
        Ok(Response::new(pb::WriteSingleRegisterWithDecimalRes { results: v.to_be_bytes().to_vec() }))
    }

    async fn write_multiple_registers(
        &self,
        r: Request<pb::WriteMultipleRegistersReq>,
    ) -> Res<pb::WriteMultipleRegistersRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        quantity("values", q.quantity, q.values.len())?;
        let regs = regs_of(&q.values)?;
        let n = regs.len() as u16;
        answer(self.dev(&q.modbus_code).await?.write_multiple_registers(None, a, regs).await)?;
        Ok(Response::new(pb::WriteMultipleRegistersRes { results: n.to_be_bytes().to_vec() }))
    }

    async fn write_multiple_registers_with_decimal(
        &self,
        r: Request<pb::WriteMultipleRegistersWithDecimalReq>,
    ) -> Res<pb::WriteMultipleRegistersWithDecimalRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        quantity("values", q.quantity, q.values.len())?;
        let regs = decimals(&q.values, q.unsigned)?;
        let n = regs.len() as u16;
        answer(self.dev(&q.modbus_code).await?.write_multiple_registers(None, a, regs).await)?;
        Ok(Response::new(pb::WriteMultipleRegistersWithDecimalRes { results: n.to_be_bytes().to_vec() }))
    }

    async fn read_write_multiple_registers(
        &self,
        r: Request<pb::ReadWriteMultipleRegistersReq>,
    ) -> Res<pb::ReadWriteMultipleRegistersRes> {
        let q = r.into_inner();
        let ra = addr16("read_address", q.read_address)?;
        let wa = addr16("write_address", q.write_address)?;
        quantity("values", q.write_quantity, q.values.len())?;
        let regs = regs_of(&q.values)?;
        let dev = self.dev(&q.modbus_code).await?;
        let read = answer(dev.read_write_multiple_registers(None, ra, q.read_quantity as usize, wa, regs).await)?;
        let Rendered { bytes: results, uint: uint_values, int: int_values, hex: hex_values, binary: binary_values } =
            renderings(&read);
        Ok(Response::new(pb::ReadWriteMultipleRegistersRes {
            results,
            uint_values,
            int_values,
            hex_values,
            binary_values,
        }))
    }

    async fn mask_write_register(&self, r: Request<pb::MaskWriteRegisterReq>) -> Res<pb::MaskWriteRegisterRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let and = addr16("and_mask", q.and_mask)?;
        let or = addr16("or_mask", q.or_mask)?;
        answer(self.dev(&q.modbus_code).await?.mask_write_register(None, a, and, or).await)?;
        let mut results = and.to_be_bytes().to_vec();
        results.extend(or.to_be_bytes());
        Ok(Response::new(pb::MaskWriteRegisterRes { results }))
    }

    async fn read_fifo_queue(&self, r: Request<pb::ReadFifoQueueReq>) -> Res<pb::ReadFifoQueueRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let regs = answer(self.dev(&q.modbus_code).await?.read_fifo_queue(None, a).await)?;
        Ok(Response::new(pb::ReadFifoQueueRes { results: register_bytes(&regs) }))
    }

    async fn read_device_identification(
        &self,
        r: Request<pb::ReadDeviceIdentificationReq>,
    ) -> Res<pb::ReadDeviceIdentificationRes> {
        let q = r.into_inner();
        if !(1..=3).contains(&q.read_device_id_code) {
            return Err(status(
                101_103,
                format!("read_device_id_code {}: 1 basic, 2 regular, 3 extended", q.read_device_id_code),
            ));
        }
        let dev = self.dev(&q.modbus_code).await?;
        let objs = answer(dev.read_device_identification(None, q.read_device_id_code as u8, 0).await)?;
        let (results, hex_results, semantic_results) = ident_maps(objs);
        Ok(Response::new(pb::ReadDeviceIdentificationRes { results, hex_results, semantic_results }))
    }

    async fn read_device_identification_specific_object(
        &self,
        r: Request<pb::ReadDeviceIdentificationSpecificObjectReq>,
    ) -> Res<pb::ReadDeviceIdentificationSpecificObjectRes> {
        let q = r.into_inner();
        let id =
            u8::try_from(q.object_id).map_err(|_| status(101_103, format!("object_id {}: 0..=255", q.object_id)))?;
        let objs = answer(self.dev(&q.modbus_code).await?.read_device_identification(None, 4, id).await)?;
        let (results, hex_results, semantic_results) = ident_maps(objs);
        Ok(Response::new(pb::ReadDeviceIdentificationSpecificObjectRes { results, hex_results, semantic_results }))
    }

    async fn batch_convert_decimal_to_register(
        &self,
        r: Request<pb::BatchConvertDecimalToRegisterReq>,
    ) -> Res<pb::BatchConvertDecimalToRegisterRes> {
        let q = r.into_inner();
        if q.values.len() > 65_536 {
            return Err(status(101_103, "values: at most 65536"));
        }
        let regs = decimals(&q.values, q.unsigned)?;
        let Rendered { bytes, uint: uint16_values, int: int16_values, hex: hex_values, binary: binary_values } =
            renderings(&regs);
        Ok(Response::new(pb::BatchConvertDecimalToRegisterRes {
            uint16_values,
            int16_values,
            hex_values,
            binary_values,
            bytes,
        }))
    }
}

/// Runs the service on `listener` until `shutdown`: device rows from `DB`, the default device
/// from `ModbusClientConf`, and the polling groups pushing to streamevent.
///
/// # Errors
/// [`zero_svc::Error::Config`] for an unusable configuration or database.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let store = store::Store::connect(&cfg.db.data_source)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("DB.DataSource {}: {e}", cfg.db.data_source)))?;
    let default = device_config(&cfg.modbus_client_conf, cfg.modbus_pool).map(Device::new);
    if let Err(e) = &default {
        tracing::warn!(error = %e, "ModbusClientConf unusable: requests without modbus_code are refused");
    }
    let devices = Arc::new(Devices::new(
        default,
        store.clone(),
        cfg.modbus_pool,
        Duration::from_millis(cfg.config_refresh_millis.max(1)),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pollers = poll::start(&cfg, devices.clone(), stop_rx).map_err(zero_svc::Error::Config)?;
    let svc = Service::new(devices, store);
    let served = zero_svc::grpc::serve(listener, svc.into_server(), &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    let _ = stop_tx.send(true);
    let grace = cfg.base.grace_period.0;
    for p in pollers {
        let _ = tokio::time::timeout(grace, p).await;
    }
    served
}
