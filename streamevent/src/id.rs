//! The identities of the data plane, each made in one place with one rule: [`StationId`],
//! [`PointKey`] and [`ChunkId`].
//!
//! ```
//! use streamevent::id::{ChunkId, PointKey, StationId};
//! let s = StationId::new(&serde_json::Map::new(), "127.0.0.1", 2404);
//! assert_eq!(s.as_str(), "127_0_0_1_2404");
//! assert_eq!(PointKey::new("127.0.0.1", 1, 2001).to_string(), "127.0.0.1_1_0x0007d1");
//! let mut b = ChunkId::builder();
//! b.add("asdu/0", 5, 0xA1);
//! b.add("asdu/0", 9, 0xB2);
//! let id = b.build();
//! assert!(id.as_str().starts_with("asdu/0@5-9#"));
//! assert_eq!(id.ranges().collect::<Vec<_>>(), [("asdu/0", 5, 9)]);
//! ```

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The station a point belongs to: `stationId` from the station's metadata when it is a
/// non-empty string, else the host with dots replaced by underscores, `_`, and the port
/// (`127_0_0_1_2404`). Every service uses this rule (the Go ieccaller used `host:port` in one
/// place and the underscore form in another, spec §1.6). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StationId(Arc<str>);

impl StationId {
    /// The id of a station at `host:port` with `meta` (its configured `MetaData`).
    pub fn new(meta: &Map<String, Value>, host: &str, port: u16) -> StationId {
        match meta.get("stationId").and_then(Value::as_str) {
            Some(s) if !s.is_empty() => StationId(s.into()),
            _ => StationId(format!("{}_{port}", host.replace('.', "_")).into()),
        }
    }

    /// The id as text (the `tag_station` column).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for StationId {
    /// A station id given as it is (a `tag_station` read from a table or a request).
    fn from(s: &str) -> StationId {
        StationId(s.into())
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A point's key as the upstream prints it (the Kafka message key): `{host}_{coa}_{0x%06x of
/// ioa}`. Compared and hashed by its fields, formatted only when it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PointKey {
    /// Station host.
    pub host: Arc<str>,
    /// Common address.
    pub coa: u32,
    /// Information object address.
    pub ioa: u32,
}

impl PointKey {
    /// The key of a point.
    pub fn new(host: impl Into<Arc<str>>, coa: u32, ioa: u32) -> PointKey {
        PointKey { host: host.into(), coa, ioa }
    }
}

impl fmt::Display for PointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}_0x{:06x}", self.host, self.coa, self.ioa)
    }
}

/// The identity of a chunk of point messages: the source positions it covers and a fingerprint
/// of the messages themselves, `source@first-last[,source@first-last...]#<fingerprint>`.
///
/// The positions let a Kafka consumer commit what a chunk covers; the fingerprint (a UUIDv5 of
/// the identities of the first and last message of every source range, usually their msgIds)
/// makes the id unique where positions repeat: sequence numbers that start again at 0 on every
/// run, offsets of a re-created topic, two instances. The same messages cut the same way give
/// the same id again, so a redelivered chunk is recognised (see
/// [`crate::sink::SqlSink::write_chunk`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkId(String);

/// Longest id stored as it is; longer ones keep their head and gain a hash (index key limits).
pub const MAX_CHUNK_ID: usize = 191;

impl ChunkId {
    /// A builder that collects positions in any order.
    pub fn builder() -> ChunkIdBuilder {
        ChunkIdBuilder::default()
    }

