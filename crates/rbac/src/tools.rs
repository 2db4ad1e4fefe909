//! The role tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::args::{DangerResult, ListArgs};
use authgate_core::status::StatusSection;
use authgate_core::{Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, tool};

use crate::{NewRole, Role, RoleChange};

pub const ROLES: &str = "roles";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: ROLES,
            summary: "the project's roles (key, permissions, the default role) that organization members hold",
        })
        .status_section(RolesStatus)
        .register(ListRoles)
        .register(CreateRole)
        .register(UpdateRole)
        .register(DeleteRole);
}

/// List the project's roles by key: name, permissions, is_default and how
/// many organization members hold each.
#[tool(read, group = ROLES, title = "List roles", example = r#"{"limit": 50}"#)]
pub async fn list_roles(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: ListArgs,
) -> Result<Page<Role>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    crate::list(conn, ctx.project_id(), &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleArgs {
    /// Immutable key members hold the role by: a-z, 0-9, _ and -, up to 64.
    pub key: String,
    /// Display name (default: the key).
    pub name: Option<String>,
    /// Permissions: `resource:action` (posts:read), `resource:*` or `*`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Make this the role new members get when none is named (the previous
    /// default stops being it).
    #[serde(default)]
    pub is_default: bool,
}

/// Create a role. A duplicate key is a conflict.
#[tool(
    write,
    group = ROLES,
    title = "Create role",
    example = r#"{"key": "editor", "name": "Editor", "permissions": ["posts:read", "posts:write"], "is_default": true}"#
)]
pub async fn create_role(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: CreateRoleArgs,
) -> Result<Role, ToolError> {
    let new = NewRole {
        key: &args.key,
        name: args.name.as_deref(),
        permissions: &args.permissions,
        is_default: args.is_default,
    };
    crate::create(conn, ctx.project_id(), new, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleArgs {
    /// The role's key (it cannot change).
    pub key: String,
    pub name: Option<String>,
    /// Replaces the permissions.
    pub permissions: Option<Vec<String>>,
    /// true makes it the default role (and unsets the previous one in the
    /// same transaction); false makes it not the default.
    pub is_default: Option<bool>,
}

/// Change a role's name, permissions or default flag; what is not given
/// stays as it is.
#[tool(
    write,
    group = ROLES,
    title = "Update role",
    idempotent,
    example = r#"{"key": "viewer", "is_default": true}"#
)]
pub async fn update_role(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: UpdateRoleArgs,
) -> Result<Role, ToolError> {
    let change = RoleChange {
        name: args.name.as_deref(),
        permissions: args.permissions.as_deref(),
        is_default: args.is_default,
    };
    crate::update(conn, ctx.project_id(), &args.key, change, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRoleArgs {
    /// The role's key.
    pub key: String,
    /// Show what would be deleted without deleting it.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedRole {
    pub role: Role,
}

/// Delete a role. Refused with a conflict, naming the count, while
/// organization members hold it.
#[tool(danger, group = ROLES, title = "Delete role", example = r#"{"key": "editor", "dry_run": true}"#)]
pub async fn delete_role(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: DeleteRoleArgs,
) -> Result<DangerResult<DeletedRole>, ToolError> {
    let role = crate::delete(conn, ctx.project_id(), &args.key, args.dry_run).await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: DeletedRole { role },
        cascade: Default::default(),
    })
}

// ------------------------------------------------------------ status

const STATUS_ROLES: i64 = 50;

#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleSummary {
    pub key: String,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleCounts {
    pub roles: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RolesStatusOutput {
    /// The project's roles by key (the first 50).
    pub roles: Vec<RoleSummary>,
    pub counts: RoleCounts,
}

pub struct RolesStatus;

impl StatusSection for RolesStatus {
    type Output = RolesStatusOutput;

    async fn read(
        &self,
        ctx: &ToolContext,
        conn: &mut Conn<'_>,
    ) -> Result<RolesStatusOutput, ToolError> {
        let roles = crate::summaries(conn, ctx.project_id(), STATUS_ROLES)
            .await?
            .into_iter()
            .map(|(key, name, is_default)| RoleSummary {
                key,
                name,
                is_default,
            })
            .collect();
        Ok(RolesStatusOutput {
            roles,
            counts: RoleCounts {
                roles: crate::count(conn, ctx.project_id()).await?,
            },
        })
    }
}
