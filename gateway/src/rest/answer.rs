//! How the REST API answers: JSON with `Cache-Control: no-store`, or a
//! refusal ([`ApiError`]).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use authgate_core::ToolError;

pub use crate::api_error::ApiError;

/// What a handler answers.
pub type Answer = Result<Response, ApiError>;

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
