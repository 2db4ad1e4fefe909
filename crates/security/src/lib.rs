//! Security alerts. Detection rules ([`rules`]) read every audit event as
//! it is written, inside the unit of work that writes it (the audit log's
//! observer hook), so an alert commits or rolls back with the events that
//! raised it and nothing is lost on a restart.
//!
//! A rule maps an event to the subject it counts for (an account, an IP,
//! an API key) and may check a condition over stored data. The event then
//! counts on the subject's one live alert, through one upsert that the
//! database serialises per subject: the row stays `pending` (hidden) until
//! the rule's threshold is reached within its window, then is `open`, then
//! `acknowledged` and `resolved` through the tools. One live alert per
//! rule and subject (a partial unique index), with a count, first_seen and
//! last_seen; a resolved alert steps aside and the next event starts anew.

pub mod alerts;
pub mod rules;
pub mod tools;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_audit::{AuditObserver, RecordedEvent};
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::{Backend, Store};

pub use tools::register;

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// `count` events within `window_minutes` open an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: u32,
    pub window_minutes: u32,
}

impl Threshold {
    /// Rules where every matching event is an alert: the window only
    /// bounds how long a live alert keeps counting as one.
    pub(crate) const EACH: Threshold = Threshold::new(1, 60);

    const fn new(count: u32, window_minutes: u32) -> Self {
        Self {
            count,
            window_minutes,
        }
    }

    pub fn window(self) -> Duration {
        Duration::minutes(i64::from(self.window_minutes))
    }
}

/// The rules' thresholds (`[security]` in `authgate.toml`); the defaults
/// are documented in docs/design.md.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Failed sign-ins on one account.
    pub brute_force: Threshold,
    /// Distinct accounts failing sign-in from one IP.
    pub credential_stuffing: Threshold,
    /// Failed sign-ins on an account before a success from a new IP or
    /// user agent (the window is how recent they must be).
    pub sign_in_after_failures: Threshold,
    /// Danger tool calls (not dry runs) by one API key.
    pub danger_burst: Threshold,
    /// Sessions revoked by one actor.
    pub mass_session_revocation: Threshold,
    /// Tool calls refused with permission_denied for one API key.
    pub permission_probing: Threshold,
    /// Sign-ups from one IP.
    pub sign_up_burst: Threshold,
    /// How soon after an email change a completed password reset alerts.
    pub email_change_then_reset: Threshold,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            brute_force: Threshold::new(10, 15),
            credential_stuffing: Threshold::new(5, 15),
            sign_in_after_failures: Threshold::new(3, 15),
            danger_burst: Threshold::new(5, 5),
            mass_session_revocation: Threshold::new(10, 10),
            permission_probing: Threshold::new(10, 5),
            sign_up_burst: Threshold::new(10, 10),
            email_change_then_reset: Threshold::new(1, 60),
        }
    }
}

impl SecurityConfig {
    /// Every configured threshold, by its setting's name.
    fn all(&self) -> [(&'static str, Threshold); 8] {
        [
            ("brute_force", self.brute_force),
            ("credential_stuffing", self.credential_stuffing),
            ("sign_in_after_failures", self.sign_in_after_failures),
            ("danger_burst", self.danger_burst),
            ("mass_session_revocation", self.mass_session_revocation),
            ("permission_probing", self.permission_probing),
            ("sign_up_burst", self.sign_up_burst),
            ("email_change_then_reset", self.email_change_then_reset),
        ]
    }

    /// The longest window of any rule.
    pub fn longest_window(&self) -> Duration {
        self.all()
            .iter()
            .map(|(_, t)| t.window())
            .max()
            .unwrap_or_else(|| Duration::days(1))
    }

    /// Refuses a zero count or window, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        match self
            .all()
            .into_iter()
            .find(|(_, t)| t.count == 0 || t.window_minutes == 0)
        {
            Some((name, _)) => Err(format!(
                "security.{name}: count and window_minutes must be at least 1"
            )),
            None => Ok(()),
        }
    }
}

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
        &'a self,
        conn: &'a mut Conn<'_>,
        event: &'a RecordedEvent,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(rules::run_all(conn, &self.config, &event.event, now))
    }
}

/// What one event means to a rule.
#[derive(Debug, Clone)]
pub struct Observation {
    /// What the alert is about: a user id, an IP, an API key id...
    pub subject: String,
    /// For rules that count distinct values (accounts per IP): this
    /// event's value; it counts once per window.
    pub distinct: Option<String>,
}

#[derive(QueryableByName)]
struct Raised {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// Numbered placeholders: `$n` on PostgreSQL, `?n` on SQLite (both bind
/// the n-th value wherever `n` appears).
fn placeholders(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Postgres => sql.to_owned(),
        Backend::Sqlite => sql.replace('$', "?"),
    }
}

