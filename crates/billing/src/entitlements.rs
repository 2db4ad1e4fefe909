//! What a user may use now (their live subscription's plan features with
//! this period's usage against each limit), and usage totals for the
//! current billing period.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError};

use crate::plans::Plan;
use crate::subscriptions::{Pending, Subscription, live_of_user};
use crate::usage;

#[derive(Debug, Serialize, JsonSchema)]
pub struct Entitlement {
    pub feature: String,
    /// None: unlimited.
    pub limit: Option<i64>,
    /// Units used this period (meters only).
    pub used: Option<i64>,
    pub remaining: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Entitlements {
    pub user_id: String,
    /// The live subscription, if any.
    pub subscription: Option<Subscription>,
    pub plan: Option<Plan>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub entitlements: Vec<Entitlement>,
}

/// The period usage counts in: the live subscription's, else the calendar month.
fn period_of(sub: Option<&Subscription>, now: DateTime<Utc>) -> (i64, i64) {
    match sub {
        Some(s) => match s.current_period_end {
            Some(end) => (to_micros(s.current_period_start), to_micros(end)),
            None => usage::calendar_month(now),
        },
        None => usage::calendar_month(now),
    }
}

/// The user's live subscription, its plan, and each feature with its
/// limit, what was used this period and what remains.
pub async fn user_entitlements(
    conn: &mut Conn<'_>, project: &str, user_id: &str, now: DateTime<Utc>,
) -> Result<Entitlements, ToolError> {
    authgate_identity::require_user(conn, project, user_id).await?;
    let sub = live_of_user(conn, project, user_id, Pending::Excluded, now).await?;
    let (from, to) = period_of(sub.as_ref(), now);
    let plan = match &sub {
        Some(s) => crate::plans::list_plans(conn, project, true)
            .await?
            .into_iter()
            .find(|p| p.id == s.plan_id),
        None => None,
    };
    let used = usage::totals(conn, project, Some(user_id), None, from, to).await?;
    let entitlements = plan
        .as_ref()
        .map(|p| p.features.iter().map(|f| entitlement(f, &used)).collect())
        .unwrap_or_default();
    let (period_start, period_end) = usage::period_view(from, to);
    Ok(Entitlements {
        user_id: user_id.to_owned(),
        subscription: sub,
        plan,
        period_start,
        period_end,
        entitlements,
    })
}

/// One feature's limit, use and remainder (a meter's use is summed over
/// the period's rows).
fn entitlement(f: &crate::plans::Feature, used: &[(String, String, i64)]) -> Entitlement {
    let u = f.limit.map(|_| {
        used.iter()
            .filter(|(_, m, _)| *m == f.key)
            .map(|(_, _, n)| n)
            .sum::<i64>()
    });
    Entitlement {
        feature: f.key.clone(),
        limit: f.limit,
        used: u,
        remaining: f.limit.zip(u).map(|(l, u)| (l - u).max(0)),
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MeterTotal {
    pub meter: String,
    pub quantity: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserMeterTotal {
    pub user_id: String,
    pub meter: String,
    pub quantity: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UsageSummary {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Totals per meter.
    pub meters: Vec<MeterTotal>,
    /// Totals per user and meter, when a user was asked for.
    pub users: Option<Vec<UserMeterTotal>>,
}

/// Totals per meter for the current period: with `user_id`, that user's
/// subscription period (else the calendar month, UTC), with per-user rows;
/// without, the calendar month for the whole project.
pub async fn usage_summary(
    conn: &mut Conn<'_>, project: &str, user_id: Option<&str>, meter: Option<&str>,
    now: DateTime<Utc>,
) -> Result<UsageSummary, ToolError> {
    if let Some(m) = meter {
        crate::plans::validate_key("meter", m)?;
    }
    let sub = match user_id {
        Some(u) => {
            authgate_identity::require_user(conn, project, u).await?;
            live_of_user(conn, project, u, Pending::Excluded, now).await?
        }
        None => None,
    };
    let (from, to) = period_of(sub.as_ref(), now);
    let rows = usage::totals(conn, project, user_id, meter, from, to).await?;
    let mut meters: Vec<MeterTotal> = Vec::new();
    for (_, m, n) in &rows {
        match meters.iter_mut().find(|t| t.meter == *m) {
            Some(t) => t.quantity += n,
            None => meters.push(MeterTotal {
                meter: m.clone(),
                quantity: *n,
            }),
        }
    }
    meters.sort_by(|a, b| a.meter.cmp(&b.meter));
    let users = user_id.map(|_| {
        let mut u: Vec<UserMeterTotal> = rows
            .iter()
            .map(|(u, m, n)| UserMeterTotal {
                user_id: u.clone(),
                meter: m.clone(),
                quantity: *n,
            })
            .collect();
        u.sort_by(|a, b| a.meter.cmp(&b.meter));
        u
    });
    let (period_start, period_end) = usage::period_view(from, to);
    Ok(UsageSummary {
        period_start,
        period_end,
        meters,
        users,
    })
}
