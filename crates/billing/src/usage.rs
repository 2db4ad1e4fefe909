//! Metered usage. A batch of 1 to 1,000 events is validated event by event
//! (a bad event is rejected by index, never dropped), then inserted with one
//! multi-row statement whose `ON CONFLICT DO NOTHING` on (project,
//! idempotency key) decides what counts: a key counts once per project,
//! forever, whoever reports it and however often. A key that comes back
//! with another event (user, meter, quantity or timestamp) is rejected as a
//! conflict, as Stripe does. No project-wide lock: concurrent reporters of
//! one project never wait for each other.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::time::{from_micros, parse_rfc3339, to_micros};
use authgate_core::{Conn, ErrorCode, ToolError, new_id, with_conn};
use authgate_store::schema::usage_events;

pub const MAX_BATCH: usize = 1000;
const MAX_QUANTITY: i64 = 1_000_000_000_000;
const MAX_KEY: usize = 255;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageEvent {
    /// The end user (usr_...).
    pub user_id: String,
    /// A meter: the key of a plan feature that has a limit.
    pub meter: String,
    /// A whole number of units, 1 or more.
    pub quantity: i64,
    /// When it happened (RFC 3339; default: now).
    pub timestamp: Option<String>,
    /// Unique per event, forever: reuse the same key when retrying.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rejected {
    /// The event's position in the batch.
    pub index: usize,
    /// invalid_argument, not_found or conflict.
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    /// Events counted now.
    pub accepted: usize,
    /// Events whose key had been counted before (with the same content).
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}

#[derive(Insertable, Queryable, Selectable, Clone)]
#[diesel(table_name = usage_events, treat_none_as_default_value = false)]
struct EventRow {
    id: String,
    project_id: String,
    user_id: String,
    meter: String,
    quantity: i64,
    occurred_at: i64,
    idempotency_key: String,
    created_at: i64,
}

fn reject(index: usize, code: ErrorCode, message: impl Into<String>) -> Rejected {
    Rejected {
        index,
        code,
        message: message.into(),
    }
}

#[derive(QueryableByName)]
struct InsertedKey {
    #[diesel(sql_type = diesel::sql_types::Text)]
    idempotency_key: String,
}

