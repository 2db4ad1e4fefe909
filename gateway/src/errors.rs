//! The REST API's error answers, shared by its handlers and the API-key
//! check of server-to-server endpoints.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use authgate_core::ToolError;

use crate::app::RequestId;

/// A refused request: `{"error": {code, message, field, ...}}` with the
/// status of its code, and `Retry-After` when it says when to retry.
pub struct ApiError {
    error: ToolError,
    request_id: Option<String>,
}

impl ApiError {
    pub(crate) fn from_tool(error: ToolError, request_id: &str) -> Self {
        Self {
            error,
            request_id: Some(request_id.to_owned()),
        }
    }

    pub(crate) fn new(error: ToolError, request_id: &RequestId) -> Self {
        Self {
            error,
            request_id: Some(request_id.0.clone()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.code.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            serde_json::to_string(&self.error.body(self.request_id.as_deref())).unwrap_or_default();
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
