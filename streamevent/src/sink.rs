//! Sinks: where raw point rows go. [`SqlSink`] writes `raw_point_data` with batched inserts
//! (PostgreSQL: one `INSERT ... SELECT FROM UNNEST` per batch; MySQL/MariaDB and SQLite:
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
                let mut n = 0;
                for chunk in rows.chunks(20_000) {
                    let col = |f: fn(&RawRow) -> &str| chunk.iter().map(|r| f(r).to_owned()).collect::<Vec<String>>();
                    let int = |f: fn(&RawRow) -> i32| chunk.iter().map(f).collect::<Vec<i32>>();
                    let sql = format!(
                        "INSERT INTO raw_point_data ({COLS}) SELECT * FROM UNNEST($1::varchar[], $2::varchar[], \
                         $3::varchar[], $4::int[], $5::varchar[], $6::int[], $7::int[], $8::int[], $9::int[], \
                         $10::varchar[], $11::text[], $12::varchar[], $13::varchar[])"
                    );
                    n += sqlx::query(&sql)
                        .bind(col(|r| &r.ts))
                        .bind(col(|r| &r.msg_id))
                        .bind(col(|r| &r.host_v))
                        .bind(int(|r| r.port_v))
                        .bind(col(|r| &r.asdu))
                        .bind(int(|r| r.type_id))
                        .bind(int(|r| r.data_type))
                        .bind(int(|r| r.coa))
                        .bind(int(|r| r.ioa))
                        .bind(col(|r| &r.ioa_value))
                        .bind(col(|r| &r.raw_msg))
                        .bind(col(|r| &r.tag_station))
                        .bind(col(|r| &r.chunk_id))
                        .execute(p)
                        .await?
                        .rows_affected();
                }
                Ok(n)
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
