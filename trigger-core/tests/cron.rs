//! Cron jobs on a real Redis: three instances, every occurrence fires exactly once; an instance
//! that dies holding a claim has its occurrence fired by another after the lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trigger_core::cron::{self, CronConfig, CronJob, CronOutcome, CronStore, MemoryCron, RedisCron, SqliteCron};
use trigger_core::driver::now;
use trigger_core::Error;

const REDIS: &str = "redis://127.0.0.1:6379/0";

struct Prefix(String);
impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(mut c) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) {
            let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}*", self.0)).query(&mut c).unwrap_or_default();
            for k in keys {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(k).query(&mut c);
            }
        }
    }
}

fn prefix() -> Prefix {
    Prefix(format!("cron-test-{}", uuid::Uuid::now_v7().simple()))
}

/// Every second from the current second on (UTC).
fn every_second(id: &str, lock_ms: i64) -> CronJob {
    let start = chrono::DateTime::from_timestamp_millis(now() / 1000 * 1000).unwrap();
    CronJob {
        job_id: id.into(),
        task_code: format!("code-{id}"),
        rrule: format!("DTSTART:{}\nRRULE:FREQ=SECONDLY", start.format("%Y%m%dT%H%M%SZ")),
        lock_timeout_ms: lock_ms,
        max_delay_ms: 0,
        payload: "{}".into(),
        priority: 0,
        meta: serde_json::Value::Null,
    }
}

fn cfg() -> CronConfig {
    CronConfig { default_lease_ms: 1000, min_lease_ms: 1000, default_max_delay_ms: 60_000, scan_ms: 20 }
}

type Fired = Arc<Mutex<HashMap<i64, Vec<usize>>>>;

fn instance<S: CronStore>(
    store: S,
    n: usize,
    fired: Fired,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rx = stop.clone();
        cron::run(
            store,
            move |_job, scheduled| {
                fired.lock().unwrap().entry(scheduled).or_default().push(n);
                std::future::ready(CronOutcome::Success)
            },
            cfg(),
            async move {
                let _ = rx.changed().await;
            },
        )
        .await
    })
}

