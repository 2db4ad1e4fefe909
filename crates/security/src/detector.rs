//! Where the rules run: an observer of the audit log that runs every rule
//! on every event in the event's unit of work, and the sweep of what can
//! no longer count.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use diesel_async::RunQueryDsl;
use futures::future::BoxFuture;

use authgate_audit::{AuditObserver, RecordedEvent};
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, with_conn};
use authgate_store::Store;

use crate::config::SecurityConfig;
use crate::rules;

/// Runs the rules on every audit event written through a store.
pub struct Detector {
    config: SecurityConfig,
}

impl Detector {
    /// Attaches the rules to `store`'s audit log.
    pub fn attach(store: &Store, config: SecurityConfig) {
        authgate_audit::attach_observers(store, vec![Arc::new(Detector { config })]);
    }
}

impl AuditObserver for Detector {
    fn observe<'a>(
        &'a self, conn: &'a mut Conn<'_>, event: &'a RecordedEvent, now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(rules::run_all(conn, &self.config, &event.event, now))
    }
}

/// Removes what can no longer count: pending alerts and distinct-value
/// signals last seen before every rule's window (and at least a day ago).
/// Open, acknowledged and resolved alerts stay. Returns (alerts, signals)
/// removed. Maintenance across projects, run by the gateway on a timer.
pub async fn sweep(
    store: &Store, config: &SecurityConfig, now: DateTime<Utc>,
) -> Result<(usize, usize), ToolError> {
    use authgate_store::schema::{security_alerts, security_signals};
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    let cutoff = to_micros(now - config.longest_window().max(Duration::days(1)));
    store
        .write(async |conn| {
            Ok(with_conn!(conn, c => {
                let alerts = diesel::delete(
                    security_alerts::table
                        .filter(security_alerts::status.eq("pending"))
                        .filter(security_alerts::last_seen.lt(cutoff)),
                )
                .execute(c)
                .await?;
                let signals = diesel::delete(
                    security_signals::table.filter(security_signals::seen_at.lt(cutoff)),
                )
                .execute(c)
                .await?;
                (alerts, signals)
            }))
        })
        .await
}
