use std::fmt;

/// Type identification (the first ASDU octet). Open: private and future codes round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct TypeId(pub u8);

macro_rules! type_ids {
    ($($(#[$doc:meta])* $name:ident = $v:expr;)*) => {
        #[allow(missing_docs)]
        impl TypeId {
            $($(#[$doc])* pub const $name: TypeId = TypeId($v);)*

            /// The standard mnemonic (`"M_ME_NC_1"`), if this crate knows the code.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// Every type identification this crate knows, in numeric order.
            pub const ALL: &'static [TypeId] = &[$(TypeId($v)),*];
        }
    };
}

type_ids! {
    /// 1: single-point information.
    M_SP_NA_1 = 1;
    /// 2: single-point information with CP24Time2a.
    M_SP_TA_1 = 2;
    /// 3: double-point information.
    M_DP_NA_1 = 3;
    /// 4: double-point information with CP24Time2a.
    M_DP_TA_1 = 4;
    /// 5: step position information.
    M_ST_NA_1 = 5;
    /// 6: step position information with CP24Time2a.
    M_ST_TA_1 = 6;
    /// 7: bitstring of 32 bits.
    M_BO_NA_1 = 7;
    /// 8: bitstring of 32 bits with CP24Time2a.
    M_BO_TA_1 = 8;
    /// 9: measured value, normalised.
    M_ME_NA_1 = 9;
    /// 10: measured value, normalised, with CP24Time2a.
    M_ME_TA_1 = 10;
    /// 11: measured value, scaled.
    M_ME_NB_1 = 11;
    /// 12: measured value, scaled, with CP24Time2a.
    M_ME_TB_1 = 12;
    /// 13: measured value, short floating point.
    M_ME_NC_1 = 13;
    /// 14: measured value, short floating point, with CP24Time2a.
    M_ME_TC_1 = 14;
    /// 15: integrated totals.
    M_IT_NA_1 = 15;
    /// 16: integrated totals with CP24Time2a.
    M_IT_TA_1 = 16;
    /// 17: event of protection equipment with CP24Time2a.
    M_EP_TA_1 = 17;
    /// 18: packed start events of protection equipment with CP24Time2a.
    M_EP_TB_1 = 18;
    /// 19: packed output circuit information of protection equipment with CP24Time2a.
    M_EP_TC_1 = 19;
    /// 20: packed single-point information with status change detection.
    M_PS_NA_1 = 20;
    /// 21: measured value, normalised, without quality descriptor.
    M_ME_ND_1 = 21;
    /// 30: single-point information with CP56Time2a.
    M_SP_TB_1 = 30;
    /// 31: double-point information with CP56Time2a.
    M_DP_TB_1 = 31;
    /// 32: step position information with CP56Time2a.
    M_ST_TB_1 = 32;
    /// 33: bitstring of 32 bits with CP56Time2a.
    M_BO_TB_1 = 33;
    /// 34: measured value, normalised, with CP56Time2a.
    M_ME_TD_1 = 34;
    /// 35: measured value, scaled, with CP56Time2a.
    M_ME_TE_1 = 35;
    /// 36: measured value, short floating point, with CP56Time2a.
    M_ME_TF_1 = 36;
    /// 37: integrated totals with CP56Time2a.
    M_IT_TB_1 = 37;
    /// 38: event of protection equipment with CP56Time2a.
    M_EP_TD_1 = 38;
    /// 39: packed start events of protection equipment with CP56Time2a.
    M_EP_TE_1 = 39;
    /// 40: packed output circuit information of protection equipment with CP56Time2a.
    M_EP_TF_1 = 40;
    /// 45: single command.
    C_SC_NA_1 = 45;
    /// 46: double command.
    C_DC_NA_1 = 46;
    /// 47: regulating step command.
    C_RC_NA_1 = 47;
    /// 48: set-point command, normalised value.
    C_SE_NA_1 = 48;
    /// 49: set-point command, scaled value.
    C_SE_NB_1 = 49;
    /// 50: set-point command, short floating point value.
    C_SE_NC_1 = 50;
    /// 51: bitstring of 32 bits command.
    C_BO_NA_1 = 51;
    /// 58: single command with CP56Time2a.
    C_SC_TA_1 = 58;
    /// 59: double command with CP56Time2a.
    C_DC_TA_1 = 59;
    /// 60: regulating step command with CP56Time2a.
    C_RC_TA_1 = 60;
    /// 61: set-point command, normalised value, with CP56Time2a.
    C_SE_TA_1 = 61;
    /// 62: set-point command, scaled value, with CP56Time2a.
    C_SE_TB_1 = 62;
    /// 63: set-point command, short floating point value, with CP56Time2a.
    C_SE_TC_1 = 63;
    /// 64: bitstring of 32 bits command with CP56Time2a.
    C_BO_TA_1 = 64;
    /// 70: end of initialisation.
    M_EI_NA_1 = 70;
    /// 100: interrogation command.
    C_IC_NA_1 = 100;
    /// 101: counter interrogation command.
    C_CI_NA_1 = 101;
    /// 102: read command.
    C_RD_NA_1 = 102;
    /// 103: clock synchronisation command.
    C_CS_NA_1 = 103;
    /// 104: test command.
    C_TS_NA_1 = 104;
    /// 105: reset process command.
    C_RP_NA_1 = 105;
    /// 106: delay acquisition command.
    C_CD_NA_1 = 106;
    /// 107: test command with CP56Time2a.
    C_TS_TA_1 = 107;
    /// 110: parameter of measured value, normalised value.
    P_ME_NA_1 = 110;
    /// 111: parameter of measured value, scaled value.
    P_ME_NB_1 = 111;
    /// 112: parameter of measured value, short floating point value.
    P_ME_NC_1 = 112;
    /// 113: parameter activation.
    P_AC_NA_1 = 113;
    /// 120: file ready.
    F_FR_NA_1 = 120;
    /// 121: section ready.
    F_SR_NA_1 = 121;
    /// 122: call directory, select file, call file, call section.
    F_SC_NA_1 = 122;
    /// 123: last section, last segment.
    F_LS_NA_1 = 123;
    /// 124: ack file, ack section.
    F_AF_NA_1 = 124;
    /// 125: segment.
    F_SG_NA_1 = 125;
    /// 126: directory.
    F_DR_TA_1 = 126;
    /// 127: query log, request archive file.
    F_SC_NB_1 = 127;
}

/// The information a type carries: a monitored value's kind, or the command that sets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// Single-point information (1, 2, 30).
    Single,
    /// Double-point information (3, 4, 31).
    Double,
    /// Step position (5, 6, 32).
    Step,
    /// Bitstring of 32 bits (7, 8, 33).
    Bitstring,
    /// Normalised measured value (9, 10, 21, 34).
    Normalized,
    /// Scaled measured value (11, 12, 35).
    Scaled,
    /// Short floating point measured value (13, 14, 36).
    Float,
    /// Integrated totals (15, 16, 37).
    IntegratedTotals,
    /// Event of protection equipment (17, 38).
    ProtectionEvent,
    /// Packed start events of protection equipment (18, 39).
    PackedStartEvents,
    /// Packed output circuit information of protection equipment (19, 40).
    PackedOutputCircuit,
    /// Packed single-point information with status change detection (20).
    PackedSinglePoint,
    /// Single command (45, 58).
    SingleCommand,
    /// Double command (46, 59).
    DoubleCommand,
    /// Regulating step command (47, 60).
    StepCommand,
    /// Set-point command, normalised value (48, 61).
    SetpointNormalized,
    /// Set-point command, scaled value (49, 62).
    SetpointScaled,
    /// Set-point command, short floating point value (50, 63).
    SetpointFloat,
    /// Bitstring of 32 bits command (51, 64).
    BitstringCommand,
    /// End of initialisation (70).
    EndOfInitialization,
}

/// The time tag a type's information objects carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeTagKind {
    /// None.
    None,
    /// CP24Time2a (3 octets).
    Cp24,
    /// CP56Time2a (7 octets).
    Cp56,
}

impl TimeTagKind {
    /// Octets of the tag.
    pub const fn len(self) -> usize {
        match self {
            TimeTagKind::None => 0,
            TimeTagKind::Cp24 => 3,
            TimeTagKind::Cp56 => 7,
        }
    }

    /// True for [`TimeTagKind::None`].
    pub const fn is_empty(self) -> bool {
        matches!(self, TimeTagKind::None)
    }
}

/// The one table of what each process-information type carries: (code, family, time tag). Where
/// two codes carry the same family and tag (9 and 21), the standard one comes first.
const FAMILIES: &[(u8, Family, TimeTagKind)] = {
    use Family as F;
    use TimeTagKind::{Cp24, Cp56, None as N};
    &[
        (1, F::Single, N),
        (2, F::Single, Cp24),
        (3, F::Double, N),
        (4, F::Double, Cp24),
        (5, F::Step, N),
        (6, F::Step, Cp24),
        (7, F::Bitstring, N),
        (8, F::Bitstring, Cp24),
        (9, F::Normalized, N),
        (10, F::Normalized, Cp24),
        (11, F::Scaled, N),
        (12, F::Scaled, Cp24),
        (13, F::Float, N),
        (14, F::Float, Cp24),
        (15, F::IntegratedTotals, N),
        (16, F::IntegratedTotals, Cp24),
        (17, F::ProtectionEvent, Cp24),
        (18, F::PackedStartEvents, Cp24),
        (19, F::PackedOutputCircuit, Cp24),
        (20, F::PackedSinglePoint, N),
        (21, F::Normalized, N),
        (30, F::Single, Cp56),
        (31, F::Double, Cp56),
        (32, F::Step, Cp56),
        (33, F::Bitstring, Cp56),
        (34, F::Normalized, Cp56),
        (35, F::Scaled, Cp56),
        (36, F::Float, Cp56),
        (37, F::IntegratedTotals, Cp56),
        (38, F::ProtectionEvent, Cp56),
        (39, F::PackedStartEvents, Cp56),
        (40, F::PackedOutputCircuit, Cp56),
        (45, F::SingleCommand, N),
        (46, F::DoubleCommand, N),
        (47, F::StepCommand, N),
        (48, F::SetpointNormalized, N),
        (49, F::SetpointScaled, N),
        (50, F::SetpointFloat, N),
        (51, F::BitstringCommand, N),
        (58, F::SingleCommand, Cp56),
        (59, F::DoubleCommand, Cp56),
        (60, F::StepCommand, Cp56),
        (61, F::SetpointNormalized, Cp56),
        (62, F::SetpointScaled, Cp56),
        (63, F::SetpointFloat, Cp56),
        (64, F::BitstringCommand, Cp56),
        (70, F::EndOfInitialization, N),
    ]
};

impl TypeId {
    fn entry(self) -> Option<&'static (u8, Family, TimeTagKind)> {
        FAMILIES.iter().find(|e| e.0 == self.0)
    }

    /// The information this type carries (process information and end of initialisation).
    ///
    /// ```
    /// use iec104::types::{Family, TypeId};
    /// assert_eq!(TypeId::M_ME_TF_1.family(), Some(Family::Float));
    /// assert_eq!(TypeId::C_IC_NA_1.family(), None);
    /// ```
    pub fn family(self) -> Option<Family> {
        self.entry().map(|e| e.1)
    }

    /// The time tag this type's objects carry ([`TimeTagKind::None`] for types not in the table).
    pub fn time_tag(self) -> TimeTagKind {
        self.entry().map_or(TimeTagKind::None, |e| e.2)
    }

    /// True for the monitor-direction types of process information (1-21, 30-40).
    pub fn is_monitor_point(self) -> bool {
        matches!(self.0, 1..=21 | 30..=40)
    }

    /// True for a monitor type whose objects carry their own time tag (an event, as opposed to a
    /// cyclic or interrogated value).
    pub fn is_timed_monitor_point(self) -> bool {
        self.is_monitor_point() && !self.time_tag().is_empty()
    }

    /// The type that carries `family` with `time` (the standard one where there are two).
    ///
    /// ```
    /// use iec104::types::{Family, TimeTagKind, TypeId};
    /// assert_eq!(TypeId::of(Family::Float, TimeTagKind::Cp56), Some(TypeId::M_ME_TF_1));
    /// assert_eq!(TypeId::of(Family::ProtectionEvent, TimeTagKind::None), None);
    /// ```
    pub fn of(family: Family, time: TimeTagKind) -> Option<TypeId> {
        FAMILIES.iter().find(|e| e.1 == family && e.2 == time).map(|e| TypeId(e.0))
    }
}

impl fmt::Debug for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "TypeId({}:{n})", self.0),
            None => write!(f, "TypeId({})", self.0),
        }
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "type {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknown() {
        assert_eq!(TypeId::M_ME_NC_1.name(), Some("M_ME_NC_1"));
        assert_eq!(TypeId(13), TypeId::M_ME_NC_1);
        assert_eq!(TypeId(200).name(), None);
        assert_eq!(TypeId(200).to_string(), "type 200");
        assert_eq!(TypeId::ALL.len(), 67);
    }

    #[test]
    fn the_family_table_agrees_with_the_element_table() {
        for &(code, family, time) in FAMILIES {
            let t = TypeId(code);
            assert!(t.name().is_some(), "{code} is a known type");
            // every (family, tag) leads back to its type, but for the second normalised type
            assert_eq!(TypeId::of(family, time), Some(if code == 21 { TypeId(9) } else { t }));
            // a timed type's element is its untimed sibling's plus the tag
            if let (false, Some(plain)) = (time.is_empty(), TypeId::of(family, TimeTagKind::None)) {
                let (a, b) = (crate::asdu::element_len(t), crate::asdu::element_len(plain));
                assert_eq!(a, b.map(|n| n + time.len()), "{t:?} vs {plain:?}");
            }
        }
        for t in TypeId::ALL {
            assert_eq!(t.is_monitor_point(), t.family().is_some() && t.0 <= 40, "{t:?}");
        }
        assert!(TypeId::M_SP_TB_1.is_timed_monitor_point() && !TypeId::M_SP_NA_1.is_timed_monitor_point());
        assert!(!TypeId::C_SC_TA_1.is_timed_monitor_point());
    }
}
