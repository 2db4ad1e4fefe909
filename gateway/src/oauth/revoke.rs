//! Token revocation (RFC 7009) at `/oauth/revoke`: an access or a refresh
//! token ends its whole grant (the key of kind `oauth`), so every token of
//! it stops at once, here and, through the key notification, on every
//! gateway. Unknown tokens answer 200 too, as the RFC asks.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse as _, Response};
use http::StatusCode;

use authgate_oauth::OAuthError;

use super::token::client_form;
use super::{error_json, unavailable_json};
use crate::app::AppState;

pub async fn revoke(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (params, client) = match client_form(&app, req).await {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let token = match params.one("token") {
        Ok(Some(t)) => t.to_owned(),
        Ok(None) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                &OAuthError::invalid_request("token is required"),
            );
        }
        Err(e) => return error_json(StatusCode::BAD_REQUEST, &OAuthError::invalid_request(e)),
    };
    let now = app.clock.now();
    match authgate_oauth::flows::revoke_token(&app.store, &token, &client, now).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => unavailable_json(&e),
    }
}
