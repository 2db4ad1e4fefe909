//! A payment provider that mirrors the ledger (Stripe, when configured):
//! plans and prices become its products and prices, subscriptions become
//! its subscriptions, and its webhooks update ours. The provider lives in
//! another crate; the ledger calls it through [`PaymentMirror`], set in
//! the server's settings ([`BillingSettings`]). Without one, the local
//! ledger is the source of truth.
//!
//! Calls to the provider happen outside any transaction (a slow provider
//! must not hold a write lock), each within [`PROVIDER_TIMEOUT`]: the
//! ledger's change is made first (a subscription pending), the provider is
//! called, and the change is confirmed with the provider's ids or undone.
//! A subscription left pending by a crash is confirmed by the provider's
//! webhook, or canceled by [`reconcile_pending`] after [`PENDING_FOR`].
//! Webhook updates apply in the provider's event order, and a canceled
//! subscription never comes back to life.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::time::to_micros;
use authgate_core::{ChangeType, Conn, ToolError, with_conn};
use authgate_store::Store;
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
    /// None for a user who signed up by SMS.
    pub email: Option<&'a str>,
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

    /// Moves the provider's subscription (its one item) onto another price,
    /// prorated as asked. Moving it onto the price it has changes nothing,
    /// so a move retried after a crash is harmless.
    fn subscription_repriced<'a>(
        &'a self, provider_subscription_id: &'a str, provider_price_id: &'a str,
        proration: Proration,
    ) -> BoxFuture<'a, Result<(), ToolError>>;
}

/// How the provider bills the difference when a subscription changes
/// price mid-period (Stripe's `proration_behavior`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Proration {
    // No credit or charge for the rest of the period: the new price
    // applies from the next invoice.
    #[default]
    None,
    // Credit and charge the difference on the next invoice.
    CreateProrations,
    // Invoice the difference at once.
    AlwaysInvoice,
}

impl Proration {
    pub fn as_str(self) -> &'static str {
        match self {
            Proration::None => "none",
            Proration::CreateProrations => "create_prorations",
            Proration::AlwaysInvoice => "always_invoice",
        }
    }

    pub fn parse(s: &str) -> Option<Proration> {
        [
            Proration::None,
            Proration::CreateProrations,
            Proration::AlwaysInvoice,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// How long one call to the provider may take.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a subscription may wait for the provider's confirmation
/// before the sweep cancels it.
pub const PENDING_FOR: chrono::Duration = chrono::Duration::hours(1);

/// Runs a provider call (`what`, e.g. "create the subscription") within
/// [`PROVIDER_TIMEOUT`].
pub async fn within<T>(
    what: &str, call: impl Future<Output = Result<T, ToolError>>,
) -> Result<T, ToolError> {
    match tokio::time::timeout(PROVIDER_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(what, "the payment provider did not answer in time");
            let mut err = ToolError::new(
                authgate_core::ErrorCode::Unavailable,
                format!(
                    "the payment provider did not answer within {} s to {what}; nothing was changed here",
                    PROVIDER_TIMEOUT.as_secs()
                ),
            );
            err.retry_after_secs = Some(5);
            Err(err)
        }
    }
}

/// What a subscription needs at the provider, read from the ledger.
pub(crate) struct AtProvider {
    price: String,
    email: Option<String>,
    customer: Option<String>,
}

impl AtProvider {
    pub(crate) fn as_request<'a>(
        &'a self, project_id: &'a str, s: &'a crate::subscriptions::Subscription,
        payment_method: Option<&'a str>,
    ) -> SubscriptionRequest<'a> {
        SubscriptionRequest {
            project_id,
            subscription_id: &s.id,
            user_id: &s.user_id,
            email: self.email.as_deref(),
            provider_price_id: &self.price,
            payment_method,
            customer_id: self.customer.as_deref(),
        }
    }
}

