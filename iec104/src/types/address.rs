use std::fmt;

/// Information object address: 24 bits on the wire in the IEC 104 profile.
///
/// ```
/// use iec104::types::Ioa;
/// assert_eq!(Ioa::new(4004).unwrap().get(), 4004);
/// assert!(Ioa::new(1 << 24).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "u32", into = "u32"))]
pub struct Ioa(u32);

impl Ioa {
    /// The largest address (2^24 - 1).
    pub const MAX: Ioa = Ioa(0x00FF_FFFF);

    /// An address, or `None` above [`Ioa::MAX`].
    pub const fn new(value: u32) -> Option<Ioa> {
        if value <= Self::MAX.0 {
            Some(Ioa(value))
        } else {
            None
        }
    }

    /// The address keeping its low 24 bits.
    pub const fn from_u24(value: u32) -> Ioa {
        Ioa(value & Self::MAX.0)
    }

    /// The numeric address.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The address `n` further on, wrapping at 2^24 (SQ=1 addressing).
    pub const fn offset(self, n: u32) -> Ioa {
        Ioa::from_u24(self.0.wrapping_add(n))
    }
}

impl TryFrom<u32> for Ioa {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Ioa::new(v).ok_or_else(|| format!("information object address {v} exceeds 16777215"))
    }
}

impl From<Ioa> for u32 {
    fn from(v: Ioa) -> u32 {
        v.0
    }
}

impl fmt::Display for Ioa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Common address of ASDU (station address). 0 is unused, 0xFFFF (0xFF with one octet) is the
/// global address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct CommonAddress(pub u16);

impl CommonAddress {
    /// Global (broadcast) address with a two-octet common address.
    pub const GLOBAL: CommonAddress = CommonAddress(0xFFFF);
}

impl fmt::Display for CommonAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
