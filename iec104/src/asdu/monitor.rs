//! Monitor direction (process information): types 1-21 and 30-40.
//!
//! The SIQ, DIQ, QDS and QDP octets are in [`crate::types`]; this file holds the other monitor
//! elements and the byte vectors for the family.

use super::{element_struct, newtype_element};
use crate::types::{Cp16Time2a, DoublePoint, Qdp, Qds};

newtype_element! {
    /// Value with transient state indication (VTI): a 7-bit signed step position and the transient
    /// flag (bit 7).
    Vti(u8) = "VTI"
}

impl Vti {
    /// A VTI from a position in -64..=63, or `None` outside it.
    pub const fn new(value: i8, transient: bool) -> Option<Vti> {
        if value < -64 || value > 63 {
            return None;
        }
        Some(Vti((value as u8 & 0x7F) | ((transient as u8) << 7)))
    }
    /// The step position, -64..=63.
    pub const fn value(self) -> i8 {
        ((self.0 << 1) as i8) >> 1
    }
    /// The equipment is in transient state.
    pub const fn transient(self) -> bool {
        self.0 & 0x80 != 0
    }
}

newtype_element! {
    /// Normalised value (NVA): a signed fraction, raw / 32768, in [-1, 1 - 2^-15].
    Nva(i16) = "NVA"
}

