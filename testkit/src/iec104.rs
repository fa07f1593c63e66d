//! IEC 104 peers for tests: a raw-socket master built on the `iec104` codec, the c104
//! (lib60870) station started from `iec104/tests/interop/c104_server.py`, and the normalised JSON
//! form the interop peers print.

use bytes::BytesMut;
use iec104::apci::{Apci, UFunction};
use iec104::asdu::{AsduParams, Body, OwnedAsdu};
use iec104::codec::{ApduCodec, Frame};
use iec104::types::SeqNo;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub use crate::port::free_port;
pub use crate::process::ChildGuard;

/// A minimal controlling station over a blocking socket: enough to drive a peer in a test.
pub struct RawMaster {
    /// The socket.
    pub stream: TcpStream,
    buf: BytesMut,
    send: SeqNo,
    recv: SeqNo,
    /// Every frame received, in order.
    pub log: Vec<Frame>,
}

impl RawMaster {
    /// Connects to `addr`, retrying until `within`.
    pub fn connect(addr: &str, within: Duration) -> RawMaster {
        let deadline = Instant::now() + within;
        loop {
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                    return RawMaster {
                        stream,
                        buf: BytesMut::new(),
                        send: SeqNo::default(),
                        recv: SeqNo::default(),
                        log: vec![],
                    };
                }
                Err(e) if Instant::now() > deadline => panic!("cannot connect to {addr}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Sends a U-frame.
    pub fn send_u(&mut self, f: UFunction) {
        let mut out = BytesMut::new();
        Frame::control(Apci::U(f)).encode(&mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// Sends `asdu` in an I-frame.
    pub fn send_asdu(&mut self, asdu: &OwnedAsdu) {
        let mut out = BytesMut::new();
        let apci = Apci::I { send: self.send, recv: self.recv };
        iec104::apci::write_frame(apci, &mut out, |b| asdu.encode(&AsduParams::default(), b)).unwrap();
        self.send = self.send.next();
        self.stream.write_all(&out).unwrap();
    }

    /// The next frame, acknowledging I-frames at once; `None` at the deadline.
    pub fn next_frame(&mut self, deadline: Instant) -> Option<Frame> {
        let codec = ApduCodec::default();
        loop {
            if let Some(f) = codec.decode_frame(&mut self.buf).expect("peer sent a malformed frame") {
                match f.apci {
                    Apci::I { send, .. } => {
                        self.recv = send.next();
                        let mut out = BytesMut::new();
                        Frame::control(Apci::S { recv: self.recv }).encode(&mut out).unwrap();
                        self.stream.write_all(&out).unwrap();
                    }
                    Apci::U(UFunction::TestFrAct) => self.send_u(UFunction::TestFrCon),
                    _ => {}
                }
                self.log.push(f.clone());
                return Some(f);
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// STARTDT, waiting for its confirmation.
    pub fn start_dt(&mut self) {
        self.send_u(UFunction::StartDtAct);
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(f) = self.next_frame(deadline) {
            if f.apci == Apci::U(UFunction::StartDtCon) {
                return;
            }
        }
        panic!("no STARTDT con");
    }
}

/// Every monitor-direction object of `body` in the normalised JSON form the interop peers print:
/// `{ioa, tid, v, q, t, ...}`; `t` is `{"epoch_ms"}` for CP56Time2a, `{"min","ms"}` for CP24.
pub fn normalise(body: &Body<'_>) -> Vec<Value> {
    use iec104::types::{Cp24Time2a, Cp56Time2a};
    let t56 = |t: &Cp56Time2a| json!({"epoch_ms": t.to_unix_millis()});
    let t24 = |t: &Cp24Time2a| json!({"min": t.minute(), "ms": t.millisecond()});
    let tid = body.type_id().0;
    let mut out = vec![];
    macro_rules! each {
        ($objs:expr, |$v:ident| $f:expr, $t:expr) => {
            for o in $objs.iter() {
                let $v = o.value;
                let mut j: Value = $f;
                j["ioa"] = json!(o.ioa.get());
                j["tid"] = json!(tid);
                j["t"] = $t(&$v);
                out.push(j);
            }
        };
    }
    let none = |_: &dyn std::any::Any| Value::Null;
    match body {
        Body::SinglePoint(o) => each!(o, |v| json!({"v": v.value(), "q": v.0 & 0xF0}), |_: &_| Value::Null),
        Body::SinglePointTime24(o) => {
            each!(o, |v| json!({"v": v.value.value(), "q": v.value.0 & 0xF0}), |v: &iec104::asdu::Timed<_, _>| t24(
                &v.time
            ))
        }
        Body::SinglePointTime56(o) => {
            each!(o, |v| json!({"v": v.value.value(), "q": v.value.0 & 0xF0}), |v: &iec104::asdu::Timed<_, _>| t56(
                &v.time
            ))
        }
        Body::DoublePoint(o) => each!(o, |v| json!({"v": v.value().bits(), "q": v.0 & 0xF0}), |_: &_| Value::Null),
        Body::DoublePointTime56(o) => {
            each!(o, |v| json!({"v": v.value.value().bits(), "q": v.value.0 & 0xF0}), |v: &iec104::asdu::Timed<
                _,
                _,
            >| t56(&v.time))
        }
        Body::StepPosition(o) => {
            each!(o, |v| json!({"v": v.vti.value(), "transient": v.vti.transient(), "q": v.qds.0}), |_: &_| Value::Null)
        }
        Body::StepPositionTime56(o) => each!(
            o,
            |v| json!({"v": v.value.vti.value(), "transient": v.value.vti.transient(), "q": v.value.qds.0}),
            |v: &iec104::asdu::Timed<_, _>| t56(&v.time)
        ),
        Body::Bitstring(o) => each!(o, |v| json!({"v": v.bsi, "q": v.qds.0}), |_: &_| Value::Null),
        Body::BitstringTime56(o) => {
            each!(o, |v| json!({"v": v.value.bsi, "q": v.value.qds.0}), |v: &iec104::asdu::Timed<_, _>| t56(&v.time))
        }
        Body::Normalized(o) => each!(o, |v| json!({"v": v.nva.to_f32(), "q": v.qds.0}), |_: &_| Value::Null),
        Body::NormalizedTime56(o) => {
            each!(o, |v| json!({"v": v.value.nva.to_f32(), "q": v.value.qds.0}), |v: &iec104::asdu::Timed<_, _>| t56(
                &v.time
            ))
        }
        Body::NormalizedNoQuality(o) => each!(o, |v| json!({"v": v.to_f32()}), |_: &_| Value::Null),
        Body::Scaled(o) => each!(o, |v| json!({"v": v.sva, "q": v.qds.0}), |_: &_| Value::Null),
        Body::ScaledTime56(o) => {
            each!(o, |v| json!({"v": v.value.sva, "q": v.value.qds.0}), |v: &iec104::asdu::Timed<_, _>| t56(&v.time))
        }
        Body::ShortFloat(o) => each!(o, |v| json!({"v": v.value, "q": v.qds.0}), |_: &_| Value::Null),
        Body::ShortFloatTime56(o) => {
            each!(o, |v| json!({"v": v.value.value, "q": v.value.qds.0}), |v: &iec104::asdu::Timed<_, _>| t56(&v.time))
        }
        Body::IntegratedTotals(o) => {
            each!(o, |v| json!({"v": v.value, "seq": v.sequence(), "q": v.status & 0xE0}), |_: &_| Value::Null)
        }
        Body::IntegratedTotalsTime56(o) => each!(
            o,
            |v| json!({"v": v.value.value, "seq": v.value.sequence(), "q": v.value.status & 0xE0}),
            |v: &iec104::asdu::Timed<_, _>| t56(&v.time)
        ),
        Body::ProtectionEventTime56(o) => each!(
            o,
            |v| json!({"v": v.value.sep.state().bits(), "elapsed": v.value.elapsed.0, "q": v.value.sep.0 & 0xF8}),
            |v: &iec104::asdu::Timed<_, _>| t56(&v.time)
        ),
        Body::PackedStartEventsTime56(o) => each!(
            o,
            |v| json!({"v": v.value.spe.0, "elapsed": v.value.duration.0, "q": v.value.qdp.0}),
            |v: &iec104::asdu::Timed<_, _>| t56(&v.time)
        ),
        Body::PackedOutputCircuitTime56(o) => each!(
            o,
            |v| json!({"v": v.value.oci.0, "elapsed": v.value.operating_time.0, "q": v.value.qdp.0}),
            |v: &iec104::asdu::Timed<_, _>| t56(&v.time)
        ),
        Body::PackedSinglePoint(o) => {
            each!(o, |v| json!({"v": v.scd.status(), "changed": v.scd.changed(), "q": v.qds.0}), |_: &_| Value::Null)
        }
        _ => {
            let _ = none;
        }
    }
    out
}

/// Compares an expected point with a decoded one, key by key (floats within `tol`).
pub fn same_point(expected: &Value, got: &Value, tol: f64) -> Result<(), String> {
    let exp = expected.as_object().unwrap();
    for (k, e) in exp {
        let g = &got[k];
        let ok = match (e.as_f64(), g.as_f64()) {
            (Some(a), Some(b)) if e.is_f64() || g.is_f64() => (a - b).abs() <= tol,
            _ => e == g,
        };
        if !ok {
            return Err(format!("key {k}: expected {e}, got {g} (expected {expected}, got {got})"));
        }
    }
    Ok(())
}

/// A typed point in the same normalised JSON form as [`normalise`].
pub fn normalise_point(tid: u8, p: &iec104::point::Point) -> Value {
    use iec104::point::{PointValue as V, TimeTag};
    let q = p.quality.0;
    let mut j = match p.value {
        V::Single(b) => json!({"v": b, "q": q & 0xF0}),
        V::Double(d) => json!({"v": d.bits(), "q": q & 0xF0}),
        V::Step { value, transient } => json!({"v": value, "transient": transient, "q": q}),
        V::Bitstring(b) => json!({"v": b, "q": q}),
        V::Normalized(n) => json!({"v": n.to_f32(), "q": q}),
        V::Scaled(s) => json!({"v": s, "q": q}),
        V::Float(f) => json!({"v": f, "q": q}),
        V::Counter(b) => json!({"v": b.value, "seq": b.sequence(), "q": b.status & 0xE0}),
        V::ProtectionEvent(e) => json!({"v": e.sep.state().bits(), "elapsed": e.elapsed.0, "q": e.sep.0 & 0xF8}),
        V::PackedStartEvents(e) => json!({"v": e.spe.0, "elapsed": e.duration.0, "q": e.qdp.0}),
        V::PackedOutputCircuit(e) => json!({"v": e.oci.0, "elapsed": e.operating_time.0, "q": e.qdp.0}),
        V::PackedSinglePoint(s) => json!({"v": s.status(), "changed": s.changed(), "q": q}),
        _ => json!({}),
    };
    j["ioa"] = json!(p.ioa.get());
    j["tid"] = json!(tid);
    j["t"] = match p.time {
        TimeTag::None => Value::Null,
        TimeTag::Cp24(t) => json!({"min": t.minute(), "ms": t.millisecond()}),
        TimeTag::Cp56(t) => json!({"epoch_ms": t.to_unix_millis()}),
    };
    j
}

/// Starts `tests/interop/c104_server.py` (optionally on a fixed port); returns the guard, the
/// port and the points it serves.
pub fn start_c104_server(port: Option<u16>) -> (ChildGuard, u16, Vec<Value>) {
    start_c104_server_with(port, &[])
}

/// [`start_c104_server`] with environment variables for the script (`C104_COMMAND_LOG`).
pub fn start_c104_server_with(port: Option<u16>, env: &[(&str, &std::path::Path)]) -> (ChildGuard, u16, Vec<Value>) {
    use std::io::BufRead;
    let script = interop_script("c104_server.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script).envs(env.iter().copied());
    if let Some(p) = port {
        cmd.arg(p.to_string());
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("python3 with c104 (run scripts/test to install it)");
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
    let hello: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("c104 server did not start ({e}): {line:?}"));
    let port = hello["port"].as_u64().unwrap() as u16;
    (guard, port, hello["points"].as_array().unwrap().clone())
}

/// The path of `iec104/tests/interop/<name>` in this workspace.
pub fn interop_script(name: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../iec104/tests/interop").join(name);
    assert!(p.exists(), "interop script {} not found", p.display());
    p
}

/// Tolerance for comparing a point's value: normalised values are quantised.
pub fn tolerance(tid: u64) -> f64 {
    if matches!(tid, 9 | 10 | 21 | 34) {
        1.0 / 16384.0
    } else {
        0.0
    }
}
