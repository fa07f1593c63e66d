//! Rate limits: a token bucket per route and per key (the client address, a header or a token
//! claim), on the `governor` crate (GCRA, no background task).
//!
//! ```
//! use zero_edge::limit::{Limiter, RateLimitConf};
//! let l = Limiter::new(&RateLimitConf { rate: 2, burst: 2, ..RateLimitConf::default() }).unwrap().unwrap();
//! assert!(l.check("/a", "10.0.0.1").is_ok());
//! assert!(l.check("/a", "10.0.0.1").is_ok());
//! assert!(l.check("/a", "10.0.0.1").is_err(), "the bucket is empty");
//! assert!(l.check("/a", "10.0.0.2").is_ok(), "another key has its own bucket");
//! assert!(l.check("/b", "10.0.0.1").is_ok(), "another route too");
//! ```

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::time::Duration;

/// A `RateLimit` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct RateLimitConf {
    /// Requests per second per route and key; 0 turns limiting off.
    pub rate: u32,
    /// Requests that may come at once (bucket size); 0: `Rate`.
    pub burst: u32,
    /// What a bucket belongs to: `ip` (the client's address, default), `header:<name>`,
    /// `claim:<name>` (a claim of the caller's token) or `route` (one bucket per route).
    pub key: String,
}

impl Default for RateLimitConf {
    fn default() -> RateLimitConf {
        RateLimitConf { rate: 0, burst: 0, key: "ip".into() }
    }
}

/// Where a request's bucket key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBy {
    /// The client's address.
    Ip,
    /// A request header (a missing one shares the bucket of the empty key).
    Header(http::HeaderName),
    /// A claim of the caller's token.
    Claim(String),
    /// One bucket per route.
    Route,
}

impl std::str::FromStr for KeyBy {
    type Err = String;
    fn from_str(s: &str) -> Result<KeyBy, String> {
        match s.split_once(':') {
            None if s == "ip" || s.is_empty() => Ok(KeyBy::Ip),
            None if s == "route" => Ok(KeyBy::Route),
            Some(("header", h)) => {
                h.parse().map(KeyBy::Header).map_err(|_| format!("RateLimit.Key: {h:?} is no header name"))
            }
            Some(("claim", c)) if !c.is_empty() => Ok(KeyBy::Claim(c.to_owned())),
            _ => Err(format!("RateLimit.Key {s:?}: expected ip, route, header:<name> or claim:<name>")),
        }
    }
}

/// Buckets per (route, key).
#[derive(Debug)]
pub struct Limiter {
    limiter: RateLimiter<(String, String), DefaultKeyedStateStore<(String, String)>, DefaultClock>,
    /// What keys the buckets.
    pub key_by: KeyBy,
    clock: DefaultClock,
}

impl Limiter {
    /// The limiter of `conf`; `None` when `Rate` is 0.
    ///
    /// # Errors
    /// A bad `Key`.
    pub fn new(conf: &RateLimitConf) -> Result<Option<Limiter>, String> {
        let key_by = conf.key.parse()?;
        let Some(rate) = NonZeroU32::new(conf.rate) else { return Ok(None) };
        let burst = NonZeroU32::new(conf.burst).unwrap_or(rate);
        let clock = DefaultClock::default();
        let limiter = RateLimiter::dashmap_with_clock(Quota::per_second(rate).allow_burst(burst), clock.clone());
        Ok(Some(Limiter { limiter, key_by, clock }))
    }

    /// Takes a token of the bucket of (`route`, `key`); `Err(wait)` when it is empty, with how
    /// long until the next token.
    ///
    /// # Errors
    /// The bucket is empty.
    pub fn check(&self, route: &str, key: &str) -> Result<(), Duration> {
        // no allocation on the hot path would need a borrowed key type; governor keys by value
        self.limiter.check_key(&(route.to_owned(), key.to_owned())).map_err(|not| not.wait_time_from(self.clock.now()))
    }

    /// Forgets buckets that are full again (call now and then; the map otherwise grows with
    /// every key seen).
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!("ip".parse::<KeyBy>().unwrap(), KeyBy::Ip);
        assert_eq!("route".parse::<KeyBy>().unwrap(), KeyBy::Route);
        assert_eq!("header:X-Api-Key".parse::<KeyBy>().unwrap(), KeyBy::Header("x-api-key".parse().unwrap()));
        assert_eq!("claim:user-id".parse::<KeyBy>().unwrap(), KeyBy::Claim("user-id".into()));
        assert!("claim:".parse::<KeyBy>().is_err());
        assert!("header:bad header".parse::<KeyBy>().is_err());
        assert!("cookie".parse::<KeyBy>().is_err());
        assert!(Limiter::new(&RateLimitConf::default()).unwrap().is_none(), "rate 0: off");
    }

    #[test]
    fn refills_at_the_rate() {
        let l = Limiter::new(&RateLimitConf { rate: 50, burst: 1, key: "ip".into() }).unwrap().unwrap();
        assert!(l.check("r", "k").is_ok());
        let wait = l.check("r", "k").unwrap_err();
        assert!(wait <= Duration::from_millis(20) && wait > Duration::ZERO, "{wait:?}");
        std::thread::sleep(wait + Duration::from_millis(2));
        assert!(l.check("r", "k").is_ok());
        l.shrink();
    }
}
