//! Bulk decoding into columns: a stream of APDUs (or single ASDUs) turned into one row per
//! monitored information object, in plain vectors ready to hand to numpy, Arrow or a database
//! bulk load. No per-row allocation: each column grows by one value per object.
//!
//! Values are numbers: single and double points as their state (0/1, 0..3), step positions,
//! bitstrings, normalised values as fractions (raw / 32768), scaled and float values, counter
//! readings, protection events as their 2-bit state, packed start events and output circuits as
//! their bits, packed single points as their 16 status bits. Quality is the QDS octet (for
//! protection types the QDP; for counters IV in bit 7).
//!
//! ```
//! use iec104::columns::{Columns, NAT};
//! use iec104::asdu::AsduParams;
//! // one I-frame carrying M_ME_NC_1 (float) 220.5 at IOA 4004 of station 1, spontaneous
//! let frame = [0x68, 0x12, 0x02, 0x00, 0x00, 0x00, 13, 1, 3, 0, 1, 0, 0xA4, 0x0F, 0x00, 0x00, 0x80, 0x5C, 0x43, 0x00];
//! let mut cols = Columns::default();
//! let done = cols.push_apdus(&frame, &AsduParams::default(), NAT, 0).unwrap();
//! assert_eq!((done.frames, done.consumed), (1, frame.len()));
//! assert_eq!((cols.ioa[0], cols.value[0], cols.type_id[0], cols.cot[0]), (4004, 220.5, 13, 3));
//! ```

use crate::apci::{frame_len, Apci, MAX_APDU_LEN};
use crate::asdu::{Asdu, AsduParams};
use crate::error::DecodeError;
use crate::point::{for_each_point, PointValue, TimeTag};

/// "No time": the value of a time column for a row without one (numpy's NaT).
pub const NAT: i64 = i64::MIN;

/// One row per information object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    /// When the frame was seen (ns since the Unix epoch; [`NAT`] when the caller gave none).
    pub time_ns: Vec<i64>,
    /// The caller's station code (an index into its own list of stations).
    pub station: Vec<u32>,
    /// Common address of the ASDU.
    pub common_address: Vec<u16>,
    /// Information object address.
    pub ioa: Vec<u32>,
    /// Type identification.
    pub type_id: Vec<u8>,
    /// Cause of transmission (6 bits).
    pub cot: Vec<u8>,
    /// The value as a number (see the module docs).
    pub value: Vec<f64>,
    /// Quality bits.
    pub quality: Vec<u8>,
    /// The object's CP56Time2a time tag (ns since the epoch, read as UTC); [`NAT`] when it has
    /// none (or a CP24 one).
    pub device_time_ns: Vec<i64>,
}

/// What [`Columns::push_apdus`] got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// APDUs decoded (I, S and U frames).
    pub frames: usize,
    /// Bytes used; the rest is an incomplete frame to be completed by more bytes.
    pub consumed: usize,
}

/// A point's value as a number.
pub fn point_value(v: &PointValue) -> f64 {
    match *v {
        PointValue::Single(b) => f64::from(u8::from(b)),
        PointValue::Double(d) => f64::from(d as u8),
        PointValue::Step { value, .. } => f64::from(value),
        PointValue::Bitstring(b) => f64::from(b),
        PointValue::Normalized(n) => f64::from(n.to_f32()),
        PointValue::Scaled(s) => f64::from(s),
        PointValue::Float(f) => f64::from(f),
        PointValue::Counter(c) => f64::from(c.value),
        PointValue::ProtectionEvent(e) => f64::from(e.sep.0 & 0x03),
        PointValue::PackedStartEvents(e) => f64::from(e.spe.0),
        PointValue::PackedOutputCircuit(e) => f64::from(e.oci.0),
        PointValue::PackedSinglePoint(p) => f64::from(p.status()),
    }
}

fn in_frame(offset: usize, error: DecodeError) -> DecodeError {
    DecodeError::Frame { offset, error: Box::new(error) }
}

