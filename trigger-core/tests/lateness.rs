//! Lateness of delayed tasks, in a test binary of its own: the timing is not shared with the
//! other driver tests running beside it.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use trigger_core::driver::{self, now, WorkerConfig};
use trigger_core::store::{MemoryStore, Store};
use trigger_core::task::NewTask;
use trigger_core::Config;

/// Delayed tasks start close to their time (the driver sleeps to the next due time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_tasks_start_on_time() {
    let s = MemoryStore::new(Config::default());
    let late: Arc<Mutex<Vec<i64>>> = Arc::default();
    let l2 = late.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let w = tokio::spawn(driver::run(
        s.clone(),
        move |l| {
            let late = l2.clone();
            async move {
                late.lock().unwrap().push(now() - l.task.next_process_at);
                trigger_core::task::Outcome::success("")
            }
        },
        WorkerConfig::default(),
        async {
            let _ = stop_rx.await;
        },
    ));
    let t0 = now();
    for i in 0..50 {
        s.enqueue(NewTask::new("default", "d", vec![]).with_process_at(t0 + 100 + i * 7), t0).await.unwrap();
    }
    // every task has run (the last is due at +443 ms), within a deadline
    testkit::wait::until("the 50 delayed tasks", Duration::from_secs(10), || {
        let n = late.lock().unwrap().len();
        std::future::ready((n == 50).then_some(()))
    })
    .await;
    let _ = stop_tx.send(());
    w.await.unwrap();
    let late = late.lock().unwrap();
    assert_eq!(late.len(), 50);
    let mut sorted = late.clone();
    sorted.sort_unstable();
    // never early; typically a few ms late (a driver that polled every 100 ms would be ~50 ms
    // late at the median). The bound on the worst case leaves room for a loaded machine's stalls.
    assert!(sorted[0] >= 0, "started early: {late:?}");
    assert!(sorted[25] <= 20, "median lateness over 20 ms: {sorted:?}");
    assert!(sorted[49] < 300, "lateness {sorted:?}");
}