/// The provider's price, the user's address and their customer at the
/// provider, for a new subscription; a price the provider has no copy of
/// is a precondition.
pub(crate) async fn request_for(
    conn: &mut Conn<'_>, project_id: &str, s: &crate::subscriptions::Subscription,
    _payment_method: Option<&str>,
) -> Result<AtProvider, ToolError> {
    let price = provider_price_id(conn, project_id, &s.price_id)
        .await?
        .ok_or_else(|| {
            ToolError::precondition(format!(
                "price {} has no Stripe price (it is one-time, or was made before Stripe was configured)",
                s.price_id
            ))
            .with_field("price_id")
            .with_hint("use a monthly or yearly price of a plan created while Stripe is configured")
        })?;
    let user = authgate_identity::require_user(conn, project_id, &s.user_id).await?;
    let customer = provider_customer_id(conn, project_id, &s.user_id).await?;
    Ok(AtProvider {
        price,
        email: user.email,
        customer,
    })
}

/// Confirms a pending subscription with the provider's ids. Whichever of
/// the subscribing flow and the provider's webhook confirms it first
/// publishes `subscription.created` (it was pending, so never told of).
pub(crate) async fn confirm_subscription(
    conn: &mut Conn<'_>, project_id: &str, subscription_id: &str, mirrored: &MirroredSubscription,
    now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let confirmed = with_conn!(conn, c => {
        let the_row = || {
            subscriptions::table
                .filter(subscriptions::project_id.eq(project_id))
                .filter(subscriptions::id.eq(subscription_id))
        };
        // The update that ends the wait decides, even between two at once.
        let confirmed = diesel::update(the_row().filter(subscriptions::mirror_pending_since.is_not_null()))
            .set(subscriptions::mirror_pending_since.eq(None::<i64>))
            .execute(c)
            .await?;
        diesel::update(the_row())
            .set((
                subscriptions::stripe_subscription_id.eq(&mirrored.subscription_id),
                subscriptions::stripe_customer_id.eq(&mirrored.customer_id),
            ))
            .execute(c)
            .await?;
        confirmed
    });
    if confirmed > 0 {
        let created = ChangeType::SubscriptionCreated;
        crate::subscriptions::announce(conn, project_id, created, subscription_id, now).await?;
    }
    Ok(())
}

/// Cancels a pending subscription the provider did not make (never
/// published as created, so not as canceled either).
pub(crate) async fn abandon_subscription(
    conn: &mut Conn<'_>, project_id: &str, subscription_id: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(
            subscriptions::table
                .filter(subscriptions::project_id.eq(project_id))
                .filter(subscriptions::id.eq(subscription_id))
                .filter(subscriptions::mirror_pending_since.is_not_null()),
        )
        .set((
            subscriptions::status.eq("canceled"),
            subscriptions::canceled_at.eq(Some(at)),
            subscriptions::updated_at.eq(at),
            subscriptions::mirror_pending_since.eq(None::<i64>),
        ))
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Cancels, in every project, the subscriptions still waiting for the
/// provider [`PENDING_FOR`] after they were made (a crash between the
/// provider's answer and the confirmation, and no webhook since). Returns
/// how many; each is logged for the operator to check at the provider.
pub async fn reconcile_pending(store: &Store, now: DateTime<Utc>) -> Result<usize, ToolError> {
    let cutoff = to_micros(now - PENDING_FOR);
    let stale: Vec<(String, String)> = store
        .write(async |conn| {
            let stale: Vec<(String, String)> = with_conn!(conn, c => {
                subscriptions::table
                    .filter(subscriptions::mirror_pending_since.lt(cutoff))
                    .select((subscriptions::project_id, subscriptions::id))
                    .load(c)
                    .await?
            });
            for (project_id, id) in &stale {
                abandon_subscription(conn, project_id, id, now).await?;
            }
            Ok::<_, ToolError>(stale)
        })
        .await?;
    for (project_id, id) in &stale {
        tracing::warn!(project_id, subscription_id = %id, "canceled a subscription the payment provider never confirmed; check the provider for one with this authgate_subscription_id");
    }
    Ok(stale.len())
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
    /// When the provider made the event: an older one is not applied over
    /// a newer.
    pub event_created: Option<DateTime<Utc>>,
    /// The local id the provider's object carries in its metadata, to
    /// confirm a subscription a crash left pending.
    pub local_id: Option<String>,
    /// The provider's customer of the subscription.
    pub customer_id: Option<String>,
}

