//! Waiting for a condition with a deadline: the replacement for "sleep, then assert".

use std::future::Future;
use std::time::{Duration, Instant};

/// How often the conditions are polled.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`, and returns that value; panics naming `what` after
/// `within`.
pub async fn until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio_sleep(POLL).await;
    }
}

/// The blocking form of [`until`], for tests that drive peers over blocking sockets.
pub fn until_blocking<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(POLL);
    }
}

async fn tokio_sleep(d: Duration) {
    tokio::time::sleep(d).await
}
