//! trigger-core on the local Redis (127.0.0.1:6379), with BullMQ (npm, `benches/peers/bullmq`)
//! run on the same Redis in the same run as the peer:
//!
//! 1. no-op tasks per second end to end: N tasks enqueued in batches while one worker pool
//!    (concurrency C) runs them, from the first enqueue to the last acknowledgement;
//! 2. lateness of delayed tasks (start time minus due time), p50/p99, on Redis and in memory.
//!
//! `cargo bench -p zero-benches --bench trigger` runs the full sizes; under `cargo test` a
//! small smoke pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trigger_core::driver::{self, now, WorkerConfig};
use trigger_core::store::{MemoryStore, RedisStore, Store};
use trigger_core::task::{NewTask, Outcome};
use trigger_core::Config;

const REDIS: &str = "redis://127.0.0.1:6379/0";

fn cleanup(prefix: &str) {
    if let Ok(mut c) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) {
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut c).unwrap_or_default();
        for chunk in keys.chunks(1000) {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(chunk).query(&mut c);
        }
    }
}

async fn throughput(n: usize, concurrency: usize) -> f64 {
    let prefix = format!("bench-trigger-{}", std::process::id());
    let store = RedisStore::connect(REDIS, &prefix, Config::default()).await.expect("Redis on 127.0.0.1:6379");
    let done = Arc::new(AtomicU64::new(0));
    let d2 = done.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(driver::run(
        store.clone(),
        move |_l| {
            d2.fetch_add(1, Ordering::Relaxed);
            std::future::ready(Outcome::success(""))
        },
        WorkerConfig { concurrency, poll_ms: 5, ..WorkerConfig::default() },
        async {
            let _ = stop_rx.await;
        },
    ));
    let t0 = Instant::now();
    let batch = 1000;
    for i in (0..n).step_by(batch) {
        let tasks: Vec<NewTask> =
            (i..(i + batch).min(n)).map(|_| NewTask::new("critical", "noop", Vec::new())).collect();
        for r in store.enqueue_many(tasks, now()).await.unwrap() {
            r.unwrap();
        }
    }
    let enqueued = t0.elapsed().as_secs_f64();
    println!(
        "trigger/redis_enqueue: {n} tasks in batches of {batch} in {enqueued:.2} s ({:.0}/s) while running",
        n as f64 / enqueued
    );
    // completion = every task acknowledged: the queue is empty and the pool idle
    loop {
        let i = store.info("critical", now()).await.unwrap();
        if done.load(Ordering::Relaxed) as usize >= n && i.size == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = worker.await;
    cleanup(&prefix);
    n as f64 / secs
}

fn bullmq(n: usize, concurrency: usize) -> Option<f64> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/bullmq");
    if !std::path::Path::new(dir).join("node_modules/bullmq").exists() {
        println!("trigger/bullmq: not installed (scripts/test runs npm install in benches/peers/bullmq)");
        return None;
    }
    let out = std::process::Command::new("node")
        .current_dir(dir)
        .args(["bench.js", "6379", &n.to_string(), &concurrency.to_string()])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["tasks_per_s"].as_f64()
}

async fn lateness(store: impl Store + Clone, count: i64, spread_ms: i64) -> (i64, i64, i64) {
    let late: Arc<Mutex<Vec<i64>>> = Arc::default();
    let l2 = late.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(driver::run(
        store.clone(),
        move |l| {
            l2.lock().unwrap().push(now() - l.task.next_process_at);
            std::future::ready(Outcome::success(""))
        },
        WorkerConfig::default(),
        async {
            let _ = stop_rx.await;
        },
    ));
    let t0 = now() + 200;
    let tasks: Vec<NewTask> = (0..count)
        .map(|i| NewTask::new("default", "delayed", Vec::new()).with_process_at(t0 + i * spread_ms / count))
        .collect();
    for r in store.enqueue_many(tasks, now()).await.unwrap() {
        r.unwrap();
    }
    while (late.lock().unwrap().len() as i64) < count {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(());
    let _ = worker.await;
    let mut v = late.lock().unwrap().clone();
    v.sort_unstable();
    let q = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
    (q(0.5), q(0.99), *v.last().unwrap())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, c, delayed, spread) = if full { (200_000, 1000, 5000, 5000) } else { (5_000, 200, 200, 500) };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ours = rt.block_on(throughput(n, c));
    print!("trigger/redis_noop: {n} tasks, concurrency {c}: {ours:.0} tasks/s");
    match bullmq(n, c) {
        Some(peer) => println!("; BullMQ {peer:.0} tasks/s; ratio {:.2}x", ours / peer),
        None => println!(),
    }
    let prefix = format!("bench-late-{}", std::process::id());
    let (p50, p99, max) = rt.block_on(async {
        let s = RedisStore::connect(REDIS, &prefix, Config::default()).await.unwrap();
        lateness(s, delayed, spread).await
    });
    cleanup(&prefix);
    println!(
        "trigger/redis_delayed_lateness: {delayed} tasks over {spread} ms: p50 {p50} ms, p99 {p99} ms, max {max} ms"
    );
    let (p50, p99, max) = rt.block_on(lateness(MemoryStore::new(Config::default()), delayed, spread));
    println!(
        "trigger/memory_delayed_lateness: {delayed} tasks over {spread} ms: p50 {p50} ms, p99 {p99} ms, max {max} ms"
    );
}
