//! The audit tools.

use schemars::JsonSchema;
use serde::Deserialize;

use authgate_core::args::ListArgs;
use authgate_core::time::parse_rfc3339;
use authgate_core::{Page, Tool, ToolContext, ToolError, ToolKind, ToolMeta, ToolRegistry, groups};

use crate::{AuditEvent, EventFilter};

pub fn register(registry: &mut ToolRegistry) {
    registry
        .register(ListAuditEvents)
        .register(ListAuditEventTypes);
}

pub struct ListAuditEvents;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAuditEventsArgs {
    /// Only events of this type (see list_audit_event_types), e.g. tool.add_callback.
    pub event_type: Option<String>,
    /// Only events by this actor (an API key id or user id).
    pub actor_id: Option<String>,
    /// Only events that concern this id.
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

impl Tool for ListAuditEvents {
    type Input = ListAuditEventsArgs;
    type Output = Page<AuditEvent>;
    const META: ToolMeta = ToolMeta {
        name: "list_audit_events",
        title: "List audit events",
        description: "List audit events, newest first: every write and danger tool call and every refused call (with the API key, MCP client, tool, targets, argument hash, outcome and latency), filtered by type, actor, target or time.",
        kind: ToolKind::Read,
        group: groups::AUDIT,
        idempotent: true,
        example: r#"{"event_type": "tool.revoke_api_key", "since": "2026-11-01T00:00:00Z", "limit": 50}"#,
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: ListAuditEventsArgs,
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
        let page = ctx.page_request("audit_events", args.limit, args.cursor.as_deref())?;
        let filter = EventFilter {
            event_type: args.event_type,
            actor_id: args.actor_id,
            target_id: args.target_id,
            since,
            until,
        };
        crate::list_events(&ctx.store, &ctx.project_id, &filter, &page, &ctx.cursors()).await
    }
}

pub struct ListAuditEventTypes;

impl Tool for ListAuditEventTypes {
    type Input = ListArgs;
    type Output = Page<String>;
    const META: ToolMeta = ToolMeta {
        name: "list_audit_event_types",
        title: "List audit event types",
        description: "List the distinct audit event types recorded in this project, to filter list_audit_events by.",
        kind: ToolKind::Read,
        group: groups::AUDIT,
        idempotent: true,
        example: "{}",
    };

    async fn call(&self, ctx: &ToolContext, args: ListArgs) -> Result<Page<String>, ToolError> {
        let page = ctx.page_request("audit_event_types", args.limit, args.cursor.as_deref())?;
        crate::list_event_types(&ctx.store, &ctx.project_id, &page, &ctx.cursors()).await
    }
}