/// One multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` for the
/// batch (diesel's typed batch insert does not reach SQLite through the
/// async wrapper, so the statement is written here, with bound values).
async fn insert_batch(conn: &mut Conn<'_>, rows: &[&EventRow]) -> Result<Vec<String>, ToolError> {
    use diesel::sql_types::{BigInt, Text};
    use std::fmt::Write as _;
    let pg = conn.backend() == authgate_store::Backend::Postgres;
    let mut sql = String::from(
        "INSERT INTO usage_events (id, project_id, user_id, meter, quantity, occurred_at, idempotency_key, created_at) VALUES ",
    );
    let mut n = 0;
    for (k, _) in rows.iter().enumerate() {
        sql.push_str(if k == 0 { "(" } else { ", (" });
        for col in 0..8 {
            if col > 0 {
                sql.push_str(", ");
            }
            n += 1;
            if pg {
                let _ = write!(sql, "${n}");
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (project_id, idempotency_key) DO NOTHING RETURNING idempotency_key");
    let keys: Vec<InsertedKey> = with_conn!(conn, c => {
        let mut q = diesel::sql_query(sql.as_str()).into_boxed();
        for r in rows {
            q = q
                .bind::<Text, _>(r.id.as_str())
                .bind::<Text, _>(r.project_id.as_str())
                .bind::<Text, _>(r.user_id.as_str())
                .bind::<Text, _>(r.meter.as_str())
                .bind::<BigInt, _>(r.quantity)
                .bind::<BigInt, _>(r.occurred_at)
                .bind::<Text, _>(r.idempotency_key.as_str())
                .bind::<BigInt, _>(r.created_at);
        }
        q.load(c).await?
    });
    Ok(keys.into_iter().map(|k| k.idempotency_key).collect())
}

/// Counts a batch of events (see the module's notes).
pub async fn report(
    conn: &mut Conn<'_>, project_id: &str, events: &[UsageEvent], now: DateTime<Utc>,
) -> Result<Report, ToolError> {
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(ToolError::invalid(
            "events",
            format!("send 1 to {MAX_BATCH} events per call"),
        ));
    }
    let user_ids: Vec<String> = events.iter().map(|e| e.user_id.clone()).collect();
    let batch = Batch {
        project_id,
        at: to_micros(now),
        meters: crate::plans::meters(conn, project_id).await?,
        known: authgate_identity::existing_users(conn, project_id, &user_ids).await?,
    };
    let mut rejected = Vec::new();
    // Valid events, each with its index and whether its timestamp was
    // given; a repeat of an earlier event of the batch is only counted.
    let mut rows: Vec<(usize, bool, EventRow)> = Vec::new();
    let mut repeats = 0;
    let mut first_of_key: HashMap<&str, usize> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let row = match batch.row(i, e) {
            Ok(row) => row,
            Err(r) => {
                rejected.push(r);
                continue;
            }
        };
        if let Some(&j) = first_of_key.get(e.idempotency_key.trim()) {
            // The same key twice in one batch: the first counts.
            if same_event(&events[j], e) {
                repeats += 1;
            } else {
                rejected.push(reject(i, ErrorCode::Conflict, format!("events[{i}].idempotency_key was used by event {j} of this batch for another event")));
            }
            continue;
        }
        first_of_key.insert(e.idempotency_key.trim(), i);
        rows.push((i, e.timestamp.is_some(), row));
    }
    // One statement for the batch; the unique constraint decides.
    let fresh: Vec<&EventRow> = rows.iter().map(|(_, _, r)| r).collect();
    let inserted: HashSet<String> = if fresh.is_empty() {
        HashSet::new()
    } else {
        insert_batch(conn, &fresh).await?.into_iter().collect()
    };
    let taken = settle_taken(conn, project_id, &rows, &inserted, &mut rejected).await?;
    rejected.sort_by_key(|r| r.index);
    Ok(Report {
        accepted: inserted.len(),
        duplicates: repeats + taken,
        rejected,
    })
}

/// What a batch's events are checked against.
struct Batch<'a> {
    project_id: &'a str,
    at: i64,
    /// Keys of the project's meters.
    meters: Vec<String>,
    /// Which of the batch's users exist.
    known: HashSet<String>,
}

impl Batch<'_> {
    /// The row of event `i`, or why it is rejected.
    fn row(&self, i: usize, e: &UsageEvent) -> Result<EventRow, Rejected> {
        let key = e.idempotency_key.trim();
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(reject(
                i,
                ErrorCode::InvalidArgument,
                format!("events[{i}].idempotency_key must be 1 to {MAX_KEY} characters"),
            ));
        }
        if !(1..=MAX_QUANTITY).contains(&e.quantity) {
            return Err(reject(
                i,
                ErrorCode::InvalidArgument,
                format!("events[{i}].quantity must be a whole number from 1 to {MAX_QUANTITY}"),
            ));
        }
        if !self.meters.contains(&e.meter) {
            return Err(reject(
                i,
                ErrorCode::InvalidArgument,
                format!(
                    "events[{i}].meter: no plan of this project has a feature '{}' with a limit",
                    e.meter
                ),
            ));
        }
        if !self.known.contains(&e.user_id) {
            return Err(reject(
                i,
                ErrorCode::NotFound,
                format!(
                    "events[{i}].user_id: end user {} not found in this project",
                    e.user_id
                ),
            ));
        }
        let occurred = match e.timestamp.as_deref() {
            None => self.at,
            Some(t) => parse_rfc3339(&format!("events[{i}].timestamp"), t)
                .map(to_micros)
                .map_err(|err| reject(i, ErrorCode::InvalidArgument, err.message))?,
        };
        Ok(EventRow {
            id: new_id("use"),
            project_id: self.project_id.to_owned(),
            user_id: e.user_id.clone(),
            meter: e.meter.clone(),
            quantity: e.quantity,
            occurred_at: occurred,
            idempotency_key: key.to_owned(),
            created_at: self.at,
        })
    }
}