/// Waits until `n` occurrences fired (at most 15 s).
async fn wait_fired(fired: &Fired, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while fired.lock().unwrap().len() < n {
        assert!(std::time::Instant::now() < deadline, "{n} occurrences in 15 s: {:?}", fired.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_fire_each_occurrence_once() {
    let p = prefix();
    let admin = RedisCron::connect(REDIS, &p.0).await.expect("Redis on 127.0.0.1:6379");
    cron::save_job(&admin, every_second("job", 1000), now()).await.unwrap();
    let fired: Fired = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut hs = vec![];
    for n in 0..3 {
        let s = RedisCron::connect(REDIS, &p.0).await.unwrap();
        hs.push(instance(s, n, fired.clone(), stop_rx.clone()));
    }
    wait_fired(&fired, 4).await;
    let _ = stop_tx.send(true);
    for h in hs {
        h.await.unwrap();
    }
    let fired = fired.lock().unwrap().clone();
    let stored = admin.get("job").await.unwrap().unwrap();
    assert!(stored.last_run.is_some() && fired.contains_key(&stored.last_scheduled_run.unwrap()), "{stored:?}");
    assert_eq!(admin.list().await.unwrap().len(), 1);
    for (t, who) in &fired {
        assert_eq!(who.len(), 1, "occurrence {t} fired by {who:?}");
    }
    let mut times: Vec<i64> = fired.keys().copied().collect();
    times.sort_unstable();
    assert!(times.windows(2).all(|w| w[1] - w[0] == 1000), "consecutive seconds: {times:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_claim_is_taken_over_after_the_lease() {
    let p = prefix();
    let dead = RedisCron::connect(REDIS, &p.0).await.unwrap();
    cron::save_job(&dead, every_second("job", 1000), now() - 1000).await.unwrap();
    // the instance claims the due occurrence, then dies without completing it
    let claim = dead.claim(now(), 1000, 1000).await.unwrap().expect("a due occurrence");
    let claimed_at = now();
    let fired: Fired = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut hs = vec![];
    for n in 1..3 {
        let s = RedisCron::connect(REDIS, &p.0).await.unwrap();
        hs.push(instance(s, n, fired.clone(), stop_rx.clone()));
    }
    let first = loop {
        if let Some(t) = fired.lock().unwrap().get(&claim.scheduled) {
            break t.clone();
        }
        assert!(now() - claimed_at < 5000, "the claimed occurrence never fired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let took_over_after = now() - claimed_at;
    // the two occurrences that fell due during the lease follow, late
    let due = [claim.scheduled + 1000, claim.scheduled + 2000];
    testkit::wait::until("the occurrences that fell due during the lease", Duration::from_secs(10), || {
        let f = fired.lock().unwrap();
        std::future::ready(due.iter().all(|t| f.contains_key(t)).then_some(()))
    })
    .await;
    // and none fires twice: give a duplicate one scan period to show up
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(true);
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(first.len(), 1);
    assert!(took_over_after >= 900, "fired before the lease ran out ({took_over_after} ms)");
    let fired = fired.lock().unwrap().clone();
    assert_eq!(fired[&claim.scheduled].len(), 1, "the taken-over occurrence fired once");
    // the occurrences that fell due while the lease ran out follow, late, each once
    for k in 1..=2 {
        let t = claim.scheduled + k * 1000;
        assert_eq!(fired.get(&t).map(Vec::len), Some(1), "occurrence +{k} s: {fired:?}");
    }
    // the dead instance's late completion is refused
    assert!(!dead.complete(&claim, Some(now()), now()).await.unwrap());
}

#[tokio::test]
async fn bad_rules_store_nothing_and_unknown_jobs_are_deleted() {
    let store = MemoryCron::default();
    let mut bad = every_second("bad", 0);
    bad.rrule = "RRULE:FREQ=SOMETIMES".into();
    assert!(matches!(cron::save_job(&store, bad, now()).await, Err(Error::InvalidArgument(_))));
    assert!(store.get("bad").await.unwrap().is_none());

    cron::save_job(&store, every_second("gone", 0), now() - 1000).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let calls = Arc::new(Mutex::new(0));
    let c2 = calls.clone();
    let run = tokio::spawn(cron::run(
        store.clone(),
        move |_, _| {
            *c2.lock().unwrap() += 1;
            std::future::ready(CronOutcome::TaskNotFound)
        },
        cfg(),
        async {
            let _ = stop_rx.await;
        },
    ));
    for _ in 0..200 {
        if store.get("gone").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(());
    run.await.unwrap();
    assert!(store.get("gone").await.unwrap().is_none(), "TASK_NOT_FOUND deletes the job");
    assert_eq!(*calls.lock().unwrap(), 1);
}

#[test]
fn schedules_follow_rrule() {
    let s = cron::Schedule::parse("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=2").unwrap();
    let t0 = 1_767_225_600_000;
    assert_eq!(s.next_after(t0 - 1), Some(t0));
    assert_eq!(s.next_after(t0), Some(t0 + 86_400_000));
    assert_eq!(s.next_after(t0 + 86_400_000), None, "exhausted");
}

/// The same on the embedded SQLite store: three instances on one database file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("cron-sqlite-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/cron.db", dir.display());
    let admin = SqliteCron::open(&url).await.unwrap();
    cron::save_job(&admin, every_second("job", 1000), now()).await.unwrap();
    let fired: Fired = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut hs = vec![];
    for n in 0..3 {
        hs.push(instance(SqliteCron::open(&url).await.unwrap(), n, fired.clone(), stop_rx.clone()));
    }
    wait_fired(&fired, 3).await;
    let _ = stop_tx.send(true);
    for h in hs {
        h.await.unwrap();
    }
    let fired = fired.lock().unwrap().clone();
    assert!(fired.values().all(|who| who.len() == 1), "{fired:?}");
    let stored = admin.get("job").await.unwrap().unwrap();
    assert!(stored.last_run.is_some() && stored.next_run.is_some());
    std::fs::remove_dir_all(&dir).ok();
}

/// With several jobs due, the higher priority goes first.
#[tokio::test]
async fn priority_orders_due_jobs() {
    let store = MemoryCron::default();
    let t = now() - 5000;
    let mut low = every_second("low", 0);
    low.priority = 1;
    let mut high = every_second("high", 0);
    high.priority = 9;
    store.save(low, Some(t)).await.unwrap();
    store.save(high, Some(t + 10)).await.unwrap();
    let c = store.claim(now(), 1000, 1000).await.unwrap().unwrap();
    assert_eq!(c.job.job_id, "high");
}
