//! The compute workers' protocol: one MsgPack map per WebSocket binary message, its `type`
//! naming the frame; both ends use this one codec.
//!
//! | `type` | from | fields |
//! |---|---|---|
//! | `hello` | worker | `worker` (name), `capabilities` (task kinds it runs; empty: any), `concurrency` (tasks at once, >= 1), `version` (1) |
//! | `welcome` | bridge | `heartbeat` (ms between pings), `max_frame` (bytes), `zstd_threshold` (bytes) |
//! | `task` | bridge | `id`, `kind`, `attempt` (1, 2, ...), `deadline` (ms the worker has), `data` (bin), `zstd` (bool) |
//! | `result` | worker | `id`, `data` (bin), `zstd` (bool) |
//! | `error` | worker | `id`, `message`, `retry` (bool: false sends the task to the dead letters at once) |
//! | `ping` / `pong` | either | `t` (the sender's clock, ms; a pong echoes its ping's) |
//! | `bye` | either | `reason`: the connection closes after it |
//!
//! Keys a reader does not know are skipped (a newer peer may add some); a frame without `type`,
//! of an unknown type, or missing a field it needs is a [`DecodeError`]. `data` is the task's
//! or the result's body as bytes (the bridge does not look into it): by convention MsgPack whose
//! float64 arrays are `bin` of little-endian doubles (no per-element encoding). When `zstd` is
//! true, `data` holds one zstd frame of the body: a sender compresses a body larger than the
//! peer's `zstd_threshold`, a reader decompresses it within its own limit ([`Payload::body`]).

use bytes::{BufMut, Bytes, BytesMut};
use rmpv::ValueRef;

/// The protocol's version.
pub const VERSION: u32 = 1;

/// Why bytes are no frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not one MsgPack map (or bytes after it).
    #[error("not a MsgPack map: {0}")]
    Malformed(String),
    /// Larger than the limit.
    #[error("{size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// The frame's (or the decompressed body's) size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No `type`.
    #[error("no type")]
    NoType,
    /// A `type` this side does not know.
    #[error("unknown type {0:?}")]
    UnknownType(String),
    /// A field missing or of the wrong MsgPack type.
    #[error("{frame}: field {field:?} missing or not {want}")]
    Field {
        /// The frame's type.
        frame: &'static str,
        /// The field.
        field: &'static str,
        /// What it must be.
        want: &'static str,
    },
    /// A zstd body that does not decompress.
    #[error("zstd: {0}")]
    Zstd(String),
}

/// A task's or a result's body as sent: compressed or not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    /// The bytes on the wire.
    pub bytes: Bytes,
    /// `bytes` is a zstd frame of the body.
    pub zstd: bool,
}

impl Payload {
    /// `body` as it goes out: compressed (zstd level 1) when longer than `threshold` (0: never)
    /// and smaller so.
    pub fn encode(body: Bytes, threshold: usize) -> Payload {
        if threshold > 0 && body.len() > threshold {
            if let Ok(z) = zstd::bulk::compress(&body, 1) {
                if z.len() < body.len() {
                    return Payload { bytes: z.into(), zstd: true };
                }
            }
        }
        Payload { bytes: body, zstd: false }
    }

    /// The body, decompressed when it is compressed, at most `limit` bytes.
    ///
    /// # Errors
    /// [`DecodeError::Zstd`] (not zstd, or larger than `limit` decompressed).
    pub fn body(&self, limit: usize) -> Result<Bytes, DecodeError> {
        if !self.zstd {
            return Ok(self.bytes.clone());
        }
        zstd::bulk::decompress(&self.bytes, limit).map(Bytes::from).map_err(|e| DecodeError::Zstd(e.to_string()))
    }
}

/// `hello`: a worker introduces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Its name (for logs and the dashboard).
    pub worker: String,
    /// The task kinds it runs (empty: any).
    pub capabilities: Vec<String>,
    /// Tasks it takes at once (at least 1).
    pub concurrency: u32,
    /// The protocol version it speaks.
    pub version: u32,
}

/// `welcome`: the bridge's answer to a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// Milliseconds between pings (either side closes after three missed).
    pub heartbeat: u64,
    /// The largest frame the bridge reads.
    pub max_frame: u64,
    /// Bodies above this are sent compressed.
    pub zstd_threshold: u64,
}

