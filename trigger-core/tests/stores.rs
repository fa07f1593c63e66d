//! The same behaviour checks against every store: the in-memory core and a real Redis on
//! 127.0.0.1:6379 (keys under a fresh prefix, removed afterwards).

use trigger_core::core::Ack;
use trigger_core::store::{MemoryStore, RedisStore, SqliteStore, Store};
use trigger_core::task::{Backoff, NewTask, Outcome, TaskState};
use trigger_core::{Config, Error};

const REDIS: &str = "redis://127.0.0.1:6379/0";

fn cfg() -> Config {
    Config { backoff: Backoff::Fixed { ms: 1000 }, lease_ms: 5_000, ..Config::default() }
}

struct Prefix(String);

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(c) = redis::Client::open(REDIS) {
            if let Ok(mut c) = c.get_connection() {
                let keys: Vec<String> =
                    redis::cmd("KEYS").arg(format!("{}*", self.0)).query(&mut c).unwrap_or_default();
                for k in keys {
                    let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(k).query(&mut c);
                }
            }
        }
    }
}

async fn redis_store(cfg: Config) -> (RedisStore, Prefix) {
    let p = format!("trigger-test-{}", uuid::Uuid::now_v7());
    let s = RedisStore::connect(REDIS, &p, cfg).await.expect("Redis on 127.0.0.1:6379");
    (s, Prefix(p))
}

fn t(q: &str, id: &str) -> NewTask {
    NewTask::new(q, "kind", id.as_bytes().to_vec()).with_id(id)
}

async fn lifecycle(s: &impl Store) {
    let now = 1_000_000;
    let a = s.enqueue(t("q", "a").with_max_retry(1), now).await.unwrap();
    assert_eq!(a.state, TaskState::Pending);
    let b = s.enqueue(t("q", "b").with_process_at(now + 500), now).await.unwrap();
    assert_eq!(b.state, TaskState::Scheduled);
    assert!(matches!(s.enqueue(t("q", "a"), now).await, Err(Error::TaskIdConflict(_))));
    assert_eq!(s.queues().await.unwrap(), ["q"]);

    let got = s.dequeue(10, now).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].task.id.as_str(), got[0].task.payload.as_slice()), ("a", b"a".as_slice()));
    assert_eq!(s.task("q", "a").await.unwrap().state, TaskState::Active);
    assert!(matches!(s.delete("q", "a").await, Err(Error::WrongState { .. })));

    // retry once, then archived
    s.ack(vec![Ack { queue: "q".into(), id: "a".into(), outcome: Outcome::retry("e1") }], now + 1).await.unwrap();
    let a = s.task("q", "a").await.unwrap();
    assert_eq!((a.state, a.retried, a.last_err.as_str(), a.next_process_at), (TaskState::Retry, 1, "e1", now + 1001));
    let due = s.dequeue(10, now + 1001).await.unwrap();
    let ids: Vec<&str> = due.iter().map(|l| l.task.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"], "b became due at +500, a at +1001");
    s.ack(
        vec![
            Ack { queue: "q".into(), id: "a".into(), outcome: Outcome::retry("e2") },
            Ack { queue: "q".into(), id: "b".into(), outcome: Outcome::success("done") },
        ],
        now + 1002,
    )
    .await
    .unwrap();
    assert_eq!(s.task("q", "a").await.unwrap().state, TaskState::Archived);
    assert!(matches!(s.task("q", "b").await, Err(Error::TaskNotFound { .. })), "no retention: deleted");
    let info = s.info("q", now + 1003).await.unwrap();
    assert_eq!((info.processed_total, info.failed_total, info.archived, info.size), (3, 2, 1, 0));
    assert_eq!(s.list("q", TaskState::Archived, 10, 0).await.unwrap()[0].id, "a");

    // run an archived task again, archive by hand, delete all archived
    s.run("q", "a", now + 2000).await.unwrap();
    assert_eq!(s.task("q", "a").await.unwrap().state, TaskState::Pending);
    s.archive("q", "a", now + 2001).await.unwrap();
    assert_eq!(s.delete_all("q", TaskState::Archived).await.unwrap(), 1);
    assert!(matches!(s.info("nope", now).await, Err(Error::QueueNotFound(_))));
    assert!(matches!(s.run("q", "zzz", now).await, Err(Error::TaskNotFound { .. })));
}

