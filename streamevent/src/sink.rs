//! Sinks: where the rows of a chunk go. [`SqlSink`] writes a chunk in one transaction: its row in
//! `stream_chunk` (unique key: a chunk stored before is recognised, and of two writers racing on
//! one chunk exactly one stores it), `raw_point_data` in the upstream shape, and the typed tables
//! `telemetry_data` (yc) and `tele_signal_data` (yx). PostgreSQL gets `COPY ... FROM STDIN`;
//! MySQL/MariaDB and SQLite multi-row `VALUES`.
//!
//! ```no_run
//! # async fn run() -> streamevent::error::Result<()> {
//! use streamevent::id::ChunkId;
//! use streamevent::sink::{Rows, SqlSink, Stored};
//! use streamevent::store::Db;
//! let db = Db::connect("sqlite://zero.db").await?;
//! db.migrate().await?;
//! let sink = SqlSink::new(db);
//! let id = ChunkId::from_wire("ieccaller/run-1@0-99");
//! assert!(matches!(sink.write_chunk(&id, &Rows::default()).await?, Stored::Written { .. }));
//! assert_eq!(sink.write_chunk(&id, &Rows::default()).await?, Stored::Duplicate);
//! # Ok(()) }
//! ```

use crate::error::Result;
use crate::id::ChunkId;
use crate::store::{with_pool, Db};
use std::borrow::Cow;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

/// One row of `raw_point_data` (spec §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct RawRow {
    /// Push time (datetime-micro).
    pub ts: String,
    /// Message id.
    pub msg_id: String,
    /// Station host.
    pub host_v: String,
    /// Station port.
    pub port_v: i32,
    /// Type mnemonic.
    pub asdu: String,
    /// Type identification.
    pub type_id: i32,
    /// Category.
    pub data_type: i32,
    /// Common address.
    pub coa: i32,
    /// Information object address.
    pub ioa: i32,
    /// Value text ([`crate::msg::ioa_value`]).
    pub ioa_value: String,
    /// The body JSON.
    pub raw_msg: String,
    /// Station id.
    pub tag_station: String,
}

/// One row of `telemetry_data` (value) or `tele_signal_data` (value != 0).
#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct TypedRow {
    /// Push time, Unix microseconds.
    pub ts: i64,
    /// Message id.
    pub msg_id: String,
    /// Category.
    pub data_type: i32,
    /// The value (a signal stores `value != 0`).
    pub value: f64,
    /// Quality octet.
    pub quality: i32,
    /// Device time tag, Unix milliseconds.
    pub device_ms: Option<i64>,
    /// Station id.
    pub tag_station: String,
    /// Device id of the mapping.
    pub device_id: String,
    /// Common address.
    pub tag_coa: i32,
    /// IOA.
    pub tag_ioa: i32,
}

/// The rows of one chunk, by table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// `raw_point_data`.
    pub raw: Vec<RawRow>,
    /// `telemetry_data` (mapped `yc`).
    pub telemetry: Vec<TypedRow>,
    /// `tele_signal_data` (mapped `yx`).
    pub signals: Vec<TypedRow>,
    /// Claim these rows' msgIds even in a sink that claims only chunks
    /// ([`SqlSink::once_per_chunk`]): some of the points may come again in another chunk (a
    /// station that sends again what was not acknowledged).
    pub claim: bool,
}

impl Rows {
    /// Rows in all tables.
    pub fn len(&self) -> usize {
        self.raw.len() + self.telemetry.len() + self.signals.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What became of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// Stored now, with this many rows per table.
    Written {
        /// `raw_point_data` rows.
        raw: u64,
        /// `telemetry_data` rows.
        telemetry: u64,
        /// `tele_signal_data` rows.
        signals: u64,
    },
    /// Stored before (a redelivery): nothing written.
    Duplicate,
}

/// Appends `v` escaped for COPY's text format.
fn copy_text(buf: &mut String, v: &str) {
    // most values hold nothing to escape: copy the runs between escapes whole
    let mut rest = v;
    while let Some(i) = rest.find(['\\', '\t', '\n', '\r']) {
        buf.push_str(&rest[..i]);
        buf.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            _ => "\\r",
        });
        rest = &rest[i + 1..];
    }
    buf.push_str(rest);
}

