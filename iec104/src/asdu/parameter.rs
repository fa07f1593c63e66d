//! Parameters in control direction: types 110-113.

use super::{element_struct, octet_element};
use crate::asdu::monitor::Nva;

octet_element! {
    /// Qualifier of parameter of measured value (QPM): KPA bits 0-5 (1 threshold, 2 smoothing
    /// factor, 3 low limit, 4 high limit), LPC bit 6 (local parameter change), POP bit 7
    /// (parameter not in operation).
    Qpm = "QPM"
}

impl Qpm {
    /// A qualifier; `kpa` keeps its low 6 bits.
    pub const fn new(kpa: u8, local_change: bool, not_in_operation: bool) -> Qpm {
        Qpm((kpa & 0x3F) | ((local_change as u8) << 6) | ((not_in_operation as u8) << 7))
    }
    /// KPA: kind of parameter.
    pub const fn kind(self) -> u8 {
        self.0 & 0x3F
    }
    /// LPC: local parameter change.
    pub const fn local_change(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// POP: parameter not in operation.
    pub const fn not_in_operation(self) -> bool {
        self.0 & 0x80 != 0
    }
}

octet_element! {
    /// Qualifier of parameter activation (QPA): 1 act/deact previously loaded parameters, 2 of
    /// the addressed object, 3 of persistent cyclic or periodic transmission.
    Qpa = "QPA"
}

element_struct! {
    /// Parameter of measured value, normalised (110).
    ParameterNormalized { /** NVA. */ nva: Nva = "NVA", /** QPM. */ qpm: Qpm = "QPM" }
}

element_struct! {
    /// Parameter of measured value, scaled (111).
    ParameterScaled { /** SVA. */ sva: i16 = "SVA", /** QPM. */ qpm: Qpm = "QPM" }
}

element_struct! {
    /// Parameter of measured value, short floating point (112).
    ParameterFloat { /** IEEE STD 754 value. */ value: f32 = "IEEE STD 754", /** QPM. */ qpm: Qpm = "QPM" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdu::test_util::only;

    #[test]
    fn p_me_and_p_ac() {
        let (_, o) = only::<ParameterNormalized>(&[110, 1, 6, 0, 1, 0, 1, 0, 0, 0x00, 0x10, 0x01]);
        assert_eq!((o.value.nva.to_f32(), o.value.qpm.kind()), (0.125, 1));
        let (_, o) = only::<ParameterScaled>(&[111, 1, 6, 0, 1, 0, 1, 0, 0, 0x0A, 0x00, 0x43]);
        assert_eq!((o.value.sva, o.value.qpm.kind(), o.value.qpm.local_change()), (10, 3, true));
        let (_, o) = only::<ParameterFloat>(&[112, 1, 6, 0, 1, 0, 1, 0, 0, 0, 0, 0x20, 0x41, 0x84]);
        assert_eq!((o.value.value, o.value.qpm.kind(), o.value.qpm.not_in_operation()), (10.0, 4, true));
        assert_eq!(Qpm::new(4, false, true), o.value.qpm);
        let (_, o) = only::<Qpa>(&[113, 1, 6, 0, 1, 0, 1, 0, 0, 3]);
        assert_eq!(o.value, Qpa(3));
    }
}