    /// An id given by a caller (a `PushChunkAsdu` `t_id`); empty ids get a fresh UUID.
    pub fn from_wire(t_id: &str) -> ChunkId {
        if t_id.is_empty() {
            ChunkId(uuid::Uuid::now_v7().simple().to_string())
        } else {
            ChunkId(t_id.to_owned())
        }
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key stored in the chunk table: the id, or when longer than [`MAX_CHUNK_ID`] its head
    /// and a UUIDv5 of the whole.
    pub fn storage_key(&self) -> std::borrow::Cow<'_, str> {
        if self.0.len() <= MAX_CHUNK_ID {
            return self.0.as_str().into();
        }
        let mut cut = MAX_CHUNK_ID - 34;
        while !self.0.is_char_boundary(cut) {
            cut -= 1;
        }
        let h = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, self.0.as_bytes()).simple();
        format!("{}~{h}", &self.0[..cut]).into()
    }

    /// The source ranges `(source, first, last)` the id names (nothing for a foreign id).
    pub fn ranges(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        let body = self.0.split_once('#').map_or(self.0.as_str(), |(b, _)| b);
        body.split(',').filter_map(|part| {
            let (src, range) = part.rsplit_once('@')?;
            let (a, b) = range.split_once('-')?;
            Some((src, a.parse().ok()?, b.parse().ok()?))
        })
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects the positions of a chunk's messages (see [`ChunkId`]).
#[derive(Debug, Default, Clone)]
pub struct ChunkIdBuilder {
    /// Per source: (first, identity at first, last, identity at last).
    ranges: BTreeMap<Arc<str>, (u64, u128, u64, u128)>,
}

impl ChunkIdBuilder {
    /// Adds a message at `offset` of `source` whose identity is `ident` (its msgId as a number,
    /// or any value unique to it).
    pub fn add(&mut self, source: &str, offset: u64, ident: u128) {
        match self.ranges.get_mut(source) {
            Some(r) => {
                if offset < r.0 {
                    (r.0, r.1) = (offset, ident);
                }
                if offset > r.2 {
                    (r.2, r.3) = (offset, ident);
                }
            }
            None => {
                self.ranges.insert(source.into(), (offset, ident, offset, ident));
            }
        }
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The id; the builder is emptied for the next chunk.
    pub fn build(&mut self) -> ChunkId {
        use std::fmt::Write;
        let mut text = String::with_capacity(64);
        let mut fp = Vec::with_capacity(self.ranges.len() * 32);
        for (i, (src, (a, ia, b, ib))) in std::mem::take(&mut self.ranges).into_iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(text, "{src}@{a}-{b}");
            fp.extend_from_slice(&ia.to_be_bytes());
            fp.extend_from_slice(&ib.to_be_bytes());
        }
        let h = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &fp).simple().to_string();
        let _ = write!(text, "#{}", &h[..16]);
        ChunkId(text)
    }
}

/// A message identity for [`ChunkIdBuilder::add`] from a msgId: the UUID's value when it is one,
/// else a UUIDv5 of the text.
pub fn ident_of(msg_id: &str) -> u128 {
    uuid::Uuid::try_parse(msg_id)
        .unwrap_or_else(|_| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, msg_id.as_bytes()))
        .as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_positions_other_messages_other_id() {
        let id = |a: u128, b: u128| {
            let mut bld = ChunkId::builder();
            bld.add("memory", 0, a);
            bld.add("memory", 99, b);
            bld.build()
        };
        assert_eq!(id(1, 2), id(1, 2), "a redelivery of the same messages");
        assert_ne!(id(1, 2), id(3, 4), "a second run restarting its sequence at 0");
        assert_eq!(id(1, 2).ranges().collect::<Vec<_>>(), [("memory", 0, 99)]);
    }

    #[test]
    fn long_ids_are_shortened_for_storage() {
        let mut b = ChunkId::builder();
        for p in 0..40 {
            b.add(&format!("a-long-topic-name/{p}"), 1000, p);
        }
        let id = b.build();
        assert!(id.as_str().len() > MAX_CHUNK_ID);
        let k = id.storage_key();
        assert!(k.len() <= MAX_CHUNK_ID, "{}", k.len());
        assert_eq!(id.ranges().count(), 40);
        let mut b2 = ChunkId::builder();
        b2.add("x/0", 1, 1);
        assert_eq!(b2.build().storage_key().len(), "x/0@1-1#".len() + 16);
    }

    #[test]
    fn station_rule() {
        let meta = serde_json::json!({"stationId": ""}).as_object().unwrap().clone();
        assert_eq!(StationId::new(&meta, "10.0.0.5", 2404).as_str(), "10_0_0_5_2404");
        assert_eq!(ident_of("0190abcd0190abcd0190abcd0190abcd"), 0x0190abcd0190abcd0190abcd0190abcd);
        assert_ne!(ident_of("not-a-uuid"), ident_of("not-a-uuid2"));
    }

    proptest! {
        /// Ranges survive any order of adding; the id does not depend on the order.
        #[test]
        fn order_free(offsets in proptest::collection::vec((0u8..3, 0u64..1000), 1..50)) {
            let mut a = ChunkId::builder();
            let mut b = ChunkId::builder();
            for (s, o) in &offsets {
                a.add(&format!("s{s}"), *o, u128::from(*o));
            }
            for (s, o) in offsets.iter().rev() {
                b.add(&format!("s{s}"), *o, u128::from(*o));
            }
            let (a, b) = (a.build(), b.build());
            prop_assert_eq!(&a, &b);
            for (src, first, last) in a.ranges() {
                let mine: Vec<u64> = offsets.iter().filter(|(s, _)| format!("s{s}") == src).map(|(_, o)| *o).collect();
                prop_assert_eq!(first, *mine.iter().min().unwrap());
                prop_assert_eq!(last, *mine.iter().max().unwrap());
            }
        }
    }
}
