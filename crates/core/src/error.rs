//! The one error type every tool and domain API returns. Its `code` values
//! are a stable contract (SPEC section 4); the gateway turns it into MCP
//! content and the REST API into an HTTP answer.

use serde::Serialize;

use authgate_store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    Conflict,
    PreconditionFailed,
    LimitExceeded,
    RateLimited,
    Internal,
    // The database (or another dependency) is out of reach; retry.
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::LimitExceeded => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// A refusal or failure, with what the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}", code = .code.as_str())]
pub struct ToolError {
    pub code: ErrorCode,
    pub message: String,
    /// The argument at fault, as a path (`providers[0].client_secret`).
    pub field: Option<String>,
    pub hint: Option<String>,
    pub retryable: bool,
    /// For `rate_limited`: when to retry, in seconds (the REST API sends it
    /// as `Retry-After`).
    pub retry_after_secs: Option<u64>,
}

/// The JSON body of a failed call: `{"error": {...}}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    pub status: u16,
    pub field: Option<String>,
    pub hint: Option<String>,
    pub retryable: bool,
    pub request_id: Option<String>,
}

impl ToolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            hint: None,
            retryable: matches!(code, ErrorCode::RateLimited | ErrorCode::Unavailable),
            retry_after_secs: None,
        }
    }

    /// A `rate_limited` refusal that says when to retry.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut err = Self::new(ErrorCode::RateLimited, message);
        err.retry_after_secs = Some(retry_after_secs.max(1));
        err
    }

    /// The database is out of reach: `unavailable`, retry after a second.
    pub fn unavailable() -> Self {
        let mut err = Self::new(
            ErrorCode::Unavailable,
            "the database is unavailable right now; retry shortly",
        );
        err.retry_after_secs = Some(1);
        err
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message).with_field(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PreconditionFailed, message)
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    /// An internal failure: the detail is logged, the caller gets no internals.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ErrorCode::Internal,
            "internal error; retry, and report the request_id if it persists",
        )
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub fn body(&self, request_id: Option<&str>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                status: self.code.status(),
                field: self.field.clone(),
                hint: self.hint.clone(),
                retryable: self.retryable,
                request_id: request_id.map(str::to_owned),
            },
        }
    }
}

/// A unit of work whose refusal must commit what the unit wrote (a counted
/// attempt, a spent code try): the refusal rides in `Ok` and is raised
/// here, after the commit. Any other error rolls the unit back.
pub type Refusable<T> = Result<Result<T, ToolError>, ToolError>;

/// Raises the refusal a committed unit of work carried out (see
/// [`Refusable`]).
pub fn settle<T>(outcome: Refusable<T>) -> Result<T, ToolError> {
    outcome?
}

impl From<StoreError> for ToolError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ToolError::not_found("record not found"),
            StoreError::UniqueViolation(_) => {
                ToolError::conflict("a record with the same unique value already exists")
            }
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                ToolError::unavailable()
            }
            other => ToolError::internal(other),
        }
    }
}

impl From<diesel::result::Error> for ToolError {
    fn from(err: diesel::result::Error) -> Self {
        StoreError::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_json_is_pinned() {
        let err = ToolError::invalid("url", "url must be absolute")
            .with_hint("pass https://app.example.com/callback");
        let json = serde_json::to_value(err.body(Some("req_1"))).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"error": {
                "code": "invalid_argument",
                "message": "url must be absolute",
                "status": 400,
                "field": "url",
                "hint": "pass https://app.example.com/callback",
                "retryable": false,
                "request_id": "req_1"
            }})
        );
    }

    #[test]
    fn every_code_has_its_status() {
        let pairs = [
            (ErrorCode::InvalidArgument, 400, "invalid_argument"),
            (ErrorCode::Unauthenticated, 401, "unauthenticated"),
            (ErrorCode::PermissionDenied, 403, "permission_denied"),
            (ErrorCode::NotFound, 404, "not_found"),
            (ErrorCode::Conflict, 409, "conflict"),
            (ErrorCode::PreconditionFailed, 412, "precondition_failed"),
            (ErrorCode::LimitExceeded, 422, "limit_exceeded"),
            (ErrorCode::RateLimited, 429, "rate_limited"),
            (ErrorCode::Internal, 500, "internal"),
            (ErrorCode::Unavailable, 503, "unavailable"),
        ];
        for (code, status, name) in pairs {
            assert_eq!(code.status(), status);
            assert_eq!(code.as_str(), name);
            assert_eq!(
                serde_json::to_value(code).expect("serializes"),
                serde_json::json!(name)
            );
        }
    }

    #[test]
    fn store_errors_map_to_codes_without_internals() {
        let conflict: ToolError =
            StoreError::UniqueViolation("callback_urls_project_url_key".into()).into();
        assert_eq!(conflict.code, ErrorCode::Conflict);
        let internal: ToolError = StoreError::Other("syntax error near SELECT".into()).into();
        assert_eq!(internal.code, ErrorCode::Internal);
        assert!(!internal.message.contains("SELECT"));
        let unavailable: ToolError = StoreError::Unavailable("pool timed out".into()).into();
        assert_eq!(unavailable.code, ErrorCode::Unavailable);
        assert!(unavailable.retryable);
        assert_eq!(unavailable.retry_after_secs, Some(1));
    }
}
