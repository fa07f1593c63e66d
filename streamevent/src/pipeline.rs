//! The moving parts every acquisition path shares: one delivery policy ([`Retry`]: at-least-once,
//! capped exponential backoff, metrics), the compaction loop ([`compaction_loop`]: batches in,
//! chunks out, a bounded number in flight, back-pressure on the producer), the in-process chunk
//! store ([`SinkStore`]: typed points to rows, stored once per chunk), and the gRPC chunk sender
//! ([`ChunkSender`]: `PushChunkAsdu` with the same policy).
//!
//! ```no_run
//! # async fn run() -> streamevent::error::Result<()> {
//! use std::sync::Arc;
//! use streamevent::compact::{Compactor, CompactorConfig, Positioned};
//! use streamevent::pipeline::{compaction_loop, Retry, SinkStore};
//! use streamevent::sink::SqlSink;
//! use streamevent::store::Db;
//! let db = Db::connect("sqlite://zero.db").await?;
//! db.migrate().await?;
//! let store = Arc::new(SinkStore::new(SqlSink::new(db), Retry::default()));
//! let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Positioned>>(1024);
//! let compactor = Compactor::new(CompactorConfig::default());
//! tokio::spawn(compaction_loop(rx, compactor, 2, move |chunk| {
//!     let store = store.clone();
//!     async move {
//!         store.store(chunk).await;
//!     }
//! }));
//! // ... tx.send(batch).await for every batch of typed points
//! # drop(tx); Ok(()) }
//! ```