/// Raw rows in PostgreSQL's COPY text format, as [`SqlSink`] sends them (for measuring
/// PostgreSQL's own insert ceiling with [`SqlSink::copy_raw_text`]).
pub fn raw_copy_text(rows: &[RawRow]) -> String {
    let mut buf = String::with_capacity(rows.len() * 320);
    for r in rows {
        copy_raw(&mut buf, r);
    }
    buf
}

fn copy_raw(buf: &mut String, r: &RawRow) {
    use std::fmt::Write;
    for t in [&r.ts, &r.msg_id, &r.host_v] {
        copy_text(buf, t);
        buf.push('\t');
    }
    let _ = write!(buf, "{}\t", r.port_v);
    copy_text(buf, &r.asdu);
    let _ = write!(buf, "\t{}\t{}\t{}\t{}\t", r.type_id, r.data_type, r.coa, r.ioa);
    for (k, t) in [&r.ioa_value, &r.raw_msg, &r.tag_station].into_iter().enumerate() {
        copy_text(buf, t);
        buf.push(if k == 2 { '\n' } else { '\t' });
    }
}

fn copy_typed(buf: &mut String, r: &TypedRow, signal: bool) {
    use std::fmt::Write;
    let _ = write!(buf, "{}\t", r.ts);
    copy_text(buf, &r.msg_id);
    if signal {
        let _ = write!(buf, "\t{}\t{}\t{}\t", r.data_type, if r.value != 0.0 { "t" } else { "f" }, r.quality);
    } else {
        let _ = write!(buf, "\t{}\t{:?}\t{}\t", r.data_type, r.value, r.quality);
    }
    match r.device_ms {
        Some(ms) => {
            let _ = write!(buf, "{ms}\t");
        }
        None => buf.push_str("\\N\t"),
    }
    copy_text(buf, &r.tag_station);
    buf.push('\t');
    copy_text(buf, &r.device_id);
    let _ = writeln!(buf, "\t{}\t{}", r.tag_coa, r.tag_ioa);
}

/// The distinct non-empty msgIds of the rows of `chunks`.
fn message_ids<'a>(chunks: &[&'a Rows]) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    let all = chunks.iter().flat_map(|r| {
        r.raw.iter().map(|x| x.msg_id.as_str()).chain(r.telemetry.iter().chain(&r.signals).map(|x| x.msg_id.as_str()))
    });
    all.filter(|id| !id.is_empty() && seen.insert(*id)).collect()
}

/// Which rows of the chunks of one transaction to write: those of the messages claimed now, each
/// message's once per table across the chunks (a record produced twice, or a message in two
/// chunks of one group), and every row without a msgId.
#[derive(Default)]
struct FirstClaimed<'a> {
    raw: HashSet<&'a str>,
    telemetry: HashSet<&'a str>,
    signals: HashSet<&'a str>,
}

impl<'a> FirstClaimed<'a> {
    /// The rows of `rows` to write; `rows` itself (no copy) when all of them are.
    fn keep(&mut self, rows: &'a Rows, claimed: &HashSet<String>) -> Cow<'a, Rows> {
        fn pick<'a, T: Clone>(
            list: &'a [T],
            id: fn(&T) -> &str,
            claimed: &HashSet<String>,
            used: &mut HashSet<&'a str>,
        ) -> Cow<'a, [T]> {
            let keep: Vec<bool> = list
                .iter()
                .map(|r| {
                    let i = id(r);
                    i.is_empty() || (claimed.contains(i) && used.insert(i))
                })
                .collect();
            if keep.iter().all(|k| *k) {
                Cow::Borrowed(list)
            } else {
                Cow::Owned(list.iter().zip(keep).filter(|(_, k)| *k).map(|(r, _)| r.clone()).collect())
            }
        }
        let raw = pick(&rows.raw, |r| &r.msg_id, claimed, &mut self.raw);
        let telemetry = pick(&rows.telemetry, |r| &r.msg_id, claimed, &mut self.telemetry);
        let signals = pick(&rows.signals, |r| &r.msg_id, claimed, &mut self.signals);
        match (&raw, &telemetry, &signals) {
            (Cow::Borrowed(_), Cow::Borrowed(_), Cow::Borrowed(_)) => Cow::Borrowed(rows),
            _ => Cow::Owned(Rows {
                raw: raw.into_owned(),
                telemetry: telemetry.into_owned(),
                signals: signals.into_owned(),
                claim: rows.claim,
            }),
        }
    }
}

