//! Flows of more than one step: a plan with its prices, subscribing and
//! canceling (the REST API's server-to-server calls, audited as the key's
//! actions), and running a billing migration.
//!
//! The payment mirror (Stripe, when configured) is called inside the unit
//! of work that changes the ledger, so a refusal there leaves no change
//! here either: one rule, applied by each flow below through
//! [`BillingSettings::mirror`].

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use authgate_audit::NewAuditEvent;
use authgate_core::args::{Cascade, DangerResult};
use authgate_core::{Caller, EventType, Outcome, RequestMeta, ToolError};
use authgate_store::Store;

use crate::migrations::{self, Migration};
use crate::mirror::{self, BillingSettings};
use crate::money::{parse_amount, validate_currency};
use crate::plans::{self, Feature, NewPlan, Plan};
use crate::subscriptions::{self, Subscription};

// A plan as create_billing_plan asks for it: amounts in major units.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "CreateBillingPlanArgs")]
pub struct PlanRequest {
    pub name: String,
    /// a-z, 0-9, _ and - (default: made from the name).
    pub key: Option<String>,
    pub description: Option<String>,
    /// Per month, in major units: 19 or "19.00". No price: a free plan.
    #[schemars(extend("x-one-type" = "number"))]
    pub monthly_price: Option<Value>,
    /// Per year, in major units.
    #[schemars(extend("x-one-type" = "number"))]
    pub yearly_price: Option<Value>,
    /// ISO 4217 (default usd).
    pub currency: Option<String>,
    /// Features; one with a limit is a meter usage is reported against.
    #[serde(default)]
    pub features: Vec<Feature>,
}

