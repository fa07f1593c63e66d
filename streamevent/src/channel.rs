//! Channels: where points go after the push decision.
//!
//! Each enabled channel has a bounded queue and one worker. The worker takes a batch, hands it
//! to its [`Transport`], and retries the same batch with capped backoff until it is delivered:
//! at-least-once, in order per channel. A full queue makes [`Fanout::publish_all`] wait
//! (back-pressure on the stations) instead of dropping. Per-channel metrics:
//! `ieccaller_channel_sent_total`, `ieccaller_channel_errors_total`, `ieccaller_channel_queued`.

use crate::compact::{Positioned, TYPED_POINT_SIZE};
use crate::id::ChunkId;
use crate::pipeline::{ChunkSender, Retry};
use crate::point::PointMsg;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One point ready for every channel: typed, shared, and serialised at most once, by the first
/// channel that needs its JSON (the in-process bus of `zero up` never does).
#[derive(Debug, Clone)]
pub struct Outgoing(Arc<PointMsg>);

impl Outgoing {
    /// Wraps a point.
    pub fn new(p: PointMsg) -> Outgoing {
        Outgoing(Arc::new(p))
    }

    /// The point.
    pub fn point(&self) -> &PointMsg {
        &self.0
    }

    /// The point, shared (no copy).
    pub fn shared(&self) -> Arc<PointMsg> {
        self.0.clone()
    }

    /// The point key (`{host}_{coa}_{0x%06x}`), Kafka's message key.
    pub fn key(&self) -> String {
        self.0.key().to_string()
    }

    /// The JSON text (spec §1.4), made on first use.
    pub fn json(&self) -> Arc<str> {
        self.0.json()
    }

    /// Type identification.
    pub fn type_id(&self) -> u8 {
        self.0.type_id.0
    }

    /// Information object address.
    pub fn ioa(&self) -> u32 {
        self.0.ioa()
    }
}

/// A boxed send future.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Delivers batches for one channel.
pub trait Transport: Send + Sync + 'static {
    /// The channel's name (metrics label).
    fn name(&self) -> &'static str;
    /// Delivers the whole batch, or fails (the worker retries the batch).
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a>;
    /// Most messages per batch.
    fn max_batch(&self) -> usize {
        1000
    }
    /// Most JSON bytes per batch.
    fn max_bytes(&self) -> usize {
        usize::MAX
    }
    /// How long a partial batch may wait for more.
    fn linger(&self) -> Duration {
        Duration::ZERO
    }
}

/// What a channel delivered ([`Fanout::queues`]).
#[derive(Debug, Default)]
struct Counts {
    sent: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
}

/// A channel's queue and deliveries at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelState {
    /// The channel (`kafka`, `mqtt`, `grpc`, `memory`).
    pub name: &'static str,
    /// Messages waiting in its queue.
    pub queued: usize,
    /// The queue's size.
    pub capacity: usize,
    /// Messages delivered.
    pub sent: u64,
    /// Failed deliveries (each retried until it goes through).
    pub errors: u64,
}

/// The publishing side of every channel.
#[derive(Debug, Clone, Default)]
pub struct Fanout {
    channels: Vec<(&'static str, mpsc::Sender<Outgoing>, Arc<Counts>)>,
}

impl Fanout {
    /// Starts a worker for `transport` with a queue of `capacity`.
    pub fn add(&mut self, transport: impl Transport, capacity: usize) -> tokio::task::JoinHandle<()> {
        let (tx, rx) = mpsc::channel(capacity);
        let name = transport.name();
        let counts = Arc::new(Counts::default());
        self.channels.push((name, tx, counts.clone()));
        tokio::spawn(worker(Arc::new(transport), rx, counts))
    }

    /// Every channel's queue and deliveries now.
    pub fn queues(&self) -> Vec<ChannelState> {
        use std::sync::atomic::Ordering::Relaxed;
        self.channels
            .iter()
            .map(|(name, tx, c)| ChannelState {
                name,
                queued: tx.max_capacity() - tx.capacity(),
                capacity: tx.max_capacity(),
                sent: c.sent.load(Relaxed),
                errors: c.errors.load(Relaxed),
            })
            .collect()
    }

