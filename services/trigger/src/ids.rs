//! `NextId` / `BatchNextId` (spec §6.4): `{prefix}{yyyy}{MMddHHmmss}{seq}` with the sequence
//! zero-padded to at least 4 digits. The sequence comes from Redis `INCRBY` on
//! `{key}:outId_{prefix}` (several instances share it; the key expires 60 s after its first
//! use), or from this process when no Redis is configured. `separate = false` draws from the
//! shared `P` counter and puts the caller's prefix in front.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use trigger_core::task::Millis;

/// Where sequence numbers come from.
#[derive(Clone)]
pub enum Sequences {
    /// Shared by every instance.
    Redis {
        /// Connection.
        conn: redis::aio::ConnectionManager,
        /// Key prefix (the service's `Redis.Key`).
        key: String,
    },
    /// This process only: counter and the time it started, per prefix.
    Local(Arc<Mutex<HashMap<String, (u64, Millis)>>>),
}

impl Sequences {
    /// Reserves `count` numbers under `counter`; returns the first.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn reserve(&self, counter: &str, count: u64, now: Millis) -> Result<u64, redis::RedisError> {
        match self {
            Sequences::Redis { conn, key } => {
                let k = format!("{key}:outId_{counter}");
                let (last, _): (u64, i64) = redis::pipe()
                    .atomic()
                    .cmd("INCRBY")
                    .arg(&k)
                    .arg(count)
                    // NX: the expiry is set by the first use only
                    .cmd("EXPIRE")
                    .arg(&k)
                    .arg(60)
                    .arg("NX")
                    .query_async(&mut conn.clone())
                    .await?;
                Ok(last + 1 - count)
            }
            Sequences::Local(m) => {
                let mut m = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let e = m.entry(counter.to_owned()).or_insert((0, now));
                if now - e.1 >= 60_000 {
                    *e = (0, now);
                }
                e.0 += count;
                Ok(e.0 + 1 - count)
            }
        }
    }
}

/// Formats one id.
pub fn format_id(prefix: &str, now: Millis, seq: u64) -> String {
    let t =
        chrono::DateTime::from_timestamp_millis(now).unwrap_or_default().with_timezone(&trigger_core::rule::shanghai());
    format!("{prefix}{}{seq:04}", t.format("%Y%m%d%H%M%S"))
}
