//! HTTP layers in front of the MCP endpoints: request ids and the one log
//! line per request, the body limit, API-key authentication, per-key rate
//! limits and the binding of MCP sessions to projects.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use authgate_audit::NewAuditEvent;
use authgate_core::{RateBudget, new_id};
use authgate_project::AuthFailure;

use crate::app::{AppState, AuthContext, RequestId};
use crate::config::MAX_BODY_BYTES;
use crate::ratelimit::Decision;

pub const SESSION_HEADER: &str = "mcp-session-id";

/// A JSON-RPC error body with no request id, as SDKs show it.
pub fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": message},
    });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// Gives the request an id and logs one line when it is answered. Logs the
/// path, never the query or headers.
pub async fn log_requests(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = new_id("req");
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let key_id = resp
        .extensions()
        .get::<LoggedKey>()
        .map(|k| k.0.clone())
        .unwrap_or_default();
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        key_id = %key_id,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The key id a response was served for, for the request log line.
#[derive(Clone)]
struct LoggedKey(String);

/// Refuses bodies whose declared length is over the limit; rmcp and the
/// SSE bridge enforce the same limit while reading undeclared bodies.
pub async fn limit_body(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        drain(req.into_body()).await;
        return too_large();
    }
    next.run(req).await
}

/// Reads and drops (a bounded amount of) a refused body, so the client,
/// still sending, reads the 413 instead of a reset connection.
pub async fn drain(body: axum::body::Body) {
    use http_body_util::BodyExt as _;
    const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
    let mut body = body;
    let mut seen = 0usize;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map(|d| d.len()).unwrap_or(0);
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

pub fn too_large() -> Response {
    jsonrpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        -32600,
        "Request body too large: the limit is 1 MiB",
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unauthorized(reason: &str) -> Response {
    let mut resp = jsonrpc_error(
        StatusCode::UNAUTHORIZED,
        -32001,
        &format!("Unauthorized: {reason}"),
    );
    let challenge = format!(
        "Bearer realm=\"authgate\", error=\"invalid_token\", error_description=\"{}\"",
        reason.replace('"', "'")
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Checks the Host header against the allowed hosts (for the SSE bridge;
/// rmcp checks `/api/mcp` itself).
pub fn host_allowed(app: &AppState, headers: &HeaderMap) -> bool {
    if app.config.allowed_hosts.iter().any(|h| h == "*") {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let bare = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    app.config
        .allowed_hosts
        .iter()
        .any(|allowed| allowed == host || allowed == bare)
}

/// Authenticates the API key, applies the key's rate limit, enforces the
/// session binding, and hands the caller to the MCP handler.
pub async fn authenticate(
    State(app): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| new_id("req"));
    let Some(token) = bearer(req.headers()) else {
        return unauthorized(AuthFailure::Missing.reason());
    };
    let now = app.clock.now();
    let caller = match authgate_project::authenticate(&app.store, token, now).await {
        Ok(Ok(caller)) => caller,
        Ok(Err(failure)) => {
            // A revoked key in a loop must not flood the audit log: its
            // bucket decides, as for a live key (once over its rate, one
            // event per window).
            if let AuthFailure::Revoked { key_id, project_id } = &failure
                && !matches!(
                    app.limiter.check(key_id, Instant::now()),
                    Decision::Limited { audit: false, .. }
                )
            {
                audit_refusal(
                    &app,
                    project_id,
                    key_id,
                    "api_key.revoked_key_used",
                    &request_id,
                    "unauthenticated",
                )
                .await;
            }
            return unauthorized(failure.reason());
        }
        Err(err) => {
            tracing::warn!(request_id = %request_id, error = %err, "authentication unavailable");
            return jsonrpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                -32603,
                "Authentication is unavailable right now; retry shortly",
            );
        }
    };
    let remaining = match app.limiter.check(&caller.key_id, Instant::now()) {
        Decision::Allowed { remaining } => remaining,
        Decision::Limited { retry_after, audit } => {
            if audit {
                audit_refusal(
                    &app,
                    &caller.project_id,
                    &caller.key_id,
                    "api_key.rate_limited",
                    &request_id,
                    "rate_limited",
                )
                .await;
            }
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut resp = jsonrpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                -32029,
                &format!(
                    "Rate limited: this key may make {} requests/s (burst {}); retry after {secs} s",
                    app.limiter.limit().per_second,
                    app.limiter.limit().burst
                ),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return resp;
        }
    };
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &session
        && let Some(bound) = app.sessions.project_of(session)
        && bound != caller.project_id
    {
        audit_refusal(
            &app,
            &caller.project_id,
            &caller.key_id,
            "mcp.session_refused",
            &request_id,
            "permission_denied",
        )
        .await;
        return jsonrpc_error(
            StatusCode::FORBIDDEN,
            -32001,
            "Forbidden: this MCP session was opened with another project's key; initialize a new session",
        );
    }
    let project_id = caller.project_id.clone();
    let key_id = caller.key_id.clone();
    let limit = app.limiter.limit();
    req.extensions_mut().insert(AuthContext {
        caller,
        budget: RateBudget {
            per_second: limit.per_second,
            burst: limit.burst,
            remaining,
        },
        request_id,
    });
    let is_delete = req.method() == http::Method::DELETE;
    let resp = next.run(req).await;
    if let Some(new_session) = resp
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        app.sessions.bind(new_session, &project_id);
    }
    if is_delete
        && resp.status().is_success()
        && let Some(session) = &session
    {
        app.sessions.unbind(session);
    }
    let mut resp = as_jsonrpc_error(resp).await;
    resp.extensions_mut().insert(LoggedKey(key_id));
    resp
}

/// rmcp answers transport faults (a body that is not JSON-RPC, a missing
/// header) with plain text; SDKs show a JSON-RPC error body far better.
async fn as_jsonrpc_error(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !status.is_client_error() || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let (status, code, message) = if text.contains("deserialize") {
        (
            StatusCode::BAD_REQUEST,
            -32700,
            format!("Parse error: the body is not a JSON-RPC message ({text})"),
        )
    } else {
        let reason = status.canonical_reason().unwrap_or("Bad request");
        let detail = if text.is_empty() {
            reason.to_owned()
        } else {
            text
        };
        (status, -32600, format!("Invalid request: {detail}"))
    };
    let mut out = jsonrpc_error(status, code, &message);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

async fn audit_refusal(
    app: &AppState,
    project_id: &str,
    key_id: &str,
    event_type: &str,
    request_id: &str,
    error_code: &str,
) {
    let event = NewAuditEvent {
        project_id: project_id.to_owned(),
        event_type: event_type.to_owned(),
        actor_type: "api_key".into(),
        actor_id: Some(key_id.to_owned()),
        targets: vec![key_id.to_owned()],
        outcome: "denied".into(),
        error_code: Some(error_code.to_owned()),
        request_id: Some(request_id.to_owned()),
        ..NewAuditEvent::default()
    };
    if let Err(err) = authgate_audit::record(&app.store, event, app.clock.now()).await {
        tracing::warn!(request_id, error = %err, "could not write audit event");
    }
}