/// Whether a later event of a batch repeats an earlier one with its key.
fn same_event(first: &UsageEvent, later: &UsageEvent) -> bool {
    first.user_id == later.user_id
        && first.meter == later.meter
        && first.quantity == later.quantity
        && (later.timestamp.is_none() || first.timestamp == later.timestamp)
}

/// Keys that were already counted before this batch: the same event is a
/// duplicate (counted and returned), another is a conflict (rejected).
async fn settle_taken(
    conn: &mut Conn<'_>, project_id: &str, rows: &[(usize, bool, EventRow)],
    inserted: &HashSet<String>, rejected: &mut Vec<Rejected>,
) -> Result<usize, ToolError> {
    let taken: Vec<&str> = rows
        .iter()
        .filter(|(_, _, r)| !inserted.contains(&r.idempotency_key))
        .map(|(_, _, r)| r.idempotency_key.as_str())
        .collect();
    if taken.is_empty() {
        return Ok(0);
    }
    let stored: Vec<EventRow> = with_conn!(conn, c => {
        usage_events::table
            .filter(usage_events::project_id.eq(project_id))
            .filter(usage_events::idempotency_key.eq_any(&taken))
            .select(EventRow::as_select())
            .load(c)
            .await?
    });
    let mut duplicates = 0;
    for (i, timestamp_given, r) in rows {
        if inserted.contains(&r.idempotency_key) {
            continue;
        }
        match stored.iter().find(|s| s.idempotency_key == r.idempotency_key) {
            Some(s)
                if s.user_id == r.user_id
                    && s.meter == r.meter
                    && s.quantity == r.quantity
                    && (!*timestamp_given || s.occurred_at == r.occurred_at) =>
            {
                duplicates += 1;
            }
            _ => rejected.push(reject(
                *i,
                ErrorCode::Conflict,
                format!("events[{i}].idempotency_key was already used for another event; a key names one event forever"),
            )),
        }
    }
    Ok(duplicates)
}

/// The calendar month (UTC) that contains `now`: the period of usage
/// without a subscription.
pub(crate) fn calendar_month(now: DateTime<Utc>) -> (i64, i64) {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(now);
    (to_micros(start), to_micros(end))
}

/// Units used per (user, meter) between `from` and `to` (micros).
/// Usage totals in `[from, to)`, summed by the database: per user and
/// meter for one user, per meter (user left empty) for the whole project,
/// so the answer has a row per meter however many users reported.
pub(crate) async fn totals(
    conn: &mut Conn<'_>, project_id: &str, user_id: Option<&str>, meter: Option<&str>, from: i64,
    to: i64,
) -> Result<Vec<(String, String, i64)>, ToolError> {
    let sum = || {
        diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
            "CAST(SUM(usage_events.quantity) AS BIGINT)",
        )
    };
    let in_period = usage_events::project_id
        .eq(project_id)
        .and(usage_events::occurred_at.ge(from))
        .and(usage_events::occurred_at.lt(to));
    let rows: Vec<(String, String, Option<i64>)> = with_conn!(conn, c => {
        match user_id {
            Some(u) => {
                let mut q = usage_events::table
                    .filter(in_period)
                    .filter(usage_events::user_id.eq(u))
                    .group_by((usage_events::user_id, usage_events::meter))
                    .select((usage_events::user_id, usage_events::meter, sum()))
                    .into_boxed();
                if let Some(m) = meter {
                    q = q.filter(usage_events::meter.eq(m));
                }
                q.load(c).await?
            }
            None => {
                let mut q = usage_events::table
                    .filter(in_period)
                    .group_by(usage_events::meter)
                    .select((usage_events::meter, sum()))
                    .into_boxed();
                if let Some(m) = meter {
                    q = q.filter(usage_events::meter.eq(m));
                }
                let per_meter: Vec<(String, Option<i64>)> = q.load(c).await?;
                per_meter.into_iter().map(|(m, n)| (String::new(), m, n)).collect()
            }
        }
    });
    Ok(rows
        .into_iter()
        .map(|(u, m, n)| (u, m, n.unwrap_or(0)))
        .collect())
}

pub(crate) fn period_view(from: i64, to: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    (from_micros(from), from_micros(to))
}
