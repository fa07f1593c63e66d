//! `zero104._zero104`: the native half of the `zero104` Python package (see `python/zero104`).
//! Bulk decoding into numpy columns ([`iec104::columns`]), pcap/pcapng captures, ASDU encoding
//! through the crate's serde model, an asyncio master and slave on the crate's tokio drivers,
//! and the streamevent compactor.

mod compact;
mod link;
mod pcap;

use iec104::asdu::{AsduParams, OwnedAsdu};
use iec104::columns::{Columns, NAT};
use numpy::IntoPyArray;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};

create_exception!(_zero104, Iec104Error, PyException, "Base of every error this package raises.");
create_exception!(
    _zero104,
    DecodeError,
    Iec104Error,
    "Bytes that are not valid IEC 104 (the message says what and where)."
);
create_exception!(_zero104, EncodeError, Iec104Error, "A value or ASDU that cannot be encoded.");
create_exception!(_zero104, LinkError, Iec104Error, "The connection failed, closed or was refused.");
create_exception!(_zero104, CommandError, Iec104Error, "The station answered a command or interrogation negatively.");
create_exception!(_zero104, Iec104Timeout, Iec104Error, "No answer in time.");

pub(crate) fn params(cot_size: u8, ca_size: u8, ioa_size: u8) -> PyResult<AsduParams> {
    AsduParams::new(cot_size, ca_size, ioa_size).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// The columns as a dict of numpy arrays (moved, not copied).
pub(crate) fn columns_dict<'py>(py: Python<'py>, c: Columns) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("time", c.time_ns.into_pyarray(py))?;
    d.set_item("station_code", c.station.into_pyarray(py))?;
    d.set_item("common_address", c.common_address.into_pyarray(py))?;
    d.set_item("ioa", c.ioa.into_pyarray(py))?;
    d.set_item("type_id", c.type_id.into_pyarray(py))?;
    d.set_item("cot", c.cot.into_pyarray(py))?;
    d.set_item("value", c.value.into_pyarray(py))?;
    d.set_item("quality", c.quality.into_pyarray(py))?;
    d.set_item("device_time", c.device_time_ns.into_pyarray(py))?;
    Ok(d)
}

/// decode_apdus(data, *, time_ns=None, cot_size=2, ca_size=2, ioa_size=3) -> (columns, consumed)
///
/// Decodes back-to-back APDUs; returns the raw columns and the bytes used (an incomplete last
/// frame is left for the next call).
#[pyfunction]
#[pyo3(signature = (data, *, time_ns=None, cot_size=2, ca_size=2, ioa_size=3))]
fn decode_apdus<'py>(
    py: Python<'py>,
    data: PyBackedBytes,
    time_ns: Option<i64>,
    cot_size: u8,
    ca_size: u8,
    ioa_size: u8,
) -> PyResult<(Bound<'py, PyDict>, usize)> {
    let p = params(cot_size, ca_size, ioa_size)?;
    let (cols, r) = py.detach(|| {
        let mut cols = Columns::default();
        let r = cols.push_apdus(&data, &p, time_ns.unwrap_or(NAT), 0);
        (cols, r)
    });
    let progress = r.map_err(|e| DecodeError::new_err(e.to_string()))?;
    Ok((columns_dict(py, cols)?, progress.consumed))
}

/// decode_asdus(asdus, *, cot_size=2, ca_size=2, ioa_size=3) -> columns
///
/// Decodes a list of ASDUs (without APCI), one row per monitored object.
#[pyfunction]
#[pyo3(signature = (asdus, *, cot_size=2, ca_size=2, ioa_size=3))]
fn decode_asdus<'py>(
    py: Python<'py>,
    asdus: Vec<PyBackedBytes>,
    cot_size: u8,
    ca_size: u8,
    ioa_size: u8,
) -> PyResult<Bound<'py, PyDict>> {
    let p = params(cot_size, ca_size, ioa_size)?;
    let (cols, r) = py.detach(|| {
        let mut cols = Columns::default();
        for (i, a) in asdus.iter().enumerate() {
            if let Err(e) = cols.push_asdu(a, &p, NAT, 0) {
                return (cols, Err(format!("ASDU {i}: {e}")));
            }
        }
        (cols, Ok(()))
    });
    r.map_err(DecodeError::new_err)?;
    columns_dict(py, cols)
}

