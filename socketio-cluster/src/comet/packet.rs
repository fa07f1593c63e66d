//! The comet's wire format: one packet per WebSocket binary message or UDP datagram.
//!
//! ```text
//!  0        1        2        3        4        5        6        7
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! | 0xC5   | ver 1  | kind   | flags  |         sequence (u32, BE)        |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |                       from: terminal id (i64, BE)                     |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |                        to: terminal id (i64, BE)                      |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! | payload length  | payload ...
//! +--------+--------+
//! ```
//!
//! A terminal logs in ([`Kind::Login`], `from` its id, the payload its token) and is answered
//! [`Kind::LoginOk`] or [`Kind::Refused`]; it sends [`Kind::Heartbeat`]s; a [`Kind::Message`]
//! goes to the terminal `to` (or, with [`flags::UPLOAD`], to storage: `to` may be 0) and is
//! answered [`Kind::Ack`] with its sequence once delivered or stored; a session replaced by a
//! newer login of the same id is told so ([`Kind::Replaced`]). Refusals carry a [`Reason`].
//!
//! ```
//! use socketio_cluster::comet::packet::{Kind, Packet};
//! let p = Packet::message(7, -42, 1001, b"{\"on\":true}".to_vec());
//! let b = p.encode();
//! assert_eq!(b.len(), 26 + 11);
//! assert_eq!(Packet::decode(&b, 1024).unwrap(), p);
//! assert_eq!(p.kind, Kind::Message);
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// The first byte of every packet.
pub const MAGIC: u8 = 0xC5;
/// The version this code speaks.
pub const VERSION: u8 = 1;
/// Header bytes.
pub const HEADER_LEN: usize = 26;
/// The largest payload the format can carry (the length is a u16).
pub const MAX_PAYLOAD: usize = u16::MAX as usize;

/// Packet flags.
pub mod flags {
    /// A message to be stored ("upload"), acknowledged once the store confirmed it.
    pub const UPLOAD: u8 = 0x01;
    /// The payload is JSON.
    pub const JSON: u8 = 0x02;
    /// Every flag this version knows.
    pub const KNOWN: u8 = UPLOAD | JSON;
}

/// What a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Terminal -> comet: `from` logs in with the token in the payload.
    Login = 1,
    /// Comet -> terminal: the login is accepted.
    LoginOk = 2,
    /// Terminal -> comet: still here.
    Heartbeat = 3,
    /// Comet -> terminal: the heartbeat's answer.
    HeartbeatAck = 4,
    /// Either way: a message from `from` to `to`.
    Message = 5,
    /// Either way: the message with this sequence was delivered (or stored).
    Ack = 6,
    /// Comet -> terminal: refused, the payload is a [`Reason`] byte and a text.
    Refused = 7,
    /// Comet -> terminal: a newer login of the same id took this session over.
    Replaced = 8,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Login,
            2 => Kind::LoginOk,
            3 => Kind::Heartbeat,
            4 => Kind::HeartbeatAck,
            5 => Kind::Message,
            6 => Kind::Ack,
            7 => Kind::Refused,
            8 => Kind::Replaced,
            _ => return None,
        })
    }
}

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The bytes are not a packet.
    Malformed = 1,
    /// The login's token is not valid for its id.
    BadToken = 2,
    /// The sender has no session here (log in first).
    NotLoggedIn = 3,
    /// The target id is not online anywhere.
    UnknownTarget = 4,
    /// The payload is over the limit.
    TooLarge = 5,
    /// Delivery or storage failed for now: send again later.
    Unavailable = 6,
}

impl Reason {
    /// The reason of a byte (unknown bytes read as [`Reason::Unavailable`]).
    pub fn from_u8(v: u8) -> Reason {
        match v {
            1 => Reason::Malformed,
            2 => Reason::BadToken,
            3 => Reason::NotLoggedIn,
            4 => Reason::UnknownTarget,
            5 => Reason::TooLarge,
            _ => Reason::Unavailable,
        }
    }

    /// The name used in logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::BadToken => "bad_token",
            Reason::NotLoggedIn => "not_logged_in",
            Reason::UnknownTarget => "unknown_target",
            Reason::TooLarge => "too_large",
            Reason::Unavailable => "unavailable",
        }
    }
}

/// Why bytes are not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer bytes than a header.
    #[error("packet of {0} bytes is shorter than the 26-byte header")]
    Short(usize),
    /// Not this format.
    #[error("bad magic byte 0x{0:02x} (expected 0xc5)")]
    Magic(u8),
    /// Another version.
    #[error("unsupported version {0} (this comet speaks 1)")]
    Version(u8),
    /// A kind this version does not know.
    #[error("unknown packet kind {0}")]
    Kind(u8),
    /// Flags this version does not know.
    #[error("unknown flags 0x{0:02x}")]
    Flags(u8),
    /// The header's length is not the payload's.
    #[error("payload length {declared} in the header, {actual} bytes sent")]
    Length {
        /// In the header.
        declared: u16,
        /// Received.
        actual: usize,
    },
    /// Larger than allowed.
    #[error("payload of {0} bytes is over the {1}-byte limit")]
    TooLarge(usize, usize),
    /// A login or heartbeat without a sender, or a message to nobody that is no upload.
    #[error("{0:?} packet without a {1} terminal id")]
    MissingId(Kind, &'static str),
}

