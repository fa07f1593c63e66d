//! Device pools: the configuration file's default device and one pool per `modbus_slave_config`
//! row, made on first use and remade when the row changes.

use crate::config::*;
use crate::store;
use modbus_bridge::client::{Device, DeviceConfig, Transport};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tonic::Status;
use zero_svc::errcode::ErrCode;

pub(crate) fn socket_addr(s: &str) -> Result<(std::net::SocketAddr, String), zero_svc::Error> {
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
pub fn device_config(conf: &ClientConf, connections: usize) -> Result<DeviceConfig, zero_svc::Error> {
    let a = conf.address.trim();
    if a.is_empty() {
        return Err(zero_svc::Error::Config("address is empty".into()));
    }
    let transport = if let Some(rest) = a.strip_prefix("rtuovertcp://") {
        Transport::RtuOverTcp(socket_addr(rest)?.0)
    } else if let Some(rest) = a.strip_prefix("rtu://") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut baud_rate = 9600;
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some(("baud", v)) => baud_rate = v.parse().map_err(|_| format!("address {a:?}: baud {v:?}"))?,
                _ => {
                    return Err(zero_svc::Error::Config(format!("address {a:?}: unknown option {kv:?} (only baud=N)")))
                }
            }
        }
        if path.is_empty() {
            return Err(zero_svc::Error::Config(format!("address {a:?}: no serial port")));
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
        return Err(zero_svc::Error::Config(format!("address {a:?}: TLS is for Modbus TCP addresses only")));
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
pub(crate) async fn off_runtime(conf: ClientConf, connections: usize) -> Result<DeviceConfig, zero_svc::Error> {
    tokio::task::spawn_blocking(move || device_config(&conf, connections))
        .await
        .unwrap_or_else(|e| Err(zero_svc::Error::Config(format!("address check failed: {e}"))))
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

pub(crate) struct Cached {
    device: Device,
    update_time: i64,
    checked: Instant,
}

/// The devices: the file's default and one pool per `modbus_code` in use.
pub struct Devices {
    default: Result<Device, zero_svc::Error>,
    store: store::Store,
    pub(crate) connections: usize,
    refresh: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices").field("default", &self.default).finish_non_exhaustive()
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> Status {
    ErrCode::DbError.status(format!("database: {e}"))
}

impl Devices {
    /// The registry over `store`.
    pub fn new(
        default: Result<Device, zero_svc::Error>,
        store: store::Store,
        connections: usize,
        refresh: Duration,
    ) -> Devices {
        // an unusable default is answered to every request that names no device
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
            return match &self.default {
                Ok(d) => Ok(d.clone()),
                Err(e) => Err(ErrCode::InvalidParam.status(format!("ModbusClientConf: {}", e.detail()))),
            };
        }
        if let Some(c) = self.cache().get(code) {
            if c.checked.elapsed() < self.refresh {
                return Ok(c.device.clone());
            }
        }
        let Some(row) = self.store.by_code(code).await.map_err(db_err)? else {
            self.forget(code);
            return Err(ErrCode::NotFound.status(format!("modbus_code {code:?} not found")));
        };
        if row.status == store::DISABLED {
            self.forget(code);
            return Err(ErrCode::StateNotAllowed.status(format!("modbus_code {code:?} is disabled")));
        }
        if let Some(c) = self.cache().get_mut(code) {
            if c.update_time == row.update_time {
                c.checked = Instant::now();
                return Ok(c.device.clone());
            }
        }
        let cfg = off_runtime(row_conf(&row), self.connections)
            .await
            .map_err(|e| ErrCode::InvalidParam.status(format!("modbus_code {code:?}: {}", e.detail())))?;
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

    /// The pools made so far: `("", default)` when the default device is usable, then one per
    /// `modbus_code` in use, by code.
    pub fn pools(&self) -> Vec<(String, Device)> {
        let mut out: Vec<(String, Device)> =
            self.cache().iter().map(|(code, c)| (code.clone(), c.device.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if let Ok(d) = &self.default {
            out.insert(0, (String::new(), d.clone()));
        }
        out
    }

    /// Drops the pool of `code` (its row changed or went).
    pub fn forget(&self, code: &str) {
        self.cache().remove(code);
    }
}
