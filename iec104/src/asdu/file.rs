//! File transfer: types 120-127.

use super::{element_struct, octet_element, read_ioa, write_ioa, Element};
use crate::error::{DecodeError, EncodeError};
use crate::types::{Cp56Time2a, Ioa, TypeId};
use bytes::{BufMut, BytesMut};

/// A 24-bit unsigned number (LOF, length of file or section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "u32", into = "u32"))]
pub struct U24(u32);

impl U24 {
    /// The largest value, 2^24 - 1.
    pub const MAX: U24 = U24(0x00FF_FFFF);
    /// A value, or `None` above [`U24::MAX`].
    pub const fn new(v: u32) -> Option<U24> {
        if v <= Self::MAX.0 {
            Some(U24(v))
        } else {
            None
        }
    }
    /// The value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for U24 {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        U24::new(v).ok_or_else(|| format!("{v} does not fit in 24 bits"))
    }
}

impl From<U24> for u32 {
    fn from(v: U24) -> u32 {
        v.0
    }
}

impl Element for U24 {
    const LEN: usize = 3;
    const NAME: &'static str = "LOF";
    #[inline]
    fn read(b: &[u8]) -> Self {
        U24(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }
    #[inline]
    fn write(&self, out: &mut BytesMut) {
        out.put_slice(&self.0.to_le_bytes()[..3]);
    }
}

octet_element! {
    /// File ready qualifier (FRQ): bits 0-6 default 0, bit 7 set for a negative confirmation.
    Frq = "FRQ"
}
octet_element! {
    /// Section ready qualifier (SRQ): bits 0-6 default 0, bit 7 set when the section is not ready.
    Srq = "SRQ"
}
octet_element! {
    /// Select and call qualifier (SCQ): bits 0-3 (1 select file, 2 request file, 3 deactivate
    /// file, 4 delete file, 5 select section, 6 request section, 7 deactivate section), bits 4-7
    /// error code.
    Scq = "SCQ"
}
octet_element! {
    /// Last section or segment qualifier (LSQ): 1 file transfer without deactivation, 2 with
    /// deactivation, 3 section transfer without deactivation, 4 with deactivation.
    Lsq = "LSQ"
}
octet_element! {
    /// Acknowledge file or section qualifier (AFQ): bits 0-3 (1 positive file ack, 2 negative file
    /// ack, 3 positive section ack, 4 negative section ack), bits 4-7 error code.
    Afq = "AFQ"
}
octet_element! {
    /// Status of file (SOF): STATUS bits 0-4, LFD bit 5 (last file of directory), FOR bit 6 (name
    /// defines subdirectory), FA bit 7 (file transfer active).
    Sof = "SOF"
}
octet_element! {
    /// Checksum (CHS): arithmetic sum modulo 256 of the section or file octets.
    Chs = "CHS"
}

impl Chs {
    /// The checksum of `data`.
    pub fn of(data: &[u8]) -> Chs {
        Chs(data.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
    }
}

element_struct! {
    /// File ready (F_FR_NA_1).
    FileReady { /** NOF: name of file. */ nof: u16 = "NOF", /** LOF. */ lof: U24 = "LOF", /** FRQ. */ frq: Frq = "FRQ" }
}

element_struct! {
    /// Section ready (F_SR_NA_1).
    SectionReady {
        /** NOF: name of file. */ nof: u16 = "NOF",
        /** NOS: name of section. */ nos: u8 = "NOS",
        /** LOF: length of section. */ lof: U24 = "LOF",
        /** SRQ. */ srq: Srq = "SRQ",
    }
}

element_struct! {
    /// Call directory, select file, call file, call section (F_SC_NA_1).
    CallFile { /** NOF. */ nof: u16 = "NOF", /** NOS. */ nos: u8 = "NOS", /** SCQ. */ scq: Scq = "SCQ" }
}

element_struct! {
    /// Last section, last segment (F_LS_NA_1).
    LastSection {
        /** NOF. */ nof: u16 = "NOF",
        /** NOS. */ nos: u8 = "NOS",
        /** LSQ. */ lsq: Lsq = "LSQ",
        /** CHS. */ chs: Chs = "CHS",
    }
}

element_struct! {
    /// Ack file, ack section (F_AF_NA_1).
    AckFile { /** NOF. */ nof: u16 = "NOF", /** NOS. */ nos: u8 = "NOS", /** AFQ. */ afq: Afq = "AFQ" }
}

element_struct! {
    /// Directory entry (F_DR_TA_1), usually sent SQ=1.
    Directory {
        /** NOF. */ nof: u16 = "NOF",
        /** LOF. */ lof: U24 = "LOF",
        /** SOF. */ sof: Sof = "SOF",
        /** Creation time. */ time: Cp56Time2a = "CP56Time2a",
    }
}

element_struct! {
    /// Query log, request archive file (F_SC_NB_1).
    QueryLog {
        /** NOF. */ nof: u16 = "NOF",
        /** Range start time. */ start: Cp56Time2a = "CP56Time2a start",
        /** Range stop time. */ stop: Cp56Time2a = "CP56Time2a stop",
    }
}

/// A borrowed file segment (F_SG_NA_1): one object, variable length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentView<'a> {
    /// Information object address.
    pub ioa: Ioa,
    /// NOF: name of file.
    pub nof: u16,
    /// NOS: name of section.
    pub nos: u8,
    /// The segment octets (LOS of them).
    pub data: &'a [u8],
}

/// An owned file segment (F_SG_NA_1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Segment {
    /// Information object address.
    pub ioa: Ioa,
    /// NOF: name of file.
    pub nof: u16,
    /// NOS: name of section.
    pub nos: u8,
    /// The segment octets; at most 255, and the ASDU must still fit 249 bytes.
    pub data: Vec<u8>,
}

