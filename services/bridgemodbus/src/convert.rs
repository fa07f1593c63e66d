//! Protobuf ↔ domain: addresses and quantities checked, register renderings, device answers
//! as statuses, table rows as `PbModbusConfig`.

use crate::devices::*;
use crate::{pb, store};
use modbus_bridge::value::{binary, decimal_to_register, hex, register_bytes};
use modbus_bridge::{Error as MbError, ExceptionCode};
use std::collections::HashMap;
use tonic::Status;
use zero_svc::errcode::ErrCode;

pub(crate) fn addr16(what: &str, v: u32) -> Result<u16, Status> {
    u16::try_from(v).map_err(|_| ErrCode::InvalidParam.status(format!("{what} {v}: 0..=65535")))
}

pub(crate) fn exception_name(e: ExceptionCode) -> String {
    format!("{e:?}")
}

pub(crate) fn exception_code(e: ExceptionCode) -> u8 {
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
        Ok(Err(e)) => Err(ErrCode::BusinessFailure.status(format!(
            "the device answered exception 0x{:02X} ({})",
            exception_code(e),
            exception_name(e)
        ))),
        Err(e @ (MbError::InvalidArgument(_) | MbError::Layout(_))) => Err(ErrCode::InvalidParam.status(e.to_string())),
        Err(e @ MbError::Timeout(_)) => Err(ErrCode::Timeout.status(e.to_string())),
        Err(e) => Err(ErrCode::RemoteCallFailed.status(e.to_string())),
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

pub(crate) fn regs_of(values: &[u32]) -> Result<Vec<u16>, Status> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            u16::try_from(*v).map_err(|_| ErrCode::InvalidParam.status(format!("values[{i}] {v}: 0..=65535")))
        })
        .collect()
}

pub(crate) fn decimals(values: &[i32], unsigned: bool) -> Result<Vec<u16>, Status> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            decimal_to_register(i64::from(*v), unsigned)
                .map_err(|e| ErrCode::InvalidParam.status(format!("values[{i}]: {e}")))
        })
        .collect()
}

/// `quantity` checked against the number of values (0: take the values' count).
pub(crate) fn quantity(what: &str, quantity: u32, n: usize) -> Result<(), Status> {
    if n == 0 {
        return Err(ErrCode::MissingParam.status(format!("{what}: no values")));
    }
    if quantity != 0 && quantity as usize != n {
        return Err(ErrCode::InvalidParam.status(format!("{what}: quantity {quantity} but {n} values")));
    }
    Ok(())
}

pub(crate) fn ident_maps(
    objs: Vec<(u8, Vec<u8>)>,
) -> (HashMap<u32, String>, HashMap<String, String>, HashMap<String, String>) {
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

pub(crate) fn datetime(ms: i64) -> String {
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
        return Err(ErrCode::MissingParam.status("modbus_code is required"));
    }
    if code.len() > 128 {
        return Err(ErrCode::InvalidParam.status("modbus_code: at most 128 bytes"));
    }
    if q.slave_address.trim().is_empty() {
        return Err(ErrCode::MissingParam.status("slave_address is required"));
    }
    if q.slave > 255 {
        return Err(ErrCode::InvalidParam.status(format!("slave {}: 0..=255", q.slave)));
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
    off_runtime(row_conf(&row), connections).await.map_err(|e| ErrCode::InvalidParam.status(e.detail()))?;
    Ok(row)
}