/// asdu_to_json(asdu, *, cot_size=2, ca_size=2, ioa_size=3) -> str
///
/// One ASDU (any type) as JSON in the crate's serde model; `encode_asdu_json` takes it back.
#[pyfunction]
#[pyo3(signature = (asdu, *, cot_size=2, ca_size=2, ioa_size=3))]
fn asdu_to_json(asdu: &[u8], cot_size: u8, ca_size: u8, ioa_size: u8) -> PyResult<String> {
    let p = params(cot_size, ca_size, ioa_size)?;
    let a = OwnedAsdu::decode(asdu, &p).map_err(|e| DecodeError::new_err(e.to_string()))?;
    serde_json::to_string(&a).map_err(|e| EncodeError::new_err(e.to_string()))
}

/// encode_asdu_json(json, *, cot_size=2, ca_size=2, ioa_size=3) -> bytes
///
/// Encodes an ASDU given as JSON in the serde model of `asdu_to_json`.
#[pyfunction]
#[pyo3(signature = (json, *, cot_size=2, ca_size=2, ioa_size=3))]
fn encode_asdu_json<'py>(
    py: Python<'py>,
    json: &str,
    cot_size: u8,
    ca_size: u8,
    ioa_size: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    let p = params(cot_size, ca_size, ioa_size)?;
    let a: OwnedAsdu = serde_json::from_str(json).map_err(|e| EncodeError::new_err(format!("ASDU JSON: {e}")))?;
    let mut out = bytes::BytesMut::new();
    a.encode(&p, &mut out).map_err(|e| EncodeError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

/// i_frame(asdu, send_seq=0, recv_seq=0) -> bytes: wraps an ASDU in an I-format APDU.
#[pyfunction]
#[pyo3(signature = (asdu, send_seq=0, recv_seq=0))]
fn i_frame<'py>(py: Python<'py>, asdu: &[u8], send_seq: u16, recv_seq: u16) -> PyResult<Bound<'py, PyBytes>> {
    use iec104::apci::{write_frame, Apci};
    use iec104::types::SeqNo;
    let seq = |n: u16| SeqNo::new(n).ok_or_else(|| EncodeError::new_err(format!("sequence number {n}: 0..=32767")));
    let mut out = bytes::BytesMut::new();
    write_frame::<iec104::EncodeError>(Apci::I { send: seq(send_seq)?, recv: seq(recv_seq)? }, &mut out, |o| {
        o.extend_from_slice(asdu);
        Ok(())
    })
    .map_err(|e| EncodeError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

#[pymodule]
fn _zero104(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Iec104Error", py.get_type::<Iec104Error>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("EncodeError", py.get_type::<EncodeError>())?;
    m.add("LinkError", py.get_type::<LinkError>())?;
    m.add("CommandError", py.get_type::<CommandError>())?;
    m.add("Iec104Timeout", py.get_type::<Iec104Timeout>())?;
    m.add_function(wrap_pyfunction!(decode_apdus, m)?)?;
    m.add_function(wrap_pyfunction!(decode_asdus, m)?)?;
    m.add_function(wrap_pyfunction!(asdu_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(encode_asdu_json, m)?)?;
    m.add_function(wrap_pyfunction!(i_frame, m)?)?;
    m.add_function(wrap_pyfunction!(pcap::decode_pcap, m)?)?;
    m.add_function(wrap_pyfunction!(link::encode_points, m)?)?;
    m.add_class::<link::Point>()?;
    m.add_class::<link::Master>()?;
    m.add_class::<link::Slave>()?;
    m.add_class::<compact::Compactor>()?;
    Ok(())
}
