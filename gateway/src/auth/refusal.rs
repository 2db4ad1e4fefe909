//! A refused request: what to answer, rendered for the protocol that
//! asked (a JSON-RPC error for MCP, the `{"error": ...}` body for REST),
//! and what to audit when a key is known (in a transaction of its own).

use std::time::Duration;

use axum::response::{IntoResponse as _, Response};
use http::{HeaderValue, StatusCode, header};

use authgate_core::{ErrorCode, EventType, ToolError};

use crate::api_error::ApiError;
use crate::app::AppState;
use crate::jsonrpc::jsonrpc_error;

pub(crate) struct Refusal {
    pub status: StatusCode,
    /// The JSON-RPC error code of the MCP rendering.
    pub rpc_code: i64,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// The WWW-Authenticate challenge of a 401.
    pub challenge: Option<String>,
    pub audit: Option<RefusalEvent>,
}

/// A refusal worth an audit event, in the project of `project_id`.
pub(crate) struct RefusalEvent {
    pub project_id: String,
    pub key_id: String,
    pub event_type: EventType,
    pub error_code: ErrorCode,
    pub targets: Vec<String>,
}

impl Refusal {
    pub fn new(status: StatusCode, rpc_code: i64, message: impl Into<String>) -> Self {
        Refusal {
            status,
            rpc_code,
            message: message.into(),
            retry_after_secs: None,
            challenge: None,
            audit: None,
        }
    }

    pub fn unauthorized(reason: &str) -> Self {
        let mut r = Refusal::new(
            StatusCode::UNAUTHORIZED,
            -32001,
            format!("Unauthorized: {reason}"),
        );
        r.challenge = Some(format!(
            "Bearer realm=\"authgate\", error=\"invalid_token\", error_description=\"{}\"",
            reason.replace('"', "'")
        ));
        r
    }

    pub fn too_many(retry_after: Duration, message: &str) -> Self {
        let mut r = Refusal::new(StatusCode::TOO_MANY_REQUESTS, -32029, message);
        r.retry_after_secs = Some(retry_after.as_secs_f64().ceil().max(1.0) as u64);
        r
    }

    /// The database is out of reach: 503 `unavailable`, retry in a second.
    pub fn unavailable(err: &ToolError) -> Self {
        tracing::warn!(error = %err, "authentication unavailable");
        let mut r = Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -32603,
            "Unavailable: the database is out of reach right now; retry shortly",
        );
        r.retry_after_secs = Some(1);
        r
    }

    /// Whether the refusal was the caller's doing (a key not accepted),
    /// which counts against its address; an outage is not.
    pub fn is_failed_authentication(&self) -> bool {
        self.status != StatusCode::SERVICE_UNAVAILABLE
    }

    pub fn audited(mut self, event: RefusalEvent) -> Self {
        self.audit = Some(event);
        self
    }

    fn headers(&self, resp: &mut Response) {
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(v) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }

    /// For MCP clients: a JSON-RPC error body.
    pub fn mcp(&self) -> Response {
        let mut resp = jsonrpc_error(self.status, self.rpc_code, &self.message);
        self.headers(&mut resp);
        resp
    }

    /// For the REST API: its error body, naming the Authorization header.
    pub fn rest(&self) -> Response {
        let code = match self.status.as_u16() {
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::PermissionDenied,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        let mut err = ToolError::new(code, self.message.clone()).with_field("Authorization");
        err.retry_after_secs = self.retry_after_secs;
        let mut resp = ApiError::from(err).into_response();
        *resp.status_mut() = self.status;
        self.headers(&mut resp);
        resp
    }
}

/// Audits a refusal (once) and hands it back to be rendered.
pub(crate) async fn refuse(app: &AppState, mut refusal: Refusal, request_id: &str) -> Refusal {
    if let Some(event) = refusal.audit.take() {
        audit_refusal(app, event, request_id).await;
    }
    refusal
}

/// Audits every refusal and answers with the first.
pub(crate) async fn refuse_all(
    app: &AppState, refusals: Vec<Refusal>, request_id: &str,
) -> Response {
    let mut first = None;
    for refusal in refusals {
        let refusal = refuse(app, refusal, request_id).await;
        first.get_or_insert(refusal);
    }
    first
        .map(|r| r.mcp())
        .unwrap_or_else(|| jsonrpc_error(StatusCode::FORBIDDEN, -32001, "Forbidden"))
}

async fn audit_refusal(app: &AppState, event: RefusalEvent, request_id: &str) {
    let refusal = authgate_audit::KeyRefusal {
        project_id: event.project_id,
        key_id: event.key_id,
        event_type: event.event_type,
        error_code: event.error_code,
        targets: event.targets,
        request_id: request_id.to_owned(),
    };
    authgate_audit::record_refusal(&app.store, refusal, app.clock.now()).await;
}
