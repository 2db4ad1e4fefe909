//! The MCP server: serves the tool registry through rmcp. tools/list and
//! tools/call are driven by the registry and filtered by the caller's key;
//! every write, danger and refused call is audited.

use std::sync::Arc;
use std::time::Instant;

use hmac::{Hmac, Mac};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool as McpTool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use sha2::Sha256;

use authgate_audit::NewAuditEvent;
use authgate_core::{DynTool, ToolContext, ToolError, ToolKind};

use crate::app::{AppState, AuthContext};

/// The MCP definition of a tool: schemas, title and annotations per kind.
pub fn tool_definition(tool: &dyn DynTool) -> McpTool {
    let meta = tool.meta();
    let annotations = match meta.kind {
        ToolKind::Read => ToolAnnotations::new().read_only(true),
        ToolKind::Write => ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(meta.idempotent),
        ToolKind::Danger => ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(meta.idempotent),
    }
    .open_world(false);
    McpTool::new(
        meta.name,
        meta.full_description(),
        tool.input_schema().clone(),
    )
    .with_title(meta.title)
    .with_raw_output_schema(tool.output_schema().clone())
    .with_annotations(annotations)
}

#[derive(Clone)]
pub struct McpHandler {
    app: Arc<AppState>,
}

impl McpHandler {
    pub fn new(app: Arc<AppState>) -> Self {
        Self { app }
    }
}

fn auth_of(ctx: &RequestContext<RoleServer>) -> Result<AuthContext, ErrorData> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<AuthContext>())
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("Unauthorized: no API key on this request", None))
}

