//! API-key authentication of the MCP endpoints, as steps that read top to
//! bottom: throttle the client IP's failed attempts (before any database
//! lookup), resolve the key, spend the key's and the project's budgets,
//! check the Host, check the MCP session's owner. Each refusal is answered
//! here and, when a key is known, audited in a transaction of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use authgate_audit::NewAuditEvent;
use authgate_core::time::to_micros;
use authgate_core::{Budget, Caller, RateBudget, ToolError, new_id};
use authgate_project::AuthFailure;

use crate::app::{AppState, AuthContext, RequestId, SessionOwner};
use crate::http::{LoggedKey, as_jsonrpc_error, host_allowed, jsonrpc_error};
use crate::ratelimit::Decision;

pub const SESSION_HEADER: &str = "mcp-session-id";

/// A refusal: what to answer, rendered for the protocol that asked (a
/// JSON-RPC error for MCP, the `{"error": ...}` body for REST), and what
/// to audit (if a key is known).
struct Refusal {
    status: StatusCode,
    /// The JSON-RPC error code of the MCP rendering.
    rpc_code: i64,
    message: String,
    retry_after_secs: Option<u64>,
    /// The WWW-Authenticate challenge of a 401.
    challenge: Option<String>,
    audit: Option<RefusalEvent>,
}

impl Refusal {
    fn new(status: StatusCode, rpc_code: i64, message: impl Into<String>) -> Self {
        Refusal {
            status,
            rpc_code,
            message: message.into(),
            retry_after_secs: None,
            challenge: None,
            audit: None,
        }
    }

    fn unauthorized(reason: &str) -> Self {
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

    fn too_many(retry_after: Duration, message: &str) -> Self {
        let mut r = Refusal::new(StatusCode::TOO_MANY_REQUESTS, -32029, message);
        r.retry_after_secs = Some(retry_after.as_secs_f64().ceil().max(1.0) as u64);
        r
    }

    fn unavailable(err: &ToolError, request_id: &str) -> Self {
        tracing::warn!(request_id, error = %err, "authentication unavailable");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -32603,
            "Authentication is unavailable right now; retry shortly",
        )
    }

    fn audited(mut self, event: RefusalEvent) -> Self {
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
    fn mcp(&self) -> Response {
        let mut resp = jsonrpc_error(self.status, self.rpc_code, &self.message);
        self.headers(&mut resp);
        resp
    }

    /// For the REST API: its error body, naming the Authorization header.
    fn rest(&self, request_id: &str) -> Response {
        use authgate_core::ErrorCode;
        let code = match self.status.as_u16() {
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::PermissionDenied,
            429 => ErrorCode::RateLimited,
            _ => ErrorCode::Internal,
        };
        let mut err = ToolError::new(code, self.message.clone()).with_field("Authorization");
        err.retry_after_secs = self.retry_after_secs;
        let mut resp = crate::errors::ApiError::from_tool(err, request_id).into_response();
        *resp.status_mut() = self.status;
        self.headers(&mut resp);
        resp
    }
}

/// A refusal worth an audit event, in the project of `project_id`.
struct RefusalEvent {
    project_id: String,
    key_id: String,
    event_type: &'static str,
    error_code: &'static str,
    targets: Vec<String>,
}

pub async fn authenticate(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| new_id("req"));
    let ip = peer.ip();
    if let Some(wait) = app.limits.auth_failures.exhausted(&ip, Instant::now()) {
        crate::metrics::rate_limited("auth_failures_per_ip");
        return Refusal::too_many(
            wait,
            "Too many failed authentications from this address; retry later",
        )
        .mcp();
    }
    let caller = match resolve_key(&app, req.headers(), &request_id).await {
        Ok(caller) => caller,
        Err(refusal) => {
            app.limits.auth_failures.take(&ip, Instant::now());
            return refuse(&app, refusal, &request_id).await.mcp();
        }
    };
    let budget = match spend_budgets(&app, &caller) {
        Ok(budget) => budget,
        Err(refusal) => return refuse(&app, *refusal, &request_id).await.mcp(),
    };
    if let Err(refusal) = check_host(&app, &caller, req.headers()) {
        return refuse(&app, *refusal, &request_id).await.mcp();
    }
    let session = session_of(&req);
    if let Some(session) = &session
        && let Err(refusals) = check_session(&app, &caller, session)
    {
        return refuse_all(&app, refusals, &request_id).await;
    }

