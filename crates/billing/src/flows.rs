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
use authgate_core::{Caller, Conn, EventType, Outcome, RequestMeta, ToolError};
use authgate_store::Store;

use crate::migrations::{self, Migration};
use crate::mirror::{self, BillingSettings, PaymentMirror};
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
    pub monthly_price: Option<Value>,
    /// Per year, in major units.
    pub yearly_price: Option<Value>,
    /// ISO 4217 (default usd).
    pub currency: Option<String>,
    /// What the plan includes; a feature with a limit is a meter that
    /// usage is reported against.
    #[serde(default)]
    pub features: Vec<Feature>,
}

/// Creates a plan with its prices (amounts exact, at most the currency's
/// decimals) and, with a payment mirror, its product and prices there.
pub async fn create_billing_plan(
    conn: &mut Conn<'_>, project_id: &str, req: &PlanRequest, settings: &BillingSettings,
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
    let plan = plans::create_plan(conn, project_id, new, now).await?;
    if let Some(mirror) = &settings.mirror {
        let mirrored = mirror.plan_created(project_id, &plan).await?;
        mirror::set_plan_ids(conn, project_id, &plan.id, &mirrored).await?;
    }
    Ok(plan)
}

/// The body of `POST /api/v1/subscriptions`.
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
pub async fn subscribe(
    store: &Store, settings: &BillingSettings, caller: &Caller, body: NewSubscription,
    request_id: &str, now: DateTime<Utc>,
) -> Result<Subscription, ToolError> {
    let payment_method = body.payment_method.as_deref().map(str::trim);
    payment_method_of(settings.mirror.is_some(), payment_method)?;
    let project_id = caller.project.id.as_str();
    store
        .write(async |conn| {
            let s = subscriptions::create_subscription(
                conn,
                project_id,
                body.user_id.trim(),
                body.price_id.trim(),
                now,
            )
            .await?;
            if let Some(mirror) = &settings.mirror {
                mirror_subscription(conn, mirror.as_ref(), project_id, &s, payment_method).await?;
            }
            by_key(caller, EventType::SubscriptionCreated, &s, request_id)
                .record(conn, now)
                .await?;
            Ok(s)
        })
        .await
}

/// Cancels a subscription at the end of its period, or now (a
/// write-scoped key's call), mirrored and recorded in one unit of work.
pub async fn cancel(
    store: &Store, settings: &BillingSettings, caller: &Caller, subscription_id: &str,
    immediately: bool, request_id: &str, now: DateTime<Utc>,
) -> Result<Subscription, ToolError> {
    let project_id = caller.project.id.as_str();
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
            if let Some(mirror) = &settings.mirror
                && let Some(provider_id) =
                    mirror::provider_subscription_id(conn, project_id, &s.id).await?
            {
                mirror
                    .subscription_canceled(&provider_id, immediately)
                    .await?;
            }
            by_key(caller, EventType::SubscriptionCanceled, &s, request_id)
                .meta("immediately", immediately)
                .record(conn, now)
                .await?;
            Ok(s)
        })
        .await
}

/// Checks `payment_method` before anything is written: a Stripe
/// PaymentMethod id, and only when Stripe is configured.
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
async fn mirror_subscription(
    conn: &mut Conn<'_>, mirror: &dyn PaymentMirror, project_id: &str, s: &Subscription,
    payment_method: Option<&str>,
) -> Result<(), ToolError> {
    let price = mirror::provider_price_id(conn, project_id, &s.price_id)
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
    let customer = mirror::provider_customer_id(conn, project_id, &s.user_id).await?;
    let mirrored = mirror
        .subscription_created(mirror::SubscriptionRequest {
            project_id,
            subscription_id: &s.id,
            user_id: &s.user_id,
            email: &user.email,
            provider_price_id: &price,
            payment_method,
            customer_id: customer.as_deref(),
        })
        .await?;
    mirror::set_subscription_ids(conn, project_id, &s.id, &mirrored).await
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExecutedMigration {
    pub migration: Migration,
}

/// Runs a migration (or, on a dry run, counts what would move): each item
/// in a transaction of its own; `now` and `progress` come from the call.
pub async fn execute_billing_migration(
    store: &Store, project_id: &str, migration_id: &str, dry_run: bool,
    now: impl Fn() -> DateTime<Utc>, progress: impl Fn(u64, u64),
) -> Result<DangerResult<ExecutedMigration>, ToolError> {
    let moved = if dry_run {
        let m = store
            .read(async |conn| migrations::get_migration(conn, project_id, migration_id).await)
            .await?;
        m.counts.pending as u64
    } else {
        migrations::execute_migration(store, project_id, migration_id, now, progress).await?
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
