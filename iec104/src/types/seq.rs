use std::fmt;

/// A 15-bit I-frame sequence number, N(S) or N(R); arithmetic wraps modulo 32768.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SeqNo(u16);

impl SeqNo {
    /// Modulus of the sequence space.
    pub const MODULUS: u16 = 1 << 15;

    /// A sequence number, or `None` at or above 32768.
    pub const fn new(v: u16) -> Option<SeqNo> {
        if v < Self::MODULUS {
            Some(SeqNo(v))
        } else {
            None
        }
    }

    /// The number keeping its low 15 bits.
    pub const fn wrapping(v: u16) -> SeqNo {
        SeqNo(v & (Self::MODULUS - 1))
    }

    /// The numeric value, below 32768.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The next number, wrapping after 32767.
    pub const fn next(self) -> SeqNo {
        SeqNo::wrapping(self.0 + 1)
    }

    /// How many steps from `earlier` forward to `self`, modulo 32768.
    pub const fn distance_from(self, earlier: SeqNo) -> u16 {
        self.0.wrapping_sub(earlier.0) & (Self::MODULUS - 1)
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        assert_eq!(SeqNo::new(32767).unwrap().next(), SeqNo::new(0).unwrap());
        assert_eq!(SeqNo::new(2).unwrap().distance_from(SeqNo::new(32766).unwrap()), 4);
        assert!(SeqNo::new(32768).is_none());
        assert_eq!(SeqNo::wrapping(32768 + 5).get(), 5);
    }
}