/// `task`: work for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task's id (a result names it).
    pub id: String,
    /// Its kind (one of the worker's capabilities).
    pub kind: String,
    /// Its attempt, from 1.
    pub attempt: u32,
    /// Milliseconds the worker has before the task is given to another.
    pub deadline: u64,
    /// Its body.
    pub data: Payload,
}

/// `result`: a task done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The task's id.
    pub id: String,
    /// The result's body.
    pub data: Payload,
}

/// `error`: a task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The task's id.
    pub id: String,
    /// Why.
    pub message: String,
    /// Worth another attempt (false: dead-lettered at once).
    pub retry: bool,
}

/// A frame of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// `hello`.
    Hello(Hello),
    /// `welcome`.
    Welcome(Welcome),
    /// `task`.
    Task(Task),
    /// `result`.
    Result(Done),
    /// `error`.
    Error(Failed),
    /// `ping` with the sender's clock.
    Ping(u64),
    /// `pong` echoing a ping's clock.
    Pong(u64),
    /// `bye` with a reason.
    Bye(String),
}

fn put_str(b: &mut BytesMut, s: &str) {
    let mut w = b.writer();
    let _ = rmp::encode::write_str(&mut w, s);
}

fn put_kv_str(b: &mut BytesMut, k: &str, v: &str) {
    put_str(b, k);
    put_str(b, v);
}

fn put_kv_uint(b: &mut BytesMut, k: &str, v: u64) {
    put_str(b, k);
    let _ = rmp::encode::write_uint(&mut b.writer(), v);
}

fn put_kv_bool(b: &mut BytesMut, k: &str, v: bool) {
    put_str(b, k);
    let _ = rmp::encode::write_bool(&mut b.writer(), v);
}

fn put_kv_bin(b: &mut BytesMut, k: &str, v: &[u8]) {
    put_str(b, k);
    let _ = rmp::encode::write_bin_len(&mut b.writer(), v.len() as u32);
    b.extend_from_slice(v);
}

fn put_map(b: &mut BytesMut, fields: u32, kind: &str) {
    let _ = rmp::encode::write_map_len(&mut b.writer(), fields + 1);
    put_kv_str(b, "type", kind);
}