/// The ids [`ClaimConn::claim`] claimed.
type ClaimFuture<'a> = Pin<Box<dyn Future<Output = Result<HashSet<String>>> + Send + 'a>>;

/// How each backend claims msgIds in `stream_msg` inside a transaction: the ids claimed now are
/// returned (the others were stored before).
trait ClaimConn {
    fn claim<'a>(&'a mut self, ids: &'a [&'a str]) -> ClaimFuture<'a>;
}

/// Ids per statement (SQLite allows 32766 variables).
const CLAIM_BATCH: usize = 10_000;

impl ClaimConn for sqlx::PgConnection {
    fn claim<'a>(&'a mut self, ids: &'a [&'a str]) -> ClaimFuture<'a> {
        Box::pin(async move {
            let got: Vec<String> = sqlx::query_scalar(
                "INSERT INTO stream_msg (msg_id) SELECT * FROM UNNEST($1::text[]) ON CONFLICT DO NOTHING RETURNING msg_id",
            )
            .bind(ids)
            .fetch_all(self)
            .await?;
            Ok(got.into_iter().collect())
        })
    }
}

impl ClaimConn for sqlx::SqliteConnection {
    fn claim<'a>(&'a mut self, ids: &'a [&'a str]) -> ClaimFuture<'a> {
        Box::pin(async move {
            let mut out = HashSet::with_capacity(ids.len());
            for part in ids.chunks(CLAIM_BATCH) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO stream_msg (msg_id) ");
                qb.push_values(part, |mut b, id| {
                    b.push_bind(*id);
                });
                qb.push(" ON CONFLICT DO NOTHING RETURNING msg_id");
                let got: Vec<String> = qb.build_query_scalar().fetch_all(&mut *self).await?;
                out.extend(got);
            }
            Ok(out)
        })
    }
}

impl ClaimConn for sqlx::MySqlConnection {
    fn claim<'a>(&'a mut self, ids: &'a [&'a str]) -> ClaimFuture<'a> {
        Box::pin(async move {
            let mut out = HashSet::with_capacity(ids.len());
            for part in ids.chunks(CLAIM_BATCH) {
                let mut qb = sqlx::QueryBuilder::new("SELECT msg_id FROM stream_msg WHERE msg_id IN (");
                let mut list = qb.separated(", ");
                for id in part {
                    list.push_bind(*id);
                }
                qb.push(")");
                let before: HashSet<String> =
                    qb.build_query_scalar().fetch_all(&mut *self).await?.into_iter().collect();
                let new: Vec<&str> = part.iter().copied().filter(|id| !before.contains(*id)).collect();
                if new.is_empty() {
                    continue;
                }
                let mut qb = sqlx::QueryBuilder::new("INSERT IGNORE INTO stream_msg (msg_id) ");
                qb.push_values(&new, |mut b, id| {
                    b.push_bind(*id);
                });
                let n = qb.build().execute(&mut *self).await?.rows_affected();
                if n != new.len() as u64 {
                    return Err(crate::Error::Conflict(format!(
                        "{} of {} messages were stored by another writer meanwhile",
                        new.len() as u64 - n,
                        new.len()
                    )));
                }
                out.extend(new.into_iter().map(str::to_owned));
            }
            Ok(out)
        })
    }
}

/// A boxed future returned by [`Sink::write_chunk`].
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<Stored>> + Send + 'a>>;

