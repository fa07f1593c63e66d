//! Polling: groups of typed points read on an interval (neighbouring points merged into one
//! read, [`modbus_bridge::plan`]) and pushed to streamevent as `PushChunkAsdu` messages, one
//! chunk per group and cycle. Each message carries the point's `ioa` (its number in the
//! register map), `value`, `name`, `table` and `address` in `bodyRaw`, the unit id as `coa`,
//! and `metaData.stationId` (the group's `Station`), so streamevent's point mappings apply as
//! they do to IEC 104 points. A chunk streamevent does not take is retried under its id until
//! it does ([`streamevent::pipeline::ChunkSender`]); the group's next polls wait meanwhile.

use crate::Devices;
use modbus_bridge::client::{Device, Transport};
use modbus_bridge::plan::{plan, values, Data, PointDef, Read, Table};
use modbus_bridge::value::{ByteOrder, DataType, Layout, Value, WordOrder};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use streamevent::id::ChunkId;
use streamevent::pb::MsgBody;
use streamevent::pipeline::{ChunkSender, Retry};
use tokio::task::JoinHandle;

/// A polling group (see `Poll` in `etc/bridgemodbus.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Group {
    /// `""`: the default device, else a `modbus_slave_config` code.
    #[serde(default)]
    pub modbus_code: String,
    /// `metaData.stationId` of the messages; empty: the code, or `default`.
    #[serde(default)]
    pub station: String,
    /// Unit id to read; absent: the device's.
    #[serde(default)]
    pub slave: Option<u8>,
    /// Cycle (ms).
    #[serde(default = "second")]
    pub interval_millis: u64,
    /// Addresses one read may skip to take in a neighbouring point.
    #[serde(default)]
    pub max_gap: u16,
    /// The points.
    pub points: Vec<PointCfg>,
}

fn second() -> u64 {
    1000
}

fn one() -> f64 {
    1.0
}

fn u16_type() -> String {
    "u16".into()
}

/// A point of a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PointCfg {
    /// Name (also sent as `name`).
    pub name: String,
    /// Its number (the message's `ioa`).
    pub ioa: u32,
    /// `coils`, `discrete_inputs`, `holding_registers` or `input_registers`.
    pub table: Table,
    /// First address.
    pub address: u16,
    /// `bool`, `u16`, `i16`, `u32`, `i32`, `u64`, `i64`, `f32`, `f64` or `string` (registers).
    #[serde(default = "u16_type")]
    pub r#type: String,
    /// Bit of a `bool` in a register.
    #[serde(default)]
    pub bit: u8,
    /// Registers of a `string`.
    #[serde(default)]
    pub len: u16,
    /// Register order.
    #[serde(default)]
    pub word_order: WordOrder,
    /// Byte order in a register.
    #[serde(default)]
    pub byte_order: ByteOrder,
    /// Value = raw × scale + offset.
    #[serde(default = "one")]
    pub scale: f64,
    /// See `scale`.
    #[serde(default)]
    pub offset: f64,
}

impl PointCfg {
    /// The register layout.
    ///
    /// # Errors
    /// An unknown type or a bad bit or length.
    pub fn layout(&self) -> Result<Layout, zero_svc::Error> {
        let t = match self.r#type.to_ascii_lowercase().as_str() {
            "bool" if self.bit > 15 => {
                return Err(zero_svc::Error::Config(format!("point {:?}: Bit {} is not 0..15", self.name, self.bit)))
            }
            "bool" => DataType::Bool { bit: self.bit },
            "u16" => DataType::U16,
            "i16" => DataType::I16,
            "u32" => DataType::U32,
            "i32" => DataType::I32,
            "u64" => DataType::U64,
            "i64" => DataType::I64,
            "f32" => DataType::F32,
            "f64" => DataType::F64,
            "string" if self.len == 0 || self.len > 125 => {
                return Err(zero_svc::Error::Config(format!("point {:?}: a string needs Len 1..125", self.name)))
            }
            "string" => DataType::String { len: self.len },
            x => return Err(zero_svc::Error::Config(format!("point {:?}: unknown Type {x:?}", self.name))),
        };
        if !self.scale.is_finite() || !self.offset.is_finite() {
            return Err(zero_svc::Error::Config(format!("point {:?}: Scale and Offset must be finite", self.name)));
        }
        Ok(Layout {
            data_type: t,
            word_order: self.word_order,
            byte_order: self.byte_order,
            scale: self.scale,
            offset: self.offset,
        })
    }
}

/// A group checked and planned.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The group.
    pub group: Group,
    /// Its points as the plan sees them.
    pub points: Vec<PointDef>,
    /// The reads of a cycle.
    pub reads: Vec<Read>,
}

