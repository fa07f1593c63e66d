use std::fmt;

/// Cause of transmission: the 6-bit cause code (the P/N and test bits are carried separately in
/// [`crate::asdu::Cause`]). Unknown codes round-trip; only the low 6 bits go on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Cot(pub u8);

macro_rules! cots {
    ($($(#[$doc:meta])* $name:ident = $v:expr;)*) => {
        impl Cot {
            $($(#[$doc])* pub const $name: Cot = Cot($v);)*

            /// The standard's name for this cause, if it has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    21..=36 => Some("INTERROGATED_BY_GROUP"),
                    38..=41 => Some("REQUESTED_BY_GROUP_COUNTER"),
                    _ => None,
                }
            }
        }
    };
}

cots! {
    /// 1: periodic, cyclic.
    PERIODIC = 1;
    /// 2: background scan.
    BACKGROUND = 2;
    /// 3: spontaneous.
    SPONTANEOUS = 3;
    /// 4: initialised.
    INITIALIZED = 4;
    /// 5: request or requested.
    REQUEST = 5;
    /// 6: activation.
    ACTIVATION = 6;
    /// 7: activation confirmation.
    ACTIVATION_CON = 7;
    /// 8: deactivation.
    DEACTIVATION = 8;
    /// 9: deactivation confirmation.
    DEACTIVATION_CON = 9;
    /// 10: activation termination.
    ACTIVATION_TERMINATION = 10;
    /// 11: return information caused by a remote command.
    RETURN_REMOTE = 11;
    /// 12: return information caused by a local command.
    RETURN_LOCAL = 12;
    /// 13: file transfer.
    FILE_TRANSFER = 13;
    /// 20: interrogated by station interrogation.
    INTERROGATED_BY_STATION = 20;
    /// 37: requested by general counter request.
    REQUESTED_BY_GENERAL_COUNTER = 37;
    /// 44: unknown type identification.
    UNKNOWN_TYPE_ID = 44;
    /// 45: unknown cause of transmission.
    UNKNOWN_COT = 45;
    /// 46: unknown common address of ASDU.
    UNKNOWN_CA = 46;
    /// 47: unknown information object address.
    UNKNOWN_IOA = 47;
}

impl Cot {
    /// Interrogated by group `n` (1..=16), COT 21..=36.
    pub const fn interrogated_by_group(n: u8) -> Option<Cot> {
        if n >= 1 && n <= 16 {
            Some(Cot(20 + n))
        } else {
            None
        }
    }

    /// Requested by group `n` (1..=4) counter request, COT 38..=41.
    pub const fn requested_by_group_counter(n: u8) -> Option<Cot> {
        if n >= 1 && n <= 4 {
            Some(Cot(37 + n))
        } else {
            None
        }
    }
}

impl fmt::Debug for Cot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "Cot({}:{n})", self.0),
            None => write!(f, "Cot({})", self.0),
        }
    }
}

impl fmt::Display for Cot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "COT_{}", self.0),
        }
    }
}
