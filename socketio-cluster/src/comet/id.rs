//! Terminal ids: 64-bit, phones positive, devices negative, 0 names nobody.
//!
//! ```
//! use socketio_cluster::comet::id::{Kind, TerminalId};
//! let phone = TerminalId::new(42).unwrap();
//! let plug = TerminalId::new(-7).unwrap();
//! assert_eq!((phone.kind(), plug.kind()), (Kind::Phone, Kind::Device));
//! assert!(TerminalId::new(0).is_err());
//! ```

use std::fmt;

/// What a terminal is, by the sign of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A phone (the app): a positive id.
    Phone,
    /// An embedded device (a smart socket): a negative id.
    Device,
}

/// The id 0, which names no terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("terminal id 0 names no terminal (phones are positive, devices negative)")]
pub struct ZeroId;

/// A terminal's id (never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TerminalId(i64);

impl TerminalId {
    /// The id `v`.
    ///
    /// # Errors
    /// [`ZeroId`] for 0.
    pub fn new(v: i64) -> Result<TerminalId, ZeroId> {
        if v == 0 {
            Err(ZeroId)
        } else {
            Ok(TerminalId(v))
        }
    }

    /// Its value.
    pub fn get(self) -> i64 {
        self.0
    }

    /// Phone or device.
    pub fn kind(self) -> Kind {
        if self.0 > 0 {
            Kind::Phone
        } else {
            Kind::Device
        }
    }

    /// A device's id.
    pub fn is_device(self) -> bool {
        self.kind() == Kind::Device
    }
}

impl fmt::Display for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<i64> for TerminalId {
    type Error = ZeroId;
    fn try_from(v: i64) -> Result<Self, ZeroId> {
        TerminalId::new(v)
    }
}

impl std::str::FromStr for TerminalId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let v: i64 = s.trim().parse().map_err(|e| format!("terminal id {s:?}: {e}"))?;
        TerminalId::new(v).map_err(|e| e.to_string())
    }
}

impl serde::Serialize for TerminalId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TerminalId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        TerminalId::new(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_is_kind_and_zero_is_refused() {
        assert_eq!(TerminalId::new(1).unwrap().kind(), Kind::Phone);
        assert_eq!(TerminalId::new(i64::MAX).unwrap().kind(), Kind::Phone);
        assert_eq!(TerminalId::new(-1).unwrap().kind(), Kind::Device);
        assert_eq!(TerminalId::new(i64::MIN).unwrap().kind(), Kind::Device);
        assert_eq!(TerminalId::new(0), Err(ZeroId));
        assert_eq!("-12".parse::<TerminalId>().unwrap().get(), -12);
        assert!("0".parse::<TerminalId>().is_err());
        assert!("x".parse::<TerminalId>().is_err());
        let j: TerminalId = serde_json::from_str("-5").unwrap();
        assert_eq!(serde_json::to_string(&j).unwrap(), "-5");
        assert!(serde_json::from_str::<TerminalId>("0").is_err());
    }
}