impl Group {
    /// Checks the group and plans its reads.
    ///
    /// # Errors
    /// A message naming the group and what does not fit.
    pub fn prepare(&self, n: usize) -> Result<Prepared, zero_svc::Error> {
        let what = format!("Poll[{n}] ({:?})", self.modbus_code);
        if self.points.is_empty() {
            return Err(zero_svc::Error::Config(format!("{what}: no Points")));
        }
        if self.interval_millis == 0 {
            return Err(zero_svc::Error::Config(format!("{what}: IntervalMillis must be > 0")));
        }
        let points = self
            .points
            .iter()
            .map(|p| Ok(PointDef { name: p.name.clone(), table: p.table, address: p.address, layout: p.layout()? }))
            .collect::<Result<Vec<_>, zero_svc::Error>>()
            .map_err(|e| format!("{what}: {e}"))?;
        let reads = plan(&points, self.max_gap).map_err(|e| format!("{what}: {e}"))?;
        Ok(Prepared { group: self.clone(), points, reads })
    }

    fn station(&self) -> String {
        if !self.station.is_empty() {
            self.station.clone()
        } else if !self.modbus_code.is_empty() {
            self.modbus_code.clone()
        } else {
            "default".into()
        }
    }
}

fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => (*b).into(),
        Value::Number(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => (*f as i64).into(),
        Value::Number(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        Value::Text(s) => s.clone().into(),
    }
}

fn table_name(t: Table) -> &'static str {
    match t {
        Table::Coils => "coils",
        Table::DiscreteInputs => "discrete_inputs",
        Table::HoldingRegisters => "holding_registers",
        Table::InputRegisters => "input_registers",
    }
}

fn host_port(dev: &Device) -> (String, i32) {
    match &dev.config().transport {
        Transport::Tcp(a) | Transport::RtuOverTcp(a) | Transport::Tls(a, _) => {
            (a.ip().to_string(), i32::from(a.port()))
        }
        Transport::Rtu { path, .. } => (path.clone(), 0),
    }
}

async fn read(
    dev: &Device,
    unit: Option<u8>,
    r: &Read,
) -> modbus_bridge::Result<Result<Data, modbus_bridge::ExceptionCode>> {
    let (a, n) = (r.address, usize::from(r.quantity));
    Ok(match r.table {
        Table::Coils => dev.read_coils(unit, a, n).await?.map(Data::Bits),
        Table::DiscreteInputs => dev.read_discrete_inputs(unit, a, n).await?.map(Data::Bits),
        Table::HoldingRegisters => dev.read_holding_registers(unit, a, n).await?.map(Data::Registers),
        Table::InputRegisters => dev.read_input_registers(unit, a, n).await?.map(Data::Registers),
    })
}

/// What a polling group did (the dashboard's Polling table).
#[derive(Debug)]
pub struct GroupStats {
    /// `metaData.stationId` of its messages.
    pub station: String,
    /// Its device (`""`: the default).
    pub modbus_code: String,
    /// Cycle (ms).
    pub interval_millis: u64,
    /// Points per cycle.
    pub points: usize,
    /// Cycles run.
    pub cycles: AtomicU64,
    /// Points handed to streamevent (and taken by it).
    pub sent: AtomicU64,
    /// Reads that failed or were refused, and cycles without a device.
    pub failures: AtomicU64,
    /// When the last cycle ended (unix ms; 0: none yet).
    pub last_cycle_ms: AtomicU64,
}

