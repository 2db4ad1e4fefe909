//! Reading alerts and walking their states: open → acknowledged →
//! resolved (or open → resolved). Pending rows (a rule's count below its
//! threshold) are never shown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, Page, PageRequest, ToolError, with_conn};
use authgate_store::schema::security_alerts as sa;

use crate::config::Severity;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Open, Status::Acknowledged, Status::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
}

/// The states the tools show (never `pending`).
const SHOWN: [&str; 3] = ["open", "acknowledged", "resolved"];

/// At most this many characters in a resolution note.
pub const MAX_NOTE: usize = 1000;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Alert {
    pub id: String,
    /// The rule that raised it (`brute_force`, `credential_stuffing`...).
    pub rule: String,
    /// What the rule detects, in words.
    pub description: String,
    pub severity: Severity,
    pub status: Status,
    /// What it is about: a user id, an IP, an API key id, a session id, or
    /// `org_id/user_id`.
    pub subject: String,
    /// Events counted on this alert (those that reached the threshold, and
    /// every one since).
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When the threshold was reached.
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The API key that acknowledged it.
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sa)]
struct AlertRow {
    id: String,
    rule: String,
    subject: String,
    severity: String,
    status: String,
    summary: String,
    count: i64,
    first_seen: i64,
    last_seen: i64,
    opened_at: Option<i64>,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<String>,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
    note: Option<String>,
}

fn severity(s: &str) -> Severity {
    match s {
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "critical" => Severity::Critical,
        _ => Severity::High,
    }
}

fn status(s: &str) -> Status {
    match s {
        "acknowledged" => Status::Acknowledged,
        "resolved" => Status::Resolved,
        _ => Status::Open,
    }
}

impl From<AlertRow> for Alert {
    fn from(r: AlertRow) -> Self {
        Alert {
            id: r.id,
            rule: r.rule,
            description: r.summary,
            severity: severity(&r.severity),
            status: status(&r.status),
            subject: r.subject,
            count: r.count,
            first_seen: from_micros(r.first_seen),
            last_seen: from_micros(r.last_seen),
            opened_at: from_micros(r.opened_at.unwrap_or(r.first_seen)),
            acknowledged_at: r.acknowledged_at.map(from_micros),
            acknowledged_by: r.acknowledged_by,
            resolved_at: r.resolved_at.map(from_micros),
            resolved_by: r.resolved_by,
            note: r.note,
        }
    }
}

fn position(a: &Alert) -> String {
    format!("{}:{}", to_micros(a.opened_at), a.id)
}

fn parse_position(pos: &str) -> Result<(i64, String), ToolError> {
    pos.split_once(':')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
        .ok_or_else(|| ToolError::invalid("cursor", "cursor is not valid for this list"))
}

/// Alerts newest first (by when they opened), optionally of one status
/// and severity.
pub async fn list(
    conn: &mut Conn<'_>, project_id: &str, status: Option<Status>, severity: Option<Severity>,
    page: &PageRequest,
) -> Result<Page<Alert>, ToolError> {
    let after = page.after.as_deref().map(parse_position).transpose()?;
    let rows: Vec<AlertRow> = with_conn!(conn, c => {
        let mut q = sa::table
            .filter(sa::project_id.eq(project_id))
            .select(AlertRow::as_select())
            .order((sa::opened_at.desc(), sa::id.desc()))
            .limit(page.fetch_limit())
            .into_boxed();
        q = match status {
            Some(s) => q.filter(sa::status.eq(s.as_str())),
            None => q.filter(sa::status.eq_any(SHOWN)),
        };
        if let Some(s) = severity {
            q = q.filter(sa::severity.eq(s.as_str()));
        }
        if let Some((at, id)) = &after {
            q = q.filter(
                sa::opened_at
                    .lt(*at)
                    .or(sa::opened_at.eq(*at).and(sa::id.lt(id.clone()))),
            );
        }
        q.load(c).await?
    });
    Ok(page.page(rows.into_iter().map(Alert::from).collect(), position))
}

