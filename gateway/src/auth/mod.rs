//! API-key authentication of the MCP endpoints, one concern a file, as
//! steps that read top to bottom in [`authenticate`]: throttle the client
//! IP's failed attempts (before any database lookup), resolve the key
//! (`key.rs`, the bearer parser in `bearer.rs`), spend the key's and the
//! project's budgets (`budgets.rs`), check the Host (`host.rs`), check the
//! MCP session's owner (`session.rs`, bindings in `bindings.rs`). Each
//! refusal is answered and, when a key is known, audited (`refusal.rs`).
//! REST endpoints that take a key use the same steps (`rest.rs`).

mod bearer;
pub mod bindings;
mod budgets;
mod connection;
mod host;
mod key;
mod refusal;
mod rest;
mod session;
mod stepup;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use authgate_core::time::to_micros;

use crate::app::AppState;
use crate::jsonrpc::as_jsonrpc_error;
use crate::request::{AuthContext, LoggedKey, RequestId};
use bindings::SessionOwner;
use refusal::{Refusal, refuse, refuse_all};

pub use bearer::bearer;
pub(crate) use budgets::spend_budgets as spend;
pub use host::host_allowed;
pub(crate) use rest::{
    CANCEL_SUBSCRIPTION, CREATE_SUBSCRIPTION, KeyEndpoint, PERMISSIONS_CHECK, REDEEM_SIGN_IN_CODE,
    rest_key,
};
pub use session::SESSION_HEADER;

pub async fn authenticate(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(crate::request::current_id);
    let client = crate::request::ClientAddr::of(req.extensions())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let ip = authgate_core::net::bucket(client);
    if let Some(wait) = app.limits.auth_failures.exhausted(&ip, Instant::now()) {
        crate::metrics::rate_limited("auth_failures_per_ip");
        let message = "Too many failed authentications from this address; retry later";
        return Refusal::too_many(wait, message).mcp();
    }
    let caller = match key::resolve_key(&app, req.headers()).await {
        Ok(caller) => caller,
        Err(mut refusal) => {
            if refusal.is_failed_authentication() {
                app.limits.auth_failures.take(&ip, Instant::now());
            }
            if refusal.status == http::StatusCode::UNAUTHORIZED {
                // Where a client finds how to get a token (RFC 9728 §5.1).
                let presented = bearer(req.headers())
                    .is_some()
                    .then_some(refusal.message.as_str());
                refusal.challenge = Some(crate::oauth::discovery::challenge(
                    &app,
                    req.uri().path(),
                    presented,
                ));
            }
            return refuse(&app, refusal, &request_id).await.mcp();
        }
    };
    tracing::Span::current().record("project_id", caller.project.id.as_str());
    let budget = match budgets::spend_budgets(&app, &caller) {
        Ok(budget) => budget,
        Err(refusal) => return refuse(&app, *refusal, &request_id).await.mcp(),
    };
    if let Err(refusal) = host::check_host(&app, &caller, req.headers()) {
        return refuse(&app, *refusal, &request_id).await.mcp();
    }
    let caller = match connection::narrow(&app, caller, req.uri().query()) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.mcp(),
    };
    let mut req = match stepup::check_step_up(&app, &caller, req).await {
        Ok(req) => req,
        Err(resp) => return *resp,
    };
    let session = session::session_of(&req);
    if let Some(session) = &session
        && let Err(refusals) = session::check_session(&app, &caller, session)
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
    bind_session(&app, &resp, owner.clone(), is_delete, session.as_deref());
    let mut resp = as_jsonrpc_error(resp).await;
    resp.extensions_mut().insert(LoggedKey(owner.key_id));
    resp
}

/// A session the answer opened is bound to the key; one a DELETE ended is
/// unbound.
fn bind_session(
    app: &AppState, resp: &Response, owner: SessionOwner, is_delete: bool, session: Option<&str>,
) {
    if let Some(new_session) = resp
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        for evicted in app.sessions.bind(new_session, owner) {
            close_mcp_session(app, evicted);
        }
    }
    if is_delete
        && resp.status().is_success()
        && let Some(session) = session
    {
        app.sessions.unbind(session);
    }
}

/// Ends a Streamable HTTP session the gateway evicted (the key's oldest
/// past `AUTHGATE_MAX_SESSIONS_PER_KEY`): off the request path.
pub(crate) fn close_mcp_session(app: &AppState, session: String) {
    let manager = app.mcp_sessions.clone();
    tokio::spawn(async move {
        use rmcp::transport::streamable_http_server::session::SessionManager as _;
        let id: rmcp::transport::streamable_http_server::session::SessionId = session.into();
        let _ = manager.close_session(&id).await;
    });
}
