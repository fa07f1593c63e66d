//! APCI: the start byte, length and four control octets that frame every APDU, and the I, S and U
//! frame formats.
//!
//! ```
//! use iec104::apci::{Apci, Apdu, UFunction};
//! let (apdu, used) = Apdu::parse(&[0x68, 0x04, 0x07, 0x00, 0x00, 0x00]).unwrap();
//! assert_eq!(used, 6);
//! assert_eq!(apdu.apci, Apci::U(UFunction::StartDtAct));
//! ```

use crate::error::DecodeError;
use crate::types::SeqNo;
use bytes::{BufMut, BytesMut};

/// The byte that starts every APDU.
pub const START: u8 = 0x68;
/// Largest value of the APDU length field (control field plus ASDU).
pub const MAX_APDU_LEN: u8 = 253;
/// Length of the control field.
pub const CONTROL_LEN: usize = 4;
/// Largest ASDU an APDU can carry.
pub const MAX_ASDU_LEN: usize = MAX_APDU_LEN as usize - CONTROL_LEN;

/// U-frame functions. A valid U-frame names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UFunction {
    /// STARTDT act.
    StartDtAct,
    /// STARTDT con.
    StartDtCon,
    /// STOPDT act.
    StopDtAct,
    /// STOPDT con.
    StopDtCon,
    /// TESTFR act.
    TestFrAct,
    /// TESTFR con.
    TestFrCon,
}

impl UFunction {
    /// The first control octet of this U-frame.
    pub const fn control(self) -> u8 {
        match self {
            UFunction::StartDtAct => 0x07,
            UFunction::StartDtCon => 0x0B,
            UFunction::StopDtAct => 0x13,
            UFunction::StopDtCon => 0x23,
            UFunction::TestFrAct => 0x43,
            UFunction::TestFrCon => 0x83,
        }
    }

    /// The function named by a first control octet.
    pub const fn from_control(c: u8) -> Option<UFunction> {
        Some(match c {
            0x07 => UFunction::StartDtAct,
            0x0B => UFunction::StartDtCon,
            0x13 => UFunction::StopDtAct,
            0x23 => UFunction::StopDtCon,
            0x43 => UFunction::TestFrAct,
            0x83 => UFunction::TestFrCon,
            _ => return None,
        })
    }
}

/// The control field of an APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Apci {
    /// Information transfer: carries an ASDU.
    I {
        /// N(S), send sequence number.
        send: SeqNo,
        /// N(R), receive sequence number (acknowledges all below it).
        recv: SeqNo,
    },
    /// Numbered supervisory: acknowledgement only.
    S {
        /// N(R), receive sequence number.
        recv: SeqNo,
    },
    /// Unnumbered control function.
    U(UFunction),
}

impl Apci {
    /// Decodes the four control octets.
    ///
    /// # Errors
    /// [`DecodeError::UFrame`] for a U-frame that names no single function.
    pub fn decode(c: [u8; 4]) -> Result<Apci, DecodeError> {
        let seq = |lo: u8, hi: u8| SeqNo::wrapping((u16::from(lo) >> 1) | (u16::from(hi) << 7));
        if c[0] & 1 == 0 {
            Ok(Apci::I { send: seq(c[0], c[1]), recv: seq(c[2], c[3]) })
        } else if c[0] & 3 == 1 {
            Ok(Apci::S { recv: seq(c[2], c[3]) })
        } else {
            UFunction::from_control(c[0]).map(Apci::U).ok_or(DecodeError::UFrame { control: c[0] })
        }
    }

    /// The four control octets.
    pub const fn encode(self) -> [u8; 4] {
        const fn lo(s: SeqNo) -> u8 {
            ((s.get() << 1) & 0xFE) as u8
        }
        const fn hi(s: SeqNo) -> u8 {
            (s.get() >> 7) as u8
        }
        match self {
            Apci::I { send, recv } => [lo(send), hi(send), lo(recv), hi(recv)],
            Apci::S { recv } => [0x01, 0x00, lo(recv), hi(recv)],
            Apci::U(f) => [f.control(), 0, 0, 0],
        }
    }