/// Somewhere chunks can be stored.
pub trait Sink: Send + Sync + 'static {
    /// Stores the rows of chunk `id` once: a chunk stored before gives [`Stored::Duplicate`].
    fn write_chunk<'a>(&'a self, id: &'a ChunkId, rows: &'a Rows) -> WriteFuture<'a>;
}

/// The chunk table and the point tables in a SQL database.
#[derive(Debug, Clone)]
pub struct SqlSink {
    db: Db,
    claim_messages: bool,
}

const RAW_COLS: &str =
    "ts, msg_id, host_v, port_v, asdu, type_id, data_type, coa, ioa, ioa_value, raw_msg, tag_station";
const TELEMETRY_COLS: &str =
    "ts, msg_id, data_type, telemetry_value, quality, device_ms, tag_station, device_id, tag_coa, tag_ioa";
const SIGNAL_COLS: &str =
    "ts, msg_id, data_type, signal_value, quality, device_ms, tag_station, device_id, tag_coa, tag_ioa";

/// A slice of rows that one multi-row INSERT writes.
enum Part<'a> {
    /// `raw_point_data` rows.
    Raw(&'a [RawRow]),
    /// `tele_signal_data` rows when true, else `telemetry_data` rows.
    Typed(&'a [TypedRow], bool),
}

impl Part<'_> {
    /// The statement's head.
    fn insert(&self) -> String {
        match self {
            Part::Raw(_) => format!("INSERT INTO raw_point_data ({RAW_COLS}) "),
            Part::Typed(_, false) => format!("INSERT INTO telemetry_data ({TELEMETRY_COLS}) "),
            Part::Typed(_, true) => format!("INSERT INTO tele_signal_data ({SIGNAL_COLS}) "),
        }
    }
}

impl SqlSink {
    /// A sink into `db` (migrated) that stores each message once: besides its chunk, every
    /// message's msgId is claimed in `stream_msg`, so a message delivered again inside a chunk
    /// cut differently (a Kafka partition re-read after a crash) is not stored twice.
    pub fn new(db: Db) -> SqlSink {
        SqlSink { db, claim_messages: true }
    }

