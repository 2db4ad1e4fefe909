//! A project API key on a REST endpoint (SPEC 6 "key": server to server,
//! write scope): resolved like an MCP key (cache, revocation), budgets
//! spent, refusals audited; the error is the REST answer to send.

use std::sync::Arc;

use axum::response::Response;
use http::HeaderMap;

use authgate_core::time::to_micros;
use authgate_core::{Caller, Scope, ToolError};

use super::budgets::spend_budgets;
use super::key::resolve_key;
use super::refusal::refuse;
use crate::api_error::ApiError;
use crate::app::AppState;

pub(crate) async fn rest_key(
    app: &AppState, headers: &HeaderMap, request_id: &str,
) -> Result<Arc<Caller>, Response> {
    use axum::response::IntoResponse as _;
    let caller = match resolve_key(app, headers).await {
        Ok(caller) => caller,
        Err(refusal) => return Err(refuse(app, refusal, request_id).await.rest()),
    };
    if let Err(refusal) = spend_budgets(app, &caller) {
        return Err(refuse(app, *refusal, request_id).await.rest());
    }
    if !caller
        .scopes
        .iter()
        .any(|s| matches!(s, Scope::Write | Scope::Admin))
    {
        let err = ToolError::permission_denied("this endpoint needs a key with write scope")
            .with_field("Authorization")
            .with_hint("create one with create_api_key (scopes: [\"write\"])");
        return Err(ApiError::from(err).into_response());
    }
    app.last_used.touch(&caller, to_micros(app.clock.now()));
    Ok(caller)
}