impl GroupStats {
    fn of(p: &Prepared) -> GroupStats {
        GroupStats {
            station: p.group.station(),
            modbus_code: p.group.modbus_code.clone(),
            interval_millis: p.group.interval_millis,
            points: p.points.len(),
            cycles: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_cycle_ms: AtomicU64::new(0),
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One cycle of a group: the messages of the points read (reads that fail are logged and
/// counted; their points are left out of this cycle).
pub async fn cycle(p: &Prepared, dev: &Device) -> Vec<MsgBody> {
    cycle_counted(p, dev, None).await
}

async fn cycle_counted(p: &Prepared, dev: &Device, stats: Option<&GroupStats>) -> Vec<MsgBody> {
    let failed = || {
        if let Some(s) = stats {
            s.failures.fetch_add(1, Relaxed);
        }
    };
    let g = &p.group;
    let unit = g.slave.unwrap_or(dev.config().unit);
    let (host, port) = host_port(dev);
    let meta = serde_json::json!({"stationId": g.station(), "modbusCode": g.modbus_code, "slave": unit}).to_string();
    let time = streamevent::msg::now_string(8 * 60);
    let mut out = Vec::with_capacity(p.points.len());
    for r in &p.reads {
        let data = match read(dev, Some(unit), r).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                failed();
                metrics::counter!("bridgemodbus_poll_errors_total", "kind" => "exception").increment(1);
                tracing::warn!(code = %g.modbus_code, table = table_name(r.table), address = r.address, exception = ?e, "poll read refused");
                continue;
            }
            Err(e) => {
                failed();
                metrics::counter!("bridgemodbus_poll_errors_total", "kind" => "device").increment(1);
                tracing::warn!(code = %g.modbus_code, table = table_name(r.table), address = r.address, error = %e, "poll read failed");
                continue;
            }
        };
        let vals = match values(&p.points, r, &data) {
            Ok(v) => v,
            Err(e) => {
                failed();
                metrics::counter!("bridgemodbus_poll_errors_total", "kind" => "decode").increment(1);
                tracing::warn!(code = %g.modbus_code, error = %e, "poll answer does not decode");
                continue;
            }
        };
        for (&i, (name, v)) in r.points.iter().zip(vals) {
            let pc = &g.points[i];
            let body = serde_json::json!({
                "ioa": pc.ioa, "value": json_value(&v), "name": name,
                "table": table_name(pc.table), "address": pc.address,
            });
            out.push(MsgBody {
                msg_id: streamevent::msg::new_msg_id(),
                host: host.clone(),
                port,
                asdu: "MODBUS".into(),
                type_id: 0,
                data_type: 0,
                coa: u32::from(unit),
                body_raw: body.to_string(),
                time: time.clone(),
                meta_data_raw: meta.clone(),
                pm: None,
                trace_id: String::new(),
                headers: Default::default(),
            });
        }
    }
    out
}

/// The pollers' tasks and what each group did.
pub type Pollers = (Vec<JoinHandle<()>>, Vec<Arc<GroupStats>>);

/// Starts one task per group (none without groups).
///
/// # Errors
/// A group that does not fit, or groups without a streamevent endpoint.
pub fn start(
    cfg: &crate::Config,
    devices: Arc<Devices>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Pollers, zero_svc::Error> {
    if cfg.poll.is_empty() {
        return Ok((vec![], vec![]));
    }
    let prepared = cfg.poll.iter().enumerate().map(|(i, g)| g.prepare(i)).collect::<Result<Vec<_>, _>>()?;
    let Some(ep) = cfg.stream_event_conf.endpoints.first() else {
        return Err(zero_svc::Error::Config("Poll needs StreamEventConf.Endpoints".into()));
    };
    let timeout = Duration::from_millis(cfg.stream_event_conf.timeout.max(1));
    let sender = ChunkSender::with_timeout(ep, Retry::default(), Some(timeout))
        .map_err(|e| format!("StreamEventConf.Endpoints {ep:?}: {e}"))?;
    let stats: Vec<Arc<GroupStats>> = prepared.iter().map(|p| Arc::new(GroupStats::of(p))).collect();
    let tasks = prepared
        .into_iter()
        .zip(stats.clone())
        .map(|(p, st)| {
            let (devices, sender, mut stop) = (devices.clone(), sender.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(p.group.interval_millis));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.changed() => return,
                    }
                    let dev = match devices.get(&p.group.modbus_code).await {
                        Ok(d) => d,
                        Err(e) => {
                            st.failures.fetch_add(1, Relaxed);
                            metrics::counter!("bridgemodbus_poll_errors_total", "kind" => "config").increment(1);
                            tracing::warn!(code = %p.group.modbus_code, error = %e.message(), "poll group has no device");
                            continue;
                        }
                    };
                    let msgs = cycle_counted(&p, &dev, Some(&st)).await;
                    st.cycles.fetch_add(1, Relaxed);
                    st.last_cycle_ms.store(unix_ms(), Relaxed);
                    if msgs.is_empty() {
                        continue;
                    }
                    let n = msgs.len() as u64;
                    // the shared delivery policy: retried under one id until streamevent has it
                    // (the next polls wait meanwhile: back-pressure), or until the poller stops
                    let id = ChunkId::from_wire(&streamevent::msg::new_msg_id());
                    tokio::select! {
                        () = sender.send(&id, msgs) => {
                            st.sent.fetch_add(n, Relaxed);
                            metrics::counter!("bridgemodbus_poll_points_total").increment(n);
                        }
                        _ = stop.changed() => return,
                    }
                }
            })
        })
        .collect();
    Ok((tasks, stats))
}
