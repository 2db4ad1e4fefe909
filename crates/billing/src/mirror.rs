//! A payment provider that mirrors the ledger (Stripe, when configured):
//! plans and prices become its products and prices, subscriptions become
//! its subscriptions, and its webhooks update ours. The provider lives in
//! another crate; the ledger calls it through [`PaymentMirror`], set in
//! the server's settings ([`BillingSettings`]). Without one, the local
//! ledger is the source of truth.
//!
//! Calls to the provider happen inside the unit of work that changes the
//! ledger: a failure rolls the local change back, so the two never
//! disagree about what exists (an object the provider made before a later
//! step failed is left there, marked with the project and local ids).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::future::BoxFuture;

use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, with_conn};
use authgate_store::schema::{plans, prices, subscriptions};

use crate::plans::Plan;

/// The provider's ids of a plan and of its prices.
#[derive(Debug, Clone)]
pub struct MirroredPlan {
    pub product_id: String,
    /// (local price id, provider price id); prices the provider cannot
    /// hold (one-time ones) are absent.
    pub prices: Vec<(String, String)>,
}

/// The provider's ids of a subscription and of its customer.
#[derive(Debug, Clone)]
pub struct MirroredSubscription {
    pub subscription_id: String,
    pub customer_id: String,
}

/// What a new subscription needs at the provider.
#[derive(Debug, Clone)]
pub struct SubscriptionRequest<'a> {
    pub project_id: &'a str,
    pub subscription_id: &'a str,
    pub user_id: &'a str,
    pub email: &'a str,
    pub provider_price_id: &'a str,
    /// The provider's payment method to charge, made the customer's
    /// default.
    pub payment_method: Option<&'a str>,
    /// The user's customer at the provider, from an earlier subscription.
    pub customer_id: Option<&'a str>,
}

pub trait PaymentMirror: Send + Sync {
    fn plan_created<'a>(
        &'a self, project_id: &'a str, plan: &'a Plan,
    ) -> BoxFuture<'a, Result<MirroredPlan, ToolError>>;

    fn subscription_created<'a>(
        &'a self, request: SubscriptionRequest<'a>,
    ) -> BoxFuture<'a, Result<MirroredSubscription, ToolError>>;

    fn subscription_canceled<'a>(
        &'a self, provider_subscription_id: &'a str, immediately: bool,
    ) -> BoxFuture<'a, Result<(), ToolError>>;
}

/// The billing part of the server's settings.
#[derive(Clone, Default)]
pub struct BillingSettings {
    pub mirror: Option<Arc<dyn PaymentMirror>>,
}

/// Stores the provider's ids of a plan and its prices.
pub async fn set_plan_ids(
    conn: &mut Conn<'_>, project_id: &str, plan_id: &str, mirrored: &MirroredPlan,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(
            plans::table
                .filter(plans::project_id.eq(project_id))
                .filter(plans::id.eq(plan_id)),
        )
        .set(plans::stripe_product_id.eq(&mirrored.product_id))
        .execute(c)
        .await?;
        for (price_id, provider_id) in &mirrored.prices {
            diesel::update(
                prices::table
                    .filter(prices::project_id.eq(project_id))
                    .filter(prices::id.eq(price_id)),
            )
            .set(prices::stripe_price_id.eq(provider_id))
            .execute(c)
            .await?;
        }
    });
    Ok(())
}

/// The provider's id of a price, if it has one.
pub async fn provider_price_id(
    conn: &mut Conn<'_>, project_id: &str, price_id: &str,
) -> Result<Option<String>, ToolError> {
    let id: Option<Option<String>> = with_conn!(conn, c => {
        prices::table
            .filter(prices::project_id.eq(project_id))
            .filter(prices::id.eq(price_id))
            .select(prices::stripe_price_id)
            .first(c)
            .await
            .optional()?
    });
    Ok(id.flatten())
}

/// Stores the provider's ids of a subscription and of its customer.
pub async fn set_subscription_ids(
    conn: &mut Conn<'_>, project_id: &str, subscription_id: &str, mirrored: &MirroredSubscription,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(
            subscriptions::table
                .filter(subscriptions::project_id.eq(project_id))
                .filter(subscriptions::id.eq(subscription_id)),
        )
        .set((
            subscriptions::stripe_subscription_id.eq(&mirrored.subscription_id),
            subscriptions::stripe_customer_id.eq(&mirrored.customer_id),
        ))
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The user's customer at the provider (from their latest subscription
/// that has one): one customer per user.
pub async fn provider_customer_id(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<Option<String>, ToolError> {
    let id: Option<Option<String>> = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::project_id.eq(project_id))
            .filter(subscriptions::user_id.eq(user_id))
            .filter(subscriptions::stripe_customer_id.is_not_null())
            .order(subscriptions::created_at.desc())
            .select(subscriptions::stripe_customer_id)
            .first(c)
            .await
            .optional()?
    });
    Ok(id.flatten())
}

/// The provider's id of a subscription of the project, if it has one.
pub async fn provider_subscription_id(
    conn: &mut Conn<'_>, project_id: &str, subscription_id: &str,
) -> Result<Option<String>, ToolError> {
    let id: Option<Option<String>> = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::project_id.eq(project_id))
            .filter(subscriptions::id.eq(subscription_id))
            .select(subscriptions::stripe_subscription_id)
            .first(c)
            .await
            .optional()?
    });
    Ok(id.flatten())
}

/// A subscription's state as the provider reports it.
#[derive(Debug, Clone)]
pub struct ProviderUpdate {
    /// active, trialing, past_due or canceled (others map to past_due).
    pub status: String,
    pub cancel_at_period_end: bool,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
}

/// Applies a provider's report to the local subscription it mirrors;
/// returns (project id, subscription id, user id) when there is one.
pub async fn apply_provider_update(
    conn: &mut Conn<'_>, provider_subscription_id: &str, update: &ProviderUpdate,
    now: DateTime<Utc>,
) -> Result<Option<(String, String, String)>, ToolError> {
    // The provider's id is unique across projects; the row names its own.
    let row: Option<(String, String, String, i64, Option<i64>)> = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::stripe_subscription_id.eq(provider_subscription_id))
            .select((
                subscriptions::project_id,
                subscriptions::id,
                subscriptions::user_id,
                subscriptions::current_period_start,
                subscriptions::current_period_end,
            ))
            .first(c)
            .await
            .optional()?
    });
    let Some((project_id, id, user_id, start, end)) = row else {
        return Ok(None);
    };
    let status = match update.status.as_str() {
        s @ ("active" | "trialing" | "past_due" | "canceled") => s,
        _ => "past_due",
    };
    let at = to_micros(now);
    let start = update.current_period_start.map(to_micros).unwrap_or(start);
    let end = update.current_period_end.map(to_micros).or(end);
    let canceled_at = (status == "canceled").then_some(at);
    with_conn!(conn, c => {
        diesel::update(
            subscriptions::table
                .filter(subscriptions::project_id.eq(&project_id))
                .filter(subscriptions::id.eq(&id)),
        )
        .set((
            subscriptions::status.eq(status),
            subscriptions::cancel_at_period_end.eq(update.cancel_at_period_end),
            subscriptions::current_period_start.eq(start),
            subscriptions::current_period_end.eq(end),
            subscriptions::canceled_at.eq(canceled_at),
            subscriptions::updated_at.eq(at),
        ))
        .execute(c)
        .await?;
    });
    Ok(Some((project_id, id, user_id)))
}
