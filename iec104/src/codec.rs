//! Streaming APDU framing.
//!
//! [`Frame`] is an owned APDU whose ASDU is a [`Bytes`] slice of the read buffer (no copy).
//! With the `tokio` feature, [`ApduCodec`] implements tokio-util's `Decoder` and `Encoder` for
//! it: partial frames wait for more bytes, several frames per read come out one by one, the
//! length cap is enforced before anything is buffered past the frame, and a byte that does not
//! start a frame yields [`DecodeError::StartByte`] (the standard says to close the connection;
//! the caller decides, and may call [`ApduCodec::resync`] to skip to the next 0x68).

use crate::apci::{self, Apci, Apdu, MAX_APDU_LEN};
use crate::asdu::{Asdu, AsduParams};
#[cfg(feature = "tokio")]
use crate::error::Error;
use crate::error::{DecodeError, ParamsError};
use bytes::{Buf, Bytes, BytesMut};

/// An owned APDU: control field and (for I-frames) the ASDU bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Control field.
    pub apci: Apci,
    /// ASDU bytes; empty for S- and U-frames.
    pub asdu: Bytes,
}

impl Frame {
    /// An S- or U-frame.
    pub fn control(apci: Apci) -> Frame {
        Frame { apci, asdu: Bytes::new() }
    }

    /// Decodes the ASDU, borrowing this frame.
    ///
    /// # Errors
    /// As [`Asdu::decode`].
    pub fn decode_asdu(&self, params: &AsduParams) -> Result<Asdu<'_>, DecodeError> {
        Asdu::decode(&self.asdu, params)
    }

    /// Appends the encoded frame to `out`.
    ///
    /// # Errors
    /// [`crate::error::EncodeError::AsduTooLong`] when the ASDU exceeds 249 bytes.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), crate::error::EncodeError> {
        match self.apci {
            Apci::I { .. } => apci::write_frame(self.apci, out, |b| {
                b.extend_from_slice(&self.asdu);
                Ok(())
            }),
            _ => {
                apci::write_control(self.apci, out);
                Ok(())
            }
        }
    }
}

/// Stateless APDU framer over a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApduCodec {
    max_len: u8,
}

impl Default for ApduCodec {
    fn default() -> Self {
        ApduCodec { max_len: MAX_APDU_LEN }
    }
}

impl ApduCodec {
    /// A codec accepting APDU length fields up to `max_len` (4..=253; the standard's is 253).
    ///
    /// # Errors
    /// [`ParamsError::MaxApduLength`] outside 4..=253.
    pub fn with_max_len(max_len: usize) -> Result<ApduCodec, ParamsError> {
        match u8::try_from(max_len) {
            Ok(m) if (4..=MAX_APDU_LEN).contains(&m) => Ok(ApduCodec { max_len: m }),
            _ => Err(ParamsError::MaxApduLength(max_len)),
        }
    }

    /// Takes one whole frame off the front of `buf`, `Ok(None)` if it is not complete yet.
    /// Reserves at most the rest of the current frame.
    ///
    /// # Errors
    /// A [`DecodeError`] for a bad start byte, length or control field; `buf` is left as it was
    /// so the caller can inspect it or [`ApduCodec::resync`].
    pub fn decode_frame(&self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let Some(total) = apci::frame_len(buf, self.max_len)? else {
            return Ok(None);
        };
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let apci = Apdu::from_frame(&buf[..total])?.apci;
        let mut frame = buf.split_to(total);
        frame.advance(2 + apci::CONTROL_LEN);
        Ok(Some(Frame { apci, asdu: frame.freeze() }))
    }

    /// Drops bytes up to the next 0x68 after the first byte; returns how many were dropped.
    pub fn resync(buf: &mut BytesMut) -> usize {
        let skip = buf.iter().skip(1).position(|b| *b == apci::START).map_or(buf.len(), |p| p + 1);
        buf.advance(skip);
        skip
    }
}

#[cfg(feature = "tokio")]
impl tokio_util::codec::Decoder for ApduCodec {
    type Item = Frame;
    type Error = Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
        Ok(self.decode_frame(buf)?)
    }
}

#[cfg(feature = "tokio")]
impl tokio_util::codec::Encoder<Frame> for ApduCodec {
    type Error = Error;

    fn encode(&mut self, frame: Frame, out: &mut BytesMut) -> Result<(), Error> {
        Ok(frame.encode(out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apci::UFunction;
    use crate::types::SeqNo;

    #[test]
    fn splits_partial_and_multiple_frames() {
        let codec = ApduCodec::default();
        let stream: Vec<u8> = [
            &[0x68, 4, 0x07, 0, 0, 0][..],
            &[0x68, 14, 0, 0, 0, 0, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20],
            &[0x68, 4, 0x01, 0, 0x02, 0],
        ]
        .concat();
        let mut buf = BytesMut::new();
        let mut frames = vec![];
        for chunk in stream.chunks(5) {
            buf.extend_from_slice(chunk);
            while let Some(f) = codec.decode_frame(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], Frame::control(Apci::U(UFunction::StartDtAct)));
        assert_eq!(frames[1].apci, Apci::I { send: SeqNo::new(0).unwrap(), recv: SeqNo::new(0).unwrap() });
        assert_eq!(&frames[1].asdu[..], &[100, 1, 6, 0, 1, 0, 0, 0, 0, 20]);
        assert_eq!(frames[2].apci, Apci::S { recv: SeqNo::new(1).unwrap() });
        let mut out = BytesMut::new();
        for f in &frames {
            f.encode(&mut out).unwrap();
        }
        assert_eq!(&out[..], &stream[..]);
    }

    #[test]
    fn bad_start_and_resync() {
        let codec = ApduCodec::default();
        let mut buf = BytesMut::from(&[0x00, 0x11, 0x68, 4, 0x43, 0, 0, 0][..]);
        assert_eq!(codec.decode_frame(&mut buf), Err(DecodeError::StartByte { byte: 0, offset: 0 }));
        assert_eq!(buf.len(), 8, "error leaves the buffer");
        assert_eq!(ApduCodec::resync(&mut buf), 2);
        assert_eq!(codec.decode_frame(&mut buf).unwrap().unwrap().apci, Apci::U(UFunction::TestFrAct));
    }

    #[test]
    fn length_cap() {
        let codec = ApduCodec::with_max_len(20).unwrap();
        let mut buf = BytesMut::from(&[0x68, 21][..]);
        assert_eq!(codec.decode_frame(&mut buf), Err(DecodeError::ApduLength { length: 21, max: 20 }));
        assert!(buf.capacity() < 64, "nothing reserved for an over-long frame");
        assert!(ApduCodec::with_max_len(254).is_err());
        assert!(ApduCodec::with_max_len(3).is_err());
    }
}
