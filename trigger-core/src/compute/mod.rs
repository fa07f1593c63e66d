//! The compute bridge's core (feature `compute`): tasks queued on a broker, handed to external
//! numerical workers over WebSocket + MsgPack, acknowledged to the broker only after the
//! worker's result.
//!
//! - [`proto`]: the worker protocol (frames, float64 bodies, zstd), one codec for both ends.
//! - [`lease`]: the sans-IO lease table: tasks leased to workers within their concurrency,
//!   deadlines, retries with backoff, dead letters, back-pressure.
//! - [`bridge`]: the tokio driver: workers' connections, consumers' deliveries, results
//!   published before the broker's acknowledgement.
pub mod bridge;
pub mod lease;
pub mod proto;