    /// `"I"`, `"S"` or `"U"`.
    pub const fn kind(self) -> &'static str {
        match self {
            Apci::I { .. } => "I",
            Apci::S { .. } => "S",
            Apci::U(_) => "U",
        }
    }
}

/// A borrowed APDU: its control field and, for I-frames, the ASDU bytes (decode them with
/// [`crate::asdu::Asdu::decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Apdu<'a> {
    /// Control field.
    pub apci: Apci,
    /// ASDU bytes; empty for S- and U-frames.
    pub asdu: &'a [u8],
}

/// The total length (start byte included) of the APDU at the start of `buf`, `Ok(None)` when
/// fewer than two bytes are present.
///
/// # Errors
/// [`DecodeError::StartByte`] when `buf[0]` is not 0x68, [`DecodeError::ApduLength`] when the
/// length field is outside `4..=max_len`.
#[inline]
pub fn frame_len(buf: &[u8], max_len: u8) -> Result<Option<usize>, DecodeError> {
    match buf {
        [] => Ok(None),
        [b, ..] if *b != START => Err(DecodeError::StartByte { byte: *b, offset: 0 }),
        [_] => Ok(None),
        [_, len, ..] => {
            if *len < CONTROL_LEN as u8 || *len > max_len {
                Err(DecodeError::ApduLength { length: *len, max: max_len })
            } else {
                Ok(Some(usize::from(*len) + 2))
            }
        }
    }
}

impl<'a> Apdu<'a> {
    /// Parses the APDU at the start of `buf`, returning it and the bytes it used. `buf` may hold
    /// more (the next frames).
    ///
    /// # Errors
    /// A [`DecodeError`] naming what is wrong; [`DecodeError::LengthMismatch`] when `buf` ends
    /// before the frame does.
    pub fn parse(buf: &'a [u8]) -> Result<(Apdu<'a>, usize), DecodeError> {
        let Some(total) = frame_len(buf, MAX_APDU_LEN)? else {
            return Err(DecodeError::LengthMismatch { declared: CONTROL_LEN, actual: buf.len().saturating_sub(2) });
        };
        let Some(frame) = buf.get(..total) else {
            return Err(DecodeError::LengthMismatch { declared: total - 2, actual: buf.len() - 2 });
        };
        Ok((Apdu::from_frame(frame)?, total))
    }

    /// Parses exactly one whole frame (start byte to last ASDU byte).
    ///
    /// # Errors
    /// As [`Apdu::parse`], plus [`DecodeError::LengthMismatch`] when `frame` is longer than its
    /// length field says.
    pub fn from_frame(frame: &'a [u8]) -> Result<Apdu<'a>, DecodeError> {
        let Some(total) = frame_len(frame, MAX_APDU_LEN)? else {
            return Err(DecodeError::LengthMismatch { declared: CONTROL_LEN, actual: frame.len().saturating_sub(2) });
        };
        if frame.len() != total {
            return Err(DecodeError::LengthMismatch { declared: total - 2, actual: frame.len() - 2 });
        }
        let apci = Apci::decode([frame[2], frame[3], frame[4], frame[5]])?;
        let asdu = &frame[6..];
        match apci {
            Apci::I { .. } if asdu.is_empty() => Err(DecodeError::EmptyIFrame),
            Apci::S { .. } | Apci::U(_) if !asdu.is_empty() => {
                Err(DecodeError::UnexpectedAsdu { kind: apci.kind(), len: asdu.len() })
            }
            _ => Ok(Apdu { apci, asdu }),
        }
    }
}

/// Appends an S- or U-frame (six bytes) to `out`.
pub fn write_control(apci: Apci, out: &mut BytesMut) {
    out.reserve(6);
    out.put_u8(START);
    out.put_u8(CONTROL_LEN as u8);
    out.put_slice(&apci.encode());
}

/// Appends an APDU to `out`: writes the APCI, lets `body` append the ASDU, then fills in the
/// length. Nothing is left in `out` when `body` fails or the ASDU is too long.
///
/// # Errors
/// What `body` returns, or [`crate::error::EncodeError::AsduTooLong`].
pub fn write_frame<E: From<crate::error::EncodeError>>(
    apci: Apci,
    out: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.put_u8(START);
    out.put_u8(0);
    out.put_slice(&apci.encode());
    if let Err(e) = body(out) {
        out.truncate(start);
        return Err(e);
    }
    let asdu_len = out.len() - start - 6;
    if asdu_len > MAX_ASDU_LEN {
        out.truncate(start);
        return Err(crate::error::EncodeError::AsduTooLong { len: asdu_len, max: MAX_ASDU_LEN }.into());
    }
    out[start + 1] = (asdu_len + CONTROL_LEN) as u8;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: u16) -> SeqNo {
        SeqNo::new(n).unwrap()
    }

