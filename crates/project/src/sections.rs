//! What the project domain contributes to get_project_status: the project
//! and its providers (a section), and its callback URLs and active API
//! keys (counts).

use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::status::{StatusCount, StatusSection};
use authgate_core::{Conn, Project, ToolContext, ToolError, ToolRegistry};

use crate::providers;

pub(crate) fn register(registry: &mut ToolRegistry) {
    registry
        .status_section(ConfigSection)
        .status_count(StatusCount {
            key: "callbacks",
            description: "Callback URLs the project allows.",
            sql: "SELECT COUNT(*) FROM callback_urls WHERE project_id = {project}",
        })
        .status_count(StatusCount {
            key: "active_api_keys",
            description: "API keys of the project that are not revoked.",
            sql: "SELECT COUNT(*) FROM api_keys WHERE project_id = {project} AND revoked_at IS NULL",
        });
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderSummary {
    pub provider: String,
    pub enabled: bool,
}

/// This domain's part of get_project_status.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigStatus {
    pub project: Project,
    pub auth_providers: Vec<ProviderSummary>,
}

pub struct ConfigSection;

impl StatusSection for ConfigSection {
    type Output = ConfigStatus;

    async fn read(
        &self, ctx: &ToolContext, conn: &mut Conn<'_>,
    ) -> Result<ConfigStatus, ToolError> {
        let project_id = ctx.project_id();
        let providers = providers::list_providers(conn, "", project_id).await?;
        Ok(ConfigStatus {
            project: ctx.caller.project.clone(),
            auth_providers: providers
                .into_iter()
                .map(|p| ProviderSummary {
                    provider: p.provider,
                    enabled: p.enabled,
                })
                .collect(),
        })
    }
}
