//! Where tasks live. Every store applies the rules of [`crate::core`]; the driver and the
//! service only see this trait.
//!
//! - [`MemoryStore`]: the sans-IO core behind a mutex (one process; nothing survives it).
//! - [`SqliteStore`] (feature `sqlite`): the same core, written through to a SQLite file and
//!   read back at start (one process; the embedded default).
//! - [`RedisStore`] (feature `redis`): several instances share one Redis; every transition is
//!   one atomic Lua script, and every key of a queue carries the queue as its hash tag, so a
//!   queue lives in one Redis Cluster slot.

use crate::core::{Ack, Lease};
use crate::error::Result;
use crate::task::{DailyStat, Millis, NewTask, QueueInfo, TaskInfo, TaskState};
use std::future::Future;
use std::pin::Pin;

mod memory;
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A task store. Times are passed in (`now`, ms since the epoch).
pub trait Store: Send + Sync + 'static {
    /// Enqueues one task.
    fn enqueue(&self, t: NewTask, now: Millis) -> BoxFuture<'_, Result<TaskInfo>>;
    /// Enqueues many tasks at once (one round trip where the store allows); one result each.
    fn enqueue_many(&self, ts: Vec<NewTask>, now: Millis) -> BoxFuture<'_, Result<Vec<Result<TaskInfo>>>>;
    /// Takes up to `max` due tasks, leased to the caller.
    fn dequeue(&self, max: usize, now: Millis) -> BoxFuture<'_, Result<Vec<Lease>>>;
    /// Renews the leases of running tasks `(queue, id)`; returns those that are no longer ours.
    fn extend(&self, running: Vec<(String, String)>, now: Millis) -> BoxFuture<'_, Result<Vec<(String, String)>>>;
    /// Reports finished attempts.
    fn ack(&self, acks: Vec<Ack>, now: Millis) -> BoxFuture<'_, Result<()>>;
    /// The earliest time something becomes due, if known.
    fn next_due(&self) -> BoxFuture<'_, Result<Option<Millis>>>;
    /// Resolves when a task may have become due earlier than [`Store::next_due`] said (a local
    /// enqueue); stores shared between processes return a future that never resolves and are
    /// polled instead.
    fn changed(&self) -> BoxFuture<'_, ()>;
    /// One task.
    fn task<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskInfo>>;
    /// Deletes a task that is not active.
    fn delete<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Archives a pending, scheduled or retry task.
    fn archive<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>>;
    /// Makes a scheduled, retry or archived task pending.
    fn run<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>>;
    /// Pauses or resumes a queue.
    fn set_paused<'a>(&'a self, queue: &'a str, paused: bool) -> BoxFuture<'a, Result<()>>;
    /// Deletes every completed or archived task of a queue.
    fn delete_all<'a>(&'a self, queue: &'a str, state: TaskState) -> BoxFuture<'a, Result<u64>>;
    /// The queues.
    fn queues(&self) -> BoxFuture<'_, Result<Vec<String>>>;
    /// A page of a queue's tasks in one state.
    fn list<'a>(
        &'a self,
        queue: &'a str,
        state: TaskState,
        page_size: usize,
        page: usize,
    ) -> BoxFuture<'a, Result<Vec<TaskInfo>>>;
    /// A queue's counts.
    fn info<'a>(&'a self, queue: &'a str, now: Millis) -> BoxFuture<'a, Result<QueueInfo>>;
    /// Daily counts, newest first.
    fn history<'a>(&'a self, queue: &'a str, days: u32, now: Millis) -> BoxFuture<'a, Result<Vec<DailyStat>>>;
}

/// A shared store is a store (so a service can hold `Arc<dyn Store>`).
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn enqueue(&self, t: NewTask, now: Millis) -> BoxFuture<'_, Result<TaskInfo>> {
        (**self).enqueue(t, now)
    }
    fn enqueue_many(&self, ts: Vec<NewTask>, now: Millis) -> BoxFuture<'_, Result<Vec<Result<TaskInfo>>>> {
        (**self).enqueue_many(ts, now)
    }
    fn dequeue(&self, max: usize, now: Millis) -> BoxFuture<'_, Result<Vec<Lease>>> {
        (**self).dequeue(max, now)
    }
    fn extend(&self, running: Vec<(String, String)>, now: Millis) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        (**self).extend(running, now)
    }
    fn ack(&self, acks: Vec<Ack>, now: Millis) -> BoxFuture<'_, Result<()>> {
        (**self).ack(acks, now)
    }
    fn next_due(&self) -> BoxFuture<'_, Result<Option<Millis>>> {
        (**self).next_due()
    }
    fn changed(&self) -> BoxFuture<'_, ()> {
        (**self).changed()
    }
    fn task<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskInfo>> {
        (**self).task(queue, id)
    }
    fn delete<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        (**self).delete(queue, id)
    }
    fn archive<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        (**self).archive(queue, id, now)
    }
    fn run<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        (**self).run(queue, id, now)
    }
    fn set_paused<'a>(&'a self, queue: &'a str, paused: bool) -> BoxFuture<'a, Result<()>> {
        (**self).set_paused(queue, paused)
    }
    fn delete_all<'a>(&'a self, queue: &'a str, state: TaskState) -> BoxFuture<'a, Result<u64>> {
        (**self).delete_all(queue, state)
    }
    fn queues(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        (**self).queues()
    }
    fn list<'a>(
        &'a self,
        queue: &'a str,
        state: TaskState,
        page_size: usize,
        page: usize,
    ) -> BoxFuture<'a, Result<Vec<TaskInfo>>> {
        (**self).list(queue, state, page_size, page)
    }
    fn info<'a>(&'a self, queue: &'a str, now: Millis) -> BoxFuture<'a, Result<QueueInfo>> {
        (**self).info(queue, now)
    }
    fn history<'a>(&'a self, queue: &'a str, days: u32, now: Millis) -> BoxFuture<'a, Result<Vec<DailyStat>>> {
        (**self).history(queue, days, now)
    }
}
