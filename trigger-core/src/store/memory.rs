use super::{BoxFuture, Store};
use crate::config::Config;
use crate::core::{Ack, Core, Lease};
use crate::error::Result;
use crate::task::{DailyStat, Millis, NewTask, QueueInfo, TaskInfo, TaskState};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// The [`Core`] behind a mutex: a real store for one process (nothing survives it).
#[derive(Debug, Clone)]
pub struct MemoryStore {
    core: Arc<Mutex<Core>>,
    notify: Arc<Notify>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new(cfg: Config) -> MemoryStore {
        MemoryStore { core: Arc::new(Mutex::new(Core::new(cfg))), notify: Arc::new(Notify::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
        Box::pin(std::future::ready(v))
    }
}

impl Store for MemoryStore {
    fn enqueue(&self, t: NewTask, now: Millis) -> BoxFuture<'_, Result<TaskInfo>> {
        let r = self.lock().enqueue(t, now);
        self.notify.notify_one();
        Self::now(r)
    }
    fn enqueue_many(&self, ts: Vec<NewTask>, now: Millis) -> BoxFuture<'_, Result<Vec<Result<TaskInfo>>>> {
        let mut c = self.lock();
        let r = ts.into_iter().map(|t| c.enqueue(t, now)).collect();
        drop(c);
        self.notify.notify_one();
        Self::now(Ok(r))
    }
    fn dequeue(&self, max: usize, now: Millis) -> BoxFuture<'_, Result<Vec<Lease>>> {
        Self::now(Ok(self.lock().dequeue(max, now)))
    }
    fn extend(&self, running: Vec<(String, String)>, now: Millis) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Self::now(Ok(self.lock().extend(running, now)))
    }
    fn ack(&self, acks: Vec<Ack>, now: Millis) -> BoxFuture<'_, Result<()>> {
        let mut c = self.lock();
        for a in acks {
            c.ack(a, now);
        }
        drop(c);
        // a retry may be due at once
        self.notify.notify_one();
        Self::now(Ok(()))
    }
    fn next_due(&self) -> BoxFuture<'_, Result<Option<Millis>>> {
        Self::now(Ok(self.lock().poll_timeout()))
    }
    fn changed(&self) -> BoxFuture<'_, ()> {
        let n = self.notify.clone();
        Box::pin(async move { n.notified().await })
    }
    fn task<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskInfo>> {
        Self::now(self.lock().task(queue, id))
    }
    fn delete<'a>(&'a self, queue: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Self::now(self.lock().delete(queue, id))
    }
    fn archive<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        Self::now(self.lock().archive(queue, id, now))
    }
    fn run<'a>(&'a self, queue: &'a str, id: &'a str, now: Millis) -> BoxFuture<'a, Result<()>> {
        let r = self.lock().run(queue, id, now);
        self.notify.notify_one();
        Self::now(r)
    }
    fn set_paused<'a>(&'a self, queue: &'a str, paused: bool) -> BoxFuture<'a, Result<()>> {
        let r = self.lock().set_paused(queue, paused);
        self.notify.notify_one();
        Self::now(r)
    }
    fn delete_all<'a>(&'a self, queue: &'a str, state: TaskState) -> BoxFuture<'a, Result<u64>> {
        Self::now(self.lock().delete_all(queue, state))
    }
    fn queues(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Self::now(Ok(self.lock().queues()))
    }
    fn list<'a>(
        &'a self,
        queue: &'a str,
        state: TaskState,
        page_size: usize,
        page: usize,
    ) -> BoxFuture<'a, Result<Vec<TaskInfo>>> {
        Self::now(self.lock().list(queue, state, page_size, page))
    }
    fn info<'a>(&'a self, queue: &'a str, now: Millis) -> BoxFuture<'a, Result<QueueInfo>> {
        Self::now(self.lock().info(queue, now))
    }
    fn history<'a>(&'a self, queue: &'a str, days: u32, now: Millis) -> BoxFuture<'a, Result<Vec<DailyStat>>> {
        Self::now(self.lock().history(queue, days, now))
    }
}