    /// Byte vectors from IEC 60870-5-104 clause 5 (control field formats).
    #[test]
    fn standard_control_fields() {
        let cases: [([u8; 4], Apci); 9] = [
            ([0x07, 0, 0, 0], Apci::U(UFunction::StartDtAct)),
            ([0x0B, 0, 0, 0], Apci::U(UFunction::StartDtCon)),
            ([0x13, 0, 0, 0], Apci::U(UFunction::StopDtAct)),
            ([0x23, 0, 0, 0], Apci::U(UFunction::StopDtCon)),
            ([0x43, 0, 0, 0], Apci::U(UFunction::TestFrAct)),
            ([0x83, 0, 0, 0], Apci::U(UFunction::TestFrCon)),
            ([0x01, 0x00, 0x0A, 0x00], Apci::S { recv: seq(5) }),
            ([0x02, 0x00, 0x04, 0x00], Apci::I { send: seq(1), recv: seq(2) }),
            ([0xFE, 0xFF, 0xFE, 0xFF], Apci::I { send: seq(32767), recv: seq(32767) }),
        ];
        for (bytes, apci) in cases {
            assert_eq!(Apci::decode(bytes).unwrap(), apci, "{bytes:02x?}");
            assert_eq!(apci.encode(), bytes);
        }
    }

    #[test]
    fn bad_u_frame() {
        assert_eq!(Apci::decode([0x0F, 0, 0, 0]), Err(DecodeError::UFrame { control: 0x0F }));
        assert_eq!(Apci::decode([0x03, 0, 0, 0]), Err(DecodeError::UFrame { control: 0x03 }));
    }

    #[test]
    fn frame_errors() {
        assert_eq!(Apdu::parse(&[0x67, 4, 7, 0, 0, 0]), Err(DecodeError::StartByte { byte: 0x67, offset: 0 }));
        assert_eq!(Apdu::parse(&[0x68, 3, 7, 0, 0]), Err(DecodeError::ApduLength { length: 3, max: 253 }));
        assert_eq!(Apdu::parse(&[0x68, 254]), Err(DecodeError::ApduLength { length: 254, max: 253 }));
        assert_eq!(Apdu::parse(&[0x68, 4, 7, 0]), Err(DecodeError::LengthMismatch { declared: 4, actual: 2 }));
        assert_eq!(Apdu::parse(&[0x68, 4, 0, 0, 0, 0]), Err(DecodeError::EmptyIFrame));
        assert_eq!(Apdu::parse(&[0x68, 5, 1, 0, 0, 0, 9]), Err(DecodeError::UnexpectedAsdu { kind: "S", len: 1 }));
        assert_eq!(
            Apdu::from_frame(&[0x68, 4, 7, 0, 0, 0, 0x68]),
            Err(DecodeError::LengthMismatch { declared: 4, actual: 5 })
        );
    }

    #[test]
    fn write_frame_patches_length_and_rolls_back() {
        let mut out = BytesMut::new();
        write_frame::<crate::error::EncodeError>(Apci::I { send: seq(3), recv: seq(1) }, &mut out, |b| {
            b.put_slice(&[100, 1, 6, 0, 1, 0, 0, 0, 0, 20]);
            Ok(())
        })
        .unwrap();
        assert_eq!(&out[..], &[0x68, 14, 6, 0, 2, 0, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20]);
        let err = write_frame::<crate::error::EncodeError>(Apci::U(UFunction::TestFrAct), &mut out, |b| {
            b.put_slice(&[0; 250]);
            Ok(())
        });
        assert!(matches!(err, Err(crate::error::EncodeError::AsduTooLong { len: 250, .. })));
        assert_eq!(out.len(), 16, "failed frame leaves nothing behind");
    }
}