/// Creates a plan with its prices (amounts exact, at most the currency's
/// decimals) and, with a payment mirror, its product and prices there.
/// Creates a plan; with a payment provider, also its product and prices
/// there. The provider is called outside any transaction (within
/// [`mirror::PROVIDER_TIMEOUT`]); when it fails the plan is deleted again,
/// so nothing exists on one side only.
pub async fn create_billing_plan(
    store: &Store, project_id: &str, req: &PlanRequest, settings: &BillingSettings,
    now: DateTime<Utc>,
) -> Result<Plan, ToolError> {
    let (currency, decimals) =
        validate_currency("currency", req.currency.as_deref().unwrap_or("usd"))?;
    let price = |field: &str, v: &Option<Value>| {
        v.as_ref()
            .map(|v| parse_amount(field, v, decimals))
            .transpose()
    };
    let new = NewPlan {
        name: &req.name,
        key: req.key.as_deref(),
        description: req.description.as_deref(),
        monthly_cents: price("monthly_price", &req.monthly_price)?,
        yearly_cents: price("yearly_price", &req.yearly_price)?,
        currency: &currency,
        features: &req.features,
    };
    let plan = store
        .write(async |conn| plans::create_plan(conn, project_id, new, now).await)
        .await?;
    let Some(mirror) = &settings.mirror else {
        return Ok(plan);
    };
    match mirror::within("create the plan", mirror.plan_created(project_id, &plan)).await {
        Ok(mirrored) => {
            store
                .write(async |conn| {
                    mirror::set_plan_ids(conn, project_id, &plan.id, &mirrored).await
                })
                .await?;
            Ok(plan)
        }
        Err(err) => {
            store
                .write(async |conn| plans::delete_new_plan(conn, project_id, &plan.id).await)
                .await?;
            Err(err)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub user_id: String,
    pub price_id: String,
    /// With Stripe: the customer's payment method (`pm_...`, collected by
    /// the app with Stripe Elements), made the customer's default.
    pub payment_method: Option<String>,
}

/// The key's action on a subscription, as an audit event.
fn by_key(
    caller: &Caller, event_type: EventType, s: &Subscription, request_id: &str,
) -> NewAuditEvent {
    let meta = RequestMeta::new(None, None, Some(request_id.to_owned()));
    NewAuditEvent::auth(
        &caller.project.id,
        event_type,
        None,
        &meta,
        Outcome::Success,
    )
    .by_key(&caller.key_id)
    .target(&s.id)
    .target(&s.user_id)
}

/// Subscribes a user to a price (a write-scoped key's call), mirrored and
/// recorded in one unit of work.
/// Subscribes a user through the REST API. With a payment provider the
/// local subscription is made pending first, the provider is called outside
/// any transaction (within [`mirror::PROVIDER_TIMEOUT`]), and then the
/// subscription is confirmed with the provider's ids, or canceled when the
/// provider failed. A crash in between leaves it pending: the provider's
/// `customer.subscription.created` webhook confirms it, and the sweep
/// cancels one still pending after [`mirror::PENDING_FOR`].
pub async fn subscribe(
    store: &Store, settings: &BillingSettings, caller: &Caller, body: NewSubscription,
    request_id: &str, now: DateTime<Utc>,
) -> Result<Subscription, ToolError> {
    let payment_method = body.payment_method.as_deref().map(str::trim);
    payment_method_of(settings.mirror.is_some(), payment_method)?;
    let project_id = caller.project.id.as_str();
    let (user_id, price_id) = (body.user_id.trim(), body.price_id.trim());
    let Some(mirror) = &settings.mirror else {
        return store
            .write(async |conn| {
                let s = subscriptions::create_subscription(
                    conn, project_id, user_id, price_id, false, now,
                )
                .await?;
                by_key(caller, EventType::SubscriptionCreated, &s, request_id)
                    .record(conn, now)
                    .await?;
                Ok(s)
            })
            .await;
    };
    let (s, at_provider) = store
        .write(async |conn| {
            let s =
                subscriptions::create_subscription(conn, project_id, user_id, price_id, true, now)
                    .await?;
            let request = mirror::request_for(conn, project_id, &s, payment_method).await?;
            Ok::<_, ToolError>((s, request))
        })
        .await?;
    let mirrored = mirror::within(
        "create the subscription",
        mirror.subscription_created(at_provider.as_request(project_id, &s, payment_method)),
    )
    .await;
    store
        .write(async |conn| match &mirrored {
            Ok(m) => {
                mirror::confirm_subscription(conn, project_id, &s.id, m, now).await?;
                by_key(caller, EventType::SubscriptionCreated, &s, request_id)
                    .record(conn, now)
                    .await?;
                Ok(())
            }
            Err(_) => mirror::abandon_subscription(conn, project_id, &s.id, now).await,
        })
        .await?;
    mirrored.map(|_| s)
}

/// Cancels through the REST API: with a payment provider, the provider
/// first (outside any transaction, within [`mirror::PROVIDER_TIMEOUT`]),
/// then the ledger; a provider failure changes nothing here.
pub async fn cancel(
    store: &Store, settings: &BillingSettings, caller: &Caller, subscription_id: &str,
    immediately: bool, request_id: &str, now: DateTime<Utc>,
) -> Result<Subscription, ToolError> {
    let project_id = caller.project.id.as_str();
    if let Some(mirror) = &settings.mirror {
        let provider_id = store
            .read(async |conn| {
                subscriptions::cancelable(conn, project_id, subscription_id).await?;
                mirror::provider_subscription_id(conn, project_id, subscription_id).await
            })
            .await?;
        if let Some(provider_id) = provider_id {
            mirror::within(
                "cancel the subscription",
                mirror.subscription_canceled(&provider_id, immediately),
            )
            .await?;
        }
    }
    store
        .write(async |conn| {
            let s = subscriptions::cancel_subscription(
                conn,
                project_id,
                subscription_id,
                immediately,
                now,
            )
            .await?;
            by_key(caller, EventType::SubscriptionCanceled, &s, request_id)
                .meta("immediately", immediately)
                .record(conn, now)
                .await?;
            Ok(s)
        })
        .await
}

fn payment_method_of(stripe: bool, payment_method: Option<&str>) -> Result<(), ToolError> {
    let Some(pm) = payment_method else {
        return Ok(());
    };
    if !stripe {
        return Err(ToolError::invalid(
            "payment_method",
            "payment_method is used only when Stripe is configured (STRIPE_SECRET_KEY)",
        ));
    }
    let well_formed = pm.starts_with("pm_")
        && pm.len() <= 255
        && pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(ToolError::invalid(
            "payment_method",
            "payment_method must be a Stripe PaymentMethod id such as pm_1Q2w3E4r5T6y",
        ))
    }
}

/// A new subscription at the payment provider, in the unit of work that
/// made it here.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExecutedMigration {
    pub migration: Migration,
}

/// Runs a migration (or, on a dry run, counts what would move): each item
/// in a transaction of its own; `now` and `progress` come from the call.
pub async fn execute_billing_migration(
    store: &Store, settings: &BillingSettings, project_id: &str, migration_id: &str, dry_run: bool,
    now: impl Fn() -> DateTime<Utc>, progress: impl Fn(u64, u64),
) -> Result<DangerResult<ExecutedMigration>, ToolError> {
    let moved = if dry_run {
        let m = store
            .read(async |conn| migrations::get_migration(conn, project_id, migration_id).await)
            .await?;
        m.counts.pending as u64
    } else {
        let mirror = settings.mirror.as_deref();
        migrations::execute_migration(store, project_id, migration_id, mirror, now, progress)
            .await?
    };
    let migration = store
        .read(async |conn| migrations::get_migration(conn, project_id, migration_id).await)
        .await?;
    Ok(DangerResult {
        dry_run,
        target: ExecutedMigration { migration },
        cascade: Cascade::from([("subscriptions".to_owned(), moved)]),
    })
}
