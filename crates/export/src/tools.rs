//! The export tool.

use schemars::JsonSchema;

use authgate_core::{Conn, ToolContext, ToolError, ToolGroup, ToolRegistry, require_id, tool};

use crate::export::{self, UserExport};

pub const PRIVACY: &str = "privacy";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: PRIVACY,
            summary: "GDPR: everything the project holds about one end user, as one document",
        })
        .register(ExportUserData);
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    /// The end user (usr_...).
    pub user_id: String,
}

/// Everything the project holds about one end user as one JSON document (GDPR),
/// never a secret: profile, accounts, factors, sessions, memberships,
/// invitations, subscriptions, usage, audit events. Each export is audited.
#[tool(read, audited, group = PRIVACY, title = "Export user data", example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn export_user_data(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ExportArgs,
) -> Result<UserExport, ToolError> {
    require_id("user_id", "usr", &args.user_id)?;
    export::export_user(ctx, conn, &args.user_id).await
}
