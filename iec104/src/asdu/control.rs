//! Control direction (commands): types 45-51 and, with CP56Time2a, 58-64.
//!
//! SCO, DCO and RCO share the qualifier of command (QOC): QU in bits 2-6 (0 no additional
//! definition, 1 short pulse, 2 long pulse, 3 persistent output) and S/E in bit 7 (1 select,
//! 0 execute).

use super::{element_struct, newtype_element, octet_element};
use crate::asdu::monitor::Nva;

const fn qoc(qu: u8, select: bool) -> u8 {
    ((qu & 0x1F) << 2) | ((select as u8) << 7)
}

/// The qualifier-of-command accessors SCO, DCO and RCO share.
macro_rules! qoc_accessors {
    ($($t:ty),*) => {$(
        impl $t {
            /// QU: qualifier (0 none, 1 short pulse, 2 long pulse, 3 persistent).
            pub const fn qu(self) -> u8 {
                (self.0 >> 2) & 0x1F
            }
            /// S/E: select (true) or execute (false).
            pub const fn select(self) -> bool {
                self.0 & 0x80 != 0
            }
        }
    )*};
}
qoc_accessors!(Sco, Dco, Rco);

octet_element! {
    /// Single command (SCO): SCS bit 0 (on), QU bits 2-6, S/E bit 7.
    Sco = "SCO"
}

impl Sco {
    /// A single command; `qu` keeps its low 5 bits.
    pub const fn new(on: bool, qu: u8, select: bool) -> Sco {
        Sco(on as u8 | qoc(qu, select))
    }
    /// SCS: the commanded state is on.
    pub const fn on(self) -> bool {
        self.0 & 1 != 0
    }
}

octet_element! {
    /// Double command (DCS bits 0-1: 1 off, 2 on; 0 and 3 not permitted), QU bits 2-6, S/E bit 7.
    Dco = "DCO"
}

impl Dco {
    /// A double command; `dcs` keeps its low 2 bits, `qu` its low 5.
    pub const fn new(dcs: u8, qu: u8, select: bool) -> Dco {
        Dco((dcs & 3) | qoc(qu, select))
    }
    /// DCS: 1 off, 2 on.
    pub const fn state(self) -> u8 {
        self.0 & 3
    }
}

octet_element! {
    /// Regulating step command (RCS bits 0-1: 1 next step lower, 2 next step higher), QU bits 2-6,
    /// S/E bit 7.
    Rco = "RCO"
}

impl Rco {
    /// A step command; `rcs` keeps its low 2 bits, `qu` its low 5.
    pub const fn new(rcs: u8, qu: u8, select: bool) -> Rco {
        Rco((rcs & 3) | qoc(qu, select))
    }
    /// RCS: 1 lower, 2 higher.
    pub const fn state(self) -> u8 {
        self.0 & 3
    }
}

octet_element! {
    /// Qualifier of set-point command (QOS): QL bits 0-6, S/E bit 7.
    Qos = "QOS"
}

impl Qos {
    /// A qualifier; `ql` keeps its low 7 bits.
    pub const fn new(ql: u8, select: bool) -> Qos {
        Qos((ql & 0x7F) | ((select as u8) << 7))
    }
    /// QL: 0 default.
    pub const fn ql(self) -> u8 {
        self.0 & 0x7F
    }
    /// S/E: select (true) or execute (false).
    pub const fn select(self) -> bool {
        self.0 & 0x80 != 0
    }
}

newtype_element! {
    /// Binary state information (BSI): 32 bits, the element of a bitstring command (51, 64).
    Bsi(u32) = "BSI"
}

element_struct! {
    /// Set-point command, normalised value (48, 61).
    SetpointNormalized { /** NVA. */ nva: Nva = "NVA", /** QOS. */ qos: Qos = "QOS" }
}

element_struct! {
    /// Set-point command, scaled value (49, 62).
    SetpointScaled { /** SVA. */ sva: i16 = "SVA", /** QOS. */ qos: Qos = "QOS" }
}

