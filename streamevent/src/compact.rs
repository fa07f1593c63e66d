//! The sans-IO compactor: turns a stream of point messages into chunks for a sink or for
//! `PushChunkAsdu`.
//!
//! A chunk closes when its payload bytes reach `max_bytes` (default 1 MiB) or its first message
//! is `max_age` old (default 1 s); the caller passes `now` in and asks [`Compactor::poll_timeout`]
//! when to come back. Modes:
//! - [`Mode::Batch`]: keep every message (what the Go iecstash does);
//! - [`Mode::LastValue`]: one message per point per chunk, the latest, in the slot where the
//!   point first appeared;
//! - [`Mode::Deadband`]: like last-value, and a point whose value moved less than its band
//!   (absolute or percent, configured per point) since the last value *emitted* is left out.
//!
//! Time-tagged events (the caller marks them) are never merged away in any mode. Every chunk
//! carries a [`ChunkId`] built from the source positions it covers and the identities of the
//! messages at their ends, so a downstream can drop a redelivered chunk and never mistakes a new
//! one for it.
//!
//! The compactor works on anything [`Compactable`]: the JSON [`Message`] a Kafka consumer
//! reads, or the typed [`crate::point::PointMsg`] of the in-process path (through
//! [`Positioned`]), which is never serialised on the way.
//!
//! ```
//! use streamevent::compact::{Compactor, CompactorConfig, Message, Mode};
//! use std::time::{Duration, Instant};
//! let now = Instant::now();
//! let mut c = Compactor::new(CompactorConfig { mode: Mode::LastValue, ..Default::default() });
//! for (off, v) in [(0u64, 1.0), (1, 2.0), (2, 3.0)] {
//!     c.push(Message::new("p1", "asdu/0", off, format!("{v}"), Some(v), false), now);
//! }
//! let chunk = c.poll(now + Duration::from_secs(1)).unwrap();
//! assert_eq!(chunk.messages.len(), 1);
//! assert_eq!(chunk.messages[0].payload, "3");
//! assert_eq!(chunk.id.ranges().collect::<Vec<_>>(), [("asdu/0", 0, 2)]);
//! ```

use crate::id::{ChunkId, ChunkIdBuilder, PointKey};
use crate::point::PointMsg;
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the compactor needs of a message.
pub trait Compactable {
    /// The point key messages are merged by.
    type Key: Hash + Eq + Clone + Display;
    /// The point key.
    fn key(&self) -> Self::Key;
    /// Bytes it counts for (the chunk size limit).
    fn size(&self) -> usize;
    /// Numeric value, for dead bands.
    fn value(&self) -> Option<f64>;
    /// A time-tagged event: never merged away.
    fn is_event(&self) -> bool;
    /// Source name and position in it.
    fn position(&self) -> (&str, u64);
    /// An identity unique to the message (its msgId), for the chunk id.
    fn ident(&self) -> u128;
}

/// How messages of one point are merged within a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Mode {
    /// No merging.
    #[default]
    Batch,
    /// The latest message per point.
    LastValue,
    /// The latest message per point, left out when within its dead band of the last emitted.
    Deadband,
}

/// A dead band for one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Band {
    /// Emit when |v - last| >= this.
    Absolute(f64),
    /// Emit when |v - last| >= this percent of |last|.
    Percent(f64),
}

impl Band {
    fn passes(self, last: f64, v: f64) -> bool {
        let d = (v - last).abs();
        match self {
            Band::Absolute(b) => d >= b,
            Band::Percent(p) => d >= last.abs() * p / 100.0,
        }
    }
}

/// Compactor settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactorConfig {
    /// Merge mode (default batch).
    pub mode: Mode,
    /// Close a chunk at this many payload bytes (default 1 MiB).
    pub max_bytes: usize,
    /// Close a chunk when its first message is this old (default 1 s).
    pub max_age: Duration,
    /// Dead band of points by key, for [`Mode::Deadband`]; points without one pass every change.
    pub bands: HashMap<String, Band>,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            mode: Mode::Batch,
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(1),
            bands: HashMap::new(),
        }
    }
}

/// One point message with its source position.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Point key.
    pub key: String,
    /// Source (topic/partition, or an in-process stream name).
    pub source: String,
    /// Position in the source (offset or sequence).
    pub offset: u64,
    /// The message (JSON text).
    pub payload: String,
    /// Numeric value, for dead bands.
    pub value: Option<f64>,
    /// A time-tagged event: never merged away.
    pub event: bool,
    /// Identity of the message (its msgId as a number, [`crate::id::ident_of`]); 0 if unknown.
    pub ident: u128,
}