    /// A sink that recognises chunks stored before but does not claim each message: for a
    /// source that never delivers a message again except inside the same chunk (the in-process
    /// bus, whose chunks are retried under their ids). One index write per row less. Rows
    /// marked [`Rows::claim`] (points a station may send again) are claimed all the same.
    pub fn once_per_chunk(db: Db) -> SqlSink {
        SqlSink { db, claim_messages: false }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stores the rows of chunk `id` in one transaction with its `stream_chunk` row; a chunk
    /// whose key is there already writes nothing and gives [`Stored::Duplicate`]. Of two writers
    /// racing on one chunk, the second waits for the first's commit and then sees the duplicate.
    ///
    /// # Errors
    /// [`crate::Error::Db`]; nothing is written then.
    pub async fn write_chunk(&self, id: &ChunkId, rows: &Rows) -> Result<Stored> {
        Ok(self.write_chunks(&[(id, rows)]).await?[0])
    }

    /// Stores several chunks in one transaction (a group commit: the database's cost per commit
    /// is paid once), each exactly once as [`SqlSink::write_chunk`] does: the chunks stored
    /// before are [`Stored::Duplicate`] and write nothing, the others are written. One result per
    /// chunk, in order.
    ///
    /// # Errors
    /// [`crate::Error::Db`]; nothing is written then.
    pub async fn write_chunks(&self, chunks: &[(&ChunkId, &Rows)]) -> Result<Vec<Stored>> {
        let now = chrono::Utc::now().timestamp_millis();
        let claim = self.db.sql(match self.db {
            Db::MySql(_) => {
                "INSERT IGNORE INTO stream_chunk (chunk_key, chunk_id, row_count, stored_at) VALUES (?, ?, ?, ?)"
            }
            _ => {
                "INSERT INTO stream_chunk (chunk_key, chunk_id, row_count, stored_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (chunk_key) DO NOTHING"
            }
        });
        // claims every chunk's key in the transaction: true where it was not there yet
        macro_rules! claim_all {
            ($tx:expr) => {{
                let mut fresh = Vec::with_capacity(chunks.len());
                for (id, rows) in chunks {
                    let n = sqlx::query(&claim)
                        .bind(&*id.storage_key())
                        .bind(id.as_str())
                        .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
                        .bind(now)
                        .execute(&mut *$tx)
                        .await?
                        .rows_affected();
                    fresh.push(n > 0);
                }
                fresh
            }};
        }
        // the rows to write: the new chunks', less the messages stored before (claimed per msgId)
        macro_rules! rows_to_write {
            ($tx:expr, $fresh:expr) => {{
                let new: Vec<&Rows> =
                    chunks.iter().zip($fresh.iter()).filter(|(_, f)| **f).map(|((_, r), _)| *r).collect();
                let claims = |r: &Rows| self.claim_messages || r.claim;
                let to_claim: Vec<&Rows> = new.iter().copied().filter(|r| claims(r)).collect();
                let mut kept = if to_claim.is_empty() {
                    new.iter().map(|r| Cow::Borrowed(*r)).collect::<Vec<_>>()
                } else {
                    let claimed = ClaimConn::claim(&mut *$tx, &message_ids(&to_claim)).await?;
                    let mut first = FirstClaimed::default();
                    new.iter().map(|r| if claims(r) { first.keep(r, &claimed) } else { Cow::Borrowed(*r) }).collect()
                }
                .into_iter();
                $fresh.iter().map(|f| if *f { kept.next() } else { None }).collect::<Vec<Option<Cow<'_, Rows>>>>()
            }};
        }
        let outcome = |written: &[Option<Cow<'_, Rows>>]| -> Vec<Stored> {
            written
                .iter()
                .map(|w| match w {
                    Some(r) => Stored::Written {
                        raw: r.raw.len() as u64,
                        telemetry: r.telemetry.len() as u64,
                        signals: r.signals.len() as u64,
                    },
                    None => Stored::Duplicate,
                })
                .collect()
        };
        match &self.db {
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                let fresh = claim_all!(tx);
                if !fresh.contains(&true) {
                    tx.rollback().await?;
                    return Ok(vec![Stored::Duplicate; chunks.len()]);
                }
                let written = rows_to_write!(tx, fresh);
                let new: Vec<&Rows> = written.iter().flatten().map(|r| &**r).collect();
                // one COPY per table for all the new chunks
                let mut buf = String::new();
                for r in new.iter().flat_map(|r| &r.raw) {
                    copy_raw(&mut buf, r);
                }
                if !buf.is_empty() {
                    let mut copy = tx
                        .copy_in_raw(&format!("COPY raw_point_data ({RAW_COLS}) FROM STDIN WITH (FORMAT text)"))
                        .await?;
                    copy.send(std::mem::take(&mut buf).into_bytes()).await?;
                    copy.finish().await?;
                }
                for (signal, table, cols) in
                    [(false, "telemetry_data", TELEMETRY_COLS), (true, "tele_signal_data", SIGNAL_COLS)]
                {
                    for r in new.iter().flat_map(|r| if signal { &r.signals } else { &r.telemetry }) {
                        copy_typed(&mut buf, r, signal);
                    }
                    if !buf.is_empty() {
                        let mut copy =
                            tx.copy_in_raw(&format!("COPY {table} ({cols}) FROM STDIN WITH (FORMAT text)")).await?;
                        copy.send(std::mem::take(&mut buf).into_bytes()).await?;
                        copy.finish().await?;
                    }
                }
                tx.commit().await?;
                Ok(outcome(&written))
            }
            db => {
                // 12 binds per raw row: SQLite allows 32766 variables, MySQL 65535
                let per = if matches!(db, Db::Sqlite(_)) { 2_000 } else { 4_000 };
                with_pool!(db, p => {
                    let mut tx = p.begin().await?;
                    let fresh = claim_all!(tx);
                    if !fresh.contains(&true) {
                        tx.rollback().await?;
                        return Ok(vec![Stored::Duplicate; chunks.len()]);
                    }
                    let written = rows_to_write!(tx, fresh);
                    // one multi-row INSERT per part; the next part's statement is built (binds
                    // and all) while the database runs the current one
                    let mut parts: Vec<Part<'_>> = vec![];
                    for rows in written.iter().flatten() {
                        parts.extend(rows.raw.chunks(per).map(Part::Raw));
                        parts.extend(rows.telemetry.chunks(per).map(|r| Part::Typed(r, false)));
                        parts.extend(rows.signals.chunks(per).map(|r| Part::Typed(r, true)));
                    }
                    macro_rules! build {
                        ($part:expr) => {{
                            let mut qb = sqlx::QueryBuilder::new($part.insert());
                            match $part {
                                Part::Raw(list) => qb.push_values(*list, |mut b, r| {
                                    // `&str` binds borrow the rows (a `&String` would be cloned)
                                    b.push_bind(r.ts.as_str()).push_bind(r.msg_id.as_str()).push_bind(r.host_v.as_str())
                                        .push_bind(r.port_v).push_bind(r.asdu.as_str()).push_bind(r.type_id)
                                        .push_bind(r.data_type).push_bind(r.coa).push_bind(r.ioa)
                                        .push_bind(r.ioa_value.as_str()).push_bind(r.raw_msg.as_str())
                                        .push_bind(r.tag_station.as_str());
                                }),
                                Part::Typed(list, signal) => qb.push_values(*list, |mut b, r| {
                                    b.push_bind(r.ts).push_bind(r.msg_id.as_str()).push_bind(r.data_type);
                                    if *signal {
                                        b.push_bind(r.value != 0.0);
                                    } else {
                                        b.push_bind(r.value);
                                    }
                                    b.push_bind(r.quality).push_bind(r.device_ms).push_bind(r.tag_station.as_str())
                                        .push_bind(r.device_id.as_str()).push_bind(r.tag_coa).push_bind(r.tag_ioa);
                                }),
                            };
                            qb
                        }};
                    }
                    let mut todo = parts.iter();
                    let mut next = todo.next().map(|p| build!(p));
                    while let Some(mut qb) = next.take() {
                        let (done, built) =
                            tokio::join!(qb.build().execute(&mut *tx), async { todo.next().map(|p| build!(p)) });
                        done?;
                        next = built;
                    }
                    tx.commit().await?;
                    Ok(outcome(&written))
                })
            }
        }
    }

