//! Subscriptions of end users to a plan's price. A user has at most one
//! live subscription (active, trialing or past_due). Periods renew at
//! their end: a read past the end shows the period that contains now
//! (there is no scheduler to move them), and a subscription set to cancel
//! at period end reads as canceled once that end has passed.

use chrono::{DateTime, Months, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::changes::{self, ChangeType};
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::schema::subscriptions;

use crate::money::{Amount, amount};

const LIVE: [&str; 3] = ["active", "trialing", "past_due"];

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub plan_id: String,
    pub price_id: String,
    /// active, trialing, past_due or canceled.
    pub status: String,
    pub current_period_start: DateTime<Utc>,
    /// None for a one-time price.
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub price: Amount,
    pub interval: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = subscriptions)]
pub(crate) struct SubscriptionRow {
    pub(crate) id: String,
    project_id: String,
    pub(crate) user_id: String,
    pub(crate) plan_id: String,
    pub(crate) price_id: String,
    pub(crate) status: String,
    pub(crate) current_period_start: i64,
    pub(crate) current_period_end: Option<i64>,
    pub(crate) cancel_at_period_end: bool,
    canceled_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    /// Set while the payment provider has not confirmed the subscription
    /// (it grants nothing until then).
    pub(crate) mirror_pending_since: Option<i64>,
}

/// Whether a lookup counts subscriptions the provider has not confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    /// They hold the user's one place (a second subscribe is a conflict).
    Included,
    /// They grant nothing yet (entitlements, status, export).
    Excluded,
}

fn step(interval: &str) -> Option<Months> {
    match interval {
        "month" => Some(Months::new(1)),
        "year" => Some(Months::new(12)),
        _ => None,
    }
}

/// The period that contains `now`, from a stored one.
pub(crate) fn current_period(
    start: i64, end: Option<i64>, interval: &str, now: DateTime<Utc>,
) -> (i64, Option<i64>) {
    let (Some(end), Some(months)) = (end, step(interval)) else {
        return (start, end);
    };
    let (mut s, mut e) = (from_micros(start), from_micros(end));
    // Bounded: at most 1,200 periods (a century of months).
    for _ in 0..1200 {
        if e > now {
            break;
        }
        let Some(next) = e.checked_add_months(months) else {
            break;
        };
        s = e;
        e = next;
    }
    (to_micros(s), Some(to_micros(e)))
}

impl SubscriptionRow {
    pub(crate) fn view(
        &self, price_cents: i64, currency: &str, interval: &str, now: DateTime<Utc>,
    ) -> Subscription {
        let mut status = self.status.clone();
        let (start, end) = if LIVE.contains(&status.as_str()) {
            if self.cancel_at_period_end
                && self.current_period_end.is_some_and(|e| e <= to_micros(now))
            {
                status = "canceled".into();
                (self.current_period_start, self.current_period_end)
            } else {
                current_period(
                    self.current_period_start,
                    self.current_period_end,
                    interval,
                    now,
                )
            }
        } else {
            (self.current_period_start, self.current_period_end)
        };
        Subscription {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            plan_id: self.plan_id.clone(),
            price_id: self.price_id.clone(),
            status,
            current_period_start: from_micros(start),
            current_period_end: end.map(from_micros),
            cancel_at_period_end: self.cancel_at_period_end,
            canceled_at: self.canceled_at.map(from_micros),
            price: amount(price_cents, currency),
            interval: interval.to_owned(),
            created_at: from_micros(self.created_at),
        }
    }
}

fn not_found(id: &str) -> ToolError {
    ToolError::not_found(format!("subscription {id} not found in this project")).with_field("id")
}

/// The subscription `id` of the project with its price (archived ones
/// too), or not_found.
async fn load_with_price(
    conn: &mut Conn<'_>, project_id: &str, id: &str,
) -> Result<(SubscriptionRow, crate::plans::PriceRow), ToolError> {
    let row: SubscriptionRow = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::project_id.eq(project_id))
            .filter(subscriptions::id.eq(id))
            .select(SubscriptionRow::as_select())
            .first(c)
            .await
            .optional()?
    })
    .ok_or_else(|| not_found(id))?;
    let (price, _) = crate::plans::price(
        conn,
        project_id,
        &row.price_id,
        crate::plans::Archived::Included,
    )
    .await?
    .ok_or_else(|| ToolError::internal("a subscription's price is missing"))?;
    Ok((row, price))
}

/// The subscription `id` of the project, as the REST API shows it.
async fn load_view(
    conn: &mut Conn<'_>, project_id: &str, id: &str, now: DateTime<Utc>,
) -> Result<Subscription, ToolError> {
    let (row, price) = load_with_price(conn, project_id, id).await?;
    Ok(row.view(price.amount_cents, &price.currency, &price.interval, now))
}

/// Publishes a change of the subscription `id` (`subscription.*`), as the
/// REST API shows it; nothing but the listeners is read when nobody
/// listens.
pub(crate) async fn announce(
    conn: &mut Conn<'_>, project_id: &str, change: ChangeType, id: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let Some(outlet) = changes::outlet(conn, project_id, change).await? else {
        return Ok(());
    };
    let subscription = load_view(conn, project_id, id, now).await?;
    outlet.send(conn, &subscription, now).await
}

