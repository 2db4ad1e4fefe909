//! The registry's call recorder: every tool call becomes an audit event,
//! which is where agent activity shows.

use futures::future::BoxFuture;

use authgate_core::{ActorType, CallRecord, CallRecorder, Conn, ToolContext, ToolError};

use crate::events::{NewAuditEvent, record};

/// Records every tool call for the registry: the audit log is where agent
/// activity shows.
pub struct AuditRecorder;

impl CallRecorder for AuditRecorder {
    fn record<'a>(
        &'a self, conn: &'a mut Conn<'_>, call: &'a CallRecord, ctx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<(), ToolError>> {
        Box::pin(async move {
            let mut event = NewAuditEvent {
                actor_type: ActorType::ApiKey,
                actor_id: Some(call.key_id.clone()),
                client_name: call.client.as_ref().map(|c| c.name.clone()),
                client_version: call.client.as_ref().map(|c| c.version.clone()),
                tool: Some(call.tool.clone()),
                targets: call.targets.clone(),
                arguments_hash: Some(call.arguments_hash.clone()),
                outcome: call.outcome,
                error_code: call.error_code,
                latency_ms: Some(call.latency_ms),
                request_id: Some(call.request_id.clone()),
                ..NewAuditEvent::new(&call.project_id, call.event_type)
            };
            if let Some(kind) = call.kind {
                event = event.hint("tool_kind", kind.as_str());
            }
            if call.dry_run {
                event = event.hint("dry_run", "true");
            }
            record(conn, event, ctx.now()).await.map(|_| ())
        })
    }
}
