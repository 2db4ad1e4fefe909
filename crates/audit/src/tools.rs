//! The audit tools.

use schemars::JsonSchema;
use serde::Deserialize;

use authgate_core::args::ListArgs;
use authgate_core::time::parse_rfc3339;
use authgate_core::{Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, tool};

use crate::{AuditEvent, AuditRecorder, EventFilter};

pub const AUDIT: &str = "audit";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: AUDIT,
            summary: "the audit log of agent calls and end-user auth events",
        })
        .call_recorder(std::sync::Arc::new(AuditRecorder))
        .register(ListAuditEvents)
        .register(ListAuditEventTypes);
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAuditEventsArgs {
    /// Only events of this type (see list_audit_event_types), e.g. tool.add_callback.
    pub event_type: Option<String>,
    /// Only events by this actor (an API key id or user id).
    pub actor_id: Option<String>,
    /// Only events that concern this id (exact match).
    pub target_id: Option<String>,
    /// Only events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Only events before this RFC 3339 time.
    pub until: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
}

fn check_token(field: &str, value: &str) -> Result<(), ToolError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(
            field,
            format!("{field} must be 1 to 100 letters, digits, '_', '.' or '-'"),
        ))
    }
}

/// List audit events, newest first: every write and danger tool call, every
/// refused call, and every end-user auth event; filter by type, actor, target
/// or time.
#[tool(
    read,
    group = AUDIT,
    title = "List audit events",
    example = r#"{"event_type": "tool.revoke_api_key", "since": "2026-11-01T00:00:00Z", "limit": 50}"#
)]
pub async fn list_audit_events(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListAuditEventsArgs,
) -> Result<Page<AuditEvent>, ToolError> {
    for (field, value) in [
        ("event_type", &args.event_type),
        ("actor_id", &args.actor_id),
        ("target_id", &args.target_id),
    ] {
        if let Some(v) = value {
            check_token(field, v)?;
        }
    }
    let since = args
        .since
        .as_deref()
        .map(|s| parse_rfc3339("since", s))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_rfc3339("until", s))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(ToolError::invalid("until", "until must be after since"));
    }
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    let filter = EventFilter {
        event_type: args.event_type,
        actor_id: args.actor_id,
        target_id: args.target_id,
        since,
        until,
    };
    crate::list_events(conn, ctx.project_id(), &filter, &page).await
}

/// List the distinct audit event types recorded in this project, to filter
/// list_audit_events by.
#[tool(read, group = AUDIT, title = "List audit event types")]
pub async fn list_audit_event_types(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<String>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    crate::list_event_types(conn, ctx.project_id(), &page).await
}
