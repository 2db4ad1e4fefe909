//! The Host check of the MCP endpoints (DNS-rebinding protection), audited
//! when a valid key comes through a refused host.

use http::{HeaderMap, StatusCode, header};

use authgate_core::{Caller, ErrorCode, EventType};

use super::refusal::{Refusal, RefusalEvent};
use crate::app::AppState;

/// Whether the Host header is one of the allowed hosts.
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

pub(crate) fn check_host(
    app: &AppState, caller: &Caller, headers: &HeaderMap,
) -> Result<(), Box<Refusal>> {
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
            event_type: EventType::McpHostRefused,
            error_code: ErrorCode::PermissionDenied,
            targets: vec![caller.key_id.clone()],
        }),
    ))
}