impl Nva {
    /// The value as a fraction (raw / 32768).
    pub fn to_f32(self) -> f32 {
        f32::from(self.0) / 32768.0
    }
    /// The nearest normalised value to `v`, saturating at the ends of the range.
    pub fn from_f32(v: f32) -> Nva {
        Nva((v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
    }
}

newtype_element! {
    /// Status and status change detection (SCD): 16 status bits (ST, low half) and 16 change bits
    /// (CD, high half).
    Scd(u32) = "SCD"
}

impl Scd {
    /// An SCD from status and change-detection bits.
    pub const fn new(status: u16, changed: u16) -> Scd {
        Scd(status as u32 | ((changed as u32) << 16))
    }
    /// Status bits ST1..ST16.
    pub const fn status(self) -> u16 {
        self.0 as u16
    }
    /// Change-detection bits CD1..CD16.
    pub const fn changed(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

crate::types::flag_octet! {
    /// Single event of protection equipment (SEP): ES bits 0-1 (a double-point state), EI bit 3,
    /// BL bit 4, SB bit 5, NT bit 6, IV bit 7.
    Sep = "SEP" {
        /// EI: elapsed time invalid.
        elapsed_time_invalid / with_elapsed_time_invalid = 3;
        /// BL: blocked.
        blocked / with_blocked = 4;
        /// SB: substituted.
        substituted / with_substituted = 5;
        /// NT: not topical.
        not_topical / with_not_topical = 6;
        /// IV: invalid.
        invalid / with_invalid = 7;
    }
}

impl Sep {
    /// The event state (ES).
    pub const fn state(self) -> DoublePoint {
        DoublePoint::from_bits(self.0)
    }
}

crate::types::flag_octet! {
    /// Start events of protection equipment (SPE): GS bit 0, SL1 bit 1, SL2 bit 2, SL3 bit 3,
    /// SIE bit 4, SRD bit 5.
    Spe = "SPE" {
        /// GS: general start of operation.
        general_start / with_general_start = 0;
        /// SL1: start of operation phase L1.
        phase_l1 / with_phase_l1 = 1;
        /// SL2: start of operation phase L2.
        phase_l2 / with_phase_l2 = 2;
        /// SL3: start of operation phase L3.
        phase_l3 / with_phase_l3 = 3;
        /// SIE: start of operation IE (earth current).
        earth_current / with_earth_current = 4;
        /// SRD: start of operation in reverse direction.
        reverse_direction / with_reverse_direction = 5;
    }
}

crate::types::flag_octet! {
    /// Output circuit information of protection equipment (OCI): GC bit 0, CL1 bit 1, CL2 bit 2,
    /// CL3 bit 3.
    Oci = "OCI" {
        /// GC: general command to output circuit.
        general / with_general = 0;
        /// CL1: command to output circuit phase L1.
        phase_l1 / with_phase_l1 = 1;
        /// CL2: command to output circuit phase L2.
        phase_l2 / with_phase_l2 = 2;
        /// CL3: command to output circuit phase L3.
        phase_l3 / with_phase_l3 = 3;
    }
}

element_struct! {
    /// Step position with quality (types 5, 6, 32).
    StepPosition { /** VTI. */ vti: Vti = "VTI", /** QDS. */ qds: Qds = "QDS" }
}

element_struct! {
    /// Bitstring of 32 bits with quality (types 7, 8, 33).
    Bitstring { /** BSI. */ bsi: u32 = "BSI", /** QDS. */ qds: Qds = "QDS" }
}

element_struct! {
    /// Normalised measured value with quality (types 9, 10, 34).
    Normalized { /** NVA. */ nva: Nva = "NVA", /** QDS. */ qds: Qds = "QDS" }
}

element_struct! {
    /// Scaled measured value with quality (types 11, 12, 35).
    Scaled { /** SVA. */ sva: i16 = "SVA", /** QDS. */ qds: Qds = "QDS" }
}

element_struct! {
    /// Short floating point measured value with quality (types 13, 14, 36).
    ShortFloat { /** IEEE STD 754 value. */ value: f32 = "IEEE STD 754", /** QDS. */ qds: Qds = "QDS" }
}

element_struct! {
    /// Binary counter reading (BCR, types 15, 16, 37): counter value and a status octet with
    /// sequence number (bits 0-4), CY carry (5), CA adjusted (6), IV invalid (7).
    Bcr { /** Counter reading. */ value: i32 = "BCR counter", /** Status octet. */ status: u8 = "BCR status" }
}

impl Bcr {
    /// A reading from its parts; `sequence` keeps its low 5 bits.
    pub const fn new(value: i32, sequence: u8, carry: bool, adjusted: bool, invalid: bool) -> Bcr {
        Bcr {
            value,
            status: (sequence & 0x1F) | ((carry as u8) << 5) | ((adjusted as u8) << 6) | ((invalid as u8) << 7),
        }
    }
    /// Sequence number (0..=31).
    pub const fn sequence(&self) -> u8 {
        self.status & 0x1F
    }
    /// CY: counter overflow in the integration period.
    pub const fn carry(&self) -> bool {
        self.status & 0x20 != 0
    }
    /// CA: counter adjusted since the last reading.
    pub const fn adjusted(&self) -> bool {
        self.status & 0x40 != 0
    }
    /// IV: invalid.
    pub const fn invalid(&self) -> bool {
        self.status & 0x80 != 0
    }
}

element_struct! {
    /// Event of protection equipment (types 17, 38): SEP and the elapsed time.
    ProtectionEvent { /** SEP. */ sep: Sep = "SEP", /** Elapsed time. */ elapsed: Cp16Time2a = "CP16Time2a" }
}

element_struct! {
    /// Packed start events of protection equipment (types 18, 39).
    PackedStartEvents {
        /** SPE. */ spe: Spe = "SPE",
        /** QDP. */ qdp: Qdp = "QDP",
        /** Relay duration time. */ duration: Cp16Time2a = "CP16Time2a",
    }
}

element_struct! {
    /// Packed output circuit information of protection equipment (types 19, 40).
    PackedOutputCircuit {
        /** OCI. */ oci: Oci = "OCI",
        /** QDP. */ qdp: Qdp = "QDP",
        /** Relay operating time. */ operating_time: Cp16Time2a = "CP16Time2a",
    }
}

element_struct! {
    /// Packed single-point information with status change detection (type 20).
    PackedSinglePoint { /** SCD. */ scd: Scd = "SCD", /** QDS. */ qds: Qds = "QDS" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdu::test_util::only;
    use crate::asdu::Timed;
    use crate::types::{Cot, Cp24Time2a, Cp56Time2a, Diq, Siq};

    // Byte vectors follow IEC 60870-5-101/104 clause 7.3.1 layouts, IEC 104 profile (COT 2,
    // CA 2, IOA 3). Header: type, VSQ, COT, originator, CA lo, CA hi.

    #[test]
    fn m_sp_na_1() {
        let (cause, o) = only::<Siq>(&[1, 1, 3, 0, 1, 0, 0x01, 0x00, 0x00, 0x81]);
        assert_eq!(cause.cot, Cot::SPONTANEOUS);
        assert_eq!(o.ioa.get(), 1);
        assert!(o.value.value() && o.value.invalid() && !o.value.blocked());
    }

    #[test]
    fn m_sp_ta_1() {
        let (_, o) = only::<Timed<Siq, Cp24Time2a>>(&[2, 1, 3, 0, 1, 0, 2, 0, 0, 0x10, 0x39, 0x30, 5]);
        assert!(!o.value.value.value() && o.value.value.blocked());
        assert_eq!((o.value.time.millisecond(), o.value.time.minute()), (12345, 5));
    }

    #[test]
    fn m_dp_na_1_and_ta_1() {
        let (_, o) = only::<Diq>(&[3, 1, 3, 0, 1, 0, 3, 0, 0, 0x22]);
        assert_eq!(o.value.value(), DoublePoint::On);
        assert!(o.value.substituted());
        let (_, o) = only::<Timed<Diq, Cp24Time2a>>(&[4, 1, 3, 0, 1, 0, 3, 0, 0, 0x01, 0, 0, 0x80]);
        assert_eq!(o.value.value.value(), DoublePoint::Off);
        assert!(o.value.time.invalid());
    }

    #[test]
    fn m_st_na_1_and_ta_1() {
        // VTI -1 transient, QDS OV
        let (_, o) = only::<StepPosition>(&[5, 1, 3, 0, 1, 0, 4, 0, 0, 0xFF, 0x01]);
        assert_eq!((o.value.vti.value(), o.value.vti.transient()), (-1, true));
        assert!(o.value.qds.overflow());
        let (_, o) = only::<Timed<StepPosition, Cp24Time2a>>(&[6, 1, 3, 0, 1, 0, 4, 0, 0, 0x3F, 0, 0, 0, 0]);
        assert_eq!(o.value.value.vti.value(), 63);
        assert_eq!(Vti::new(-64, false).unwrap().0, 0x40);
        assert!(Vti::new(64, false).is_none());
    }

    #[test]
    fn m_bo_na_1_and_ta_1() {
        let (_, o) = only::<Bitstring>(&[7, 1, 3, 0, 1, 0, 5, 0, 0, 0x78, 0x56, 0x34, 0x12, 0]);
        assert_eq!(o.value.bsi, 0x1234_5678);
        let (_, o) = only::<Timed<Bitstring, Cp24Time2a>>(&[8, 1, 3, 0, 1, 0, 5, 0, 0, 1, 0, 0, 0, 0x40, 0, 0, 1]);
        assert_eq!(o.value.value.bsi, 1);
        assert!(o.value.value.qds.not_topical());
    }

    #[test]
    fn m_me_na_1_ta_1_nd_1() {
        // NVA 0x4000 = 0.5
        let (_, o) = only::<Normalized>(&[9, 1, 3, 0, 1, 0, 6, 0, 0, 0x00, 0x40, 0]);
        assert_eq!(o.value.nva.to_f32(), 0.5);
        let (_, o) = only::<Timed<Normalized, Cp24Time2a>>(&[10, 1, 3, 0, 1, 0, 6, 0, 0, 0x00, 0x80, 0, 0, 0, 0]);
        assert_eq!(o.value.value.nva.to_f32(), -1.0);
        let (_, o) = only::<Nva>(&[21, 1, 3, 0, 1, 0, 6, 0, 0, 0xFF, 0x7F]);
        assert_eq!(o.value.0, i16::MAX);
        assert_eq!(Nva::from_f32(0.5), Nva(0x4000));
        assert_eq!(Nva::from_f32(2.0), Nva(i16::MAX));
    }

    #[test]
    fn m_me_nb_1_and_tb_1() {
        let (_, o) = only::<Scaled>(&[11, 1, 3, 0, 1, 0, 7, 0, 0, 0x18, 0xFC, 0]);
        assert_eq!(o.value.sva, -1000);
        let (_, o) = only::<Timed<Scaled, Cp24Time2a>>(&[12, 1, 3, 0, 1, 0, 7, 0, 0, 0xE8, 0x03, 0x10, 0, 0, 0]);
        assert_eq!(o.value.value.sva, 1000);
        assert!(o.value.value.qds.blocked());
    }

    #[test]
    fn m_me_nc_1_and_tc_1() {
        // 220.5 = 0x435C8000
        let (_, o) = only::<ShortFloat>(&[13, 1, 3, 0, 1, 0, 0xA4, 0x0F, 0, 0x00, 0x80, 0x5C, 0x43, 0]);
        assert_eq!((o.ioa.get(), o.value.value), (4004, 220.5));
        let (_, o) =
            only::<Timed<ShortFloat, Cp24Time2a>>(&[14, 1, 3, 0, 1, 0, 1, 0, 0, 0, 0, 0xC0, 0xBF, 0, 0xE8, 0x03, 1]);
        assert_eq!(o.value.value.value, -1.5);
        assert_eq!(o.value.time.millisecond(), 1000);
    }

    #[test]
    fn m_it_na_1_and_ta_1() {
        // counter -2, seq 3, carry, invalid
        let (_, o) = only::<Bcr>(&[15, 1, 37, 0, 1, 0, 8, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xA3]);
        assert_eq!(o.value.value, -2);
        assert_eq!(
            (o.value.sequence(), o.value.carry(), o.value.adjusted(), o.value.invalid()),
            (3, true, false, true)
        );
        assert_eq!(Bcr::new(-2, 3, true, false, true).status, 0xA3);
        let (_, o) = only::<Timed<Bcr, Cp24Time2a>>(&[16, 1, 3, 0, 1, 0, 8, 0, 0, 100, 0, 0, 0, 0x40, 0, 0, 0]);
        assert!(o.value.value.adjusted());
    }

    #[test]
    fn m_ep_ta_1_tb_1_tc_1() {
        // SEP: ES on (2), EI; elapsed 500 ms; CP24 minute 1
        let (_, o) =
            only::<Timed<ProtectionEvent, Cp24Time2a>>(&[17, 1, 3, 0, 1, 0, 9, 0, 0, 0x0A, 0xF4, 0x01, 0, 0, 1]);
        assert_eq!(o.value.value.sep.state(), DoublePoint::On);
        assert!(o.value.value.sep.elapsed_time_invalid());
        assert_eq!(o.value.value.elapsed.0, 500);
        let (_, o) =
            only::<Timed<PackedStartEvents, Cp24Time2a>>(&[18, 1, 3, 0, 1, 0, 9, 0, 0, 0x13, 0x80, 10, 0, 0, 0, 0]);
        let v = o.value.value;
        assert!(v.spe.general_start() && v.spe.phase_l1() && v.spe.earth_current() && !v.spe.phase_l2());
        assert!(v.qdp.invalid());
        assert_eq!(v.duration.0, 10);
        let (_, o) =
            only::<Timed<PackedOutputCircuit, Cp24Time2a>>(&[19, 1, 3, 0, 1, 0, 9, 0, 0, 0x09, 0x00, 20, 0, 0, 0, 0]);
        let v = o.value.value;
        assert!(v.oci.general() && v.oci.phase_l3() && !v.oci.phase_l1());
        assert_eq!(v.operating_time.0, 20);
    }

    #[test]
    fn m_ps_na_1() {
        let (_, o) = only::<PackedSinglePoint>(&[20, 1, 3, 0, 1, 0, 10, 0, 0, 0x01, 0x80, 0xFF, 0x00, 0x10]);
        assert_eq!(o.value.scd.status(), 0x8001);
        assert_eq!(o.value.scd.changed(), 0x00FF);
        assert_eq!(Scd::new(0x8001, 0x00FF), o.value.scd);
        assert!(o.value.qds.blocked());
    }

    /// 2026-06-05 14:30:01.234 (Friday), the CP56Time2a of clause 7.2.6.18.
    const T56: [u8; 7] = [0xD2, 0x04, 30, 14, (5 << 5) | 5, 6, 26];

    fn with_t56(head: &[u8]) -> Vec<u8> {
        let mut v = head.to_vec();
        v.extend_from_slice(&T56);
        v
    }

    #[test]
    fn cp56_monitor_types() {
        let check = |t: Cp56Time2a| {
            assert_eq!((t.year(), t.month(), t.day(), t.hour(), t.minute(), t.millisecond()), (26, 6, 5, 14, 30, 1234));
            assert_eq!(t.day_of_week(), 5);
        };
        let (_, o) = only::<Timed<Siq, Cp56Time2a>>(&with_t56(&[30, 1, 3, 0, 1, 0, 1, 0, 0, 1]));
        assert!(o.value.value.value());
        check(o.value.time);
        let (_, o) = only::<Timed<Diq, Cp56Time2a>>(&with_t56(&[31, 1, 3, 0, 1, 0, 1, 0, 0, 2]));
        assert_eq!(o.value.value.value(), DoublePoint::On);
        check(o.value.time);
        let (_, o) = only::<Timed<StepPosition, Cp56Time2a>>(&with_t56(&[32, 1, 3, 0, 1, 0, 1, 0, 0, 5, 0]));
        assert_eq!(o.value.value.vti.value(), 5);
        let (_, o) = only::<Timed<Bitstring, Cp56Time2a>>(&with_t56(&[33, 1, 3, 0, 1, 0, 1, 0, 0, 1, 2, 3, 4, 0]));
        assert_eq!(o.value.value.bsi, 0x0403_0201);
        let (_, o) = only::<Timed<Normalized, Cp56Time2a>>(&with_t56(&[34, 1, 3, 0, 1, 0, 1, 0, 0, 0, 0x20, 0]));
        assert_eq!(o.value.value.nva.to_f32(), 0.25);
        let (_, o) = only::<Timed<Scaled, Cp56Time2a>>(&with_t56(&[35, 1, 3, 0, 1, 0, 1, 0, 0, 0x39, 0x30, 0]));
        assert_eq!(o.value.value.sva, 12345);
        let (_, o) =
            only::<Timed<ShortFloat, Cp56Time2a>>(&with_t56(&[36, 1, 3, 0, 1, 0, 1, 0, 0, 0, 0x80, 0x5C, 0x43, 0]));
        assert_eq!(o.value.value.value, 220.5);
        check(o.value.time);
        let (_, o) = only::<Timed<Bcr, Cp56Time2a>>(&with_t56(&[37, 1, 37, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1]));
        assert_eq!((o.value.value.value, o.value.value.sequence()), (1, 1));
        let (_, o) = only::<Timed<ProtectionEvent, Cp56Time2a>>(&with_t56(&[38, 1, 3, 0, 1, 0, 1, 0, 0, 1, 5, 0]));
        assert_eq!(o.value.value.sep.state(), DoublePoint::Off);
        let (_, o) =
            only::<Timed<PackedStartEvents, Cp56Time2a>>(&with_t56(&[39, 1, 3, 0, 1, 0, 1, 0, 0, 0x20, 0, 1, 0]));
        assert!(o.value.value.spe.reverse_direction());
        let (_, o) =
            only::<Timed<PackedOutputCircuit, Cp56Time2a>>(&with_t56(&[40, 1, 3, 0, 1, 0, 1, 0, 0, 0x02, 0x08, 1, 0]));
        assert!(o.value.value.oci.phase_l1() && o.value.value.qdp.elapsed_time_invalid());
        check(o.value.time);
    }
}