type Mirrored = (
    String,
    String,
    String,
    String,
    bool,
    i64,
    Option<i64>,
    Option<i64>,
);

/// The change a provider's report makes (`None`: none): a status of
/// canceled, or a cancel at period end, newly set is `subscription.canceled`;
/// any other change of status, cancel or period is `subscription.updated`.
fn change_of(
    (status, cancel_at_end, start, end): (&str, bool, i64, Option<i64>),
    (new_status, new_cancel_at_end, new_start, new_end): (&str, bool, i64, Option<i64>),
) -> Option<ChangeType> {
    let canceled = (new_status == "canceled" && status != "canceled")
        || (new_cancel_at_end && !cancel_at_end && new_status != "canceled");
    if canceled {
        return Some(ChangeType::SubscriptionCanceled);
    }
    let changed = new_status != status
        || new_cancel_at_end != cancel_at_end
        || new_start != start
        || new_end != end;
    changed.then_some(ChangeType::SubscriptionUpdated)
}

/// Applies a provider's report to the local subscription it mirrors;
/// returns (project id, subscription id, user id) when one changed. An
/// event older than the newest applied is ignored, and so is any report
/// that would bring a canceled subscription back. What changed is
/// published (`change_of`).
pub async fn apply_provider_update(
    conn: &mut Conn<'_>, provider_subscription_id: &str, update: &ProviderUpdate,
    now: DateTime<Utc>,
) -> Result<Option<(String, String, String)>, ToolError> {
    let Some((project_id, id, user_id, current, cancel_at_end, start, end, newest)) =
        mirrored_row(conn, provider_subscription_id, update, now).await?
    else {
        return Ok(None);
    };
    let before = (current.as_str(), cancel_at_end, start, end);
    let event_at = update.event_created.map(to_micros);
    let stale = matches!((event_at, newest), (Some(e), Some(n)) if e < n);
    let revives = current == "canceled" && update.status != "canceled";
    if stale || revives {
        return Ok(None);
    }
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
            subscriptions::stripe_event_at.eq(event_at.or(newest)),
        ))
        .execute(c)
        .await?;
    });
    let after = (status, update.cancel_at_period_end, start, end);
    if let Some(change) = change_of(before, after) {
        crate::subscriptions::announce(conn, &project_id, change, &id, now).await?;
    }
    Ok(Some((project_id, id, user_id)))
}

/// The local subscription a provider's object mirrors: by the provider's
/// id, or a pending one named in its metadata (then confirmed with the
/// provider's ids).
async fn mirrored_row(
    conn: &mut Conn<'_>, provider_subscription_id: &str, update: &ProviderUpdate,
    now: DateTime<Utc>,
) -> Result<Option<Mirrored>, ToolError> {
    let select = (
        subscriptions::project_id,
        subscriptions::id,
        subscriptions::user_id,
        subscriptions::status,
        subscriptions::cancel_at_period_end,
        subscriptions::current_period_start,
        subscriptions::current_period_end,
        subscriptions::stripe_event_at,
    );
    // The provider's id is unique across projects; the row names its own.
    let row: Option<Mirrored> = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::stripe_subscription_id.eq(provider_subscription_id))
            .select(select)
            .first(c)
            .await
            .optional()?
    });
    if row.is_some() {
        return Ok(row);
    }
    let Some(local_id) = &update.local_id else {
        return Ok(None);
    };
    let pending: Option<Mirrored> = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::id.eq(local_id))
            .filter(subscriptions::mirror_pending_since.is_not_null())
            .filter(subscriptions::stripe_subscription_id.is_null())
            .select(select)
            .first(c)
            .await
            .optional()?
    });
    let Some(row) = pending else {
        return Ok(None);
    };
    let mirrored = MirroredSubscription {
        subscription_id: provider_subscription_id.to_owned(),
        customer_id: update.customer_id.clone().unwrap_or_default(),
    };
    confirm_subscription(conn, &row.0, &row.1, &mirrored, now).await?;
    Ok(Some(row))
}
