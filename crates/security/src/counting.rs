//! How an event counts toward an alert: a distinct value's first sighting
//! in a window, and the one upsert that counts an event on its subject's
//! live alert and opens it at the threshold (the alert's change, published).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use authgate_core::changes::{self, ChangeType};
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::Backend;

use crate::config::{Severity, Threshold};

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
pub(crate) async fn first_in_window(
    conn: &mut Conn<'_>, project_id: &str, rule: &str, subject: &str, value: &str,
    window_start: i64, now: i64,
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
/// threshold is reached within the window (then published as
/// `security_alert.created`). One statement: concurrent events on one
/// subject queue on its row, so none is lost.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn raise(
    conn: &mut Conn<'_>, project_id: &str, rule: &str, severity: Severity, summary: &str,
    subject: &str, threshold: Threshold, now: DateTime<Utc>,
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
    // The event that reached the threshold (later ones only count): the
    // alert is new to list_security_alerts (a pending row is not shown).
    if let Some(r) = <[Raised]>::first(&raised)
        && r.status == "open"
        && r.count == needed
    {
        tracing::warn!(alert_id = %r.id, rule, project_id, "security alert opened");
        announce_opened(conn, project_id, &r.id, now).await?;
    }
    Ok(())
}

/// Publishes `security_alert.created` for an alert just opened, as
/// list_security_alerts shows it.
async fn announce_opened(
    conn: &mut Conn<'_>, project_id: &str, alert_id: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let change = ChangeType::SecurityAlertCreated;
    let Some(outlet) = changes::outlet(conn, project_id, change).await? else {
        return Ok(());
    };
    let alert = crate::alerts::get(conn, project_id, alert_id).await?;
    outlet.send(conn, &alert, now).await
}