    /// Copies rows already in COPY text format ([`raw_copy_text`]) into `raw_point_data` in one
    /// transaction, with nothing else: PostgreSQL's insert ceiling for these rows. Returns the
    /// rows copied.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] on a database other than PostgreSQL,
    /// [`crate::Error::Db`].
    pub async fn copy_raw_text(&self, text: &str) -> Result<u64> {
        let Db::Postgres(p) = &self.db else {
            return Err(crate::Error::InvalidArgument("COPY needs PostgreSQL".into()));
        };
        let mut tx = p.begin().await?;
        let mut copy =
            tx.copy_in_raw(&format!("COPY raw_point_data ({RAW_COLS}) FROM STDIN WITH (FORMAT text)")).await?;
        copy.send(text.as_bytes()).await?;
        let n = copy.finish().await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Forgets the message claims (`stream_msg`) made more than `age` ago: a message delivered
    /// again after that is stored again. msgIds are UUIDv7 as 32 hex digits, whose first 12 are
    /// the Unix millisecond they were made at, so the cut is one range delete on the key (an id
    /// of another shape sorts where its digits put it). Keep `age` above the longest a source can
    /// deliver a message again (Kafka: the topic's retention). Returns the claims deleted.
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn prune_message_claims(&self, age: std::time::Duration) -> Result<u64> {
        let cut_ms = chrono::Utc::now().timestamp_millis() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        let below = format!("{:012x}{}", cut_ms.max(0), "0".repeat(20));
        let sql = self.db.sql("DELETE FROM stream_msg WHERE msg_id < ?");
        Ok(with_pool!(&self.db, p => sqlx::query(&sql).bind(&below).execute(p).await?.rows_affected()))
    }

    /// Rows of one point, oldest first (for inspection and tests).
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn rows(&self, tag_station: &str, coa: i32, ioa: i32) -> Result<Vec<RawRow>> {
        let sql = self.db.sql(&format!(
            "SELECT {RAW_COLS} FROM raw_point_data WHERE tag_station = ? AND coa = ? AND ioa = ? ORDER BY id"
        ));
        Ok(
            with_pool!(&self.db, p => sqlx::query_as::<_, RawRow>(&sql).bind(tag_station).bind(coa).bind(ioa).fetch_all(p).await?),
        )
    }

    /// Typed rows of one point (`signal`: `tele_signal_data`, else `telemetry_data`), oldest first.
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn typed_rows(&self, signal: bool, tag_station: &str, coa: i32, ioa: i32) -> Result<Vec<TypedRow>> {
        let (table, value) =
            if signal { ("tele_signal_data", "signal_value") } else { ("telemetry_data", "telemetry_value") };
        let cast = match (&self.db, signal) {
            (_, false) => value.to_owned(),
            (Db::Postgres(_), true) => format!("CASE WHEN {value} THEN 1.0::float8 ELSE 0.0::float8 END"),
            (Db::MySql(_), true) => format!("CAST({value} AS DOUBLE)"),
            (Db::Sqlite(_), true) => format!("1.0 * {value}"),
        };
        let sql = self.db.sql(&format!(
            "SELECT ts, msg_id, data_type, {cast} AS value, quality, device_ms, tag_station, device_id, tag_coa, tag_ioa \
             FROM {table} WHERE tag_station = ? AND tag_coa = ? AND tag_ioa = ? ORDER BY ts, msg_id"
        ));
        Ok(
            with_pool!(&self.db, p => sqlx::query_as::<_, TypedRow>(&sql).bind(tag_station).bind(coa).bind(ioa).fetch_all(p).await?),
        )
    }

    /// True when chunk `id` was stored.
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn has_chunk(&self, id: &ChunkId) -> Result<bool> {
        let sql = self.db.sql("SELECT COUNT(*) FROM stream_chunk WHERE chunk_key = ?");
        let key = id.storage_key();
        let n: i64 = with_pool!(&self.db, p => sqlx::query_scalar(&sql).bind(&*key).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// Number of rows in `raw_point_data`.
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn count(&self) -> Result<i64> {
        self.count_of("raw_point_data").await
    }

    /// Number of rows in one of this sink's tables (`raw_point_data`, `telemetry_data`,
    /// `tele_signal_data`, `stream_chunk`, `stream_msg`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for another table, [`crate::Error::Db`].
    pub async fn count_of(&self, table: &str) -> Result<i64> {
        if !["raw_point_data", "telemetry_data", "tele_signal_data", "stream_chunk", "stream_msg"].contains(&table) {
            return Err(crate::Error::InvalidArgument(format!("{table} is not a sink table")));
        }
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(with_pool!(&self.db, p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await?))
    }
}

impl Sink for SqlSink {
    fn write_chunk<'a>(&'a self, id: &'a ChunkId, rows: &'a Rows) -> WriteFuture<'a> {
        Box::pin(SqlSink::write_chunk(self, id, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The escaping is COPY's text format: each of `\`, tab, newline and carriage return
        /// becomes a backslash sequence, everything else is copied as is.
        #[test]
        fn copy_text_escapes_as_copy_reads_it(v in "[a-z\\\\\t\n\r\"' é]{0,40}") {
            let mut got = String::new();
            copy_text(&mut got, &v);
            let want: String = v
                .chars()
                .map(|c| match c {
                    '\\' => "\\\\".to_owned(),
                    '\t' => "\\t".to_owned(),
                    '\n' => "\\n".to_owned(),
                    '\r' => "\\r".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
