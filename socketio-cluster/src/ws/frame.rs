//! The wire format of the long-connection frontend: one binary WebSocket message per frame, a
//! 16-byte header and a payload.
//!
//! ```text
//!  0        1        2        3        4        5        6        7
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! | 0x5A   | ver 1  | flags  | 0      |        protocol id (u32, BE)      |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |          sequence (u32, BE)       |      payload length (u32, BE)     |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! | payload: protobuf, or JSON when flags has JSON                          |
//! ```
//!
//! Flags: [`flags::JSON`] (the payload is JSON), [`flags::REPLY`] (an answer: its sequence is the
//! request's), [`flags::PUSH`] (sent by the server unasked, sequence 0), [`flags::ERROR`] (an
//! answer carrying an [`ErrorBody`] as JSON). Protocol ids below [`FIRST_APP_ID`] are the
//! frontend's own: [`AUTH`] (the payload is a token), [`PING`] (answered with an empty reply).
//!
//! ```
//! use socketio_cluster::ws::frame::{flags, Frame};
//! let f = Frame::request(1003, 7, br#"{"room":"r1","text":"hi"}"#.to_vec()).json();
//! let bytes = f.encode();
//! assert_eq!(bytes.len(), 16 + f.payload.len());
//! assert_eq!(Frame::decode(&bytes, 1 << 20).unwrap(), f);
//! assert_eq!(f.flags & flags::JSON, flags::JSON);
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// The first byte of every frame.
pub const MAGIC: u8 = 0x5A;
/// The version this code speaks.
pub const VERSION: u8 = 1;
/// Header bytes.
pub const HEADER_LEN: usize = 16;
/// Protocol id of the authentication frame (payload: the JWT as text).
pub const AUTH: u32 = 1;
/// Protocol id of a ping (answered with an empty reply).
pub const PING: u32 = 2;
/// The first protocol id a logic service may register.
pub const FIRST_APP_ID: u32 = 1000;

/// Frame flags.
pub mod flags {
    /// The payload is JSON (else protobuf).
    pub const JSON: u8 = 0x01;
    /// An answer: the sequence is the request's.
    pub const REPLY: u8 = 0x02;
    /// Sent by the server unasked.
    pub const PUSH: u8 = 0x04;
    /// An error answer: the payload is an `ErrorBody` as JSON.
    pub const ERROR: u8 = 0x08;
    /// Every flag this version knows.
    pub const KNOWN: u8 = JSON | REPLY | PUSH | ERROR;
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// [`flags`].
    pub flags: u8,
    /// What the payload is, and which service handles it.
    pub protocol: u32,
    /// Chosen by the client per request; replies carry it back.
    pub seq: u32,
    /// The payload.
    pub payload: Bytes,
}

/// Why bytes are not a frame (the connection stays; the client gets an error frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than a header.
    #[error("frame of {0} bytes is shorter than the 16-byte header")]
    Short(usize),
    /// Not this format.
    #[error("bad magic byte 0x{0:02x} (expected 0x5a)")]
    Magic(u8),
    /// Another version.
    #[error("unsupported version {0} (this frontend speaks 1)")]
    Version(u8),
    /// Flags this version does not know, or a reserved byte set.
    #[error("unknown flags 0x{0:02x}")]
    Flags(u8),
    /// The header's length is not the payload's.
    #[error("payload length {declared} in the header, {actual} bytes sent")]
    Length {
        /// In the header.
        declared: u32,
        /// Received.
        actual: usize,
    },
    /// Larger than allowed.
    #[error("payload of {0} bytes is over the {1}-byte limit")]
    TooLarge(usize, usize),
}

impl FrameError {
    /// The error code sent back ([`ErrorBody::code`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge(..) => ErrorCode::TooLarge,
            _ => ErrorCode::BadFrame,
        }
    }
}

/// The codes of error frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The bytes are not a frame (header, flags, length).
    BadFrame,
    /// The frame is over the size limit.
    TooLarge,
    /// No service registered the protocol id.
    UnknownProtocol,
    /// No token, or a bad one (the connection is closed after this).
    Unauthenticated,
    /// The service registered for the id has no instance that answers.
    Unavailable,
    /// The service did not answer in time.
    Timeout,
    /// The service refused the request (its message says why).
    Refused,
    /// Anything else.
    Internal,
}

