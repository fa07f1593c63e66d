//! Quality descriptors (QDS, QDP) and the quality-carrying point octets (SIQ, DIQ).
//!
//! Each is a newtype over the raw octet, so every bit, reserved ones included, round-trips.

/// Declares a newtype over a raw octet with named single-bit flags.
macro_rules! flag_octet {
    ($(#[$doc:meta])* $name:ident = $wire:literal { $($(#[$fdoc:meta])* $get:ident / $with:ident = $bit:expr;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub u8);

        impl $name {
            $(
                $(#[$fdoc])*
                #[inline]
                pub const fn $get(self) -> bool {
                    self.0 & (1 << $bit) != 0
                }

                #[doc = concat!("A copy with `", stringify!($get), "` set to `on`.")]
                #[inline]
                #[must_use]
                pub const fn $with(self, on: bool) -> Self {
                    if on { Self(self.0 | (1 << $bit)) } else { Self(self.0 & !(1 << $bit)) }
                }
            )*
        }

        impl crate::asdu::Element for $name {
            const LEN: usize = 1;
            const NAME: &'static str = $wire;
            #[inline]
            fn read(b: &[u8]) -> Self {
                Self(b[0])
            }
            #[inline]
            fn write(&self, out: &mut bytes::BytesMut) {
                bytes::BufMut::put_u8(out, self.0);
            }
        }
    };
}
pub(crate) use flag_octet;

flag_octet! {
    /// Quality descriptor (QDS): OV bit 0, BL bit 4, SB bit 5, NT bit 6, IV bit 7.
    ///
    /// ```
    /// use iec104::types::Qds;
    /// let q = Qds::GOOD.with_invalid(true);
    /// assert_eq!(q.0, 0x80);
    /// assert!(q.invalid() && !q.is_good());
    /// ```
    Qds = "QDS" {
        /// OV: overflow.
        overflow / with_overflow = 0;
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

impl Qds {
    /// No flag set.
    pub const GOOD: Qds = Qds(0);

    /// True when no quality flag (OV, BL, SB, NT, IV) is set.
    pub const fn is_good(self) -> bool {
        self.0 & 0xF1 == 0
    }
}

flag_octet! {
    /// Quality descriptor for protection events (QDP): EI bit 3, BL bit 4, SB bit 5, NT bit 6,
    /// IV bit 7.
    Qdp = "QDP" {
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

flag_octet! {
    /// Single-point information with quality (SIQ): SPI bit 0, BL bit 4, SB bit 5, NT bit 6,
    /// IV bit 7.
    ///
    /// ```
    /// use iec104::types::{Qds, Siq};
    /// let siq = Siq::new(true, Qds::GOOD.with_not_topical(true));
    /// assert_eq!(siq.0, 0x41);
    /// assert!(siq.value());
    /// ```
    Siq = "SIQ" {
        /// SPI: the point is on.
        value / with_value = 0;
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

impl Siq {
    /// A SIQ from a value and the quality flags of `qds` (its OV bit is not part of SIQ).
    pub const fn new(value: bool, qds: Qds) -> Siq {
        Siq((qds.0 & 0xF0) | value as u8)
    }

    /// The quality flags as a [`Qds`].
    pub const fn quality(self) -> Qds {
        Qds(self.0 & 0xF0)
    }
}

/// Double-point state (DPI, two bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DoublePoint {
    /// 0: intermediate state.
    Intermediate,
    /// 1: determined state off.
    Off,
    /// 2: determined state on.
    On,
    /// 3: indeterminate state.
    Indeterminate,
}

impl DoublePoint {
    /// From the low two bits of `bits`.
    pub const fn from_bits(bits: u8) -> DoublePoint {
        match bits & 3 {
            0 => DoublePoint::Intermediate,
            1 => DoublePoint::Off,
            2 => DoublePoint::On,
            _ => DoublePoint::Indeterminate,
        }
    }

    /// The two-bit wire value.
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

flag_octet! {
    /// Double-point information with quality (DIQ): DPI bits 0-1, BL bit 4, SB bit 5, NT bit 6,
    /// IV bit 7.
    Diq = "DIQ" {
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

impl Diq {
    /// A DIQ from a state and the quality flags of `qds`.
    pub const fn new(value: DoublePoint, qds: Qds) -> Diq {
        Diq((qds.0 & 0xF0) | value.bits())
    }

    /// The double-point state.
    pub const fn value(self) -> DoublePoint {
        DoublePoint::from_bits(self.0)
    }

    /// The quality flags as a [`Qds`].
    pub const fn quality(self) -> Qds {
        Qds(self.0 & 0xF0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qds_bits() {
        let q = Qds::GOOD
            .with_overflow(true)
            .with_blocked(true)
            .with_substituted(true)
            .with_not_topical(true)
            .with_invalid(true);
        assert_eq!(q.0, 0xF1);
        assert!(q.overflow() && q.blocked() && q.substituted() && q.not_topical() && q.invalid());
        assert_eq!(q.with_overflow(false).0, 0xF0);
        assert!(Qds(0x0E).is_good(), "reserved bits are not quality flags");
    }

    #[test]
    fn diq_states() {
        for (bits, dp) in [
            (0, DoublePoint::Intermediate),
            (1, DoublePoint::Off),
            (2, DoublePoint::On),
            (3, DoublePoint::Indeterminate),
        ] {
            assert_eq!(Diq(0x80 | bits).value(), dp);
            assert_eq!(Diq::new(dp, Qds(0x80)).0, 0x80 | bits);
        }
        assert!(Diq(0x80).quality().invalid());
    }

    #[test]
    fn qdp_bits() {
        assert!(Qdp(0x08).elapsed_time_invalid());
        assert_eq!(Qdp::default().with_invalid(true).0, 0x80);
    }
}