impl Message {
    /// A message.
    pub fn new(
        key: impl Into<String>,
        source: impl Into<String>,
        offset: u64,
        payload: impl Into<String>,
        value: Option<f64>,
        event: bool,
    ) -> Message {
        Message { key: key.into(), source: source.into(), offset, payload: payload.into(), value, event, ident: 0 }
    }

    /// The same message with its identity set.
    pub fn with_ident(mut self, ident: u128) -> Message {
        self.ident = ident;
        self
    }
}

impl Compactable for Message {
    type Key = String;
    fn key(&self) -> String {
        self.key.clone()
    }
    fn size(&self) -> usize {
        self.payload.len()
    }
    fn value(&self) -> Option<f64> {
        self.value
    }
    fn is_event(&self) -> bool {
        self.event
    }
    fn position(&self) -> (&str, u64) {
        (&self.source, self.offset)
    }
    fn ident(&self) -> u128 {
        self.ident
    }
}

/// A typed point with its position in an in-process stream (a source name unique to the run,
/// and a sequence number).
#[derive(Debug, Clone)]
pub struct Positioned {
    /// The point (shared with the other channels it was published to).
    pub point: Arc<PointMsg>,
    /// Source name.
    pub source: Arc<str>,
    /// Sequence number in the source.
    pub seq: u64,
}

/// Bytes a typed point counts for: about the size of its JSON message.
pub const TYPED_POINT_SIZE: usize = 320;

impl Compactable for Positioned {
    type Key = PointKey;
    fn key(&self) -> PointKey {
        self.point.key()
    }
    fn size(&self) -> usize {
        TYPED_POINT_SIZE
    }
    fn value(&self) -> Option<f64> {
        self.point.value_f64()
    }
    fn is_event(&self) -> bool {
        self.point.is_event()
    }
    fn position(&self) -> (&str, u64) {
        (&self.source, self.seq)
    }
    fn ident(&self) -> u128 {
        self.point.msg_id
    }
}

/// A closed chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<M = Message> {
    /// Positions and fingerprint of the messages it covers.
    pub id: ChunkId,
    /// The messages, in arrival order of their slots.
    pub messages: Vec<M>,
    /// Messages received into this chunk (before merging).
    pub received: usize,
}

/// The compactor. See the [module docs](self).
#[derive(Debug)]
pub struct Compactor<M: Compactable = Message> {
    cfg: CompactorConfig,
    slots: Vec<Option<M>>,
    /// Slot of each point's mergeable message in the open chunk.
    index: HashMap<M::Key, usize>,
    bytes: usize,
    received: usize,
    opened: Option<Instant>,
    ranges: ChunkIdBuilder,
    /// Last value emitted per point (dead band reference).
    emitted: HashMap<M::Key, f64>,
}

impl<M: Compactable> Compactor<M> {
    /// A compactor with an empty open chunk.
    pub fn new(cfg: CompactorConfig) -> Compactor<M> {
        Compactor {
            cfg,
            slots: Vec::new(),
            index: HashMap::new(),
            bytes: 0,
            received: 0,
            opened: None,
            ranges: ChunkIdBuilder::default(),
            emitted: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CompactorConfig {
        &self.cfg
    }

    /// Adds a message; returns a chunk when this message filled it.
    pub fn push(&mut self, m: M, now: Instant) -> Option<Chunk<M>> {
        self.opened.get_or_insert(now);
        self.received += 1;
        let (src, off) = m.position();
        self.ranges.add(src, off, m.ident());
        let size = m.size();
        if self.cfg.mode != Mode::Batch && !m.is_event() {
            let key = m.key();
            if let Some(&i) = self.index.get(&key) {
                if let Some(old) = self.slots[i].replace(m) {
                    self.bytes -= old.size();
                }
                self.bytes += size;
                return self.close_if_full();
            }
            self.index.insert(key, self.slots.len());
        }
        self.bytes += size;
        self.slots.push(Some(m));
        self.close_if_full()
    }

    fn close_if_full(&mut self) -> Option<Chunk<M>> {
        (self.bytes >= self.cfg.max_bytes).then(|| self.close()).flatten()
    }

    /// Payload bytes in the open chunk.
    pub fn open_bytes(&self) -> usize {
        self.bytes
    }

    /// When the open chunk will be due, if it has messages.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.opened.map(|t| t + self.cfg.max_age)
    }

    /// The open chunk if it is due at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Chunk<M>> {
        match self.opened {
            Some(t) if now >= t + self.cfg.max_age => self.close(),
            _ => None,
        }
    }

