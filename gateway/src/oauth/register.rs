//! Dynamic Client Registration (RFC 7591) at `/oauth/register`: open, at
//! most 20 registrations an hour from one address, a body of 16 KB.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;

use authgate_oauth::OAuthError;
use authgate_oauth::clients::{ClientMetadata, parse_metadata, validate_registration};

use super::form::{MAX_FORM_BYTES, client_ip};
use super::{error_json, ok_json, unavailable_json};
use crate::app::AppState;
use crate::ratelimit::Decision;

pub async fn register(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = authgate_core::net::bucket(client_ip(&parts));
    if let Decision::Limited { retry_after } = app.limits.registrations.take(&ip, Instant::now()) {
        crate::metrics::rate_limited("oauth_register_per_ip");
        let err = OAuthError {
            code: "slow_down",
            description: "too many client registrations from this address; retry later".into(),
        };
        let mut resp = error_json(StatusCode::TOO_MANY_REQUESTS, &err);
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        return resp;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        let err = OAuthError::invalid_client_metadata(format!(
            "the registration must be at most {MAX_FORM_BYTES} bytes"
        ));
        return error_json(StatusCode::PAYLOAD_TOO_LARGE, &err);
    };
    let meta: ClientMetadata = match parse_metadata(&bytes) {
        Ok(meta) => meta,
        Err(e) => {
            let err = OAuthError::invalid_client_metadata(format!(
                "the body must be a JSON object of client metadata (RFC 7591): {e}"
            ));
            return error_json(StatusCode::BAD_REQUEST, &err);
        }
    };
    let client = match validate_registration(meta) {
        Ok(client) => client,
        Err(err) => return error_json(StatusCode::BAD_REQUEST, &err),
    };
    let now = app.clock.now();
    match authgate_oauth::flows::register(&app.store, client, now).await {
        Ok(registered) => ok_json(StatusCode::CREATED, registered),
        Err(e) => unavailable_json(&e),
    }
}