    app.last_used.touch(&caller, to_micros(app.clock.now()));
    let owner = SessionOwner {
        key_id: caller.key_id.clone(),
        project_id: caller.project.id.clone(),
    };
    req.extensions_mut().insert(AuthContext {
        caller,
        budget,
        request_id,
    });
    let is_delete = req.method() == http::Method::DELETE;
    let resp = next.run(req).await;
    if let Some(new_session) = resp
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        app.sessions.bind(new_session, owner.clone());
    }
    if is_delete
        && resp.status().is_success()
        && let Some(session) = &session
    {
        app.sessions.unbind(session);
    }
    let mut resp = as_jsonrpc_error(resp).await;
    resp.extensions_mut().insert(LoggedKey(owner.key_id));
    resp
}

/// The MCP session a request belongs to: the `Mcp-Session-Id` header, or
/// the legacy SSE endpoint's `session_id` parameter.
fn session_of(req: &Request) -> Option<String> {
    if let Some(id) = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return Some(id.to_owned());
    }
    if req.uri().path() != "/api/sse/messages" {
        return None;
    }
    url::form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == "session_id")
        .map(|(_, v)| v.into_owned())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The presented key's caller, or a 401: from the cache when it holds the
/// key, else from the database (and then cached).
async fn resolve_key(
    app: &AppState,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<Arc<Caller>, Refusal> {
    let Some(token) = bearer(headers) else {
        crate::metrics::auth_failure("missing");
        return Err(Refusal::unauthorized(AuthFailure::Missing.reason()));
    };
    if !authgate_project::keys::well_formed(token) {
        crate::metrics::auth_failure("malformed");
        return Err(Refusal::unauthorized(AuthFailure::Malformed.reason()));
    }
    let digest = authgate_project::keys::key_digest(token);
    if let Some(caller) = app.key_cache.get(&digest) {
        return Ok(caller);
    }
    let generation = app.key_cache.generation();
    let resolved = app
        .store
        .autocommit(async |conn| authgate_project::authenticate(conn, token).await)
        .await;
    match resolved {
        Ok(Ok(caller)) => {
            let caller = Arc::new(caller);
            app.key_cache.insert(generation, digest, caller.clone());
            Ok(caller)
        }
        Ok(Err(failure)) => {
            crate::metrics::auth_failure(match failure {
                AuthFailure::Missing => "missing",
                AuthFailure::Malformed => "malformed",
                AuthFailure::Unknown => "unknown",
                AuthFailure::Revoked { .. } => "revoked",
            });
            let refusal = Refusal::unauthorized(failure.reason());
            // A revoked key in a loop must not flood the audit log.
            let audit = match failure {
                AuthFailure::Revoked { key_id, project_id }
                    if app
                        .limits
                        .refusals
                        .should_record(&key_id, "revoked", Instant::now()) =>
                {
                    Some(RefusalEvent {
                        project_id,
                        targets: vec![key_id.clone()],
                        key_id,
                        event_type: "api_key.revoked_key_used",
                        error_code: "unauthenticated",
                    })
                }
                _ => None,
            };
            Err(Refusal { audit, ..refusal })
        }
        Err(err) => {
            crate::metrics::auth_failure("unavailable");
            Err(Refusal::unavailable(&err, request_id))
        }
    }
}

/// Spends one token of the key's and one of the project's bucket.
fn spend_budgets(app: &AppState, caller: &Caller) -> Result<RateBudget, Box<Refusal>> {
    let now = Instant::now();
    let limits = &app.limits;
    let key = limits.per_key.take(&caller.key_id, now);
    let project = match key {
        Decision::Allowed { .. } => limits.per_project.take(&caller.project.id, now),
        limited => limited,
    };
    match (key, project) {
        (Decision::Allowed { remaining }, Decision::Allowed { remaining: shared }) => {
            let (k, p) = (limits.per_key.limit(), limits.per_project.limit());
            Ok(RateBudget {
                per_second: k.per_second,
                burst: k.burst,
                remaining,
                project: Budget {
                    per_second: p.per_second,
                    burst: p.burst,
                    remaining: shared,
                },
            })
        }
        (Decision::Limited { retry_after }, _) | (_, Decision::Limited { retry_after }) => {
            let which = if matches!(key, Decision::Limited { .. }) {
                let l = limits.per_key.limit();
                format!(
                    "this key may make {} requests/s (burst {})",
                    l.per_second, l.burst
                )
            } else {
                let l = limits.per_project.limit();
                format!(
                    "this project's keys together may make {} requests/s (burst {})",
                    l.per_second, l.burst
                )
            };
            crate::metrics::rate_limited(if matches!(key, Decision::Limited { .. }) {
                "per_key"
            } else {
                "per_project"
            });
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let audit = limits
                .refusals
                .should_record(&caller.key_id, "rate_limited", now)
                .then(|| RefusalEvent {
                    project_id: caller.project.id.clone(),
                    key_id: caller.key_id.clone(),
                    event_type: "api_key.rate_limited",
                    error_code: "rate_limited",
                    targets: vec![caller.key_id.clone()],
                });
            Err(Box::new(Refusal {
                audit,
                ..Refusal::too_many(
                    retry_after,
                    &format!("Rate limited: {which}; retry after {secs} s"),
                )
            }))
        }
    }
}

/// The Host check (DNS-rebinding protection), audited when a valid key
/// comes through a refused host.
fn check_host(app: &AppState, caller: &Caller, headers: &HeaderMap) -> Result<(), Box<Refusal>> {
    if host_allowed(app, headers) {
        return Ok(());
    }
    Err(Box::new(
        Refusal::new(
            StatusCode::FORBIDDEN,
            -32001,
            "Forbidden: Host header is not allowed; add the host to AUTHGATE_ALLOWED_HOSTS",
        )
        .audited(RefusalEvent {
            project_id: caller.project.id.clone(),
            key_id: caller.key_id.clone(),
            event_type: "mcp.host_refused",
            error_code: "permission_denied",
            targets: vec![caller.key_id.clone()],
        }),
    ))
}

/// An MCP session is bound to the key that opened it; another key is
/// refused, and the attempt is recorded in the owner's project (and in
/// the caller's, if it is another).
fn check_session(app: &AppState, caller: &Caller, session: &str) -> Result<(), Vec<Refusal>> {
    match app.sessions.owner_of(session) {
        Some(owner) if owner.key_id != caller.key_id => Err(session_refusals(caller, &owner)),
        _ => Ok(()),
    }
}

fn session_refusals(caller: &Caller, owner: &SessionOwner) -> Vec<Refusal> {
    let event = |project_id: &str| RefusalEvent {
        project_id: project_id.to_owned(),
        key_id: caller.key_id.clone(),
        event_type: "mcp.session_refused",
        error_code: "permission_denied",
        targets: vec![owner.key_id.clone(), caller.key_id.clone()],
    };
    let mut refusals = vec![
        Refusal::new(
            StatusCode::FORBIDDEN,
            -32001,
            "Forbidden: this MCP session was opened with another API key; initialize a new session",
        )
        .audited(event(&owner.project_id)),
    ];
    if owner.project_id != caller.project.id {
        refusals.push(
            Refusal::new(StatusCode::FORBIDDEN, -32001, "Forbidden")
                .audited(event(&caller.project.id)),
        );
    }
    refusals
}

/// Audits a refusal (once) and hands it back to be rendered.
async fn refuse(app: &AppState, mut refusal: Refusal, request_id: &str) -> Refusal {
    if let Some(event) = refusal.audit.take() {
        audit_refusal(app, event, request_id).await;
    }
    refusal
}

/// Audits every refusal and answers with the first.
async fn refuse_all(app: &AppState, refusals: Vec<Refusal>, request_id: &str) -> Response {
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
    let now = app.clock.now();
    let new = NewAuditEvent {
        project_id: event.project_id,
        event_type: event.event_type.to_owned(),
        actor_type: "api_key".into(),
        actor_id: Some(event.key_id),
        targets: event.targets,
        outcome: "denied".into(),
        error_code: Some(event.error_code.to_owned()),
        request_id: Some(request_id.to_owned()),
        ..NewAuditEvent::default()
    };
    let written = app
        .store
        .write(async |conn| authgate_audit::record(conn, new, now).await)
        .await;
    if let Err(err) = written {
        tracing::warn!(request_id, error = %err, "could not write audit event");
    }
}

/// A project API key on a REST endpoint (SPEC 6 "key": server to server,
/// write scope): resolved like an MCP key (cache, revocation), budgets
/// spent, refusals audited. The error is the response to send.
pub(crate) async fn rest_key(
    app: &AppState,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<Arc<Caller>, Response> {
    let caller = match resolve_key(app, headers, request_id).await {
        Ok(caller) => caller,
        Err(refusal) => {
            return Err(refuse(app, refusal, request_id).await.rest(request_id));
        }
    };
    if let Err(refusal) = spend_budgets(app, &caller) {
        return Err(refuse(app, *refusal, request_id).await.rest(request_id));
    }
    if !caller.scopes.iter().any(|s| {
        matches!(
            s,
            authgate_core::context::Scope::Write | authgate_core::context::Scope::Admin
        )
    }) {
        let err = authgate_core::ToolError::permission_denied(
            "this endpoint needs a key with write scope",
        )
        .with_field("Authorization")
        .with_hint("create one with create_api_key (scopes: [\"write\"])");
        return Err(crate::errors::ApiError::from_tool(err, request_id).into_response());
    }
    app.last_used.touch(&caller, to_micros(app.clock.now()));
    Ok(caller)
}
