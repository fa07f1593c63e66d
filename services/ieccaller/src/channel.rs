//! Channels: where messages go after the push decision.
//!
//! Each enabled channel has a bounded queue and one worker. The worker takes a batch, hands it
//! to its [`Transport`], and retries the same batch with capped backoff until it is delivered:
//! at-least-once, in order per channel. A full queue makes [`Fanout::publish`] wait
//! (back-pressure on the stations) instead of dropping. Per-channel metrics:
//! `ieccaller_channel_sent_total`, `ieccaller_channel_errors_total`, `ieccaller_channel_queued`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use streamevent::msg::MsgBody;
use tokio::sync::mpsc;

/// One message ready for every channel: serialised once.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The point key (`{host}_{coa}_{0x%06x}`), Kafka's message key.
    pub key: Arc<str>,
    /// The JSON text.
    pub json: Arc<str>,
    /// The message (for topic templates and the gRPC form).
    pub msg: Arc<MsgBody>,
}

impl Outgoing {
    /// Serialises `msg`.
    pub fn new(msg: MsgBody) -> Outgoing {
        Outgoing { key: msg.key().into(), json: msg.to_json().into(), msg: Arc::new(msg) }
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

/// The publishing side of every channel.
#[derive(Debug, Clone, Default)]
pub struct Fanout {
    channels: Vec<(&'static str, mpsc::Sender<Outgoing>)>,
}

impl Fanout {
    /// Starts a worker for `transport` with a queue of `capacity`.
    pub fn add(&mut self, transport: impl Transport, capacity: usize) -> tokio::task::JoinHandle<()> {
        let (tx, rx) = mpsc::channel(capacity);
        let name = transport.name();
        self.channels.push((name, tx));
        tokio::spawn(worker(Arc::new(transport), rx))
    }

    /// True when no channel is enabled.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Queues a message on every channel, waiting while a queue is full.
    pub async fn publish(&self, out: Outgoing) {
        for (name, tx) in &self.channels {
            if tx.send(out.clone()).await.is_err() {
                metrics::counter!("ieccaller_channel_errors_total", "channel" => *name).increment(1);
            }
            metrics::gauge!("ieccaller_channel_queued", "channel" => *name)
                .set((tx.max_capacity() - tx.capacity()) as f64);
        }
    }
}

async fn worker(t: Arc<dyn Transport>, mut rx: mpsc::Receiver<Outgoing>) {
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
        let mut bytes: usize = batch.iter().map(|m| m.json.len()).sum();
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
                    bytes += m.json.len();
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
                    metrics::counter!("ieccaller_channel_sent_total", "channel" => name).increment(batch.len() as u64);
                    metrics::gauge!("ieccaller_channel_queued", "channel" => name).set(rx.len() as f64);
                    batch.clear();
                    break;
                }
                Err(e) => {
                    metrics::counter!("ieccaller_channel_errors_total", "channel" => name).increment(1);
                    tracing::warn!(channel = name, error = %e, retry_in = ?backoff, "delivery failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The gRPC channel: `PushChunkAsdu` to streamevent, chunked by bytes or time, each chunk with
/// an id from its sequence range so streamevent drops a redelivered one.
pub struct StreamEventTransport {
    client: streamevent::pb::stream_event_client::StreamEventClient<tonic::transport::Channel>,
    chunk_bytes: usize,
    linger: Duration,
    instance: String,
    seq: std::sync::atomic::AtomicU64,
}

impl StreamEventTransport {
    /// A lazily connecting client to the first of `endpoints`.
    ///
    /// # Errors
    /// An invalid endpoint URI.
    pub fn new(endpoints: &[String], chunk_bytes: usize, linger: Duration) -> Result<Self, String> {
        let ep = endpoints.first().ok_or("no streamevent endpoint")?;
        let channel = tonic::transport::Endpoint::from_shared(ep.clone())
            .map_err(|e| format!("StreamEvent.Endpoints {ep:?}: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(StreamEventTransport {
            client: streamevent::pb::stream_event_client::StreamEventClient::new(channel)
                .max_encoding_message_size(usize::MAX),
            chunk_bytes,
            linger,
            instance: streamevent::msg::new_msg_id(),
            seq: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

/// The protobuf form of a message (body and metadata as raw JSON text).
pub fn to_pb(m: &MsgBody) -> streamevent::pb::MsgBody {
    streamevent::pb::MsgBody {
        msg_id: m.msg_id.clone(),
        host: m.host.clone(),
        port: i32::from(m.port),
        asdu: m.asdu.clone(),
        type_id: i32::from(m.type_id),
        data_type: m.data_type,
        coa: m.coa,
        body_raw: serde_json::to_string(&m.body).unwrap_or_default(),
        time: m.time.clone(),
        meta_data_raw: if m.meta_data.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&m.meta_data).unwrap_or_default()
        },
        pm: m.pm.as_ref().map(|p| streamevent::pb::PointMapping {
            device_id: p.device_id.clone(),
            device_name: p.device_name.clone(),
            td_table_type: p.td_table_type.clone(),
            ext1: p.ext1.clone(),
            ext2: p.ext2.clone(),
            ext3: p.ext3.clone(),
            ext4: p.ext4.clone(),
            ext5: p.ext5.clone(),
        }),
        trace_id: m.trace_id.clone(),
        headers: m.headers.clone().into_iter().collect(),
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
            let t_id = format!("ieccaller/{}@{}-{}", self.instance, first, first + batch.len() as u64 - 1);
            let req =
                streamevent::pb::PushChunkAsduReq { t_id, msg_body: batch.iter().map(|o| to_pb(&o.msg)).collect() };
            self.client.clone().push_chunk_asdu(req).await.map_err(|e| e.to_string())?;
            self.seq.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
    }
}