/// The user's live subscription, with its price (cents, currency, interval).
pub(crate) async fn live_of_user(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, pending: Pending, now: DateTime<Utc>,
) -> Result<Option<Subscription>, ToolError> {
    let row: Option<SubscriptionRow> = with_conn!(conn, c => {
        let mut q = subscriptions::table
            .filter(subscriptions::project_id.eq(project_id))
            .filter(subscriptions::user_id.eq(user_id))
            .filter(subscriptions::status.eq_any(LIVE))
            .select(SubscriptionRow::as_select())
            .order(subscriptions::id.desc())
            .into_boxed();
        if pending == Pending::Excluded {
            q = q.filter(subscriptions::mirror_pending_since.is_null());
        }
        q.first(c).await.optional()?
    });
    let Some(row) = row else { return Ok(None) };
    let Some((price, _)) = crate::plans::price(
        conn,
        project_id,
        &row.price_id,
        crate::plans::Archived::Included,
    )
    .await?
    else {
        return Ok(None);
    };
    let view = row.view(price.amount_cents, &price.currency, &price.interval, now);
    Ok((view.status != "canceled").then_some(view))
}

/// Subscribes a user to a price: active at once, for one period of its
/// interval (with `pending`, once the payment provider confirms it). A
/// user with a live subscription gets a conflict. Published as
/// `subscription.created` (a pending one when it is confirmed:
/// `mirror::confirm_subscription`).
pub async fn create_subscription(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, price_id: &str, pending: bool,
    now: DateTime<Utc>,
) -> Result<Subscription, ToolError> {
    authgate_core::require_id("user_id", "usr", user_id)?;
    authgate_core::require_id("price_id", "price", price_id)?;
    authgate_identity::require_user(conn, project_id, user_id).await?;
    let (price, _plan) =
        crate::plans::price(conn, project_id, price_id, crate::plans::Archived::Refused)
            .await?
            .ok_or_else(|| {
                ToolError::not_found(format!("price {price_id} not found in this project"))
                    .with_field("price_id")
            })?;
    // One live subscription per user, decided under the user's row lock.
    conn.lock_project(project_id).await?;
    if let Some(live) = live_of_user(conn, project_id, user_id, Pending::Included, now).await? {
        return Err(ToolError::conflict(format!("{user_id} already has a live subscription ({})", live.id))
            .with_field("user_id")
            .with_hint("cancel it with DELETE /api/v1/subscriptions/{id}?immediately=true, or move it with a billing migration"));
    }
    let start = now;
    let end = step(&price.interval).and_then(|m| start.checked_add_months(m));
    let at = to_micros(now);
    let row = SubscriptionRow {
        id: new_id("sub"),
        project_id: project_id.to_owned(),
        user_id: user_id.to_owned(),
        plan_id: price.plan_id.clone(),
        price_id: price.id.clone(),
        status: "active".into(),
        current_period_start: to_micros(start),
        current_period_end: end.map(to_micros),
        cancel_at_period_end: false,
        canceled_at: None,
        created_at: at,
        updated_at: at,
        mirror_pending_since: pending.then_some(at),
    };
    with_conn!(conn, c => {
        diesel::insert_into(subscriptions::table).values(&row).execute(c).await?;
    });
    let subscription = row.view(price.amount_cents, &price.currency, &price.interval, now);
    if !pending {
        let created = ChangeType::SubscriptionCreated;
        changes::publish(conn, project_id, created, &subscription, now).await?;
    }
    Ok(subscription)
}

/// Refuses a subscription that cannot be canceled (unknown here, or
/// canceled already), before anything is asked of a provider.
pub(crate) async fn cancelable(
    conn: &mut Conn<'_>, project_id: &str, id: &str,
) -> Result<(), ToolError> {
    authgate_core::require_id("id", "sub", id)?;
    let status: Option<String> = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::project_id.eq(project_id))
            .filter(subscriptions::id.eq(id))
            .select(subscriptions::status)
            .first(c)
            .await
            .optional()?
    });
    match status.as_deref() {
        None => Err(not_found(id)),
        Some("canceled") => Err(already_canceled(id)),
        Some(_) => Ok(()),
    }
}

fn already_canceled(id: &str) -> ToolError {
    ToolError::conflict(format!("subscription {id} is already canceled")).with_field("id")
}

/// Cancels at the end of the current period, or at once; published as
/// `subscription.canceled` either way.
pub async fn cancel_subscription(
    conn: &mut Conn<'_>, project_id: &str, id: &str, immediately: bool, now: DateTime<Utc>,
) -> Result<Subscription, ToolError> {
    authgate_core::require_id("id", "sub", id)?;
    let (row, price) = load_with_price(conn, project_id, id).await?;
    if row.status == "canceled" {
        return Err(already_canceled(id));
    }
    let at = to_micros(now);
    let (start, end) = current_period(
        row.current_period_start,
        row.current_period_end,
        &price.interval,
        now,
    );
    let (status, cancel_at_end, canceled_at) = if immediately || end.is_none() {
        ("canceled", false, Some(at))
    } else {
        (row.status.as_str(), true, None)
    };
    let status = status.to_owned();
    with_conn!(conn, c => {
        diesel::update(subscriptions::table.filter(subscriptions::project_id.eq(project_id)).filter(subscriptions::id.eq(id)))
            .set((
                subscriptions::status.eq(&status),
                subscriptions::cancel_at_period_end.eq(cancel_at_end),
                subscriptions::canceled_at.eq(canceled_at),
                subscriptions::current_period_start.eq(start),
                subscriptions::current_period_end.eq(end),
                subscriptions::updated_at.eq(at),
            ))
            .execute(c)
            .await?;
    });
    let mut row = row;
    row.status = status;
    row.cancel_at_period_end = cancel_at_end;
    row.canceled_at = canceled_at;
    row.current_period_start = start;
    row.current_period_end = end;
    let subscription = row.view(price.amount_cents, &price.currency, &price.interval, now);
    let canceled = ChangeType::SubscriptionCanceled;
    changes::publish(conn, project_id, canceled, &subscription, now).await?;
    Ok(subscription)
}
