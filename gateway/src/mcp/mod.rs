//! The MCP server: serves the tool registry through rmcp. tools/list and
//! tools/call are driven by the registry and filtered by the caller's key;
//! the registry runs each call in its unit of work with its audit record.
//! Definitions are built once (`tools.rs`); progress notifications are
//! `progress.rs`; resources (`resources.rs`) and prompts (`prompts.rs`).

mod progress;
mod prompts;
mod resources;
mod tools;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, GetPromptRequestParams,
    GetPromptResponse, ListPromptsResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressToken, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ResourceContents, ServerConfig, Tool as McpTool,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use tracing::Instrument as _;

use authgate_core::{ClientInfo, ErrorCode, ToolContext, ToolError, ToolKind};

use crate::app::AppState;
use crate::request::AuthContext;
use progress::PeerProgress;

pub use tools::McpTools;

#[derive(Clone)]
pub struct McpHandler {
    app: Arc<AppState>,
    tools: Arc<McpTools>,
}

impl McpHandler {
    pub fn new(app: Arc<AppState>, tools: Arc<McpTools>) -> Self {
        Self { app, tools }
    }
}

fn auth_of(ctx: &RequestContext<RoleServer>) -> Result<AuthContext, ErrorData> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<AuthContext>())
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("Unauthorized: no API key on this request", None))
}

/// A failed call: `isError: true` with the error body as JSON text. No
/// structuredContent: the TypeScript SDK checks it against the tool's
/// outputSchema even on errors, and an error body does not match it.
fn error_result(err: &ToolError, request_id: &str) -> CallToolResult {
    let body = serde_json::to_value(err.body(Some(request_id))).unwrap_or(Value::Null);
    CallToolResult::error(vec![rmcp::model::ContentBlock::text(body.to_string())])
}

impl McpHandler {
    fn context(
        &self, auth: AuthContext, peer: &Peer<RoleServer>, progress_token: Option<ProgressToken>,
    ) -> (ToolContext, Option<tokio::task::JoinHandle<()>>) {
        let (progress, sent) = match progress_token {
            Some(token) => {
                let (progress, sent) = PeerProgress::start(peer.clone(), token);
                (
                    Some(Arc::new(progress) as Arc<dyn authgate_core::Progress>),
                    Some(sent),
                )
            }
            None => (None, None),
        };
        let ctx = ToolContext {
            progress,
            client: peer
                .peer_info()
                .map(|info| ClientInfo::new(&info.client_info.name, &info.client_info.version)),
            caller: auth.caller,
            store: self.app.store.clone(),
            clock: self.app.clock.clone(),
            keys: self.app.keys.clone(),
            domains: self.app.registry.clone(),
            settings: self.app.settings.clone(),
            rate_budget: Some(auth.budget),
            request_id: auth.request_id,
            tool: "",
        };
        (ctx, sent)
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        // rmcp asks for this on every stateless request: built once.
        self.tools.server_info.clone()
    }

    fn get_tool(&self, name: &str) -> Option<McpTool> {
        self.tools.definitions.get(name).cloned()
    }

