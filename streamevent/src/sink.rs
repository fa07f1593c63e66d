//! Sinks: where raw point rows go. [`SqlSink`] writes `raw_point_data` with batched inserts
//! (PostgreSQL: `COPY ... FROM STDIN`; MySQL/MariaDB and SQLite:
//! multi-row `VALUES`, inside one transaction).

use crate::error::Result;
use crate::store::{with_pool, Db};
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
    /// Id of the chunk the row came in.
    pub chunk_id: String,
}

/// Appends `v` escaped for COPY's text format.
fn copy_text(buf: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

fn copy_row(buf: &mut String, r: &RawRow) {
    use std::fmt::Write;
    let texts = [&r.ts, &r.msg_id, &r.host_v];
    for t in texts {
        copy_text(buf, t);
        buf.push('\t');
    }
    let _ = write!(buf, "{}\t", r.port_v);
    copy_text(buf, &r.asdu);
    let _ = write!(buf, "\t{}\t{}\t{}\t{}\t", r.type_id, r.data_type, r.coa, r.ioa);
    for (k, t) in [&r.ioa_value, &r.raw_msg, &r.tag_station, &r.chunk_id].into_iter().enumerate() {
        copy_text(buf, t);
        buf.push(if k == 3 { '\n' } else { '\t' });
    }
}

/// A boxed future returned by [`Sink::write`].
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<u64>> + Send + 'a>>;

/// Somewhere rows can be written.
pub trait Sink: Send + Sync + 'static {
    /// Writes the rows; returns how many were written.
    fn write<'a>(&'a self, rows: &'a [RawRow]) -> WriteFuture<'a>;
}

/// `raw_point_data` in a SQL database.
#[derive(Debug, Clone)]
pub struct SqlSink {
    db: Db,
}

const COLS: &str =
    "ts, msg_id, host_v, port_v, asdu, type_id, data_type, coa, ioa, ioa_value, raw_msg, tag_station, chunk_id";

impl SqlSink {
    /// A sink into `db` (migrated).
    pub fn new(db: Db) -> SqlSink {
        SqlSink { db }
    }

    async fn write_rows(&self, rows: &[RawRow]) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        match &self.db {
            Db::Postgres(p) => {
                // COPY in text format: the fastest bulk path PostgreSQL offers
                let mut buf = String::with_capacity(rows.len() * 160);
                for r in rows {
                    copy_row(&mut buf, r);
                }
                let mut conn = p.acquire().await?;
                let mut copy =
                    conn.copy_in_raw(&format!("COPY raw_point_data ({COLS}) FROM STDIN WITH (FORMAT text)")).await?;
                copy.send(buf.into_bytes()).await?;
                Ok(copy.finish().await?)
            }
            db => {
                // 13 binds per row: SQLite allows 32766 variables, MySQL 65535
                let per = if matches!(db, Db::Sqlite(_)) { 2_000 } else { 4_000 };
                with_pool!(db, p => {
                    let mut tx = p.begin().await?;
                    let mut n = 0;
                    for chunk in rows.chunks(per) {
                        let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO raw_point_data ({COLS}) "));
                        qb.push_values(chunk, |mut b, r| {
                            b.push_bind(&r.ts).push_bind(&r.msg_id).push_bind(&r.host_v).push_bind(r.port_v)
                                .push_bind(&r.asdu).push_bind(r.type_id).push_bind(r.data_type).push_bind(r.coa)
                                .push_bind(r.ioa).push_bind(&r.ioa_value).push_bind(&r.raw_msg)
                                .push_bind(&r.tag_station).push_bind(&r.chunk_id);
                        });
                        n += qb.build().execute(&mut *tx).await?.rows_affected();
                    }
                    tx.commit().await?;
                    Ok(n)
                })
            }
        }
    }

    /// Rows of one point, oldest first (for inspection and tests).
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn rows(&self, tag_station: &str, coa: i32, ioa: i32) -> Result<Vec<RawRow>> {
        let sql = self.db.sql(&format!(
            "SELECT {COLS} FROM raw_point_data WHERE tag_station = ? AND coa = ? AND ioa = ? ORDER BY id"
        ));
        Ok(
            with_pool!(&self.db, p => sqlx::query_as::<_, RawRow>(&sql).bind(tag_station).bind(coa).bind(ioa).fetch_all(p).await?),
        )
    }

    /// True when rows of chunk `chunk_id` were already written (redelivery).
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn has_chunk(&self, chunk_id: &str) -> Result<bool> {
        let sql = self.db.sql("SELECT COUNT(*) FROM raw_point_data WHERE chunk_id = ?");
        let n: i64 = with_pool!(&self.db, p => sqlx::query_scalar(&sql).bind(chunk_id).fetch_one(p).await?);
        Ok(n > 0)
    }

    /// Number of rows in `raw_point_data`.
    ///
    /// # Errors
    /// [`crate::Error::Db`].
    pub async fn count(&self) -> Result<i64> {
        Ok(
            with_pool!(&self.db, p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM raw_point_data").fetch_one(p).await?),
        )
    }
}

impl Sink for SqlSink {
    fn write<'a>(&'a self, rows: &'a [RawRow]) -> WriteFuture<'a> {
        Box::pin(self.write_rows(rows))
    }
}
