//! A project API key on a REST endpoint (SPEC 6 "key": server to server,
//! write scope), taken exactly as MCP takes one: the client address's
//! failed-authentication bucket first, the key resolved (cache,
//! revocation), the key's and the project's budgets spent, then the key's
//! scopes and tool allow-list, which see each endpoint as the operation it
//! is (`check_rbac_permission`, or the billing group's
//! `create_subscription` and `cancel_subscription`). Refusals are audited;
//! the error is the REST answer to send.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::response::Response;
use http::{HeaderMap, StatusCode};

use authgate_core::time::to_micros;
use authgate_core::{Caller, ErrorCode, EventType, Scope, ToolKind};

use super::budgets::spend_budgets;
use super::key::resolve_key;
use super::refusal::{Refusal, RefusalEvent, refuse};
use crate::app::AppState;

/// A REST endpoint that takes a key, as scopes and allow-lists see it: a
/// write operation of a tool group.
pub(crate) struct KeyEndpoint {
    pub name: &'static str,
    pub group: &'static str,
}

/// `POST /api/v1/permissions/check`: the check_rbac_permission tool's work.
pub(crate) const PERMISSIONS_CHECK: KeyEndpoint = KeyEndpoint {
    name: "check_rbac_permission",
    group: authgate_rbac::RBAC,
};
/// `POST /api/v1/subscriptions`.
pub(crate) const CREATE_SUBSCRIPTION: KeyEndpoint = KeyEndpoint {
    name: "create_subscription",
    group: authgate_billing::BILLING,
};
/// `DELETE /api/v1/subscriptions/{id}`.
pub(crate) const CANCEL_SUBSCRIPTION: KeyEndpoint = KeyEndpoint {
    name: "cancel_subscription",
    group: authgate_billing::BILLING,
};

/// `POST /api/v1/auth/oauth/token` from the app's server: redeems a
/// social sign-in code that was issued without a PKCE challenge.
pub(crate) const REDEEM_SIGN_IN_CODE: KeyEndpoint = KeyEndpoint {
    name: "redeem_sign_in_code",
    group: authgate_identity::END_USERS,
};

pub(crate) async fn rest_key(
    app: &AppState, headers: &HeaderMap, client: Option<IpAddr>, request_id: &str,
    endpoint: &KeyEndpoint,
) -> Result<Arc<Caller>, Response> {
    let bucket = client.map(authgate_core::net::bucket);
    if let Some(wait) = bucket.and_then(|b| app.limits.auth_failures.exhausted(&b, Instant::now()))
    {
        crate::metrics::rate_limited("auth_failures_per_ip");
        let message = "Too many failed authentications from this address; retry later";
        return Err(Refusal::too_many(wait, message).rest());
    }
    let caller = match resolve_key(app, headers).await {
        Ok(caller) => caller,
        Err(refusal) => {
            if let Some(b) = bucket
                && refusal.is_failed_authentication()
            {
                app.limits.auth_failures.take(&b, Instant::now());
            }
            return Err(refuse(app, refusal, request_id).await.rest());
        }
    };
    if let Err(refusal) = spend_budgets(app, &caller) {
        return Err(refuse(app, *refusal, request_id).await.rest());
    }
    let denied = if caller.max_scope().is_none_or(|s| s < Scope::Write) {
        Some(
            "this endpoint needs a key with the 'write' scope (create_api_key with scopes [\"write\"])"
                .to_owned(),
        )
    } else {
        caller
            .check_named(endpoint.name, endpoint.group, ToolKind::Write)
            .err()
            .map(|e| e.message)
    };
    if let Some(message) = denied {
        let refusal = Refusal::new(StatusCode::FORBIDDEN, -32001, message).audited(RefusalEvent {
            project_id: caller.project.id.clone(),
            key_id: caller.key_id.clone(),
            event_type: EventType::Tool(endpoint.name),
            error_code: ErrorCode::PermissionDenied,
            targets: Vec::new(),
        });
        return Err(refuse(app, refusal, request_id).await.rest());
    }
    app.last_used.touch(&caller, to_micros(app.clock.now()));
    Ok(caller)
}