impl Frame {
    /// The frame's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Welcome(_) => "welcome",
            Frame::Task(_) => "task",
            Frame::Result(_) => "result",
            Frame::Error(_) => "error",
            Frame::Ping(_) => "ping",
            Frame::Pong(_) => "pong",
            Frame::Bye(_) => "bye",
        }
    }

    /// The frame as one WebSocket binary message.
    pub fn encode(&self) -> Bytes {
        let data_len = match self {
            Frame::Task(t) => t.data.bytes.len(),
            Frame::Result(d) => d.data.bytes.len(),
            _ => 0,
        };
        let mut b = BytesMut::with_capacity(96 + data_len);
        let kind = self.kind();
        match self {
            Frame::Hello(h) => {
                put_map(&mut b, 4, kind);
                put_kv_str(&mut b, "worker", &h.worker);
                put_str(&mut b, "capabilities");
                let _ = rmp::encode::write_array_len(&mut (&mut b).writer(), h.capabilities.len() as u32);
                for c in &h.capabilities {
                    put_str(&mut b, c);
                }
                put_kv_uint(&mut b, "concurrency", u64::from(h.concurrency));
                put_kv_uint(&mut b, "version", u64::from(h.version));
            }
            Frame::Welcome(w) => {
                put_map(&mut b, 3, kind);
                put_kv_uint(&mut b, "heartbeat", w.heartbeat);
                put_kv_uint(&mut b, "max_frame", w.max_frame);
                put_kv_uint(&mut b, "zstd_threshold", w.zstd_threshold);
            }
            Frame::Task(t) => {
                put_map(&mut b, 6, kind);
                put_kv_str(&mut b, "id", &t.id);
                put_kv_str(&mut b, "kind", &t.kind);
                put_kv_uint(&mut b, "attempt", u64::from(t.attempt));
                put_kv_uint(&mut b, "deadline", t.deadline);
                put_kv_bool(&mut b, "zstd", t.data.zstd);
                put_kv_bin(&mut b, "data", &t.data.bytes);
            }
            Frame::Result(d) => {
                put_map(&mut b, 3, kind);
                put_kv_str(&mut b, "id", &d.id);
                put_kv_bool(&mut b, "zstd", d.data.zstd);
                put_kv_bin(&mut b, "data", &d.data.bytes);
            }
            Frame::Error(f) => {
                put_map(&mut b, 3, kind);
                put_kv_str(&mut b, "id", &f.id);
                put_kv_str(&mut b, "message", &f.message);
                put_kv_bool(&mut b, "retry", f.retry);
            }
            Frame::Ping(t) | Frame::Pong(t) => {
                put_map(&mut b, 1, kind);
                put_kv_uint(&mut b, "t", *t);
            }
            Frame::Bye(r) => {
                put_map(&mut b, 1, kind);
                put_kv_str(&mut b, "reason", r);
            }
        }
        b.freeze()
    }

    /// Reads one frame of at most `limit` bytes; `data` is a slice of `frame` (no copy).
    ///
    /// # Errors
    /// [`DecodeError`]: too large, not one MsgPack map, no or an unknown `type`, a field
    /// missing or of the wrong type.
    pub fn decode(frame: &Bytes, limit: usize) -> Result<Frame, DecodeError> {
        if frame.len() > limit {
            return Err(DecodeError::TooLarge { size: frame.len(), limit });
        }
        let mut rd: &[u8] = frame;
        let v = rmpv::decode::read_value_ref(&mut rd).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if !rd.is_empty() {
            return Err(DecodeError::Malformed(format!("{} bytes after the map", rd.len())));
        }
        let ValueRef::Map(entries) = v else {
            return Err(DecodeError::Malformed("not a map".into()));
        };
        let m = Fields { entries: &entries, frame };
        let kind = m.str_opt("type").ok_or(DecodeError::NoType)?;
        Ok(match kind {
            "hello" => {
                let f = "hello";
                let capabilities = match m.get("capabilities") {
                    None | Some(ValueRef::Nil) => vec![],
                    Some(ValueRef::Array(a)) => a
                        .iter()
                        .map(|c| match c {
                            ValueRef::String(s) => s.as_str().map(str::to_owned),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                        .ok_or(DecodeError::Field { frame: f, field: "capabilities", want: "an array of strings" })?,
                    Some(_) => {
                        return Err(DecodeError::Field { frame: f, field: "capabilities", want: "an array of strings" })
                    }
                };
                let concurrency = m.uint(f, "concurrency")?;
                let concurrency = u32::try_from(concurrency).ok().filter(|c| *c >= 1).ok_or(DecodeError::Field {
                    frame: f,
                    field: "concurrency",
                    want: "from 1 to 2^32-1",
                })?;
                Frame::Hello(Hello {
                    worker: m.string(f, "worker")?,
                    capabilities,
                    concurrency,
                    version: m.uint_or("version", u64::from(VERSION)).min(u64::from(u32::MAX)) as u32,
                })
            }
            "welcome" => Frame::Welcome(Welcome {
                heartbeat: m.uint("welcome", "heartbeat")?,
                max_frame: m.uint("welcome", "max_frame")?,
                zstd_threshold: m.uint_or("zstd_threshold", 0),
            }),
            "task" => {
                let f = "task";
                Frame::Task(Task {
                    id: m.string(f, "id")?,
                    kind: m.str_opt("kind").unwrap_or_default().to_owned(),
                    attempt: m.uint_or("attempt", 1).min(u64::from(u32::MAX)) as u32,
                    deadline: m.uint_or("deadline", 0),
                    data: m.payload(f)?,
                })
            }
            "result" => Frame::Result(Done { id: m.string("result", "id")?, data: m.payload("result")? }),
            "error" => Frame::Error(Failed {
                id: m.string("error", "id")?,
                message: m.str_opt("message").unwrap_or_default().to_owned(),
                retry: m.bool_or("retry", true),
            }),
            "ping" => Frame::Ping(m.uint_or("t", 0)),
            "pong" => Frame::Pong(m.uint_or("t", 0)),
            "bye" => Frame::Bye(m.str_opt("reason").unwrap_or_default().to_owned()),
            other => return Err(DecodeError::UnknownType(other.chars().take(64).collect())),
        })
    }
}

/// A decoded map's fields.
struct Fields<'a> {
    entries: &'a [(ValueRef<'a>, ValueRef<'a>)],
    frame: &'a Bytes,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a ValueRef<'a>> {
        self.entries.iter().find_map(|(k, v)| match k {
            ValueRef::String(s) if s.as_str() == Some(key) => Some(v),
            _ => None,
        })
    }

    fn str_opt(&self, key: &str) -> Option<&'a str> {
        match self.get(key)? {
            ValueRef::String(s) => s.as_str(),
            _ => None,
        }
    }

    fn string(&self, frame: &'static str, field: &'static str) -> Result<String, DecodeError> {
        self.str_opt(field).map(str::to_owned).ok_or(DecodeError::Field { frame, field, want: "a string" })
    }

    fn uint(&self, frame: &'static str, field: &'static str) -> Result<u64, DecodeError> {
        match self.get(field) {
            Some(ValueRef::Integer(i)) => i.as_u64(),
            _ => None,
        }
        .ok_or(DecodeError::Field { frame, field, want: "an unsigned integer" })
    }

    fn uint_or(&self, key: &str, default: u64) -> u64 {
        match self.get(key) {
            Some(ValueRef::Integer(i)) => i.as_u64().unwrap_or(default),
            _ => default,
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(ValueRef::Boolean(b)) => *b,
            _ => default,
        }
    }

    fn payload(&self, frame: &'static str) -> Result<Payload, DecodeError> {
        let bytes = match self.get("data") {
            Some(ValueRef::Binary(b)) => self.frame.slice_ref(b),
            Some(ValueRef::Nil) | None => Bytes::new(),
            Some(_) => return Err(DecodeError::Field { frame, field: "data", want: "binary" }),
        };
        Ok(Payload { bytes, zstd: self.bool_or("zstd", false) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(f: &Frame) -> Frame {
        Frame::decode(&f.encode(), usize::MAX).unwrap()
    }

    #[test]
    fn every_frame_round_trips() {
        let frames = [
            Frame::Hello(Hello {
                worker: "w1".into(),
                capabilities: vec!["opf".into(), "sim".into()],
                concurrency: 4,
                version: 1,
            }),
            Frame::Welcome(Welcome { heartbeat: 5000, max_frame: 1 << 30, zstd_threshold: 1 << 16 }),
            Frame::Task(Task {
                id: "t-1".into(),
                kind: "opf".into(),
                attempt: 2,
                deadline: 30_000,
                data: Payload { bytes: Bytes::from_static(b"\x81\xa1x\x01"), zstd: false },
            }),
            Frame::Result(Done { id: "t-1".into(), data: Payload::encode(Bytes::from(vec![7u8; 100_000]), 1024) }),
            Frame::Error(Failed { id: "t-1".into(), message: "diverged".into(), retry: false }),
            Frame::Ping(17),
            Frame::Pong(17),
            Frame::Bye("shutting down".into()),
        ];
        for f in &frames {
            assert_eq!(&roundtrip(f), f);
        }
    }

    #[test]
    fn the_data_is_a_slice_of_the_frame_and_zstd_round_trips_bit_exact() {
        let floats: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 0.1 - 3.7).collect();
        let body: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
        let body = Bytes::from(body);
        for threshold in [0, 1024] {
            let p = Payload::encode(body.clone(), threshold);
            assert_eq!(p.zstd, threshold > 0, "a regular array compresses");
            let frame = Frame::Result(Done { id: "a".into(), data: p }).encode();
            let Frame::Result(d) = Frame::decode(&frame, usize::MAX).unwrap() else { panic!() };
            // no copy: the payload points into the frame
            let (lo, hi) = (frame.as_ptr() as usize, frame.as_ptr() as usize + frame.len());
            assert!((lo..hi).contains(&(d.data.bytes.as_ptr() as usize)));
            let back = d.data.body(body.len()).unwrap();
            let floats2: Vec<f64> = back.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
            assert_eq!(
                floats.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
                floats2.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_zstd_body_larger_than_the_limit_is_refused() {
        let p = Payload::encode(Bytes::from(vec![0u8; 1 << 20]), 1);
        assert!(p.zstd && p.bytes.len() < 1000);
        assert!(matches!(p.body(1 << 10), Err(DecodeError::Zstd(_))));
        assert_eq!(p.body(1 << 20).unwrap().len(), 1 << 20);
        let bad = Payload { bytes: Bytes::from_static(b"not zstd"), zstd: true };
        assert!(matches!(bad.body(100), Err(DecodeError::Zstd(_))));
    }

    #[test]
    fn refusals_are_typed() {
        let enc = |v: rmpv::Value| {
            let mut b = vec![];
            rmpv::encode::write_value(&mut b, &v).unwrap();
            Bytes::from(b)
        };
        let map = |kv: Vec<(&str, rmpv::Value)>| {
            enc(rmpv::Value::Map(kv.into_iter().map(|(k, v)| (rmpv::Value::from(k), v)).collect()))
        };
        assert!(matches!(Frame::decode(&Bytes::from_static(b"\xc1"), 100), Err(DecodeError::Malformed(_))));
        assert!(matches!(Frame::decode(&enc(rmpv::Value::from(3)), 100), Err(DecodeError::Malformed(_))));
        assert_eq!(Frame::decode(&map(vec![("id", "x".into())]), 100), Err(DecodeError::NoType));
        assert_eq!(
            Frame::decode(&map(vec![("type", "launch".into())]), 100),
            Err(DecodeError::UnknownType("launch".into()))
        );
        let no_id = map(vec![("type", "result".into()), ("data", rmpv::Value::Binary(vec![1]))]);
        assert!(matches!(Frame::decode(&no_id, 100), Err(DecodeError::Field { field: "id", .. })));
        let text_data = map(vec![("type", "result".into()), ("id", "a".into()), ("data", "text".into())]);
        assert!(matches!(Frame::decode(&text_data, 100), Err(DecodeError::Field { field: "data", .. })));
        let zero = map(vec![("type", "hello".into()), ("worker", "w".into()), ("concurrency", 0.into())]);
        assert!(matches!(Frame::decode(&zero, 100), Err(DecodeError::Field { field: "concurrency", .. })));
        let big = Frame::Ping(1).encode();
        assert_eq!(Frame::decode(&big, 3), Err(DecodeError::TooLarge { size: big.len(), limit: 3 }));
        let mut trailing = Frame::Ping(1).encode().to_vec();
        trailing.push(0);
        assert!(matches!(Frame::decode(&Bytes::from(trailing), 100), Err(DecodeError::Malformed(_))));
        // unknown keys are skipped
        let extra = map(vec![("type", "ping".into()), ("t", 5.into()), ("future", "x".into())]);
        assert_eq!(Frame::decode(&extra, 100), Ok(Frame::Ping(5)));
    }

    fn hex(s: &str) -> Bytes {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>().into()
    }

    /// Frames as the Python worker SDK (`bindings/compute-worker`, msgpack-python) encodes them.
    #[test]
    fn frames_of_the_python_worker_read_here() {
        let result = hex(
            "84a474797065a6726573756c74a26964a27431a47a737464c2a464617461c41581a178c410000000000000f83f0000000000000080",
        );
        let Frame::Result(d) = Frame::decode(&result, 1024).unwrap() else { panic!("a result") };
        assert_eq!((d.id.as_str(), d.data.zstd), ("t1", false));
        // {"x": bin(1.5, -0.0 little-endian)}
        let body = d.data.body(1024).unwrap();
        let floats: Vec<u64> = body[body.len() - 16..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()).to_bits())
            .collect();
        assert_eq!(floats, vec![1.5f64.to_bits(), (-0.0f64).to_bits()]);
        let hello = hex("85a474797065a568656c6c6fa6776f726b6572a27079ac6361706162696c697469657391a36f7066ab636f6e63757272656e637903a776657273696f6e01");
        assert_eq!(
            Frame::decode(&hello, 1024).unwrap(),
            Frame::Hello(Hello { worker: "py".into(), capabilities: vec!["opf".into()], concurrency: 3, version: 1 })
        );
        let error = hex("84a474797065a56572726f72a26964a27432a76d657373616765a4626f6f6da57265747279c2");
        assert_eq!(
            Frame::decode(&error, 1024).unwrap(),
            Frame::Error(Failed { id: "t2".into(), message: "boom".into(), retry: false })
        );
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_refuse_without_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Frame::decode(&Bytes::from(b), 4096);
        }

        #[test]
        fn tasks_round_trip(id in ".{0,40}", kind in "[a-z]{0,10}", attempt in 1u32.., deadline in any::<u64>(),
                            data in proptest::collection::vec(any::<u8>(), 0..2048), zstd in any::<bool>()) {
            let f = Frame::Task(Task { id, kind, attempt, deadline, data: Payload { bytes: data.into(), zstd } });
            prop_assert_eq!(roundtrip(&f), f);
        }
    }
}