impl Columns {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.ioa.len()
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.ioa.is_empty()
    }

    fn reserve(&mut self, n: usize) {
        self.time_ns.reserve(n);
        self.station.reserve(n);
        self.common_address.reserve(n);
        self.ioa.reserve(n);
        self.type_id.reserve(n);
        self.cot.reserve(n);
        self.value.reserve(n);
        self.quality.reserve(n);
        self.device_time_ns.reserve(n);
    }

    /// Appends the objects of one ASDU (control-direction and system types add no rows).
    /// Returns the rows added.
    ///
    /// # Errors
    /// As [`Asdu::decode`]; nothing is appended then.
    pub fn push_asdu(
        &mut self,
        asdu: &[u8],
        params: &AsduParams,
        time_ns: i64,
        station: u32,
    ) -> Result<usize, DecodeError> {
        let a = Asdu::decode(asdu, params)?;
        let (ca, tid, cot) = (a.common_address.0, a.type_id().0, a.cause.cot.0);
        self.reserve(a.body.len());
        let before = self.len();
        for_each_point(&a.body, |p| {
            self.time_ns.push(time_ns);
            self.station.push(station);
            self.common_address.push(ca);
            self.ioa.push(p.ioa.get());
            self.type_id.push(tid);
            self.cot.push(cot);
            self.value.push(point_value(&p.value));
            self.quality.push(p.quality.0);
            self.device_time_ns.push(match p.time {
                TimeTag::Cp56(t) if !t.invalid() => t.to_unix_millis().saturating_mul(1_000_000),
                _ => NAT,
            });
        });
        Ok(self.len() - before)
    }

    /// Appends the objects of every I-frame in `bytes` (a byte stream of back-to-back APDUs, as
    /// read off one direction of a connection). Stops before an incomplete last frame.
    ///
    /// # Errors
    /// [`DecodeError::Frame`]: the offset of the first frame that does not decode, and why;
    /// the rows of the frames before it stay appended.
    pub fn push_apdus(
        &mut self,
        bytes: &[u8],
        params: &AsduParams,
        time_ns: i64,
        station: u32,
    ) -> Result<Progress, DecodeError> {
        let mut at = 0;
        let mut frames = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            let total = match frame_len(rest, MAX_APDU_LEN) {
                Ok(Some(n)) if n <= rest.len() => n,
                Ok(_) => break,
                Err(e) => return Err(in_frame(at, e)),
            };
            let frame = &rest[..total];
            let apci = Apci::decode([frame[2], frame[3], frame[4], frame[5]]).map_err(|e| in_frame(at, e))?;
            if matches!(apci, Apci::I { .. }) {
                self.push_asdu(&frame[6..], params, time_ns, station).map_err(|e| in_frame(at, e))?;
            }
            frames += 1;
            at += total;
        }
        Ok(Progress { frames, consumed: at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apci::{write_control, write_frame, Apci};
    use crate::asdu::{Cause, InfoObjects, OwnedAsdu};
    use crate::point::{encode_points, Point};
    use crate::types::{CommonAddress, Cot, Cp56Time2a, Ioa, Qds, SeqNo, TypeId};
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn i_frame(out: &mut BytesMut, ca: u16, pts: &[Point], tid: TypeId) {
        let body = encode_points(tid, pts.iter()).unwrap();
        let asdu = OwnedAsdu { cause: Cause::new(Cot::SPONTANEOUS), common_address: CommonAddress(ca), body };
        let params = AsduParams::default();
        write_frame::<crate::error::EncodeError>(
            Apci::I { send: SeqNo::new(0).unwrap(), recv: SeqNo::new(0).unwrap() },
            out,
            |o| asdu.encode(&params, o),
        )
        .unwrap();
    }

    proptest! {
        /// Any bytes: an error or progress, never a panic, never more consumed than given.
        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut c = Columns::default();
            if let Ok(p) = c.push_apdus(&bytes, &AsduParams::default(), NAT, 0) {
                prop_assert!(p.consumed <= bytes.len());
            }
            let n = c.len();
            prop_assert!(c.value.len() == n && c.quality.len() == n && c.device_time_ns.len() == n);
        }

        /// Floats with time tags written as frames (S-frames between) come back row for row,
        /// also when the stream is cut anywhere and fed in two parts.
        #[test]
        fn round_trip(vals in proptest::collection::vec((1u32..100_000, -1e6f32..1e6, any::<bool>()), 1..60), cut in 0usize..4000) {
            let t = Cp56Time2a::from_unix_millis(1_780_000_000_123);
            let pts: Vec<Point> = vals.iter().map(|(ioa, v, inv)| Point {
                ioa: Ioa::new(*ioa).unwrap(),
                value: PointValue::Float(*v),
                quality: if *inv { Qds(0x80) } else { Qds::GOOD },
                time: TimeTag::Cp56(t),
            }).collect();
            let mut out = BytesMut::new();
            for chunk in pts.chunks(15) {
                i_frame(&mut out, 7, chunk, TypeId::M_ME_TF_1);
                write_control(Apci::S { recv: SeqNo::new(1).unwrap() }, &mut out);
            }
            let cut = cut.min(out.len());
            let mut c = Columns::default();
            let p1 = c.push_apdus(&out[..cut], &AsduParams::default(), 5, 3).unwrap();
            let p2 = c.push_apdus(&out[p1.consumed..], &AsduParams::default(), 5, 3).unwrap();
            prop_assert_eq!(p1.consumed + p2.consumed, out.len());
            prop_assert_eq!(c.len(), pts.len());
            for (i, p) in pts.iter().enumerate() {
                prop_assert_eq!(c.ioa[i], p.ioa.get());
                prop_assert_eq!(c.value[i], f64::from(match p.value { PointValue::Float(f) => f, _ => unreachable!() }));
                prop_assert_eq!(c.quality[i], p.quality.0);
                prop_assert_eq!(c.device_time_ns[i], 1_780_000_000_123 * 1_000_000);
                prop_assert_eq!((c.time_ns[i], c.station[i], c.common_address[i], c.type_id[i], c.cot[i]), (5, 3, 7, 36, 3));
            }
        }
    }

    #[test]
    fn values_of_every_kind_and_errors_with_offsets() {
        let mut out = BytesMut::new();
        let single = [Point::new(Ioa::new(1).unwrap(), PointValue::Single(true))];
        i_frame(&mut out, 1, &single, TypeId::M_SP_NA_1);
        let scaled = [Point::new(Ioa::new(2).unwrap(), PointValue::Scaled(-300))];
        i_frame(&mut out, 1, &scaled, TypeId::M_ME_NB_1);
        // a command (not a monitored point) adds no row
        let gi = OwnedAsdu::new(
            Cause::new(Cot::ACTIVATION),
            CommonAddress(1),
            InfoObjects::one(Ioa::new(0).unwrap(), crate::asdu::Qoi(20)),
        );
        write_frame::<crate::error::EncodeError>(
            Apci::I { send: SeqNo::new(1).unwrap(), recv: SeqNo::new(0).unwrap() },
            &mut out,
            |o| gi.encode(&AsduParams::default(), o),
        )
        .unwrap();
        let good = out.len();
        out.extend_from_slice(&[0x68, 0x04, 0x43, 0x00, 0x00, 0x00, 0x99]);
        let mut c = Columns::default();
        let e = c.push_apdus(&out, &AsduParams::default(), NAT, 0).unwrap_err();
        assert_eq!(c.value, [1.0, -300.0]);
        assert_eq!(c.device_time_ns, [NAT, NAT]);
        match e {
            DecodeError::Frame { offset, .. } => assert_eq!(offset, good + 6),
            e => panic!("{e:?}"),
        }
    }
}