impl PacketError {
    /// The refusal sent back.
    pub fn reason(&self) -> Reason {
        match self {
            PacketError::TooLarge(..) => Reason::TooLarge,
            _ => Reason::Malformed,
        }
    }
}

/// One packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// What it is.
    pub kind: Kind,
    /// [`flags`].
    pub flags: u8,
    /// The sender's sequence (a message's; an ack carries the acknowledged one).
    pub seq: u32,
    /// The sending terminal (0 from the comet, or a platform push).
    pub from: i64,
    /// The receiving terminal (0 for the comet, or storage).
    pub to: i64,
    /// The payload.
    pub payload: Bytes,
}

impl Packet {
    /// A packet of `kind` with no ids and no payload.
    pub fn new(kind: Kind, seq: u32) -> Packet {
        Packet { kind, flags: 0, seq, from: 0, to: 0, payload: Bytes::new() }
    }

    /// `id`'s login with `token`.
    pub fn login(id: i64, token: impl Into<Bytes>) -> Packet {
        Packet { from: id, payload: token.into(), ..Packet::new(Kind::Login, 0) }
    }

    /// A heartbeat of `id`.
    pub fn heartbeat(id: i64, seq: u32) -> Packet {
        Packet { from: id, ..Packet::new(Kind::Heartbeat, seq) }
    }

    /// A message from `from` to `to`.
    pub fn message(seq: u32, from: i64, to: i64, payload: impl Into<Bytes>) -> Packet {
        Packet { from, to, payload: payload.into(), ..Packet::new(Kind::Message, seq) }
    }

    /// An upload (a message to be stored) from `from`.
    pub fn upload(seq: u32, from: i64, payload: impl Into<Bytes>) -> Packet {
        Packet { flags: flags::UPLOAD, from, payload: payload.into(), ..Packet::new(Kind::Message, seq) }
    }

    /// The ack of `p` (to its sender).
    pub fn ack_of(p: &Packet) -> Packet {
        Packet { to: p.from, ..Packet::new(Kind::Ack, p.seq) }
    }

    /// A refusal of the packet with sequence `seq`.
    pub fn refused(seq: u32, to: i64, reason: Reason, text: &str) -> Packet {
        let mut b = BytesMut::with_capacity(1 + text.len());
        b.put_u8(reason as u8);
        b.put_slice(text.as_bytes());
        Packet { to, payload: b.freeze(), ..Packet::new(Kind::Refused, seq) }
    }

    /// A refusal's reason and text.
    pub fn refusal(&self) -> Option<(Reason, String)> {
        (self.kind == Kind::Refused && !self.payload.is_empty())
            .then(|| (Reason::from_u8(self.payload[0]), String::from_utf8_lossy(&self.payload[1..]).into_owned()))
    }

    /// An upload (to be stored).
    pub fn is_upload(&self) -> bool {
        self.flags & flags::UPLOAD != 0
    }