/// Whether `value` is new for (rule, subject) in the window: inserted, or
/// seen last before the window began.
async fn first_in_window(
    conn: &mut Conn<'_>,
    project_id: &str,
    rule: &str,
    subject: &str,
    value: &str,
    window_start: i64,
    now: i64,
) -> Result<bool, ToolError> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Seen {
        #[diesel(sql_type = Text)]
        #[allow(dead_code)]
        value: String,
    }
    let sql = placeholders(
        "INSERT INTO security_signals (project_id, rule, subject, value, seen_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (project_id, rule, subject, value) DO UPDATE SET seen_at = excluded.seen_at \
         WHERE security_signals.seen_at < $6 RETURNING value",
        conn.backend(),
    );
    let rows: Vec<Seen> = with_conn!(conn, c => {
        diesel::sql_query(sql.as_str())
            .into_boxed()
            .bind::<Text, _>(project_id)
            .bind::<Text, _>(rule)
            .bind::<Text, _>(subject)
            .bind::<Text, _>(value)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(window_start)
            .load(c)
            .await?
    });
    Ok(!rows.is_empty())
}

/// Counts one event on the subject's live alert, opening it when the
/// threshold is reached within the window. One statement: concurrent
/// events on one subject queue on its row, so none is lost.
#[allow(clippy::too_many_arguments)]
async fn raise(
    conn: &mut Conn<'_>,
    project_id: &str,
    rule: &str,
    severity: Severity,
    summary: &str,
    subject: &str,
    threshold: Threshold,
    now: DateTime<Utc>,
) -> Result<(), ToolError> {
    use diesel::sql_types::{BigInt, Text};
    let at = to_micros(now);
    let window_start = to_micros(now - threshold.window());
    let needed = i64::from(threshold.count);
    let (status, opened) = if needed <= 1 {
        ("open", Some(at))
    } else {
        ("pending", None)
    };
    // `fresh`: the pending count restarts when its window has passed.
    let sql = placeholders(
        "INSERT INTO security_alerts \
           (id, project_id, rule, subject, severity, status, summary, count, first_seen, last_seen, opened_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) \
         ON CONFLICT (project_id, rule, subject) WHERE status <> 'resolved' DO UPDATE SET \
           count = CASE WHEN security_alerts.status = 'pending' AND security_alerts.first_seen < $10 \
                        THEN 1 ELSE security_alerts.count + 1 END, \
           first_seen = CASE WHEN security_alerts.status = 'pending' AND security_alerts.first_seen < $10 \
                        THEN $8 ELSE security_alerts.first_seen END, \
           last_seen = $8, \
           opened_at = CASE WHEN security_alerts.status <> 'pending' THEN security_alerts.opened_at \
                        WHEN security_alerts.first_seen >= $10 AND security_alerts.count + 1 >= $11 THEN $8 \
                        ELSE NULL END, \
           status = CASE WHEN security_alerts.status <> 'pending' THEN security_alerts.status \
                        WHEN security_alerts.first_seen >= $10 AND security_alerts.count + 1 >= $11 THEN 'open' \
                        ELSE 'pending' END \
         RETURNING status, id, count",
        conn.backend(),
    );
    let id = new_id("alr");
    let raised: Vec<Raised> = with_conn!(conn, c => {
        diesel::sql_query(sql.as_str())
            .into_boxed()
            .bind::<Text, _>(id.as_str())
            .bind::<Text, _>(project_id)
            .bind::<Text, _>(rule)
            .bind::<Text, _>(subject)
            .bind::<Text, _>(severity.as_str())
            .bind::<Text, _>(status)
            .bind::<Text, _>(summary)
            .bind::<BigInt, _>(at)
            .bind::<diesel::sql_types::Nullable<BigInt>, _>(opened)
            .bind::<BigInt, _>(window_start)
            .bind::<BigInt, _>(needed)
            .load(c)
            .await?
    });
    // The event that reached the threshold (later ones only count).
    if let Some(r) = <[Raised]>::first(&raised)
        && r.status == "open"
        && r.count == needed
    {
        tracing::warn!(alert_id = %r.id, rule, project_id, "security alert opened");
    }
    Ok(())
}

/// Removes what can no longer count: pending alerts and distinct-value
/// signals last seen before every rule's window (and at least a day ago).
/// Open, acknowledged and resolved alerts stay. Returns (alerts, signals)
/// removed. Maintenance across projects, run by the gateway on a timer.
pub async fn sweep(
    store: &Store,
    config: &SecurityConfig,
    now: DateTime<Utc>,
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
