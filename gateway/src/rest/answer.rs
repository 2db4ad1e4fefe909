//! How the REST API answers: JSON with `Cache-Control: no-store`, and a
//! refusal as `{"error": {code, message, field, ..., request_id}}` with the
//! status of its code, `Retry-After` when it says when to retry, and a
//! Bearer challenge on a 401.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use authgate_core::ToolError;

/// What a handler answers.
pub type Answer = Result<Response, ApiError>;

/// A refused request. The request id is the current request's.
pub struct ApiError {
    error: ToolError,
}

impl From<ToolError> for ApiError {
    fn from(error: ToolError) -> Self {
        Self { error }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.code.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let request_id = crate::request::current_id();
        let body = serde_json::to_string(&self.error.body(Some(&request_id))).unwrap_or_default();
        let mut resp = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(secs) = self.error.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// A JSON answer.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    let body = serde_json::to_string(value).map_err(ToolError::internal)?;
    Ok((
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

pub fn ok<T: Serialize>(value: &T) -> Answer {
    json(StatusCode::OK, value)
}

/// 202, no body: the request was taken (mails are sent from the outbox).
pub fn accepted() -> Answer {
    Ok(StatusCode::ACCEPTED.into_response())
}

pub fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}
