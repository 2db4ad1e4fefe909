//! `POST /api/v1/webhooks/stripe`: Stripe's events about subscriptions,
//! verified with the endpoint's signing secret (async-stripe-webhook:
//! HMAC-SHA256 over `timestamp.payload`, compared in constant time, at
//! most 5 minutes old), applied once: the event id is recorded in the
//! transaction that applies it, so a replay changes nothing. Stripe does
//! not deliver in order: an event older than the newest applied to a
//! subscription is not applied over it, and a canceled one stays canceled.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use authgate_audit::NewAuditEvent;
use authgate_billing::{ProviderUpdate, apply_provider_update};
use authgate_core::time::to_micros;
use authgate_core::{EventType, ToolError, with_conn};
use authgate_store::Store;
use authgate_store::schema::stripe_events;
use stripe_webhook::{Webhook, WebhookError};

/// What a delivered event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A local subscription now reflects it.
    Applied { subscription_id: String },
    /// Seen before: nothing changed.
    Replayed,
    /// Verified and recorded, but about nothing kept here.
    Ignored,
}

/// The Stripe-Signature header name.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

fn bad_signature() -> ToolError {
    ToolError::invalid(
        SIGNATURE_HEADER,
        "the Stripe-Signature header does not match this endpoint's signing secret, or is older than 5 minutes",
    )
    .with_hint("set STRIPE_WEBHOOK_SECRET to the endpoint's whsec_... secret from the Stripe dashboard")
}

/// Verifies, then applies once.
pub async fn handle(
    store: &Store, secret: &str, payload: &str, signature: Option<&str>, now: DateTime<Utc>,
) -> Result<Outcome, ToolError> {
    let signature = signature.ok_or_else(bad_signature)?;
    match Webhook::construct_event(payload, signature, secret) {
        // Verified. The typed model is strict (every field of the object
        // for this API version); the few fields used here are read below
        // from the JSON, so an event it cannot model is still applied.
        Ok(_) | Err(WebhookError::BadParse(_)) => {}
        Err(_) => return Err(bad_signature()),
    }
    let event: Value = serde_json::from_str(payload)
        .map_err(|_| ToolError::invalid("body", "the event is not JSON"))?;
    let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return Err(ToolError::invalid("body", "the event has no id or type"));
    };
    let object = &event["data"]["object"];
    let update = kind
        .starts_with("customer.subscription.")
        .then(|| {
            let secs = |v: &Value| v.as_i64().and_then(|s| DateTime::from_timestamp(s, 0));
            // Newer API versions keep the period on the items.
            let item = &object["items"]["data"][0];
            Some((
                object["id"].as_str()?.to_owned(),
                ProviderUpdate {
                    status: object["status"].as_str()?.to_owned(),
                    cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
                    current_period_start: secs(&object["current_period_start"])
                        .or_else(|| secs(&item["current_period_start"])),
                    current_period_end: secs(&object["current_period_end"])
                        .or_else(|| secs(&item["current_period_end"])),
                    event_created: secs(&event["created"]),
                    local_id: object["metadata"]["authgate_subscription_id"]
                        .as_str()
                        .map(str::to_owned),
                    customer_id: object["customer"].as_str().map(str::to_owned),
                },
            ))
        })
        .flatten();
    store
        .write(async |conn| {
            let recorded = with_conn!(conn, c => {
                diesel::insert_into(stripe_events::table)
                    .values((
                        stripe_events::event_id.eq(id),
                        stripe_events::event_type.eq(kind),
                        stripe_events::received_at.eq(to_micros(now)),
                    ))
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?
            });
            if recorded == 0 {
                return Ok(Outcome::Replayed);
            }
            let Some((stripe_id, update)) = &update else {
                return Ok(Outcome::Ignored);
            };
            let Some((project_id, subscription_id, user_id)) =
                apply_provider_update(conn, stripe_id, update, now).await?
            else {
                return Ok(Outcome::Ignored);
            };
            NewAuditEvent {
                actor_id: Some("stripe".into()),
                targets: vec![subscription_id.clone(), user_id],
                ..NewAuditEvent::new(&project_id, EventType::SubscriptionSynced)
            }
            .meta("status", update.status.clone())
            .meta("stripe_event_type", kind)
            .record(conn, now)
            .await?;
            Ok(Outcome::Applied { subscription_id })
        })
        .await
}
