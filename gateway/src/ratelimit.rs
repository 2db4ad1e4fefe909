//! Token buckets: per API key, per project (all its keys together) and, for
//! failed authentications, per client IP. Buckets live in a sharded map (no
//! global lock on the request path) and idle ones are swept by a timer, not
//! by a scan inside `check`. Each gateway keeps its own buckets, so behind a
//! load balancer the effective limit is up to N times the setting.

use std::hash::Hash;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::config::RateLimit;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// One kind of bucket, keyed by `K`.
pub struct Buckets<K: Hash + Eq> {
    limit: RateLimit,
    /// Tokens added a second (the limit's rate, or a fraction for an
    /// hourly bucket).
    refill_per_second: f64,
    map: DashMap<K, Bucket>,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Allowed {
        remaining: u32,
    },
    /// Refused; retry after this long.
    Limited {
        retry_after: Duration,
    },
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            refill_per_second: f64::from(limit.per_second),
            limit,
            map: DashMap::new(),
        }
    }

    /// A bucket of `n` a key an hour, refilled evenly.
    pub fn hourly(n: u32) -> Self {
        Self {
            refill_per_second: f64::from(n) / 3600.0,
            limit: RateLimit {
                per_second: 0,
                burst: n,
            },
            map: DashMap::new(),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens =
            (bucket.tokens + elapsed * self.refill_per_second).min(f64::from(self.limit.burst));
        bucket.last = now;
    }

    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64((1.0 - tokens).max(0.0) / self.refill_per_second)
    }

    /// Takes one token from `key`'s bucket.
    pub fn take(&self, key: &K, now: Instant) -> Decision {
        // The common case finds the bucket without copying the key.
        let mut bucket = match self.map.get_mut(key) {
            Some(bucket) => bucket,
            None => self.map.entry(key.clone()).or_insert_with(|| Bucket {
                tokens: f64::from(self.limit.burst),
                last: now,
            }),
        };
        self.refill(&mut bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Allowed {
                remaining: bucket.tokens.floor() as u32,
            }
        } else {
            Decision::Limited {
                retry_after: self.wait(bucket.tokens),
            }
        }
    }

    /// Whether `key`'s bucket is empty, without taking a token: how long to
    /// wait, if it is.
    pub fn exhausted(&self, key: &K, now: Instant) -> Option<Duration> {
        let mut bucket = self.map.get_mut(key)?;
        self.refill(&mut bucket, now);
        (bucket.tokens < 1.0).then(|| self.wait(bucket.tokens))
    }

    /// Tokens left in `key`'s bucket (a full bucket when unknown).
    pub fn remaining(&self, key: &K, now: Instant) -> u32 {
        match self.map.get_mut(key) {
            Some(mut bucket) => {
                self.refill(&mut bucket, now);
                bucket.tokens.floor() as u32
            }
            None => self.limit.burst,
        }
    }

    /// Forgets buckets that have refilled: they equal a new one.
    pub fn sweep(&self, now: Instant) {
        let full = f64::from(self.limit.burst);
        let rate = self.refill_per_second;
        self.map.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < full
        });
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Refusals written to the audit log at most once per key and kind per
/// window, so a flood (a revoked key in a loop, a client over its rate)
/// cannot flood the table.
#[derive(Default)]
pub struct RefusalLog {
    last: DashMap<(String, &'static str), Instant>,
}

const REFUSAL_WINDOW: Duration = Duration::from_secs(10);

impl RefusalLog {
    /// Whether this refusal should be recorded now.
    pub fn should_record(&self, key: &str, kind: &'static str, now: Instant) -> bool {
        let mut entry = self
            .last
            .entry((key.to_owned(), kind))
            .or_insert(now - REFUSAL_WINDOW * 2);
        if now.saturating_duration_since(*entry) >= REFUSAL_WINDOW {
            *entry = now;
            true
        } else {
            false
        }
    }

    pub fn sweep(&self, now: Instant) {
        self.last
            .retain(|_, t| now.saturating_duration_since(*t) < REFUSAL_WINDOW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let buckets = Buckets::new(RateLimit {
            per_second: 2,
            burst: 3,
        });
        let t0 = Instant::now();
        let k = "k".to_owned();
        for expected in [2, 1, 0] {
            assert_eq!(
                buckets.take(&k, t0),
                Decision::Allowed {
                    remaining: expected
                }
            );
        }
        match buckets.take(&k, t0) {
            Decision::Limited { retry_after } => {
                assert!(retry_after <= Duration::from_millis(500));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(buckets.exhausted(&k, t0).is_some());
        // Another key has its own bucket.
        assert!(matches!(
            buckets.take(&"other".to_owned(), t0),
            Decision::Allowed { .. }
        ));
        // Half a second refills one token at 2/s.
        assert!(matches!(
            buckets.take(&k, t0 + Duration::from_millis(500)),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn sweeping_forgets_only_refilled_buckets() {
        let buckets = Buckets::new(RateLimit {
            per_second: 1,
            burst: 2,
        });
        let t0 = Instant::now();
        buckets.take(&"a".to_owned(), t0);
        buckets.take(&"b".to_owned(), t0);
        buckets.take(&"b".to_owned(), t0);
        buckets.sweep(t0 + Duration::from_millis(1500));
        assert_eq!(buckets.len(), 1, "a refilled, b did not");
        assert_eq!(buckets.remaining(&"a".to_owned(), t0), 2);
    }

    #[test]
    fn refusals_are_recorded_once_per_window() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        assert!(log.should_record("key_1", "rate_limited", t0));
        assert!(!log.should_record("key_1", "rate_limited", t0 + Duration::from_secs(1)));
        assert!(log.should_record("key_1", "revoked", t0 + Duration::from_secs(1)));
        assert!(log.should_record("key_1", "rate_limited", t0 + REFUSAL_WINDOW));
    }
}