    async fn list_tools(
        &self, _request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let auth = auth_of(&context)?;
        let tools = self
            .app
            .registry
            .iter()
            .filter(|t| auth.caller.may_call(t.meta()))
            .filter_map(|t| self.tools.definitions.get(t.meta().name).cloned())
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn list_resources(
        &self, _request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        auth_of(&context)?;
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn read_resource(
        &self, request: ReadResourceRequestParams, context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let auth = auth_of(&context)?;
        let uri = request.uri.as_str();
        let contents = match self.tools.resources.read(uri) {
            Some(contents) => contents,
            None if uri == resources::PROJECT_STATUS => self.project_status(auth, &context).await?,
            None => return Err(resources::unknown(uri)),
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self, _request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        auth_of(&context)?;
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self, request: GetPromptRequestParams, context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        auth_of(&context)?;
        prompts::get(&request.name, request.arguments.as_ref()).map(Into::into)
    }

    fn call_tool(
        &self, request: CallToolRequestParams, context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, ErrorData>> + Send + '_ {
        // Boxed: rmcp keeps this future inside each task it spawns for a
        // request and moves it several times; a pointer is cheap to move,
        // the whole call's state machine is not (see docs/benchmarks.md).
        Box::pin(self.run_call(request, context))
    }
}

impl McpHandler {
    /// `authgate://project/status`: get_project_status run with the
    /// caller's key (its scope and allow-list apply), as JSON.
    async fn project_status(
        &self, auth: AuthContext, context: &RequestContext<RoleServer>,
    ) -> Result<ResourceContents, ErrorData> {
        let registry = self.app.registry.clone();
        let tool = registry.get("get_project_status").cloned().ok_or_else(|| {
            ErrorData::internal_error("get_project_status is not registered", None)
        })?;
        let request_id = auth.request_id.clone();
        let (ctx, _) = self.context(auth, &context.peer, None);
        match registry
            .call(ctx, tool.as_ref(), Value::Object(Default::default()))
            .await
        {
            Ok(status) => Ok(
                ResourceContents::text(status.to_string(), resources::PROJECT_STATUS)
                    .with_mime_type("application/json"),
            ),
            Err(err) => {
                let body = serde_json::to_value(err.body(Some(&request_id))).ok();
                Err(ErrorData::invalid_request(err.message.clone(), body))
            }
        }
    }

    async fn run_call(
        &self, request: CallToolRequestParams, context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let auth = auth_of(&context)?;
        // rmcp runs the call on a task of its own, outside the HTTP
        // request's span: the call gets one with the same request id.
        let span = tracing::info_span!(
            "tool",
            request_id = %auth.request_id,
            project_id = %auth.caller.project.id,
            tool = %authgate_core::truncate(&request.name, 64),
        );
        self.call_in_span(request, context, auth)
            .instrument(span)
            .await
    }

    async fn call_in_span(
        &self, request: CallToolRequestParams, context: RequestContext<RoleServer>,
        auth: AuthContext,
    ) -> Result<CallToolResponse, ErrorData> {
        let request_id = auth.request_id.clone();
        let (ctx, progress_sent) =
            self.context(auth, &context.peer, context.meta.get_progress_token());
        let name = request.name.to_string();
        let args = Value::Object(request.arguments.unwrap_or_default());
        let registry = self.app.registry.clone();
        let Some(tool) = registry.get(&name).cloned() else {
            crate::metrics::tool_call("unknown", "denied", 0.0);
            registry.record_unknown_tool(&ctx, &name, &args).await;
            return Err(ErrorData::invalid_params(
                format!(
                    "Unknown tool '{}'; tools/list shows the tools this key may call",
                    authgate_core::truncate(&name, 64)
                ),
                None,
            ));
        };
        let started = Instant::now();
        let tool_name = tool.meta().name;
        let outcome = if tool.meta().uses_db || tool.meta().kind != ToolKind::Read {
            // A task of its own: a client that goes away mid-call cannot
            // cancel a transaction half way. Boxed, so spawning moves a
            // pointer, not the call's state machine.
            let span = tracing::Span::current();
            let task = tokio::spawn(Box::pin(
                async move { registry.call(ctx, tool.as_ref(), args).await }.instrument(span),
            ));
            match task.await {
                Ok(result) => result,
                Err(join) => Err(ToolError::internal(format!("tool task failed: {join}"))),
            }
        } else {
            registry.call(ctx, tool.as_ref(), args).await
        };
        let label = match &outcome {
            Ok(_) => "success",
            Err(e) if e.code == ErrorCode::PermissionDenied => "denied",
            Err(_) => "error",
        };
        let took = started.elapsed();
        crate::metrics::tool_call(tool_name, label, took.as_secs_f64());
        tracing::debug!(
            outcome = label,
            took_us = took.as_micros() as u64,
            "tool call"
        );
        // The call's context is gone, so its progress queue is closed:
        // every notification goes out before the result (a client may stop
        // reading at the result), within a bound should the client stall.
        if let Some(sent) = progress_sent {
            let _ = tokio::time::timeout(Duration::from_secs(5), sent).await;
        }
        let result = match outcome {
            Ok(value) => CallToolResult::structured(value),
            Err(err) => {
                tracing::info!(code = err.code.as_str(), "tool refused");
                error_result(&err, &request_id)
            }
        };
        Ok(result.into())
    }
}