/// A keyed hash of the arguments: equal calls hash equal, but a low-entropy
/// secret among the arguments cannot be recovered by guessing.
fn arguments_hash(key: &[u8; 32], args: &Value) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(canonical_json(args).as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// JSON with object keys sorted, so equal arguments hash equal.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical_json(&map[*k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// The ids a call concerns: `*_id` arguments, and the ids in its result.
fn targets(args: &Value, output: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    if let Some(map) = args.as_object() {
        for (k, v) in map {
            if k.ends_with("_id")
                && let Some(s) = v.as_str()
            {
                push(s);
            }
        }
    }
    if let Some(map) = output.and_then(Value::as_object) {
        for (k, v) in map {
            match v {
                Value::String(s) if k == "id" => push(s),
                Value::Object(inner) => {
                    if let Some(Value::String(s)) = inner.get("id") {
                        push(s);
                    }
                }
                Value::Array(items) if k.ends_with("_ids") => {
                    items.iter().filter_map(Value::as_str).for_each(&mut push);
                }
                _ => {}
            }
        }
    }
    out
}

/// A failed call: `isError: true` with the error body as JSON text. No
/// structuredContent: the TypeScript SDK checks it against the tool's
/// outputSchema even on errors, and an error body does not match it.
fn error_result(err: &ToolError, request_id: &str) -> CallToolResult {
    let body = serde_json::to_value(err.body(Some(request_id))).unwrap_or(Value::Null);
    CallToolResult::error(vec![rmcp::model::ContentBlock::text(body.to_string())])
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("authgate", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "AuthGate manages one project's authentication: API keys, auth providers, \
                 callback URLs and the audit log. Call whoami first to see what this key may do, \
                 and get_project_status for an overview. Danger tools accept dry_run: true.",
            )
    }

    fn get_tool(&self, name: &str) -> Option<McpTool> {
        self.app.tool_defs.get(name).cloned()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let auth = auth_of(&context)?;
        let tools = self
            .app
            .registry
            .iter()
            .filter(|t| auth.caller.may_call(t.meta()))
            .filter_map(|t| self.app.tool_defs.get(t.meta().name).cloned())
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let auth = auth_of(&context)?;
        let name = request.name.to_string();
        let Some(tool) = self.app.registry.get(&name).cloned() else {
            return Err(ErrorData::invalid_params(
                format!(
                    "Unknown tool '{}'; tools/list shows the tools this key may call",
                    authgate_core::truncate(&name, 64)
                ),
                None,
            ));
        };
        let args = Value::Object(request.arguments.unwrap_or_default());
        let client = context.peer.peer_info().map(|info| {
            (
                info.client_info.name.clone(),
                info.client_info.version.clone(),
            )
        });
        let kind = tool.meta().kind;

        let outcome: Result<Value, ToolError> = match auth.caller.check(tool.meta()) {
            Err(denied) => Err(denied),
            Ok(()) => {
                let ctx = ToolContext {
                    project_id: auth.caller.project_id.clone(),
                    caller: auth.caller.clone(),
                    store: self.app.store.clone(),
                    clock: self.app.clock.clone(),
                    keys: self.app.keys.clone(),
                    catalog: self.app.catalog.clone(),
                    rate_budget: Some(auth.budget.clone()),
                    request_id: auth.request_id.clone(),
                };
                let call_args = args.clone();
                // A task of its own: a client that goes away mid-call cannot
                // cancel a transaction half way.
                let task = tokio::spawn(async move { tool.call_json(&ctx, call_args).await });
                match task.await {
                    Ok(result) => result,
                    Err(join) => Err(ToolError::internal(format!("tool task failed: {join}"))),
                }
            }
        };

        let denied =
            matches!(&outcome, Err(e) if e.code == authgate_core::ErrorCode::PermissionDenied);
        if kind != ToolKind::Read || denied {
            let (outcome_name, error_code) = match &outcome {
                Ok(_) => ("success", None),
                Err(e) if denied => ("denied", Some(e.code.as_str().to_owned())),
                Err(e) => ("error", Some(e.code.as_str().to_owned())),
            };
            let event = NewAuditEvent {
                project_id: auth.caller.project_id.clone(),
                event_type: format!("tool.{name}"),
                actor_type: "api_key".into(),
                actor_id: Some(auth.caller.key_id.clone()),
                client_name: client.as_ref().map(|c| c.0.clone()),
                client_version: client.as_ref().map(|c| c.1.clone()),
                tool: Some(name.clone()),
                targets: targets(&args, outcome.as_ref().ok()),
                arguments_hash: Some(arguments_hash(&self.app.keys.audit, &args)),
                outcome: outcome_name.into(),
                error_code,
                latency_ms: Some(started.elapsed().as_millis() as i64),
                request_id: Some(auth.request_id.clone()),
                ..NewAuditEvent::default()
            };
            if let Err(err) =
                authgate_audit::record(&self.app.store, event, self.app.clock.now()).await
            {
                tracing::warn!(request_id = %auth.request_id, error = %err, "could not write audit event");
            }
        }

        let result = match outcome {
            Ok(value) => CallToolResult::structured(value),
            Err(err) => {
                tracing::info!(request_id = %auth.request_id, tool = %name, code = err.code.as_str(), "tool refused");
                error_result(&err, &auth.request_id)
            }
        };
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": {"d": [1, {"f": 2, "e": 3}], "c": "x"}})),
            r#"{"a":{"c":"x","d":[1,{"e":3,"f":2}]},"b":1}"#
        );
        let k = [1u8; 32];
        assert_eq!(
            arguments_hash(&k, &json!({"a": 1, "b": 2})),
            arguments_hash(&k, &json!({"b": 2, "a": 1}))
        );
        assert_ne!(
            arguments_hash(&k, &json!({"a": 1})),
            arguments_hash(&k, &json!({"a": 2}))
        );
    }

    #[test]
    fn targets_come_from_ids_in_arguments_and_results() {
        let mut t = targets(
            &json!({"key_id": "key_1", "dry_run": true}),
            Some(&json!({"revoked": {"id": "key_1"}, "revoked_key_ids": ["key_2"], "id": "key_3"})),
        );
        t.sort();
        assert_eq!(t, vec!["key_1", "key_2", "key_3"]);
    }
}