async fn retention_pause_unique_deadline(s: &impl Store) {
    let now = 5_000_000;
    s.enqueue(t("r", "keep").with_retention_ms(1000), now).await.unwrap();
    s.set_paused("r", true).await.unwrap();
    assert!(s.dequeue(10, now).await.unwrap().is_empty());
    assert!(s.info("r", now).await.unwrap().paused);
    s.set_paused("r", false).await.unwrap();
    let l = s.dequeue(10, now).await.unwrap();
    assert_eq!(l.len(), 1);
    s.ack(vec![Ack { queue: "r".into(), id: "keep".into(), outcome: Outcome::success("res") }], now).await.unwrap();
    let k = s.task("r", "keep").await.unwrap();
    assert_eq!((k.state, k.result.as_slice(), k.completed_at), (TaskState::Completed, b"res".as_slice(), Some(now)));
    assert_eq!(s.list("r", TaskState::Completed, 10, 0).await.unwrap().len(), 1);
    s.dequeue(0, now + 1001).await.unwrap();
    assert!(matches!(s.task("r", "keep").await, Err(Error::TaskNotFound { .. })), "retention over");

    s.enqueue(t("r", "u1").with_unique("k", 60_000), now).await.unwrap();
    assert!(matches!(s.enqueue(t("r", "u2").with_unique("k", 60_000), now).await, Err(Error::Duplicate(_))));
    assert!(matches!(s.task("r", "u2").await, Err(Error::TaskNotFound { .. })), "nothing stored");

    // bad input is refused before anything is stored
    assert!(matches!(s.enqueue(t("r", "d").with_deadline(now - 1), now).await, Err(Error::PastTime(_))));
    let big = NewTask::new("r", "k", vec![1; (1 << 20) + 1]);
    assert!(matches!(s.enqueue(big, now).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(s.enqueue(t("bad queue", "x"), now).await, Err(Error::InvalidArgument(_))));
    assert_eq!(s.queues().await.unwrap(), ["r"]);

    // a deadline that passes while pending archives instead of running
    s.enqueue(t("r", "late").with_deadline(now + 10), now).await.unwrap();
    let got = s.dequeue(10, now + 20).await.unwrap();
    assert!(got.iter().all(|l| l.task.id != "late"));
    assert_eq!(s.task("r", "late").await.unwrap().state, TaskState::Archived);
}

async fn lease_expiry(s: &impl Store) {
    let now = 9_000_000;
    s.enqueue(t("l", "x"), now).await.unwrap();
    assert_eq!(s.dequeue(1, now).await.unwrap().len(), 1);
    // heartbeat at +4 s keeps it past the first lease end
    assert!(s.extend(vec![("l".into(), "x".into())], now + 4000).await.unwrap().is_empty());
    s.dequeue(0, now + 6000).await.unwrap();
    assert_eq!(s.task("l", "x").await.unwrap().state, TaskState::Active);
    // no heartbeat: the worker is taken as lost and the task retries
    s.dequeue(0, now + 9001).await.unwrap();
    let x = s.task("l", "x").await.unwrap();
    assert_eq!((x.state, x.retried), (TaskState::Retry, 1));
    assert_eq!(
        s.extend(vec![("l".into(), "x".into())], now + 9002).await.unwrap(),
        [("l".to_string(), "x".to_string())]
    );
    // the lost worker's late ack changes nothing
    s.ack(vec![Ack { queue: "l".into(), id: "x".into(), outcome: Outcome::success("") }], now + 9003).await.unwrap();
    assert_eq!(s.task("l", "x").await.unwrap().state, TaskState::Retry);
}

#[tokio::test]
async fn memory_store() {
    lifecycle(&MemoryStore::new(cfg())).await;
    retention_pause_unique_deadline(&MemoryStore::new(cfg())).await;
    lease_expiry(&MemoryStore::new(cfg())).await;
}

async fn sqlite(dir: &std::path::Path, name: &str) -> SqliteStore {
    SqliteStore::open(&format!("sqlite://{}", dir.join(name).display()), cfg(), 0).await.unwrap()
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempdir();
    lifecycle(&sqlite(&dir, "a.db").await).await;
    retention_pause_unique_deadline(&sqlite(&dir, "b.db").await).await;
    lease_expiry(&sqlite(&dir, "c.db").await).await;
    std::fs::remove_dir_all(&dir).ok();
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("trigger-sqlite-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What a SQLite store holds survives the process: reopened, running tasks are pending again,
/// scheduled, retrying, archived and completed ones are where they were, a paused queue stays
/// paused, finished tasks stay gone and the processed / failed counters are kept.
#[tokio::test]
async fn sqlite_store_survives_a_restart() {
    let dir = tempdir();
    let now = 1_000_000;
    {
        let s = sqlite(&dir, "r.db").await;
        s.enqueue(t("q", "running"), now).await.unwrap();
        s.enqueue(t("q", "done"), now).await.unwrap();
        s.enqueue(t("q", "kept").with_retention_ms(60_000), now).await.unwrap();
        s.enqueue(t("q", "failing").with_max_retry(0), now).await.unwrap();
        s.enqueue(t("q", "later").with_process_at(now + 60_000), now).await.unwrap();
        s.enqueue(t("p", "held"), now).await.unwrap();
        s.set_paused("p", true).await.unwrap();
        assert_eq!(s.dequeue(10, now).await.unwrap().len(), 4);
        s.ack(
            vec![
                Ack { queue: "q".into(), id: "done".into(), outcome: Outcome::success("") },
                Ack { queue: "q".into(), id: "kept".into(), outcome: Outcome::success("r") },
                Ack { queue: "q".into(), id: "failing".into(), outcome: Outcome::retry("boom") },
            ],
            now + 1,
        )
        .await
        .unwrap();
        // the process dies here with "running" in hand
    }
    let s = sqlite(&dir, "r.db").await;
    let state = |id: &'static str, q: &'static str| {
        let s = s.clone();
        async move { s.task(q, id).await.map(|t| t.state) }
    };
    assert_eq!(state("running", "q").await.unwrap(), TaskState::Pending);
    assert!(state("done", "q").await.is_err());
    assert_eq!(state("kept", "q").await.unwrap(), TaskState::Completed);
    assert_eq!(s.task("q", "kept").await.unwrap().result, b"r");
    assert_eq!(state("failing", "q").await.unwrap(), TaskState::Archived);
    assert_eq!(s.task("q", "failing").await.unwrap().last_err, "boom");
    assert_eq!(state("later", "q").await.unwrap(), TaskState::Scheduled);
    assert!(s.info("p", now).await.unwrap().paused);
    let info = s.info("q", now + 2).await.unwrap();
    assert_eq!((info.processed, info.failed, info.processed_total, info.failed_total), (3, 1, 3, 1));
    let day = s.history("q", 2, now + 2).await.unwrap();
    assert_eq!((day[0].processed, day[0].failed), (3, 1));
    let again = s.dequeue(10, now + 2).await.unwrap();
    assert_eq!(again.iter().map(|l| l.task.id.as_str()).collect::<Vec<_>>(), ["running"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn redis_store_lifecycle() {
    let (s, _p) = redis_store(cfg()).await;
    lifecycle(&s).await;
}

#[tokio::test]
async fn redis_store_retention_pause_unique_deadline() {
    let (s, _p) = redis_store(cfg()).await;
    retention_pause_unique_deadline(&s).await;
}

#[tokio::test]
async fn redis_store_lease_expiry() {
    let (s, _p) = redis_store(cfg()).await;
    lease_expiry(&s).await;
}

#[tokio::test]
async fn redis_keys_carry_the_queue_hash_tag() {
    let (s, p) = redis_store(cfg()).await;
    s.enqueue(t("tagged", "a").with_unique("u", 10_000), 1).await.unwrap();
    let mut c = redis::Client::open(REDIS).unwrap().get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}*", p.0)).query(&mut c).unwrap();
    assert!(keys.len() >= 3, "{keys:?}");
    for k in keys.iter().filter(|k| !k.ends_with(":queues")) {
        assert!(k.contains("{tagged}"), "{k} lacks the hash tag");
    }
}
