//! Leader election under a lease in Redis: the alternative to the etcd election of
//! [`crate::registry`] where a deployment runs Redis and no etcd.
//!
//! The leader holds the key `name` (its value: the candidate's own, `SET NX PX`), renews it
//! every third of the lease with a compare-and-expire script, and gives up leadership the moment
//! it could not renew for two thirds of the lease, before the key can expire and another
//! candidate take it: two leaders never overlap while the clocks run at the same rate. A leader
//! that dies without a word is replaced once the key expires; on `stop` the key is deleted (if
//! still its own) and the next candidate takes over at its next try.
//!
//! ```no_run
//! # async fn f() {
//! let (tx, mut leader) = tokio::sync::watch::channel(false);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! tokio::spawn(zero_edge::lease::elect_redis(
//!     "redis://127.0.0.1:6379".into(),
//!     "comet.pusher".into(),
//!     "10.0.0.7:21112".into(),
//!     std::time::Duration::from_secs(10),
//!     tx,
//!     async move { let _ = stopped.await; },
//! ));
//! leader.wait_for(|l| *l).await.unwrap();
//! let _ = stop.send(());
//! # }
//! ```

use redis::AsyncCommands;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Renews the key when it is still this candidate's.
const RENEW: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Deletes the key when it is still this candidate's.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Campaigns for the key `name` in the Redis at `url` with `value` under a `ttl` lease:
/// `leader` is true while this process holds it (see the module's documentation). Retries
/// every third of the lease while Redis is unreachable or another candidate leads.
pub async fn elect_redis(
    url: String,
    name: String,
    value: String,
    ttl: Duration,
    leader: watch::Sender<bool>,
    stop: impl Future<Output = ()>,
) {
    let ttl = ttl.max(Duration::from_millis(300));
    let every = ttl / 3;
    let renew = redis::Script::new(RENEW);
    let client = match redis::Client::open(url.as_str()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%url, error = %e, "Redis election: not a Redis URL");
            return;
        }
    };
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    // when the lease was last taken or renewed (leading only)
    let mut held_since: Option<Instant> = None;
    tokio::pin!(stop);
    loop {
        let attempt = async {
            if conn.is_none() {
                conn = Some(client.get_multiplexed_async_connection().await?);
            }
            let c = conn.as_mut().expect("connected above");
            let ms = ttl.as_millis() as u64;
            if held_since.is_some() {
                let n: i64 = renew.key(&name).arg(&value).arg(ms).invoke_async(c).await?;
                Ok::<bool, redis::RedisError>(n == 1)
            } else {
                let opts = redis::SetOptions::default()
                    .conditional_set(redis::ExistenceCheck::NX)
                    .with_expiration(redis::SetExpiry::PX(ms));
                let r: Option<String> = c.set_options(&name, &value, opts).await?;
                Ok(r.is_some())
            }
        };
        let started = Instant::now();
        let r = tokio::select! {
            r = tokio::time::timeout(every, attempt) => r,
            () = &mut stop => break,
        };
        match r {
            Ok(Ok(true)) => {
                if held_since.is_none() {
                    tracing::info!(%name, %value, "Redis election: leading");
                }
                held_since = Some(started);
                leader.send_if_modified(|l| !std::mem::replace(l, true));
            }
            Ok(Ok(false)) => {
                if held_since.take().is_some() {
                    tracing::warn!(%name, "Redis election: the lease was lost to another candidate");
                }
                leader.send_if_modified(|l| std::mem::replace(l, false));
            }
            Ok(Err(e)) => {
                tracing::warn!(%url, %name, error = %e, "Redis election");
                conn = None;
            }
            Err(_) => {
                tracing::warn!(%url, %name, "Redis election: no answer within {every:?}");
                conn = None;
            }
        }
        // not renewed for two thirds of the lease: step down before it can expire
        if held_since.is_some_and(|t| t.elapsed() >= every * 2) {
            tracing::warn!(%name, "Redis election: the lease could not be renewed; stepping down");
            held_since = None;
            leader.send_if_modified(|l| std::mem::replace(l, false));
        }
        tokio::select! {
            () = tokio::time::sleep_until(started + every) => {}
            () = &mut stop => break,
        }
    }
    leader.send_replace(false);
    if held_since.is_some() {
        if let Some(c) = conn.as_mut() {
            let release = redis::Script::new(RELEASE);
            let mut call = release.key(&name);
            call.arg(&value);
            let _ = tokio::time::timeout(Duration::from_secs(2), call.invoke_async::<i64>(c)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS: &str = "redis://127.0.0.1:6379";

    struct Candidate {
        leader: watch::Receiver<bool>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    }

    fn candidate(name: &str, value: &str, ttl: Duration) -> Candidate {
        let (tx, leader) = watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(elect_redis(REDIS.into(), name.into(), value.into(), ttl, tx, async move {
            let _ = stopped.await;
        }));
        Candidate { leader, stop: Some(stop), task }
    }

    async fn get(name: &str) -> Option<String> {
        let c = redis::Client::open(REDIS).unwrap();
        let mut c = c.get_multiplexed_async_connection().await.expect("Redis on 127.0.0.1:6379");
        c.get(name).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_leader_a_takeover_when_it_dies_and_at_once_when_it_stops() {
        let name = format!("zero-edge-lease-test-{}", std::process::id());
        let ttl = Duration::from_millis(1500);
        let mut a = candidate(&name, "a", ttl);
        a.leader.wait_for(|l| *l).await.unwrap();
        let mut b = candidate(&name, "b", ttl);
        // b stays out while a renews, well past the lease
        tokio::time::sleep(ttl * 2).await;
        assert!(*a.leader.borrow() && !*b.leader.borrow(), "one leader");
        assert_eq!(get(&name).await.as_deref(), Some("a"));
        // a dies without a word (no release): b leads once the key expired, not before
        let died = Instant::now();
        a.task.abort();
        tokio::time::timeout(ttl * 3, b.leader.wait_for(|l| *l)).await.expect("b takes over").unwrap();
        assert!(died.elapsed() >= ttl / 2, "not before a's lease ran out: {:?}", died.elapsed());
        assert_eq!(get(&name).await.as_deref(), Some("b"));
        // a stopped leader releases the key: the next candidate leads at its next try
        let mut c = candidate(&name, "c", ttl);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!*c.leader.borrow());
        let stopped = Instant::now();
        let _ = b.stop.take().unwrap().send(());
        b.leader.wait_for(|l| !*l).await.unwrap();
        tokio::time::timeout(ttl, c.leader.wait_for(|l| *l)).await.expect("c takes over").unwrap();
        assert!(stopped.elapsed() < ttl, "before the lease would have expired");
        let _ = c.stop.take().unwrap().send(());
        c.task.await.unwrap();
        assert_eq!(get(&name).await, None, "released");
    }

    #[tokio::test]
    async fn an_unreachable_redis_never_makes_a_leader() {
        let (tx, leader) = watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // a port nothing listens on (the discard port on loopback)
        let t = tokio::spawn(elect_redis(
            "redis://127.0.0.1:9".into(),
            "x".into(),
            "v".into(),
            Duration::from_millis(600),
            tx,
            async move {
                let _ = stopped.await;
            },
        ));
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!*leader.borrow());
        let _ = stop.send(());
        t.await.unwrap();
    }
}
