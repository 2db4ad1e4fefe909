//! MCP resources: the tool reference (`authgate://docs/tools`, docs/tools.md
//! as `cargo xtask schemas` generates it), the caller's project status
//! (`authgate://project/status`, what get_project_status returns, read with
//! the caller's key and its limits) and the schema of an RBAC sync document
//! (`authgate://rbac/sync-schema`, apply_rbac_sync's `state`). The two
//! static texts are built once, with the tool definitions.

use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents};

pub const DOCS_TOOLS: &str = "authgate://docs/tools";
pub const PROJECT_STATUS: &str = "authgate://project/status";
pub const SYNC_SCHEMA: &str = "authgate://rbac/sync-schema";

/// The texts that do not depend on the caller.
pub struct StaticResources {
    pub docs_tools: String,
    pub sync_schema: String,
}

impl StaticResources {
    pub fn new(
        registry: &authgate_core::Registry, sync_input: Option<&rmcp::model::JsonObject>,
    ) -> Self {
        let docs_tools = authgate_core::docs::render(registry)
            .remove("docs/tools.md")
            .unwrap_or_default();
        let state = sync_input
            .and_then(|schema| schema.get("properties"))
            .and_then(|props| props.get("state"))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        StaticResources {
            docs_tools,
            sync_schema: serde_json::to_string_pretty(&state).unwrap_or_default(),
        }
    }

    /// The text of a static resource, if `uri` names one.
    pub fn read(&self, uri: &str) -> Option<ResourceContents> {
        match uri {
            DOCS_TOOLS => Some(
                ResourceContents::text(self.docs_tools.clone(), uri)
                    .with_mime_type("text/markdown"),
            ),
            SYNC_SCHEMA => Some(
                ResourceContents::text(self.sync_schema.clone(), uri)
                    .with_mime_type("application/schema+json"),
            ),
            _ => None,
        }
    }
}

/// What resources/list shows.
pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(DOCS_TOOLS, "tools")
            .with_title("AuthGate tool reference")
            .with_description(
                "Every tool with its arguments, results and an example (docs/tools.md).",
            )
            .with_mime_type("text/markdown"),
        Resource::new(PROJECT_STATUS, "project-status")
            .with_title("Project status")
            .with_description("This key's project as get_project_status shows it (JSON).")
            .with_mime_type("application/json"),
        Resource::new(SYNC_SCHEMA, "rbac-sync-schema")
            .with_title("RBAC sync document schema")
            .with_description(
                "JSON Schema of the `state` apply_rbac_sync takes: resources and roles as code.",
            )
            .with_mime_type("application/schema+json"),
    ]
}

/// An unknown URI: -32002 (resource not found); rmcp answers -32602
/// instead to peers of protocol 2026-07-28 and later (SEP-2164).
pub fn unknown(uri: &str) -> ErrorData {
    let uri = authgate_core::truncate(uri, 200);
    ErrorData::resource_not_found(
        format!(
            "no resource {uri}; resources/list shows {DOCS_TOOLS}, {PROJECT_STATUS} and {SYNC_SCHEMA}"
        ),
        Some(serde_json::json!({ "uri": uri })),
    )
}