/// One shown alert of the project.
pub async fn get(conn: &mut Conn<'_>, project_id: &str, id: &str) -> Result<Alert, ToolError> {
    let row: Option<AlertRow> = with_conn!(conn, c => {
        one_alert(project_id, id)
            .filter(sa::status.eq_any(SHOWN))
            .select(AlertRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    row.map(Alert::from).ok_or_else(|| {
        ToolError::not_found(format!("security alert {id} not found in this project"))
            .with_field("alert_id")
            .with_hint("list_security_alerts shows the project's alerts")
    })
}

fn wrong_state(alert: &Alert, wanted: &str) -> ToolError {
    let hint = match alert.status {
        Status::Resolved => "a resolved alert stays resolved; a new event opens a new alert",
        Status::Acknowledged => "resolve_security_alert closes it",
        Status::Open => "acknowledge_security_alert or resolve_security_alert",
    };
    ToolError::conflict(format!(
        "security alert {} is {}; only {wanted} alerts can be changed this way",
        alert.id,
        alert.status.as_str()
    ))
    .with_field("alert_id")
    .with_hint(hint)
}

/// A guarded update that changed no row lost to a concurrent change: the
/// conflict names the state the alert is in now.
async fn lost_race(
    conn: &mut Conn<'_>, project_id: &str, id: &str, changed: usize, expected: &str,
) -> Result<(), ToolError> {
    if changed == 0 {
        let now_is = get(conn, project_id, id).await?;
        return Err(wrong_state(&now_is, expected));
    }
    Ok(())
}

type OneAlert<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<sa::table, diesel::dsl::Eq<sa::project_id, &'a str>>,
    diesel::dsl::Eq<sa::id, &'a str>,
>;

/// The row of one alert of one project.
fn one_alert<'a>(project_id: &'a str, id: &'a str) -> OneAlert<'a> {
    sa::table
        .filter(sa::project_id.eq(project_id))
        .filter(sa::id.eq(id))
}

/// open → acknowledged, by `key_id`.
pub async fn acknowledge(
    conn: &mut Conn<'_>, project_id: &str, id: &str, key_id: &str, now: DateTime<Utc>,
) -> Result<Alert, ToolError> {
    let alert = get(conn, project_id, id).await?;
    if alert.status != Status::Open {
        return Err(wrong_state(&alert, "open"));
    }
    let at = to_micros(now);
    // Guarded by the state read: a concurrent change makes this a no-op,
    // answered as the conflict it is.
    let n = with_conn!(conn, c => {
        diesel::update(one_alert(project_id, id).filter(sa::status.eq("open")))
        .set((
            sa::status.eq("acknowledged"),
            sa::acknowledged_at.eq(Some(at)),
            sa::acknowledged_by.eq(Some(key_id)),
        ))
        .execute(c)
        .await?
    });
    lost_race(conn, project_id, id, n, "open").await?;
    Ok(Alert {
        status: Status::Acknowledged,
        acknowledged_at: Some(from_micros(at)),
        acknowledged_by: Some(key_id.to_owned()),
        ..alert
    })
}

/// A resolution note: trimmed (empty is none), at most [`MAX_NOTE`]
/// characters, no control characters but newlines.
fn validate_note(note: Option<&str>) -> Result<Option<&str>, ToolError> {
    let Some(n) = note.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if n.chars().count() > MAX_NOTE {
        return Err(ToolError::invalid(
            "note",
            format!("note must be at most {MAX_NOTE} characters"),
        ));
    }
    if n.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ToolError::invalid(
            "note",
            "note must not contain control characters other than newlines",
        ));
    }
    Ok(Some(n))
}

/// open or acknowledged → resolved, by `key_id`, with an optional note.
pub async fn resolve(
    conn: &mut Conn<'_>, project_id: &str, id: &str, key_id: &str, note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Alert, ToolError> {
    let note = validate_note(note)?;
    let alert = get(conn, project_id, id).await?;
    if alert.status == Status::Resolved {
        return Err(wrong_state(&alert, "open or acknowledged"));
    }
    let at = to_micros(now);
    let unresolved = one_alert(project_id, id).filter(sa::status.eq_any(["open", "acknowledged"]));
    let n = with_conn!(conn, c => {
        diesel::update(unresolved)
        .set((
            sa::status.eq("resolved"),
            sa::resolved_at.eq(Some(at)),
            sa::resolved_by.eq(Some(key_id)),
            sa::note.eq(note),
        ))
        .execute(c)
        .await?
    });
    lost_race(conn, project_id, id, n, "open or acknowledged").await?;
    Ok(Alert {
        status: Status::Resolved,
        resolved_at: Some(from_micros(at)),
        resolved_by: Some(key_id.to_owned()),
        note: note.map(str::to_owned),
        ..alert
    })
}

/// Alert counts by status, and unresolved ones by severity and by rule.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Stats {
    /// `open`, `acknowledged` and `resolved`, each present (0 when none).
    pub by_status: BTreeMap<String, i64>,
    /// Unresolved alerts (open or acknowledged) by severity; every
    /// severity present.
    pub by_severity: BTreeMap<String, i64>,
    /// Unresolved alerts by rule; only rules with alerts.
    pub by_rule: BTreeMap<String, i64>,
}

pub async fn stats(conn: &mut Conn<'_>, project_id: &str) -> Result<Stats, ToolError> {
    let rows: Vec<(String, String, String, i64)> = with_conn!(conn, c => {
        sa::table
            .filter(sa::project_id.eq(project_id))
            .filter(sa::status.eq_any(SHOWN))
            .group_by((sa::status, sa::severity, sa::rule))
            .select((sa::status, sa::severity, sa::rule, diesel::dsl::count_star()))
            .load(c)
            .await?
    });
    let mut by_status: BTreeMap<String, i64> = Status::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    let mut by_severity: BTreeMap<String, i64> = Severity::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    let mut by_rule: BTreeMap<String, i64> = BTreeMap::new();
    for (st, sev, rule, n) in rows {
        *by_status.entry(st.clone()).or_default() += n;
        if st != "resolved" {
            *by_severity.entry(sev).or_default() += n;
            *by_rule.entry(rule).or_default() += n;
        }
    }
    Ok(Stats {
        by_status,
        by_severity,
        by_rule,
    })
}
