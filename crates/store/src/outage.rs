//! Bounded waits on PostgreSQL. A stopped server fails fast on its own
//! (connections refused or closed); a frozen one (a stalled host, a lost
//! network path) answers nothing, so every unit of work has a deadline
//! ([`StoreOptions::unit_timeout`](crate::StoreOptions), its checkout
//! included; [`Store::patient`](crate::Store::patient) units, off the
//! request path, have a minute) after which it is abandoned, its
//! connection discarded.
//!
//! A unit that meets the outage (its deadline passed, a connection could
//! not be made, or its connection died under it) opens a short window in
//! which units fail at once instead of each waiting out its deadline: a
//! request running several units in turn still answers within one
//! deadline, and waiting requests do not pile up on the pool. The window
//! is one second, the `Retry-After` the refusal carries; the first unit
//! after it tries the server again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::StoreError;

/// How long units fail at once after one met the outage.
const OPEN_FOR: Duration = Duration::from_secs(1);

pub(crate) struct Outage {
    open_for: Duration,
    epoch: Instant,
    /// Milliseconds after `epoch` until which units fail at once; 0 when
    /// the database is believed up.
    open_until: AtomicU64,
}

impl Default for Outage {
    fn default() -> Self {
        Self {
            open_for: OPEN_FOR,
            epoch: Instant::now(),
            open_until: AtomicU64::new(0),
        }
    }
}

impl Outage {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The deadline of a unit starting now, or `Unavailable` inside the
    /// window after an outage was met.
    pub(crate) fn admit(&self, unit_timeout: Duration) -> Result<Instant, StoreError> {
        let until = self.open_until.load(Ordering::Relaxed);
        if until != 0 && self.now_ms() < until {
            return Err(StoreError::Unavailable(
                "the database did not answer a moment ago; not trying again yet".into(),
            ));
        }
        Ok(Instant::now() + unit_timeout)
    }

    /// A unit met the outage: open the window.
    pub(crate) fn trip(&self, why: &str) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(self.open_for.as_millis()).unwrap_or(u64::MAX));
        let before = self.open_until.swap(until, Ordering::Relaxed);
        if before == 0 || before < self.now_ms() {
            tracing::warn!(
                reason = why,
                "database unavailable; units fail at once for a second"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tripped_outage_refuses_units_for_its_window_then_admits_them() {
        let outage = Outage {
            open_for: Duration::from_millis(200),
            ..Outage::default()
        };
        let before = Instant::now();
        let deadline = outage.admit(Duration::from_millis(1500)).expect("admitted");
        assert!(deadline >= before + Duration::from_millis(1500));
        assert!(deadline <= Instant::now() + Duration::from_millis(1500));
        outage.trip("test");
        assert!(matches!(
            outage.admit(Duration::from_millis(1500)),
            Err(StoreError::Unavailable(_))
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(matches!(
            outage.admit(Duration::from_millis(1500)),
            Err(StoreError::Unavailable(_))
        ));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(outage.admit(Duration::from_millis(1500)).is_ok());
    }
}