    /// The packet's bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        self.encode_into(&mut b);
        b.freeze()
    }

    /// Appends the packet's bytes to `b` (a payload over [`MAX_PAYLOAD`] is cut there).
    pub fn encode_into(&self, b: &mut BytesMut) {
        let n = self.payload.len().min(MAX_PAYLOAD);
        b.reserve(HEADER_LEN + n);
        b.put_u8(MAGIC);
        b.put_u8(VERSION);
        b.put_u8(self.kind as u8);
        b.put_u8(self.flags);
        b.put_u32(self.seq);
        b.put_i64(self.from);
        b.put_i64(self.to);
        b.put_u16(n as u16);
        b.put_slice(&self.payload[..n]);
    }

    /// The kind, sequence and sender of `b` alone (for the refusal of a packet whose rest is
    /// refused); `None` when not even that can be read.
    pub fn peek(b: &[u8]) -> Option<(u32, i64)> {
        if b.len() < HEADER_LEN || b[0] != MAGIC {
            return None;
        }
        let seq = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let mut from = [0u8; 8];
        from.copy_from_slice(&b[8..16]);
        Some((seq, i64::from_be_bytes(from)))
    }

    /// The packet in `b`, its payload at most `max_payload` bytes.
    ///
    /// # Errors
    /// [`PacketError`], naming what is wrong.
    pub fn decode(b: &[u8], max_payload: usize) -> Result<Packet, PacketError> {
        Packet::decode_bytes(&Bytes::copy_from_slice(b), max_payload)
    }

    /// [`Packet::decode`] without copying the payload out of `b`.
    ///
    /// # Errors
    /// [`PacketError`], naming what is wrong.
    pub fn decode_bytes(b: &Bytes, max_payload: usize) -> Result<Packet, PacketError> {
        if b.len() < HEADER_LEN {
            return Err(PacketError::Short(b.len()));
        }
        if b[0] != MAGIC {
            return Err(PacketError::Magic(b[0]));
        }
        if b[1] != VERSION {
            return Err(PacketError::Version(b[1]));
        }
        let kind = Kind::from_u8(b[2]).ok_or(PacketError::Kind(b[2]))?;
        let fl = b[3];
        if fl & !flags::KNOWN != 0 {
            return Err(PacketError::Flags(fl));
        }
        let mut w = [0u8; 8];
        let seq = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        w.copy_from_slice(&b[8..16]);
        let from = i64::from_be_bytes(w);
        w.copy_from_slice(&b[16..24]);
        let to = i64::from_be_bytes(w);
        let len = u16::from_be_bytes([b[24], b[25]]);
        let actual = b.len() - HEADER_LEN;
        if actual > max_payload {
            return Err(PacketError::TooLarge(actual, max_payload));
        }
        if len as usize != actual {
            return Err(PacketError::Length { declared: len, actual });
        }
        match kind {
            // (a message from 0 is the platform's: a push)
            Kind::Login | Kind::Heartbeat if from == 0 => return Err(PacketError::MissingId(kind, "sending")),
            Kind::Message if to == 0 && fl & flags::UPLOAD == 0 => {
                return Err(PacketError::MissingId(kind, "receiving"))
            }
            _ => {}
        }
        Ok(Packet { kind, flags: fl, seq, from, to, payload: b.slice(HEADER_LEN..) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Login),
            Just(Kind::LoginOk),
            Just(Kind::Heartbeat),
            Just(Kind::HeartbeatAck),
            Just(Kind::Message),
            Just(Kind::Ack),
            Just(Kind::Refused),
            Just(Kind::Replaced),
        ]
    }

    proptest! {
        #[test]
        fn every_valid_packet_round_trips(kind in kinds(), fl in 0u8..4, seq: u32, from in prop_oneof![Just(0i64), any::<i64>()],
                                          to: i64, payload in proptest::collection::vec(any::<u8>(), 0..600)) {
            let p = Packet { kind, flags: fl, seq, from, to, payload: payload.into() };
            match Packet::decode(&p.encode(), 1024) {
                Ok(q) => prop_assert_eq!(q, p),
                // only the id rules may refuse an encoded packet
                Err(e) => prop_assert!(matches!(e, PacketError::MissingId(..)), "{e}"),
            }
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            match Packet::decode(&b, 40) {
                Ok(p) => prop_assert_eq!(&p.encode()[..], &b[..]),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn each_defect_is_named() {
        let good = Packet::message(9, 5, -6, b"abc".to_vec()).encode();
        assert_eq!(Packet::decode(&good[..10], 64), Err(PacketError::Short(10)));
        let mut b = good.to_vec();
        b[0] = b'{';
        assert_eq!(Packet::decode(&b, 64), Err(PacketError::Magic(b'{')));
        let mut b = good.to_vec();
        b[1] = 2;
        assert_eq!(Packet::decode(&b, 64), Err(PacketError::Version(2)));
        let mut b = good.to_vec();
        b[2] = 99;
        assert_eq!(Packet::decode(&b, 64), Err(PacketError::Kind(99)));
        let mut b = good.to_vec();
        b[3] = 0x80;
        assert_eq!(Packet::decode(&b, 64), Err(PacketError::Flags(0x80)));
        let mut b = good.to_vec();
        b.push(0);
        assert_eq!(Packet::decode(&b, 64), Err(PacketError::Length { declared: 3, actual: 4 }));
        assert_eq!(Packet::decode(&good, 2), Err(PacketError::TooLarge(3, 2)));
        assert_eq!(PacketError::TooLarge(3, 2).reason(), Reason::TooLarge);
        assert_eq!(Packet::peek(&good), Some((9, 5)));
        let nobody = Packet::message(1, 5, 0, b"x".to_vec()).encode();
        assert_eq!(Packet::decode(&nobody, 64), Err(PacketError::MissingId(Kind::Message, "receiving")));
        let anonymous = Packet::login(0, "t").encode();
        assert_eq!(Packet::decode(&anonymous, 64), Err(PacketError::MissingId(Kind::Login, "sending")));
        // an upload needs no receiver
        let up = Packet::upload(3, -8, b"kwh=1.5".to_vec());
        assert_eq!(Packet::decode(&up.encode(), 64).unwrap(), up);
        assert!(up.is_upload());
    }

    #[test]
    fn refusals_and_acks() {
        let m = Packet::message(77, -3, 4, b"on".to_vec());
        let a = Packet::ack_of(&m);
        assert_eq!((a.kind, a.seq, a.to), (Kind::Ack, 77, -3));
        let r = Packet::refused(77, -3, Reason::UnknownTarget, "4 is offline");
        let back = Packet::decode(&r.encode(), 64).unwrap();
        assert_eq!(back.refusal(), Some((Reason::UnknownTarget, "4 is offline".into())));
        assert_eq!(Reason::from_u8(200), Reason::Unavailable);
        assert_eq!(Reason::BadToken.as_str(), "bad_token");
    }
}