/// The payload of an error frame (JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// What kind of error.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl Frame {
    /// A request from a client.
    pub fn request(protocol: u32, seq: u32, payload: impl Into<Bytes>) -> Frame {
        Frame { flags: 0, protocol, seq, payload: payload.into() }
    }

    /// The answer to `req` with `payload` (JSON when the request was).
    pub fn reply_to(req: &Frame, payload: impl Into<Bytes>) -> Frame {
        Frame {
            flags: flags::REPLY | (req.flags & flags::JSON),
            protocol: req.protocol,
            seq: req.seq,
            payload: payload.into(),
        }
    }

    /// An error answer to request `seq` of `protocol`.
    pub fn error(protocol: u32, seq: u32, code: ErrorCode, message: impl Into<String>) -> Frame {
        let body = ErrorBody { code, message: message.into() };
        let payload = serde_json::to_vec(&body).unwrap_or_default();
        Frame { flags: flags::REPLY | flags::ERROR | flags::JSON, protocol, seq, payload: payload.into() }
    }

    /// A push of `payload` under `protocol`.
    pub fn push(protocol: u32, payload: impl Into<Bytes>, json: bool) -> Frame {
        Frame { flags: flags::PUSH | if json { flags::JSON } else { 0 }, protocol, seq: 0, payload: payload.into() }
    }

    /// Marks the payload as JSON.
    #[must_use]
    pub fn json(mut self) -> Frame {
        self.flags |= flags::JSON;
        self
    }

    /// Whether the payload is JSON.
    pub fn is_json(&self) -> bool {
        self.flags & flags::JSON != 0
    }

    /// The error body of an error frame.
    pub fn error_body(&self) -> Option<ErrorBody> {
        (self.flags & flags::ERROR != 0).then(|| serde_json::from_slice(&self.payload).ok()).flatten()
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        self.encode_into(&mut b);
        b.freeze()
    }

    /// Appends the frame's bytes to `b`.
    pub fn encode_into(&self, b: &mut BytesMut) {
        b.reserve(HEADER_LEN + self.payload.len());
        b.put_u8(MAGIC);
        b.put_u8(VERSION);
        b.put_u8(self.flags);
        b.put_u8(0);
        b.put_u32(self.protocol);
        b.put_u32(self.seq);
        b.put_u32(u32::try_from(self.payload.len()).unwrap_or(u32::MAX));
        b.put_slice(&self.payload);
    }

    /// The header of `b` alone (protocol id and sequence of a frame whose payload is refused,
    /// for the error answer); `None` when not even that can be read.
    pub fn peek(b: &[u8]) -> Option<(u32, u32)> {
        if b.len() < HEADER_LEN || b[0] != MAGIC {
            return None;
        }
        Some((u32::from_be_bytes([b[4], b[5], b[6], b[7]]), u32::from_be_bytes([b[8], b[9], b[10], b[11]])))
    }

    /// The frame in `b` (one whole WebSocket message), its payload at most `max_payload` bytes.
    ///
    /// # Errors
    /// [`FrameError`], naming what is wrong.
    pub fn decode(b: &[u8], max_payload: usize) -> Result<Frame, FrameError> {
        Frame::decode_bytes(&Bytes::copy_from_slice(b), max_payload)
    }

    /// [`Frame::decode`] without copying the payload out of `b`.
    ///
    /// # Errors
    /// [`FrameError`], naming what is wrong.
    pub fn decode_bytes(b: &Bytes, max_payload: usize) -> Result<Frame, FrameError> {
        if b.len() < HEADER_LEN {
            return Err(FrameError::Short(b.len()));
        }
        if b[0] != MAGIC {
            return Err(FrameError::Magic(b[0]));
        }
        if b[1] != VERSION {
            return Err(FrameError::Version(b[1]));
        }
        let fl = b[2];
        if fl & !flags::KNOWN != 0 || b[3] != 0 {
            return Err(FrameError::Flags(fl | b[3]));
        }
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let (protocol, seq, len) = (word(4), word(8), word(12));
        let actual = b.len() - HEADER_LEN;
        if actual > max_payload {
            return Err(FrameError::TooLarge(actual, max_payload));
        }
        if len as usize != actual {
            return Err(FrameError::Length { declared: len, actual });
        }
        Ok(Frame { flags: fl, protocol, seq, payload: b.slice(HEADER_LEN..) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_frame_round_trips(fl in 0u8..16, protocol: u32, seq: u32, payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let f = Frame { flags: fl, protocol, seq, payload: payload.into() };
            prop_assert_eq!(Frame::decode(&f.encode(), 1024).unwrap(), f);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            match Frame::decode(&b, 32) {
                Ok(f) => prop_assert_eq!(&f.encode()[..], &b[..]),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn each_defect_is_named() {
        let good = Frame::request(1001, 9, b"abc".to_vec()).encode();
        assert_eq!(Frame::decode(&good[..10], 64), Err(FrameError::Short(10)));
        let mut b = good.to_vec();
        b[0] = 0x7b; // '{': JSON sent as a frame
        assert_eq!(Frame::decode(&b, 64), Err(FrameError::Magic(0x7b)));
        let mut b = good.to_vec();
        b[1] = 2;
        assert_eq!(Frame::decode(&b, 64), Err(FrameError::Version(2)));
        let mut b = good.to_vec();
        b[2] = 0x40;
        assert_eq!(Frame::decode(&b, 64), Err(FrameError::Flags(0x40)));
        let mut b = good.to_vec();
        b.push(0);
        assert_eq!(Frame::decode(&b, 64), Err(FrameError::Length { declared: 3, actual: 4 }));
        assert_eq!(Frame::decode(&good, 2), Err(FrameError::TooLarge(3, 2)));
        assert_eq!(FrameError::TooLarge(3, 2).code(), ErrorCode::TooLarge);
        assert_eq!(Frame::peek(&good), Some((1001, 9)));
    }

    #[test]
    fn replies_and_errors() {
        let req = Frame::request(1003, 42, b"{}".to_vec()).json();
        let r = Frame::reply_to(&req, b"{\"ok\":true}".to_vec());
        assert_eq!((r.protocol, r.seq, r.flags), (1003, 42, flags::REPLY | flags::JSON));
        let e = Frame::error(1003, 42, ErrorCode::UnknownProtocol, "no service for 1003");
        let body = Frame::decode(&e.encode(), 1024).unwrap().error_body().unwrap();
        assert_eq!(body, ErrorBody { code: ErrorCode::UnknownProtocol, message: "no service for 1003".into() });
        assert_eq!(
            String::from_utf8(e.payload.to_vec()).unwrap(),
            r#"{"code":"unknown_protocol","message":"no service for 1003"}"#
        );
    }
}
