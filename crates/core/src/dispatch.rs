//! Running a tool call: the caller's scope and allow-list are checked, the
//! tool runs in one unit of work, and a write or danger call's audit record
//! is written inside that same transaction, so the change and its record
//! commit together or not at all. A refused or failed call is recorded in a
//! transaction of its own (its change, if any, has rolled back).

use std::time::Instant;

use serde_json::Value;

use crate::events::{EventType, Outcome};
use crate::record::{CallRecord, arguments_hash, targets};
use crate::{DynTool, ErrorCode, Registry, ToolContext, ToolError, ToolKind};

impl Registry {
    /// Calls a registered tool for `ctx`'s caller. The caller's scope and
    /// allow-list decide first; the tool runs in one unit of work (a read
    /// snapshot for read tools, a write transaction otherwise) with the
    /// audit record of a write or danger call inside it.
    pub async fn call(
        &self, mut ctx: ToolContext, tool: &dyn DynTool, args: Value,
    ) -> Result<Value, ToolError> {
        let started = Instant::now();
        let meta = *tool.meta();
        ctx.tool = meta.name;
        let ctx = &ctx;
        let record =
            |outcome: Outcome, error: Option<&ToolError>, output: Option<&Value>| CallRecord {
                project_id: ctx.project_id().to_owned(),
                event_type: EventType::Tool(meta.name),
                tool: meta.name.to_owned(),
                kind: Some(meta.kind),
                dry_run: output
                    .and_then(|o| o.get("dry_run"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                key_id: ctx.caller.key_id.clone(),
                client: ctx.client.clone(),
                targets: targets(tool.id_arguments(), &args, output),
                arguments_hash: arguments_hash(&ctx.keys.audit, &args),
                outcome,
                error_code: error.map(|e| e.code),
                latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                request_id: ctx.request_id.clone(),
            };
        if let Err(denied) = ctx.caller.check(&meta) {
            self.record_alone(ctx, record(Outcome::Denied, Some(&denied), None))
                .await;
            return Err(denied);
        }
        let writes = meta.kind != ToolKind::Read;
        let result = match (writes, meta.uses_db) {
            (false, false) => tool.call_json(ctx, None, args.clone()).await,
            (false, true) => {
                ctx.store
                    .read(async |conn| tool.call_json(ctx, Some(conn), args.clone()).await)
                    .await
            }
            (true, true) => {
                ctx.store
                    .write(async |conn| {
                        let value = tool.call_json(ctx, Some(conn), args.clone()).await?;
                        let call = record(Outcome::Success, None, Some(&value));
                        self.recorder.record(conn, &call, ctx).await?;
                        Ok(value)
                    })
                    .await
            }
            // A tool that manages its own units of work (many small
            // transactions): its record follows in one of its own.
            (true, false) => {
                let result = tool.call_json(ctx, None, args.clone()).await;
                if let Ok(value) = &result {
                    self.record_alone(ctx, record(Outcome::Success, None, Some(value)))
                        .await;
                }
                result
            }
        };
        // An audited read (personal data handed out) is recorded after its
        // snapshot, by its arguments (its answer may be large).
        if !writes && meta.audited && result.is_ok() {
            self.record_alone(ctx, record(Outcome::Success, None, None))
                .await;
        }
        let audited = meta.audited;
        if let Err(err) = &result {
            let denied = err.code == ErrorCode::PermissionDenied;
            if audited || denied {
                let outcome = if denied {
                    Outcome::Denied
                } else {
                    Outcome::Error
                };
                self.record_alone(ctx, record(outcome, Some(err), None))
                    .await;
            }
        }
        result
    }

    /// Records a call to a tool that does not exist (the name cut short).
    pub async fn record_unknown_tool(&self, ctx: &ToolContext, name: &str, args: &Value) {
        let call = CallRecord {
            project_id: ctx.project_id().to_owned(),
            event_type: EventType::McpUnknownTool,
            tool: crate::truncate(name, 64),
            kind: None,
            dry_run: false,
            key_id: ctx.caller.key_id.clone(),
            client: ctx.client.clone(),
            targets: Vec::new(),
            arguments_hash: arguments_hash(&ctx.keys.audit, args),
            outcome: Outcome::Denied,
            error_code: Some(ErrorCode::NotFound),
            latency_ms: 0,
            request_id: ctx.request_id.clone(),
        };
        self.record_alone(ctx, call).await;
    }

    /// Writes a record in a transaction of its own. A failure is logged:
    /// the call's answer does not depend on it.
    async fn record_alone(&self, ctx: &ToolContext, call: CallRecord) {
        let written = ctx
            .store
            .write(async |conn| self.recorder.record(conn, &call, ctx).await)
            .await;
        if let Err(err) = written {
            tracing::warn!(request_id = %ctx.request_id, error = %err, "could not write the audit record");
        }
    }
}