impl<'a> SegmentView<'a> {
    pub(super) fn decode(vsq: u8, body: &'a [u8], ioa_len: u8, offset: usize) -> Result<Self, DecodeError> {
        let type_id = TypeId::F_SG_NA_1;
        if vsq != 1 {
            return Err(DecodeError::ObjectCount { type_id, vsq });
        }
        let il = usize::from(ioa_len);
        let fixed = il + 4;
        if body.len() < fixed {
            let field = match body.len() {
                n if n < il => "information object address",
                n if n < il + 2 => "NOF",
                n if n < il + 3 => "NOS",
                _ => "LOS",
            };
            return Err(DecodeError::Truncated {
                type_id,
                count: 1,
                sequence: false,
                object: 0,
                field,
                offset: offset + body.len(),
                expected: fixed,
                actual: body.len(),
            });
        }
        let los = body[il + 3];
        let data = &body[fixed..];
        if data.len() != usize::from(los) {
            return Err(DecodeError::SegmentLength { type_id, declared: los, actual: data.len() });
        }
        Ok(SegmentView {
            ioa: Ioa::from_u24(read_ioa(&body[..il])),
            nof: u16::from_le_bytes([body[il], body[il + 1]]),
            nos: body[il + 2],
            data,
        })
    }

    /// An owned copy.
    pub fn into_owned(self) -> Segment {
        Segment { ioa: self.ioa, nof: self.nof, nos: self.nos, data: self.data.to_vec() }
    }
}