    /// Closes the open chunk now (shutdown, explicit flush); `None` when it is empty.
    pub fn flush(&mut self) -> Option<Chunk<M>> {
        self.close()
    }

    fn close(&mut self) -> Option<Chunk<M>> {
        self.opened?;
        let id = self.ranges.build();
        let mut messages: Vec<M> = self.slots.drain(..).flatten().collect();
        if self.cfg.mode == Mode::Deadband && !self.cfg.bands.is_empty() {
            let (bands, emitted) = (&self.cfg.bands, &mut self.emitted);
            messages.retain(|m| {
                if m.is_event() {
                    return true;
                }
                let key = m.key();
                let (Some(v), Some(band)) = (m.value(), bands.get(&key.to_string())) else { return true };
                let pass = emitted.get(&key).is_none_or(|last| band.passes(*last, v));
                if pass {
                    emitted.insert(key, v);
                }
                pass
            });
        }
        let received = self.received;
        self.index.clear();
        self.bytes = 0;
        self.received = 0;
        self.opened = None;
        Some(Chunk { id, messages, received })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(key: &str, off: u64, v: f64, event: bool) -> Message {
        Message::new(key, "t/0", off, format!("{key}={v}"), Some(v), event)
    }

    #[test]
    fn closes_by_size_and_age() {
        let t0 = Instant::now();
        let mut c: Compactor = Compactor::new(CompactorConfig { max_bytes: 10, ..Default::default() });
        assert!(c.push(Message::new("a", "s", 0, "12345", None, false), t0).is_none());
        let ch = c.push(Message::new("b", "s", 1, "67890", None, false), t0).expect("full at 10 bytes");
        assert_eq!((ch.messages.len(), ch.id.ranges().collect::<Vec<_>>()), (2, vec![("s", 0, 1)]));
        assert!(c.poll_timeout().is_none(), "empty after closing");
        c.push(Message::new("c", "s", 2, "x", None, false), t0);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        assert!(c.poll(t0 + Duration::from_millis(999)).is_none());
        assert_eq!(c.poll(t0 + Duration::from_secs(1)).unwrap().id.ranges().collect::<Vec<_>>(), [("s", 2, 2)]);
        assert!(c.flush().is_none());
    }

    #[test]
    fn last_value_keeps_events_and_slot_order() {
        let t0 = Instant::now();
        let mut c = Compactor::new(CompactorConfig { mode: Mode::LastValue, ..Default::default() });
        c.push(msg("a", 0, 1.0, false), t0);
        c.push(msg("b", 1, 1.0, false), t0);
        c.push(msg("a", 2, 2.0, true), t0);
        c.push(msg("a", 3, 3.0, false), t0);
        c.push(msg("a", 4, 4.0, true), t0);
        let ch = c.flush().unwrap();
        let p: Vec<_> = ch.messages.iter().map(|m| m.payload.as_str()).collect();
        assert_eq!(p, ["a=3", "b=1", "a=2", "a=4"]);
        assert_eq!(ch.received, 5);
    }

    #[test]
    fn deadband_absolute_and_percent() {
        let t0 = Instant::now();
        let mut bands = HashMap::new();
        bands.insert("abs".to_string(), Band::Absolute(1.0));
        bands.insert("pct".to_string(), Band::Percent(10.0));
        let mut c = Compactor::new(CompactorConfig { mode: Mode::Deadband, bands, ..Default::default() });
        let mut emitted = vec![];
        for (i, (k, v)) in [
            ("abs", 10.0),
            ("pct", 100.0),
            ("abs", 10.5),
            ("pct", 105.0),
            ("abs", 11.0),
            ("pct", 111.0),
            ("free", 1.0),
            ("free", 1.0),
        ]
        .into_iter()
        .enumerate()
        {
            c.push(msg(k, i as u64, v, false), t0);
            emitted.extend(c.flush().unwrap().messages.into_iter().map(|m| m.payload));
        }
        assert_eq!(emitted, ["abs=10", "pct=100", "abs=11", "pct=111", "free=1", "free=1"]);
    }

    proptest! {
        /// Last-value: every point's latest value survives, per-point order holds across chunks,
        /// events are all kept, and the same input cut the same way gives the same chunk ids.
        #[test]
        fn last_value_properties(input in proptest::collection::vec((0u8..6, any::<bool>(), 1usize..40), 1..300), max_bytes in 20usize..400) {
            let run = || {
                let t0 = Instant::now();
                let mut c = Compactor::new(CompactorConfig { mode: Mode::LastValue, max_bytes, ..Default::default() });
                let mut chunks = vec![];
                for (off, (k, ev, len)) in input.iter().enumerate() {
                    let m = Message::new(format!("k{k}"), "src", off as u64, format!("{off:0>len$}"), None, *ev);
                    chunks.extend(c.push(m, t0));
                }
                chunks.extend(c.flush());
                chunks
            };
            let chunks = run();
            let out: Vec<&Message> = chunks.iter().flat_map(|c| &c.messages).collect();
            for k in 0..6u8 {
                let key = format!("k{k}");
                let sent: Vec<u64> = input.iter().enumerate().filter(|(_, (kk, _, _))| *kk == k).map(|(o, _)| o as u64).collect();
                let got: Vec<u64> = chunks.iter().flat_map(|c| {
                    let mut v: Vec<u64> = c.messages.iter().filter(|m| m.key == key).map(|m| m.offset).collect();
                    v.sort_unstable();
                    v
                }).collect();
                if let Some(last) = sent.last() {
                    prop_assert_eq!(got.last(), Some(last), "latest value of {} kept", key);
                }
                prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "per-point order for {}: {:?}", key, got);
            }
            let events_in = input.iter().filter(|(_, ev, _)| *ev).count();
            prop_assert_eq!(out.iter().filter(|m| m.event).count(), events_in);
            let ids: Vec<ChunkId> = chunks.iter().map(|c| c.id.clone()).collect();
            let again: Vec<ChunkId> = run().iter().map(|c| c.id.clone()).collect();
            prop_assert_eq!(ids, again);
            prop_assert_eq!(chunks.iter().map(|c| c.received).sum::<usize>(), input.len());
        }

        /// Batch: nothing merged, order kept exactly.
        #[test]
        fn batch_keeps_everything(n in 1usize..500, max_bytes in 1usize..300) {
            let t0 = Instant::now();
            let mut c = Compactor::new(CompactorConfig { max_bytes, ..Default::default() });
            let mut out = vec![];
            for off in 0..n {
                out.extend(c.push(Message::new(format!("k{}", off % 3), "s", off as u64, "xxxxxxx", None, false), t0));
            }
            out.extend(c.flush());
            let offs: Vec<u64> = out.iter().flat_map(|c| c.messages.iter().map(|m| m.offset)).collect();
            prop_assert_eq!(offs, (0..n as u64).collect::<Vec<_>>());
        }
    }
}