    /// True when no channel is enabled.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Queues every message of `batch` on every channel (in order), waiting while a queue is
    /// full, and leaves `batch` empty with its capacity; the channels' gauges are set once per
    /// batch.
    pub async fn publish_all(&self, batch: &mut Vec<Outgoing>) {
        let last = self.channels.len().saturating_sub(1);
        for (k, (name, tx, _)) in self.channels.iter().enumerate() {
            let mut failed = 0u64;
            // the last channel takes the messages themselves, the others clones (an Arc each)
            if k == last {
                for out in batch.drain(..) {
                    failed += u64::from(tx.send(out).await.is_err());
                }
            } else {
                for out in batch.iter() {
                    failed += u64::from(tx.send(out.clone()).await.is_err());
                }
            }
            if failed > 0 {
                metrics::counter!("ieccaller_channel_errors_total", "channel" => *name).increment(failed);
            }
            metrics::gauge!("ieccaller_channel_queued", "channel" => *name)
                .set((tx.max_capacity() - tx.capacity()) as f64);
        }
        batch.clear();
    }
}

async fn worker(t: Arc<dyn Transport>, mut rx: mpsc::Receiver<Outgoing>, counts: Arc<Counts>) {
    let name = t.name();
    let mut batch: Vec<Outgoing> = Vec::new();
    loop {
        // fill a batch: block for the first message, then take what is there (or lingers)
        if batch.is_empty() {
            match rx.recv().await {
                Some(m) => batch.push(m),
                None => return,
            }
        }
        let mut bytes: usize = batch.len() * TYPED_POINT_SIZE;
        let deadline = tokio::time::Instant::now() + t.linger();
        while batch.len() < t.max_batch() && bytes < t.max_bytes() {
            let next = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) if t.linger().is_zero() => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten()
                }
            };
            match next {
                Some(m) => {
                    bytes += TYPED_POINT_SIZE;
                    batch.push(m);
                }
                None => break,
            }
        }
        // deliver, retrying until it goes through
        let mut backoff = Duration::from_millis(100);
        loop {
            match t.send(&batch).await {
                Ok(()) => {
                    counts.sent.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    metrics::counter!("ieccaller_channel_sent_total", "channel" => name).increment(batch.len() as u64);
                    metrics::gauge!("ieccaller_channel_queued", "channel" => name).set(rx.len() as f64);
                    batch.clear();
                    break;
                }
                Err(e) => {
                    counts.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    metrics::counter!("ieccaller_channel_errors_total", "channel" => name).increment(1);
                    tracing::warn!(channel = name, error = %e, retry_in = ?backoff, "delivery failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The in-process bus of `zero up`: hands batches of typed points to a compaction loop
/// ([`crate::pipeline::compaction_loop`]), each point with a sequence number in a source named
/// for this run (`memory/<uuid>`), so chunk ids never repeat across runs. Nothing is serialised.
#[derive(Debug)]
pub struct MemoryBus {
    tx: mpsc::Sender<Vec<Positioned>>,
    source: Arc<str>,
    seq: std::sync::atomic::AtomicU64,
}

impl MemoryBus {
    /// A bus feeding `tx` under a source name new to this run.
    pub fn new(tx: mpsc::Sender<Vec<Positioned>>) -> MemoryBus {
        MemoryBus {
            tx,
            source: format!("memory/{}", uuid::Uuid::now_v7().simple()).into(),
            seq: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Transport for MemoryBus {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn max_batch(&self) -> usize {
        10_000
    }
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            let first = self.seq.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let points = batch
                .iter()
                .enumerate()
                .map(|(k, o)| Positioned { point: o.shared(), source: self.source.clone(), seq: first + k as u64 })
                .collect();
            self.tx.send(points).await.map_err(|_| "bus closed".to_owned())
        })
    }
}

/// The gRPC channel: `PushChunkAsdu` to streamevent, chunked by size or time, each chunk with
/// a [`ChunkId`] from this instance's sequence range and the points' msgIds, so streamevent drops
/// a redelivered one and never mistakes another run's chunk for it. The size of a chunk
/// (`PushAsduChunkBytes`) counts [`TYPED_POINT_SIZE`] a point, about its JSON message, since the
/// points are not serialised before they are sent.
pub struct StreamEventTransport {
    sender: ChunkSender,
    chunk_bytes: usize,
    linger: Duration,
    source: String,
    seq: std::sync::atomic::AtomicU64,
}

impl StreamEventTransport {
    /// A lazily connecting client to the first of `endpoints`.
    ///
    /// # Errors
    /// An invalid endpoint URI.
    pub fn new(endpoints: &[String], chunk_bytes: usize, linger: Duration) -> Result<Self, String> {
        Self::with_timeout(endpoints, chunk_bytes, linger, None)
    }

    /// [`StreamEventTransport::new`] with a deadline on each try (`StreamEventConf.Timeout`).
    ///
    /// # Errors
    /// No endpoint, or an unusable one.
    pub fn with_timeout(
        endpoints: &[String],
        chunk_bytes: usize,
        linger: Duration,
        timeout: Option<Duration>,
    ) -> Result<Self, String> {
        let ep = endpoints.first().ok_or("no streamevent endpoint")?;
        let sender = ChunkSender::with_timeout(ep, Retry::default(), timeout)
            .map_err(|e| format!("StreamEventConf.Endpoints: {e}"))?;
        Ok(StreamEventTransport {
            sender,
            chunk_bytes,
            linger,
            source: format!("ieccaller/{}", crate::msg::new_msg_id()),
            seq: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

impl Transport for StreamEventTransport {
    fn name(&self) -> &'static str {
        "grpc"
    }
    fn max_batch(&self) -> usize {
        100_000
    }
    fn max_bytes(&self) -> usize {
        self.chunk_bytes
    }
    fn linger(&self) -> Duration {
        self.linger
    }
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            // the id is fixed per batch: a retried batch keeps it, so a duplicate is dropped
            let first = self.seq.load(std::sync::atomic::Ordering::Relaxed);
            let mut id = ChunkId::builder();
            for (k, o) in batch.iter().enumerate() {
                id.add(&self.source, first + k as u64, o.point().msg_id);
            }
            let id = id.build();
            let msgs = batch.iter().map(|o| o.point().to_pb()).collect();
            self.sender.try_send(&id, msgs).await.map_err(|e| e.to_string())?;
            self.seq.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
    }
}