impl Segment {
    pub(super) fn encode(&self, ioa_len: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
        let los = u8::try_from(self.data.len()).map_err(|_| EncodeError::SegmentTooLong { len: self.data.len() })?;
        write_ioa(self.ioa, ioa_len, out)?;
        out.put_u16_le(self.nof);
        out.put_u8(self.nos);
        out.put_u8(los);
        out.put_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asdu::test_util::{only, round_trip};
    use crate::asdu::{Asdu, AsduParams, Body, Cause, OwnedAsdu, OwnedBody};
    use crate::types::{CommonAddress, Cot};

    const T56: [u8; 7] = [0xD2, 0x04, 30, 14, 5, 6, 26];

    #[test]
    fn f_fr_sr_sc_ls_af() {
        let (cause, o) = only::<FileReady>(&[120, 1, 13, 0, 1, 0, 0, 0, 0, 0x02, 0x00, 0x00, 0x10, 0x00, 0x80]);
        assert_eq!(cause.cot, Cot::FILE_TRANSFER);
        assert_eq!((o.value.nof, o.value.lof.get(), o.value.frq.0), (2, 4096, 0x80));
        let (_, o) = only::<SectionReady>(&[121, 1, 13, 0, 1, 0, 0, 0, 0, 2, 0, 1, 0xFF, 0xFF, 0xFF, 0]);
        assert_eq!((o.value.nos, o.value.lof, o.value.srq.0), (1, U24::MAX, 0));
        let (_, o) = only::<CallFile>(&[122, 1, 13, 0, 1, 0, 0, 0, 0, 2, 0, 1, 2]);
        assert_eq!((o.value.nof, o.value.nos, o.value.scq.0), (2, 1, 2));
        let (_, o) = only::<LastSection>(&[123, 1, 13, 0, 1, 0, 0, 0, 0, 2, 0, 1, 3, 0x5A]);
        assert_eq!((o.value.lsq.0, o.value.chs.0), (3, 0x5A));
        let (_, o) = only::<AckFile>(&[124, 1, 13, 0, 1, 0, 0, 0, 0, 2, 0, 1, 3]);
        assert_eq!(o.value.afq.0, 3);
        assert_eq!(Chs::of(&[0xFF, 0x02]), Chs(1));
    }

    #[test]
    fn f_dr_ta_1_sequence() {
        let mut b = vec![126, 0x82, 5, 0, 1, 0, 0, 0, 0];
        for (nof, sof) in [(1u8, 0u8), (2, 0x20)] {
            b.extend_from_slice(&[nof, 0, 0x00, 0x01, 0x00, sof]);
            b.extend_from_slice(&T56);
        }
        let a = Asdu::decode(&b, &AsduParams::default()).unwrap();
        let v: Vec<_> = a.objects::<Directory>().unwrap().iter().collect();
        assert_eq!((v[0].ioa.get(), v[0].value.nof, v[0].value.lof.get()), (0, 1, 256));
        assert_eq!((v[1].ioa.get(), v[1].value.nof, v[1].value.sof.0), (1, 2, 0x20));
        assert_eq!(v[1].value.time.minute(), 30);
        round_trip(&b);
    }

    #[test]
    fn f_sc_nb_1() {
        let mut b = vec![127, 1, 5, 0, 1, 0, 0, 0, 0, 3, 0];
        b.extend_from_slice(&T56);
        b.extend_from_slice(&[0, 0, 31, 15, 5, 6, 26]);
        let (_, o) = only::<QueryLog>(&b);
        assert_eq!((o.value.nof, o.value.start.minute(), o.value.stop.minute()), (3, 30, 31));
        b.pop();
        let err = Asdu::decode(&b, &AsduParams::default()).unwrap_err();
        assert!(matches!(err, DecodeError::Truncated { field: "CP56Time2a stop", .. }), "{err}");
    }

    #[test]
    fn f_sg_na_1() {
        let b = [125, 1, 13, 0, 1, 0, 0, 0, 0, 2, 0, 1, 3, b'a', b'b', b'c'];
        let a = Asdu::decode(&b, &AsduParams::default()).unwrap();
        let Body::Segment(s) = a.body else { panic!() };
        assert_eq!((s.nof, s.nos, s.data), (2, 1, &b"abc"[..]));
        round_trip(&b);
        // LOS disagrees
        let mut bad = b;
        bad[12] = 4;
        assert_eq!(
            Asdu::decode(&bad, &AsduParams::default()).unwrap_err(),
            DecodeError::SegmentLength { type_id: TypeId::F_SG_NA_1, declared: 4, actual: 3 }
        );
        // two objects announced
        let mut bad = b;
        bad[1] = 2;
        assert!(matches!(Asdu::decode(&bad, &AsduParams::default()), Err(DecodeError::ObjectCount { vsq: 2, .. })));
        // truncated before LOS
        assert!(matches!(
            Asdu::decode(&b[..12], &AsduParams::default()),
            Err(DecodeError::Truncated { field: "LOS", .. })
        ));
        // too long to encode
        let seg = OwnedAsdu {
            cause: Cause::new(Cot::FILE_TRANSFER),
            common_address: CommonAddress(1),
            body: OwnedBody::Segment(Segment { ioa: Ioa::default(), nof: 1, nos: 1, data: vec![0; 256] }),
        };
        assert_eq!(
            seg.encode(&AsduParams::default(), &mut BytesMut::new()),
            Err(EncodeError::SegmentTooLong { len: 256 })
        );
    }
}
