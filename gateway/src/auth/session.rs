//! An MCP session is bound to the key that opened it: another key is
//! refused, and the attempt is recorded in the owner's project (and in the
//! caller's, if it is another). A session id bound to no key is refused.

use axum::extract::Request;
use http::StatusCode;

use authgate_core::{Caller, ErrorCode, EventType};

use super::bindings::SessionOwner;
use super::refusal::{Refusal, RefusalEvent};
use crate::app::AppState;

pub const SESSION_HEADER: &str = "mcp-session-id";

/// The MCP session a request belongs to: the `Mcp-Session-Id` header, or
/// the legacy SSE endpoint's `session_id` parameter.
pub(crate) fn session_of(req: &Request) -> Option<String> {
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

pub(crate) fn check_session(
    app: &AppState, caller: &Caller, session: &str,
) -> Result<(), Vec<Refusal>> {
    match app.sessions.owner_of(session) {
        Some(owner) if owner.key_id != caller.key_id => Err(session_refusals(caller, &owner)),
        Some(_) => Ok(()),
        // Stateless gateways open no sessions: the header means nothing.
        None if app.config.stateless => Ok(()),
        // A session this gateway never bound (or one idle long enough to
        // be forgotten) is nobody's: the client starts a new one (404 is
        // what MCP clients re-initialize on).
        None => Err(vec![Refusal::new(
            StatusCode::NOT_FOUND,
            -32001,
            "Session not found: it has ended or was not opened on this server; initialize a new session",
        )]),
    }
}

fn session_refusals(caller: &Caller, owner: &SessionOwner) -> Vec<Refusal> {
    let event = |project_id: &str| RefusalEvent {
        project_id: project_id.to_owned(),
        key_id: caller.key_id.clone(),
        event_type: EventType::McpSessionRefused,
        error_code: ErrorCode::PermissionDenied,
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