/// The compactor's settings as a configuration file writes them (`Compactor:` with `Mode`,
/// `ChunkBytes`, `FlushMillis`), shared by the services that compact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CompactorSettings {
    /// `batch`, `last-value` or `deadband`.
    pub mode: String,
    /// Chunk size in bytes.
    pub chunk_bytes: usize,
    /// Chunk age in milliseconds.
    pub flush_millis: u64,
}

impl CompactorSettings {
    /// The compactor configuration.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for an unknown mode.
    pub fn to_config(&self) -> crate::error::Result<CompactorConfig> {
        let mode = match self.mode.as_str() {
            "batch" => Mode::Batch,
            "last-value" => Mode::LastValue,
            "deadband" => Mode::Deadband,
            other => {
                return Err(crate::Error::Config(format!(
                    "Compactor.Mode {other:?} is not batch, last-value or deadband"
                )))
            }
        };
        Ok(CompactorConfig {
            mode,
            max_bytes: self.chunk_bytes.max(1),
            max_age: std::time::Duration::from_millis(self.flush_millis.max(1)),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn modes() {
        let c = CompactorSettings { mode: "last-value".into(), chunk_bytes: 10, flush_millis: 5 };
        assert_eq!(c.to_config().unwrap().mode, Mode::LastValue);
        assert!(CompactorSettings { mode: "merge".into(), ..c }.to_config().is_err());
    }
}
