//! What the MCP server says of itself and its tools, built once from the
//! registry: each tool's definition (schemas, title, annotations per kind)
//! and the server's info and instructions.

use std::collections::BTreeMap;

use rmcp::model::{
    Implementation, ServerCapabilities, ServerConfig, Tool as McpTool, ToolAnnotations,
};

use std::sync::Arc;

use authgate_core::{DynTool, Registry, ToolKind, published};

/// The definitions the MCP handler serves.
pub struct McpTools {
    /// The MCP definition of every tool, by name.
    pub definitions: BTreeMap<String, McpTool>,
    /// The server info of `initialize` (and `server/discover`).
    pub server_info: ServerConfig,
    /// The resources that do not depend on the caller.
    pub resources: super::resources::StaticResources,
}

impl McpTools {
    pub fn new(registry: &Registry) -> Self {
        let definitions: BTreeMap<String, McpTool> = registry
            .iter()
            .map(|t| (t.meta().name.to_owned(), tool_definition(t.as_ref())))
            .collect();
        let sync = definitions
            .get("apply_rbac_sync")
            .map(|t| t.input_schema.as_ref());
        let resources = super::resources::StaticResources::new(registry, sync);
        McpTools {
            definitions,
            server_info: server_info(&registry.instructions()),
            resources,
        }
    }
}

/// What the server says of itself in `initialize` (and `server/discover`).
pub fn server_info(instructions: &str) -> ServerConfig {
    let capabilities = ServerCapabilities::builder()
        .enable_prompts()
        .enable_resources()
        .enable_tools()
        .build();
    ServerConfig::new(capabilities)
        .with_server_info(Implementation::new("authgate", env!("CARGO_PKG_VERSION")))
        .with_instructions(instructions.to_owned())
}

/// The MCP definition of a tool: schemas, title and annotations per kind.
pub fn tool_definition(tool: &dyn DynTool) -> McpTool {
    let meta = tool.meta();
    // Only what differs from the defaults (readOnlyHint false,
    // destructiveHint true, idempotentHint false, openWorldHint true; the
    // last fits, since tools reach mail, Stripe and the apps behind
    // callback URLs): every byte here sits in an assistant's context.
    let mut annotations = ToolAnnotations::new();
    match meta.kind {
        // idempotentHint means something only when a tool writes.
        ToolKind::Read => annotations = annotations.read_only(true),
        ToolKind::Write => annotations = annotations.destructive(false),
        // Said although it is the default: clients warn on it, and some
        // read a missing hint as "not destructive".
        ToolKind::Danger => annotations = annotations.destructive(true),
    }
    if meta.kind != ToolKind::Read && meta.idempotent {
        annotations = annotations.idempotent(true);
    }
    McpTool::new(
        meta.name,
        meta.full_description(),
        Arc::new(published::input(tool.input_schema())),
    )
    .with_title(meta.title)
    .with_raw_output_schema(Arc::new(published::output(tool.output_schema())))
    .with_annotations(annotations)
}