use crate::compact::{Chunk, Compactable, Compactor, Positioned};
use crate::id::ChunkId;
use crate::sink::{Rows, SqlSink, Stored};
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The delivery policy: try until it goes through, waiting `first`, then twice as long each
/// time, at most `max`, between tries. At-least-once; the receiver drops what it has already
/// stored by the chunk id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// First wait (default 100 ms).
    pub first: Duration,
    /// Longest wait (default 5 s).
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { first: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

impl Retry {
    /// Runs `attempt` until it succeeds; each failure is counted in
    /// `streamevent_delivery_retries_total{what}` and logged.
    pub async fn run<T, E: Display, F: Future<Output = Result<T, E>>>(
        &self,
        what: &'static str,
        mut attempt: impl FnMut() -> F,
    ) -> T {
        let mut wait = self.first;
        loop {
            match attempt().await {
                Ok(v) => return v,
                Err(e) => {
                    metrics::counter!("streamevent_delivery_retries_total", "what" => what).increment(1);
                    tracing::warn!(what, error = %e, retry_in = ?wait, "delivery failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.max);
                }
            }
        }
    }
}

/// Receives batches until the channel closes, compacts them, and hands every closed chunk to
/// `handle`, with at most `max_in_flight` handled at once (the producer waits while all are
/// busy: back-pressure). The open chunk is flushed at the end and every handler finishes before
/// this returns.
pub async fn compaction_loop<M, H, F>(
    mut rx: mpsc::Receiver<Vec<M>>,
    mut compactor: Compactor<M>,
    max_in_flight: usize,
    handle: H,
) where
    M: Compactable + Send + 'static,
    H: Fn(Chunk<M>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let mut flight = tokio::task::JoinSet::new();
    let max_in_flight = max_in_flight.max(1);
    let far = || Instant::now() + Duration::from_secs(3600);
    loop {
        while flight.len() >= max_in_flight {
            let _ = flight.join_next().await;
        }
        let due = compactor.poll_timeout().unwrap_or_else(far);
        tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => {
                    let now = Instant::now();
                    for m in batch {
                        if let Some(chunk) = compactor.push(m, now) {
                            flight.spawn(handle(chunk));
                            while flight.len() >= max_in_flight {
                                let _ = flight.join_next().await;
                            }
                        }
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(due.into()) => {
                if let Some(chunk) = compactor.poll(Instant::now()) {
                    flight.spawn(handle(chunk));
                }
            }
            Some(_) = flight.join_next(), if !flight.is_empty() => {}
        }
    }
    if let Some(chunk) = compactor.flush() {
        flight.spawn(handle(chunk));
    }
    while flight.join_next().await.is_some() {}
}

/// What has been stored: messages and rows, and the latency from each message's push time (when
/// the master received its frame) to its chunk's commit, in 1 ms buckets up to 60 s.
#[derive(Debug)]
pub struct IngestStats {
    /// Messages received in stored chunks.
    pub messages: AtomicU64,
    /// Rows written (all tables).
    pub rows: AtomicU64,
    /// Chunks stored.
    pub chunks: AtomicU64,
    /// Chunks found stored already (redeliveries): nothing written.
    pub duplicates: AtomicU64,
    /// Failed tries to store a chunk (retried by the sender or the store).
    pub errors: AtomicU64,
    /// Transactions that stored chunks ([`SinkStore`] groups chunks: `chunks / commits` per commit).
    pub commits: AtomicU64,
    latency_ms: std::sync::Mutex<Vec<u64>>,
    utc_offset_minutes: i32,
}

impl IngestStats {
    const BUCKETS: usize = 60_001;

    /// Empty statistics; push-time texts are read at `utc_offset_minutes`.
    pub fn new(utc_offset_minutes: i32) -> IngestStats {
        IngestStats {
            messages: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            latency_ms: std::sync::Mutex::new(vec![0; Self::BUCKETS]),
            utc_offset_minutes,
        }
    }

    /// The offset push-time texts are read at.
    pub fn utc_offset_minutes(&self) -> i32 {
        self.utc_offset_minutes
    }

    fn hist(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.latency_ms.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the latency of messages pushed at these Unix microseconds, stored now.
    pub fn record_us(&self, pushed_us: impl Iterator<Item = i64>) {
        let now = crate::point::now_us();
        let mut h = self.hist();
        for t in pushed_us {
            h[((now - t) / 1000).clamp(0, Self::BUCKETS as i64 - 1) as usize] += 1;
        }
    }

    /// Counts what became of a chunk of `messages` pushed at `pushed_us` (Unix microseconds):
    /// rows, the chunk and the latencies when it was written, a duplicate when it was not.
    pub fn count(&self, stored: Stored, messages: usize, pushed_us: impl Iterator<Item = i64>) {
        match stored {
            Stored::Written { raw, telemetry, signals } => {
                let rows = raw + telemetry + signals;
                self.rows.fetch_add(rows, Ordering::Relaxed);
                self.messages.fetch_add(messages as u64, Ordering::Relaxed);
                self.chunks.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("streamevent_rows_written_total").increment(rows);
                self.record_us(pushed_us);
            }
            _ => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("streamevent_chunks_redelivered_total").increment(1);
            }
        }
    }

    /// The latency quantile `q` (0..=1) in milliseconds, over everything recorded.
    pub fn latency_quantile(&self, q: f64) -> Option<u64> {
        let h = self.hist();
        let total: u64 = h.iter().sum();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut acc = 0;
        h.iter()
            .position(|n| {
                acc += n;
                acc >= target
            })
            .map(|i| i as u64)
    }

    /// Forgets the latencies recorded so far (after a warm-up).
    pub fn reset_latency(&self) {
        self.hist().iter_mut().for_each(|b| *b = 0);
    }
}

/// A chunk waiting in a [`SinkStore`] for the next group commit.
struct Pending {
    id: ChunkId,
    rows: Arc<Rows>,
    done: tokio::sync::oneshot::Sender<Stored>,
}

/// Stores chunks of typed points in a [`SqlSink`], retrying until stored, with group commit:
/// chunks that arrive while a transaction is running are written together in the next one
/// (each still exactly once by its own key). A database pays per commit (SQLite: WAL pages of
/// the point index), so under load the cost is shared by many chunks; idle, a chunk is written
/// alone at once.
pub struct SinkStore {
    sink: SqlSink,
    retry: Retry,
    ingest: Arc<IngestStats>,
    pending: std::sync::Mutex<std::collections::VecDeque<Pending>>,
    writer: tokio::sync::Mutex<()>,
    max_group_rows: usize,
    checkpointer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SinkStore {
    fn drop(&mut self) {
        if let Some(c) = &self.checkpointer {
            c.abort();
        }
    }
}

impl std::fmt::Debug for SinkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkStore").field("sink", &self.sink).field("retry", &self.retry).finish()
    }
}

/// Rows one group commit takes at most (it always takes at least one chunk).
pub const MAX_GROUP_ROWS: usize = 50_000;

impl SinkStore {
    /// A store over `sink` with the delivery policy `retry`. On a SQLite file it also
    /// checkpoints the WAL beside the writer ([`crate::store::Db::spawn_checkpointer`]) while
    /// it lives.
    pub fn new(sink: SqlSink, retry: Retry) -> SinkStore {
        // SQLite: the WAL is checkpointed beside the writer, not in its commits
        let checkpointer = sink.db().spawn_checkpointer(Duration::from_millis(500));
        SinkStore {
            sink,
            retry,
            ingest: Arc::new(IngestStats::new(480)),
            pending: Default::default(),
            writer: tokio::sync::Mutex::new(()),
            max_group_rows: MAX_GROUP_ROWS,
            checkpointer,
        }
    }

    /// Messages, rows, chunks, duplicates, errors and the latency from push to commit.
    pub fn ingest(&self) -> Arc<IngestStats> {
        self.ingest.clone()
    }

    /// The sink.
    pub fn sink(&self) -> &SqlSink {
        &self.sink
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores a chunk (its rows by the points' mappings), retrying until the database takes it;
    /// a chunk stored before is counted as a duplicate and writes nothing. Returns once the
    /// chunk is committed.
    pub async fn store(&self, chunk: Chunk<Positioned>) -> Stored {
        let mut rows = Rows::default();
        crate::ingest::rows_of_points(chunk.messages.iter().map(|p| &*p.point), &mut rows);
        let rows = Arc::new(rows);
        let stored = loop {
            let (done, result) = tokio::sync::oneshot::channel();
            self.queue().push_back(Pending { id: chunk.id.clone(), rows: rows.clone(), done });
            // whoever holds the writer writes what is queued; it looks again after letting go,
            // so a chunk queued meanwhile is never left behind
            while let Ok(guard) = self.writer.try_lock() {
                self.write_queued().await;
                drop(guard);
                if self.queue().is_empty() {
                    break;
                }
            }
            match result.await {
                Ok(stored) => break stored,
                // the writer was cancelled before it answered: queue the chunk again (had it been
                // committed, it comes back as a duplicate)
                Err(_) => continue,
            }
        };
        self.ingest.count(stored, chunk.messages.len(), chunk.messages.iter().map(|p| p.point.received_us));
        stored
    }

    /// Writes the queue in groups until it is empty.
    async fn write_queued(&self) {
        loop {
            let group: Vec<Pending> = {
                let mut q = self.queue();
                let mut rows = 0;
                let mut group = vec![];
                while let Some(p) = q.front() {
                    if !group.is_empty() && rows + p.rows.len() > self.max_group_rows {
                        break;
                    }
                    rows += p.rows.len();
                    group.extend(q.pop_front());
                }
                group
            };
            if group.is_empty() {
                return;
            }
            let refs: Vec<(&ChunkId, &Rows)> = group.iter().map(|p| (&p.id, &*p.rows)).collect();
            let results = self
                .retry
                .run("sink", || async {
                    let r = self.sink.write_chunks(&refs).await;
                    if r.is_err() {
                        self.ingest.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    r
                })
                .await;
            self.ingest.commits.fetch_add(1, Ordering::Relaxed);
            for (p, stored) in group.into_iter().zip(results) {
                let _ = p.done.send(stored);
            }
        }
    }
}

/// `PushChunkAsdu` to streamevent with the [`Retry`] policy: the one way every service sends
/// chunks (ieccaller's gRPC channel, iecstash, bridgemodbus's poller). A retried chunk keeps its
/// id, so streamevent stores it once however often it arrives.
#[derive(Debug, Clone)]
pub struct ChunkSender {
    client: crate::pb::stream_event_client::StreamEventClient<tonic::transport::Channel>,
    retry: Retry,
}

impl ChunkSender {
    /// A lazily connecting sender to `endpoint` (`http://host:port`).
    ///
    /// # Errors
    /// [`crate::Error::Config`] for an invalid endpoint.
    pub fn new(endpoint: &str, retry: Retry) -> crate::error::Result<ChunkSender> {
        Self::with_timeout(endpoint, retry, None)
    }

    /// [`ChunkSender::new`] with a deadline on each try (and on connecting), as a service's
    /// `StreamEventConf.Timeout` gives it.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for an invalid endpoint.
    pub fn with_timeout(endpoint: &str, retry: Retry, timeout: Option<Duration>) -> crate::error::Result<ChunkSender> {
        let mut ep = tonic::transport::Endpoint::from_shared(endpoint_uri(endpoint))
            .map_err(|e| crate::Error::Config(format!("streamevent endpoint {endpoint:?}: {e}")))?
            .connect_timeout(timeout.unwrap_or(Duration::from_secs(5)));
        if let Some(t) = timeout {
            ep = ep.timeout(t);
        }
        let channel = ep.connect_lazy();
        let client =
            crate::pb::stream_event_client::StreamEventClient::new(channel).max_encoding_message_size(usize::MAX);
        Ok(ChunkSender { client, retry })
    }

    /// Sends one chunk until streamevent acknowledges it.
    pub async fn send(&self, id: &ChunkId, msg_body: Vec<crate::pb::MsgBody>) {
        let req = crate::pb::PushChunkAsduReq { t_id: id.as_str().to_owned(), msg_body };
        self.retry
            .run("push_chunk_asdu", || {
                let mut client = self.client.clone();
                let req = req.clone();
                async move { client.push_chunk_asdu(req).await }
            })
            .await;
    }

    /// One try: `Err` when streamevent did not acknowledge (for callers with a policy of their own).
    ///
    /// # Errors
    /// The gRPC status.
    pub async fn try_send(&self, id: &ChunkId, msg_body: Vec<crate::pb::MsgBody>) -> Result<(), tonic::Status> {
        let req = crate::pb::PushChunkAsduReq { t_id: id.as_str().to_owned(), msg_body };
        self.client.clone().push_chunk_asdu(req).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::{CompactorConfig, Message};

    #[tokio::test(start_paused = true)]
    async fn retry_doubles_up_to_its_cap() {
        let mut tries = vec![];
        let t0 = tokio::time::Instant::now();
        let n = Retry { first: Duration::from_millis(100), max: Duration::from_millis(300) }
            .run("test", || {
                tries.push(t0.elapsed().as_millis());
                let k = tries.len();
                async move {
                    if k < 5 {
                        Err("down")
                    } else {
                        Ok(k)
                    }
                }
            })
            .await;
        assert_eq!(n, 5);
        assert_eq!(tries, [0, 100, 300, 600, 900]);
    }

    /// Forty chunks stored at once go in fewer transactions than chunks, each exactly once; a
    /// chunk stored again is a duplicate.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_store_groups_concurrent_chunks_and_stores_each_once() {
        use crate::point::{PointMsg, Station};
        use iec104::point::{Point, PointValue};
        use iec104::types::{CommonAddress, Ioa, TypeId};
        let dir = std::env::temp_dir().join(format!("se_group_{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = crate::store::Db::connect(&format!("sqlite://{}/g.db", dir.display())).await.unwrap();
        db.migrate().await.unwrap();
        let store = Arc::new(SinkStore::new(SqlSink::new(db), Retry::default()));
        let st = Station::new("10.0.0.9", 2404, Default::default(), 480);
        let pm = Arc::new(crate::store::PointMapping::new("10_0_0_9_2404", 1, 1));
        let source: Arc<str> = "memory/test".into();
        let chunk = |c: u64| {
            let mut id = ChunkId::builder();
            let messages: Vec<Positioned> = (0..100u64)
                .map(|k| {
                    let pt = Point::new(Ioa::new(1).unwrap(), PointValue::Float(k as f32));
                    let mut p = PointMsg::new(st.clone(), TypeId::M_ME_NC_1, CommonAddress(1), pt, 0);
                    p.pm = Some(pm.clone());
                    let seq = c * 100 + k;
                    id.add(&source, seq, p.msg_id);
                    Positioned { point: Arc::new(p), source: source.clone(), seq }
                })
                .collect();
            Chunk { id: id.build(), messages, received: 100 }
        };
        let chunks: Vec<Chunk<Positioned>> = (0..40).map(chunk).collect();
        let again = chunks[7].clone();
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|c| {
                let store = store.clone();
                tokio::spawn(async move { store.store(c).await })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await.unwrap(), Stored::Written { raw: 100, .. }));
        }
        let ingest = store.ingest();
        assert_eq!(ingest.chunks.load(Ordering::Relaxed), 40);
        let commits = ingest.commits.load(Ordering::Relaxed);
        assert!(commits < 40, "{commits} commits for 40 chunks stored at once");
        assert_eq!(store.sink().count().await.unwrap(), 4000);
        assert_eq!(store.store(again).await, Stored::Duplicate);
        assert_eq!(store.sink().count().await.unwrap(), 4000);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_hands_over_every_message_once_and_flushes() {
        let (tx, rx) = mpsc::channel(4);
        let got = Arc::new(std::sync::Mutex::new(vec![]));
        let g = got.clone();
        let cfg = CompactorConfig { max_bytes: 10, ..Default::default() };
        let task = tokio::spawn(compaction_loop(rx, Compactor::<Message>::new(cfg), 2, move |c: Chunk<Message>| {
            let g = g.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                g.lock().unwrap().extend(c.messages.into_iter().map(|m| m.offset));
            }
        }));
        for b in 0..10u64 {
            let batch = (0..7).map(|i| Message::new("k", "s", b * 7 + i, "xxx", None, false)).collect();
            tx.send(batch).await.unwrap();
        }
        drop(tx);
        task.await.unwrap();
        let mut got = got.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(got, (0..70).collect::<Vec<_>>());
    }
}

/// A gRPC endpoint as go-zero configurations write them (`127.0.0.1:21009`) or as a URI
/// (`http://127.0.0.1:21009`): the URI tonic connects to.
///
/// ```
/// use streamevent::pipeline::endpoint_uri;
/// assert_eq!(endpoint_uri("127.0.0.1:21009"), "http://127.0.0.1:21009");
/// assert_eq!(endpoint_uri("https://se:443"), "https://se:443");
/// ```
pub fn endpoint_uri(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    }
}

/// Why a go-zero `Target` gives no endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// A service-discovery target (`nacos://`, `etcd://`, `consul://`, ...): this platform does
    /// not resolve them; list the endpoints instead.
    #[error("target {0:?}: service discovery is not supported here; set Endpoints (or a direct:/// target)")]
    Discovery(String),
}

/// The endpoints of a go-zero `Target`: `direct:///h1:p1,h2:p2`, `dns:///h:p` or a bare
/// `h:p`; empty for an empty target.
///
/// # Errors
/// [`TargetError::Discovery`] for a discovery scheme.
///
/// ```
/// use streamevent::pipeline::target_endpoints;
/// assert_eq!(target_endpoints("direct:///a:1,b:2").unwrap(), ["http://a:1", "http://b:2"]);
/// assert!(target_endpoints("nacos://n:n@127.0.0.1:8848/stream-event?namespaceid=public").is_err());
/// ```
pub fn target_endpoints(target: &str) -> Result<Vec<String>, TargetError> {
    let t = target.trim();
    if t.is_empty() {
        return Ok(vec![]);
    }
    let list = if let Some(rest) = t.strip_prefix("direct:///").or_else(|| t.strip_prefix("dns:///")) {
        rest
    } else if t.contains("://") {
        return Err(TargetError::Discovery(t.to_owned()));
    } else {
        t
    };
    Ok(list.split(',').map(str::trim).filter(|e| !e.is_empty()).map(endpoint_uri).collect())
}
