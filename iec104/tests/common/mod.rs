//! Helpers shared by the interop tests: a raw-socket master built on this crate's codec, and a
//! guard that stops a peer process.
#![allow(dead_code, unreachable_pub)]

use bytes::BytesMut;
use iec104::apci::{Apci, UFunction};
use iec104::asdu::{AsduParams, Body, OwnedAsdu};
use iec104::codec::{ApduCodec, Frame};
use iec104::types::SeqNo;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// Kills the child on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal controlling station over a blocking socket: enough to drive a peer in a test.
pub struct RawMaster {
    pub stream: TcpStream,
    buf: BytesMut,
    send: SeqNo,
    recv: SeqNo,
    pub log: Vec<Frame>,
}

impl RawMaster {
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

    pub fn send_u(&mut self, f: UFunction) {
        let mut out = BytesMut::new();
        Frame::control(Apci::U(f)).encode(&mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

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
