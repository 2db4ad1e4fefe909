//! Subscriptions (server to server, with a write-scoped key) and Stripe's
//! webhooks.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use http::StatusCode;

use authgate_billing::BillingSettings;
use authgate_core::ToolError;

use super::answer::{Answer, json, ok};
use super::extract::Rest;
use crate::app::AppState;

type App = State<Arc<AppState>>;

/// `POST /api/v1/subscriptions`: 201 `{subscription}`.
pub async fn create_subscription(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let caller = match c.key(&app, &crate::auth::CREATE_SUBSCRIPTION).await {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let settings = app.settings.get::<BillingSettings>();
    let body = c.body(&bytes)?;
    let now = app.auth.now();
    let subscription =
        authgate_billing::subscribe(&app.store, &settings, &caller, body, c.request_id(), now)
            .await?;
    json(
        StatusCode::CREATED,
        &serde_json::json!({ "subscription": subscription }),
    )
}

#[derive(serde::Deserialize)]
pub struct CancelQuery {
    immediately: Option<bool>,
}

type Query = Result<axum::extract::Query<CancelQuery>, axum::extract::rejection::QueryRejection>;

/// `DELETE /api/v1/subscriptions/{id}[?immediately=true]`: cancels at the
/// end of the period, or now.
pub async fn cancel_subscription(
    State(app): App, Path(id): Path<String>, query: Query, c: Rest,
) -> Answer {
    let caller = match c.key(&app, &crate::auth::CANCEL_SUBSCRIPTION).await {
        Ok(caller) => caller,
        Err(refused) => return Ok(refused),
    };
    let immediately = query
        .map(|q| q.0.immediately.unwrap_or(false))
        .map_err(|_| ToolError::invalid("immediately", "immediately must be true or false"))?;
    let settings = app.settings.get::<BillingSettings>();
    let now = app.auth.now();
    let subscription = authgate_billing::cancel(
        &app.store,
        &settings,
        &caller,
        &id,
        immediately,
        c.request_id(),
        now,
    )
    .await?;
    ok(&serde_json::json!({ "subscription": subscription }))
}

/// `POST /api/v1/webhooks/stripe`: Stripe's events, signed with the
/// endpoint's secret; 400 for a bad signature, 200 once applied (or when
/// seen before).
pub async fn stripe_webhook(State(app): App, c: Rest, bytes: Bytes) -> Answer {
    let secret = app.config.stripe_webhook_secret.as_deref().ok_or_else(|| {
        ToolError::not_found("Stripe webhooks are not configured on this server")
            .with_hint("set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret")
    })?;
    let payload = std::str::from_utf8(&bytes)
        .map_err(|_| ToolError::invalid("body", "the event is not UTF-8 JSON"))?;
    let signature = c
        .headers
        .get(authgate_stripe::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let outcome =
        authgate_stripe::handle_webhook(&app.store, secret, payload, signature, app.auth.now())
            .await?;
    ok(&match outcome {
        authgate_stripe::WebhookOutcome::Applied { subscription_id } => {
            serde_json::json!({"received": true, "subscription_id": subscription_id})
        }
        authgate_stripe::WebhookOutcome::Replayed => {
            serde_json::json!({"received": true, "replayed": true})
        }
        authgate_stripe::WebhookOutcome::Ignored => serde_json::json!({"received": true}),
    })
}
