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
}
