//! # trigger-core
//!
//! A task scheduler core: immediate, delayed and scheduled tasks on weighted queues, retries
//! with backoff, unique keys, timeouts and deadlines, retention of completed tasks, and HTTP
//! and gRPC callbacks as the upstream trigger service runs them (asynq's model and numbers,
//! spec §6.1), over pluggable stores.
//!
//! ## Layout
//! - [`task`]: tasks, states (asynq's numbers), retry curves, outcomes.
//! - [`config`]: the engine's configuration with documented defaults.
//! - [`core`]: the sans-IO timing core: every transition and timer, `now` passed in.
//! - [`store`]: the [`store::Store`] trait; [`store::MemoryStore`] (the core behind a mutex) and,
//!   with the `redis` feature, [`store::RedisStore`] (several instances on one Redis).
//! - [`callback`]: HTTP (`http`) and gRPC (`grpc`) callbacks and their upstream payloads.
//! - [`driver`]: the tokio worker pool that runs due tasks through a handler.
//! - [`rule`] (feature `cron`): plan rules (`PlanRulePb`) compiled to RRULE sets, and the
//!   candidate times of a plan or cron job.
//! - [`cron`] (feature `cron`): RRULE cron jobs with leases: each occurrence fires once across
//!   instances (spec §6.3).
//! - [`plan`] (feature `plan`): plan tasks (spec §6.2): batches and execution items in SQLite,
//!   PostgreSQL or MySQL, claimed by a scanner with leases, results applied as upstream does.
//! - [`holiday`] (feature `plan`): the mainland-China holiday calendar (spec §6.4) and its
//!   `holiday_source` overrides; [`cron_log`] (feature `plan`): the `cron_exec_log` audit table.
//! - `compute` (feature `compute`): the compute bridge's worker protocol (MsgPack frames,
//!   float64 bodies, zstd) and its sans-IO lease table (concurrency, deadlines, retries,
//!   dead letters, back-pressure).
//!
//! ## Tables
//! This crate owns, creates and migrates its tables with sqlx migrations (`migrations/`,
//! versions 100001–199999, see [`zero_sql`]): `plan`, `plan_batch`,
//! `plan_exec_item`, `plan_exec_log`, `cron_exec_log` and `holiday_source` on SQLite,
//! PostgreSQL or MySQL ([`plan::store::open`]); `trigger_task`, `trigger_queue`,
//! `trigger_stats` ([`store::SqliteStore`]) and `trigger_cron` (`cron::SqliteCron`) on SQLite.
//!
//! ## Example
//! ```
//! use trigger_core::{driver, store::{MemoryStore, Store}, task::{NewTask, Outcome}, Config};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::new(Config::default());
//! let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
//! let handler = move |lease: trigger_core::core::Lease| {
//!     let done = done_tx.clone();
//!     async move {
//!         let _ = done.send(lease.task.payload);
//!         Outcome::success("ok")
//!     }
//! };
//! let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
//! let worker = tokio::spawn(driver::run(store.clone(), handler, driver::WorkerConfig::default(), async {
//!     let _ = stop_rx.await;
//! }));
//! store.enqueue(NewTask::new("default", "demo", b"hello".to_vec()), driver::now()).await.unwrap();
//! assert_eq!(done_rx.recv().await.unwrap(), b"hello");
//! let _ = stop_tx.send(());
//! worker.await.unwrap();
//! # }
//! ```

pub mod callback;
#[cfg(feature = "compute")]
pub mod compute;
pub mod config;
pub mod core;
#[cfg(feature = "cron")]
pub mod cron;
#[cfg(feature = "plan")]
pub mod cron_log;
pub mod driver;
pub mod error;
#[cfg(feature = "plan")]
pub mod holiday;
#[cfg(feature = "plan")]
pub mod plan;
#[cfg(feature = "cron")]
pub mod rule;
pub mod store;
pub mod task;

pub use config::Config;
pub use error::{Error, Result};