element_struct! {
    /// Set-point command, short floating point value (50, 63).
    SetpointFloat { /** IEEE STD 754 value. */ value: f32 = "IEEE STD 754", /** QOS. */ qos: Qos = "QOS" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdu::test_util::only;
    use crate::asdu::Timed;
    use crate::types::{Cot, Cp56Time2a};

    const T56: [u8; 7] = [0xD2, 0x04, 30, 14, 5, 6, 26];

    fn with_t56(head: &[u8]) -> Vec<u8> {
        let mut v = head.to_vec();
        v.extend_from_slice(&T56);
        v
    }

    #[test]
    fn c_sc_na_1() {
        // select, short pulse, on; activation
        let (cause, o) = only::<Sco>(&[45, 1, 6, 0, 1, 0, 0x88, 0x13, 0, 0x85]);
        assert_eq!(cause.cot, Cot::ACTIVATION);
        assert_eq!(o.ioa.get(), 5000);
        assert!(o.value.on() && o.value.select());
        assert_eq!(o.value.qu(), 1);
        assert_eq!(Sco::new(true, 1, true), o.value);
        // negative activation confirmation
        let (cause, _) = only::<Sco>(&[45, 1, 0x47, 0, 1, 0, 0x88, 0x13, 0, 0x01]);
        assert!(cause.negative);
        assert_eq!(cause.cot, Cot::ACTIVATION_CON);
    }

    #[test]
    fn c_dc_rc() {
        let (_, o) = only::<Dco>(&[46, 1, 6, 0, 1, 0, 1, 0, 0, 0x0E]);
        assert_eq!((o.value.state(), o.value.qu(), o.value.select()), (2, 3, false));
        let (_, o) = only::<Rco>(&[47, 1, 6, 0, 1, 0, 1, 0, 0, 0x81]);
        assert_eq!((o.value.state(), o.value.select()), (1, true));
        assert_eq!(Rco::new(1, 0, true), o.value);
    }

    #[test]
    fn c_se_na_nb_nc() {
        let (_, o) = only::<SetpointNormalized>(&[48, 1, 6, 0, 1, 0, 1, 0, 0, 0x00, 0xC0, 0x00]);
        assert_eq!(o.value.nva.to_f32(), -0.5);
        let (_, o) = only::<SetpointScaled>(&[49, 1, 6, 0, 1, 0, 1, 0, 0, 0x64, 0x00, 0x80]);
        assert_eq!((o.value.sva, o.value.qos.select()), (100, true));
        let (_, o) = only::<SetpointFloat>(&[50, 1, 6, 0, 1, 0, 1, 0, 0, 0, 0, 0x48, 0x42, 0x05]);
        assert_eq!((o.value.value, o.value.qos.ql()), (50.0, 5));
        assert_eq!(Qos::new(5, false), o.value.qos);
        let (_, o) = only::<Bsi>(&[51, 1, 6, 0, 1, 0, 1, 0, 0, 0xEF, 0xBE, 0xAD, 0xDE]);
        assert_eq!(o.value.0, 0xDEAD_BEEF);
    }

    #[test]
    fn time_tagged_commands() {
        let (_, o) = only::<Timed<Sco, Cp56Time2a>>(&with_t56(&[58, 1, 6, 0, 1, 0, 1, 0, 0, 0x01]));
        assert!(o.value.value.on());
        assert_eq!(o.value.time.minute(), 30);
        let (_, o) = only::<Timed<Dco, Cp56Time2a>>(&with_t56(&[59, 1, 6, 0, 1, 0, 1, 0, 0, 0x01]));
        assert_eq!(o.value.value.state(), 1);
        let (_, o) = only::<Timed<Rco, Cp56Time2a>>(&with_t56(&[60, 1, 6, 0, 1, 0, 1, 0, 0, 0x02]));
        assert_eq!(o.value.value.state(), 2);
        let (_, o) =
            only::<Timed<SetpointNormalized, Cp56Time2a>>(&with_t56(&[61, 1, 6, 0, 1, 0, 1, 0, 0, 0, 0x40, 0]));
        assert_eq!(o.value.value.nva.to_f32(), 0.5);
        let (_, o) = only::<Timed<SetpointScaled, Cp56Time2a>>(&with_t56(&[62, 1, 6, 0, 1, 0, 1, 0, 0, 0xFF, 0xFF, 0]));
        assert_eq!(o.value.value.sva, -1);
        let (_, o) =
            only::<Timed<SetpointFloat, Cp56Time2a>>(&with_t56(&[63, 1, 6, 0, 1, 0, 1, 0, 0, 0, 0, 0x80, 0x3F, 0]));
        assert_eq!(o.value.value.value, 1.0);
        let (_, o) = only::<Timed<Bsi, Cp56Time2a>>(&with_t56(&[64, 1, 6, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0]));
        assert_eq!(o.value.value.0, 1);
        assert_eq!(o.value.time.year(), 26);
    }
}
