//! A refused HTTP request, as the REST API (and every JSON endpoint that
//! is not JSON-RPC) answers it: `{"error": {code, message, field, ...,
//! request_id}}` with the status of its code, `Retry-After` when it says
//! when to retry, and a Bearer challenge on a 401.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use authgate_core::ToolError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_is_503_with_retry_after_and_the_request_id() {
        let resp = ApiError::from(ToolError::unavailable()).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let resp = ApiError::from(ToolError::rate_limited("slow down", 7)).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        let resp = ApiError::from(ToolError::new(
            authgate_core::ErrorCode::Unauthenticated,
            "who are you",
        ))
        .into_response();
        assert_eq!(
            resp.headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
}
