//! Per-key token buckets. Each gateway keeps its own buckets, so behind a
//! load balancer a key's budget is per gateway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

struct Bucket {
    tokens: f64,
    last: Instant,
    /// When a refusal was last audited, so a flood makes one event per window.
    last_audited: Option<Instant>,
}

pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Allowed {
        remaining: u32,
    },
    /// Refused; retry after this long. `audit` is true once per window.
    Limited {
        retry_after: Duration,
        audit: bool,
    },
}

const AUDIT_WINDOW: Duration = Duration::from_secs(10);
/// Buckets idle this long are full again and can be forgotten.
const IDLE_FORGET: Duration = Duration::from_secs(600);

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    pub fn check(&self, key: &str, now: Instant) -> Decision {
        let rate = f64::from(self.limit.per_second);
        let burst = f64::from(self.limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.last) < IDLE_FORGET);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            last: now,
            last_audited: None,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Allowed {
                remaining: bucket.tokens.floor() as u32,
            }
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            let audit = bucket
                .last_audited
                .is_none_or(|t| now.duration_since(t) >= AUDIT_WINDOW);
            if audit {
                bucket.last_audited = Some(now);
            }
            Decision::Limited {
                retry_after: Duration::from_secs_f64(wait),
                audit,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 2,
            burst: 3,
        });
        let t0 = Instant::now();
        for expected in [2, 1, 0] {
            assert_eq!(
                limiter.check("k", t0),
                Decision::Allowed {
                    remaining: expected
                }
            );
        }
        match limiter.check("k", t0) {
            Decision::Limited { retry_after, audit } => {
                assert!(audit);
                assert!(retry_after <= Duration::from_millis(500));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Only the first refusal in a window is audited.
        assert!(matches!(
            limiter.check("k", t0),
            Decision::Limited { audit: false, .. }
        ));
        // Another key has its own bucket.
        assert!(matches!(
            limiter.check("other", t0),
            Decision::Allowed { .. }
        ));
        // Half a second refills one token at 2/s.
        assert!(matches!(
            limiter.check("k", t0 + Duration::from_millis(500)),
            Decision::Allowed { .. }
        ));
    }
}
