//! What the roles domain contributes to get_project_status: the first 50
//! roles (a section) and the number of roles (a count).

use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::status::{StatusCount, StatusSection};
use authgate_core::{Conn, ToolContext, ToolError, ToolRegistry};

pub(crate) fn register(registry: &mut ToolRegistry) {
    registry
        .status_section(RolesStatus)
        .status_count(StatusCount {
            key: "roles",
            description: "Roles of the project, archived ones included.",
            sql: "SELECT COUNT(*) FROM roles WHERE project_id = {project}",
        });
}

const STATUS_ROLES: i64 = 50;

#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleSummary {
    pub key: String,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RolesStatusOutput {
    /// The project's roles by key (the first 50).
    pub roles: Vec<RoleSummary>,
}

pub struct RolesStatus;

impl StatusSection for RolesStatus {
    type Output = RolesStatusOutput;

    async fn read(
        &self, ctx: &ToolContext, conn: &mut Conn<'_>,
    ) -> Result<RolesStatusOutput, ToolError> {
        let roles = crate::roles::role_summaries(conn, ctx.project_id(), STATUS_ROLES)
            .await?
            .into_iter()
            .map(|(key, name, is_default)| RoleSummary {
                key,
                name,
                is_default,
            })
            .collect();
        Ok(RolesStatusOutput { roles })
    }
}
