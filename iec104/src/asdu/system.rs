//! System information: end of initialisation (70) and the system commands 100-107.

use super::{element_struct, newtype_element, octet_element, Element};
use crate::types::Cp56Time2a;
use bytes::BytesMut;

octet_element! {
    /// Cause of initialisation (COI): cause in bits 0-6 (0 local power switch on, 1 local manual
    /// reset, 2 remote reset), bit 7 set after a change of local parameters.
    Coi = "COI"
}

impl Coi {
    /// 0: local power switch on.
    pub const LOCAL_POWER_ON: Coi = Coi(0);
    /// 1: local manual reset.
    pub const LOCAL_MANUAL_RESET: Coi = Coi(1);
    /// 2: remote reset.
    pub const REMOTE_RESET: Coi = Coi(2);
    /// The cause (bits 0-6).
    pub const fn cause(self) -> u8 {
        self.0 & 0x7F
    }
    /// Initialisation after change of local parameters.
    pub const fn local_change(self) -> bool {
        self.0 & 0x80 != 0
    }
}

octet_element! {
    /// Qualifier of interrogation (QOI): 20 station, 21..=36 groups 1..=16.
    Qoi = "QOI"
}

impl Qoi {
    /// 20: station interrogation (global).
    pub const STATION: Qoi = Qoi(20);
    /// Interrogation of group `n` (1..=16).
    pub const fn group(n: u8) -> Option<Qoi> {
        if n >= 1 && n <= 16 {
            Some(Qoi(20 + n))
        } else {
            None
        }
    }
}

octet_element! {
    /// Qualifier of counter interrogation (QCC): RQT bits 0-5 (1..=4 group, 5 general), FRZ bits
    /// 6-7 (0 read, 1 freeze without reset, 2 freeze with reset, 3 reset).
    Qcc = "QCC"
}

impl Qcc {
    /// A qualifier; `rqt` keeps its low 6 bits, `frz` its low 2.
    pub const fn new(rqt: u8, frz: u8) -> Qcc {
        Qcc((rqt & 0x3F) | ((frz & 3) << 6))
    }
    /// RQT: request.
    pub const fn request(self) -> u8 {
        self.0 & 0x3F
    }
    /// FRZ: freeze/reset.
    pub const fn freeze(self) -> u8 {
        self.0 >> 6
    }
}

octet_element! {
    /// Qualifier of reset process command (QRP): 1 general reset, 2 reset of pending time-tagged
    /// information.
    Qrp = "QRP"
}

impl Qrp {
    /// 1: general reset of process.
    pub const GENERAL: Qrp = Qrp(1);
    /// 2: reset of pending information with time tag of the event buffer.
    pub const EVENT_BUFFER: Qrp = Qrp(2);
}

newtype_element! {
    /// Fixed test bit pattern (FBP) of C_TS_NA_1: 0x55AA.
    Fbp(u16) = "FBP"
}

impl Fbp {
    /// The standard pattern.
    pub const PATTERN: Fbp = Fbp(0x55AA);
}

/// The read command (C_RD_NA_1) carries no information element: only the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Read;

impl Element for Read {
    const LEN: usize = 0;
    const NAME: &'static str = "read";
    #[inline]
    fn read(_: &[u8]) -> Self {
        Read
    }
    #[inline]
    fn write(&self, _: &mut BytesMut) {}
}

element_struct! {
    /// Test command with time tag (C_TS_TA_1): test sequence counter and CP56Time2a.
    TestWithTime { /** TSC: test sequence counter. */ tsc: u16 = "TSC", /** Time. */ time: Cp56Time2a = "CP56Time2a" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdu::test_util::only;
    use crate::asdu::{Asdu, AsduParams};
    use crate::types::{Cot, Cp16Time2a};

    const T56: [u8; 7] = [0xD2, 0x04, 30, 14, 5, 6, 26];

    #[test]
    fn m_ei_na_1() {
        let (cause, o) = only::<Coi>(&[70, 1, 4, 0, 1, 0, 0, 0, 0, 0x81]);
        assert_eq!(cause.cot, Cot::INITIALIZED);
        assert_eq!((o.value.cause(), o.value.local_change()), (1, true));
    }

    #[test]
    fn c_ic_ci() {
        let (_, o) = only::<Qoi>(&[100, 1, 6, 0, 1, 0, 0, 0, 0, 20]);
        assert_eq!(o.value, Qoi::STATION);
        assert_eq!(Qoi::group(16), Some(Qoi(36)));
        assert_eq!(Qoi::group(17), None);
        let (_, o) = only::<Qcc>(&[101, 1, 6, 0, 1, 0, 0, 0, 0, 0x45]);
        assert_eq!((o.value.request(), o.value.freeze()), (5, 1));
        assert_eq!(Qcc::new(5, 1), o.value);
    }

    #[test]
    fn c_rd_na_1_has_no_element() {
        let bytes = [102, 1, 5, 0, 1, 0, 0x10, 0x27, 0];
        let (cause, o) = only::<Read>(&bytes);
        assert_eq!((cause.cot, o.ioa.get()), (Cot::REQUEST, 10_000));
        // two addresses, SQ=0
        let bytes = [102, 2, 5, 0, 1, 0, 1, 0, 0, 2, 0, 0];
        let a = Asdu::decode(&bytes, &AsduParams::default()).unwrap();
        let ioas: Vec<_> = a.objects::<Read>().unwrap().iter().map(|o| o.ioa.get()).collect();
        assert_eq!(ioas, [1, 2]);
        crate::asdu::test_util::round_trip(&bytes);
    }

    #[test]
    fn c_cs_ts_rp_cd() {
        let mut b = vec![103, 1, 6, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(&T56);
        let (_, o) = only::<Cp56Time2a>(&b);
        assert_eq!((o.value.hour(), o.value.millisecond()), (14, 1234));
        let (_, o) = only::<Fbp>(&[104, 1, 6, 0, 1, 0, 0, 0, 0, 0xAA, 0x55]);
        assert_eq!(o.value, Fbp::PATTERN);
        let (_, o) = only::<Qrp>(&[105, 1, 6, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(o.value, Qrp::GENERAL);
        let (_, o) = only::<Cp16Time2a>(&[106, 1, 6, 0, 1, 0, 0, 0, 0, 0xE8, 0x03]);
        assert_eq!(o.value.0, 1000);
        let mut b = vec![107, 1, 6, 0, 1, 0, 0, 0, 0, 0x34, 0x12];
        b.extend_from_slice(&T56);
        let (_, o) = only::<TestWithTime>(&b);
        assert_eq!((o.value.tsc, o.value.time.day()), (0x1234, 5));
    }
}
