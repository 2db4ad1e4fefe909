//! The role tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::args::{DangerResult, ListArgs};
use authgate_core::{Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, tool};

use crate::engine::{Decision, Question};
use crate::resources::Resource;
use crate::roles::{self, Grant, NewRole, Role, RoleChange};
use crate::sync::{Plan, SyncState};

pub const ROLES: &str = "roles";
pub const RBAC: &str = "rbac";

pub fn register(registry: &mut ToolRegistry) {
    crate::sections::register(registry);
    registry
        .group(ToolGroup {
            name: ROLES,
            summary: "the project's roles (key, permissions, the default role) that organization members hold",
        })
        .register(ListRoles)
        .register(CreateRole)
        .register(UpdateRole)
        .register(DeleteRole)
        .group(ToolGroup {
            name: RBAC,
            summary: "fine-grained access: resources and their actions, role grants with CEL conditions, permission checks, and the whole configuration as one syncable document",
        })
        .register(ListRbacResources)
        .register(CreateRbacResource)
        .register(ListRbacRoles)
        .register(CreateRbacRole)
        .register(CheckRbacPermission)
        .register(GetRbacSyncState)
        .register(ApplyRbacSync);
}

/// List the declared resources by key, with the actions each allows
/// (archived ones too, marked).
#[tool(read, group = RBAC, title = "List RBAC resources", example = r#"{}"#)]
pub async fn list_rbac_resources(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<Resource>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    crate::resources::list_resources(conn, ctx.project_id(), &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRbacResourceArgs {
    /// a-z, 0-9, _ and -, up to 64 (e.g. posts).
    pub key: String,
    pub name: Option<String>,
    /// The actions it allows: 1 to 50 distinct words (e.g. read, write, delete).
    pub actions: Vec<String>,
}

/// Declare a resource and the actions it allows, for role grants to name.
#[tool(
    write,
    group = RBAC,
    title = "Create RBAC resource",
    example = r#"{"key": "posts", "name": "Blog posts", "actions": ["read", "write", "delete"]}"#
)]
pub async fn create_rbac_resource(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CreateRbacResourceArgs,
) -> Result<Resource, ToolError> {
    crate::resources::create_resource(
        conn,
        ctx.project_id(),
        &args.key,
        args.name.as_deref(),
        &args.actions,
        ctx.now(),
    )
    .await
}

/// List roles with their grants, permissions, default flag and member counts.
#[tool(read, group = RBAC, title = "List RBAC roles", example = r#"{"limit": 50}"#)]
pub async fn list_rbac_roles(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<Role>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    roles::list_roles(conn, ctx.project_id(), &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRbacRoleArgs {
    /// Immutable key members hold the role by.
    pub key: String,
    pub name: Option<String>,
    /// Grants: a declared resource, some of its actions (or *), and an optional
    /// condition.
    pub grants: Vec<Grant>,
}

/// Create a role of grants on declared resources and actions, each with an
/// optional CEL condition (checked for syntax).
#[tool(
    write,
    group = RBAC,
    title = "Create RBAC role",
    example = r#"{"key": "author", "grants": [{"resource": "posts", "actions": ["read"]}, {"resource": "posts", "actions": ["write", "delete"], "condition": "resource.owner_id == user.id"}]}"#
)]
pub async fn create_rbac_role(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CreateRbacRoleArgs,
) -> Result<Role, ToolError> {
    crate::flows::create_role_with_grants(
        conn,
        ctx.project_id(),
        &args.key,
        args.name.as_deref(),
        &args.grants,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRbacPermissionArgs {
    /// The end user (usr_...).
    pub user_id: String,
    /// The organization (org_... or slug) whose membership gives the role.
    pub org_id: String,
    /// A resource key (e.g. posts).
    pub resource: String,
    /// An action (e.g. write).
    pub action: String,
    /// Attributes for conditions: `resource` is context.resource, any other key
    /// context.<key>.
    pub context: Option<serde_json::Value>,
}

/// May this user do this action on this resource in this organization? A
/// non-member is denied (not an error), and so is a condition that cannot be
/// evaluated.
#[tool(
    read,
    group = RBAC,
    title = "Check permission",
    example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "org_id": "acme-corp", "resource": "posts", "action": "write", "context": {"resource": {"owner_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}}}"#
)]
pub async fn check_rbac_permission(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CheckRbacPermissionArgs,
) -> Result<Decision, ToolError> {
    authgate_core::require_id("user_id", "usr", &args.user_id)?;
    let q = Question {
        user_id: &args.user_id,
        org_id: &args.org_id,
        resource: &args.resource,
        action: &args.action,
        context: args.context.as_ref(),
    };
    crate::engine::check(conn, ctx.project_id(), q).await
}

/// The whole RBAC configuration as one document {resources, roles}, in the
/// shape apply_rbac_sync takes.
#[tool(read, group = RBAC, title = "Get RBAC sync state", example = r#"{}"#)]
pub async fn get_rbac_sync_state(
    ctx: &ToolContext, conn: &mut Conn<'_>, _args: authgate_core::args::NoArgs,
) -> Result<SyncState, ToolError> {
    crate::sync::state(conn, ctx.project_id()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRbacSyncArgs {
    /// The desired configuration (get_rbac_sync_state's shape).
    pub state: SyncState,
    /// Return the plan without changing anything.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncResult {
    pub dry_run: bool,
    pub plan: Plan,
}

/// Make the RBAC configuration equal to `state` (get_rbac_sync_state's shape) in
/// one transaction: create, update, archive what it no longer names (not a role
/// members hold). Returns the plan; dry_run only plans.
#[tool(
    write,
    group = RBAC,
    title = "Apply RBAC sync",
    idempotent,
    example = r#"{"state": {"resources": [{"key": "posts", "name": "Posts", "actions": ["read", "write"]}], "roles": [{"key": "viewer", "name": "Viewer", "is_default": true, "grants": [{"resource": "posts", "actions": ["read"]}]}]}, "dry_run": true}"#
)]
pub async fn apply_rbac_sync(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ApplyRbacSyncArgs,
) -> Result<SyncResult, ToolError> {
    let plan =
        crate::sync::apply(conn, ctx.project_id(), &args.state, args.dry_run, ctx.now()).await?;
    Ok(SyncResult {
        dry_run: args.dry_run,
        plan,
    })
}

/// List the project's roles by key: name, permissions, is_default and member
/// count.
#[tool(read, group = ROLES, title = "List roles", example = r#"{"limit": 50}"#)]
pub async fn list_roles(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<Role>, ToolError> {
    // The same answer as list_rbac_roles, offered in the roles group.
    list_rbac_roles(ctx, conn, args).await
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
    /// The role new members get when none is named.
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
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CreateRoleArgs,
) -> Result<Role, ToolError> {
    let new = NewRole {
        key: &args.key,
        name: args.name.as_deref(),
        permissions: &args.permissions,
        is_default: args.is_default,
        grants: &[],
    };
    roles::create_role(conn, ctx.project_id(), new, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleArgs {
    /// The role's key (it cannot change).
    pub key: String,
    pub name: Option<String>,
    /// Replaces the permissions.
    pub permissions: Option<Vec<String>>,
    /// The role new members get when none is named.
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
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UpdateRoleArgs,
) -> Result<Role, ToolError> {
    let change = RoleChange {
        name: args.name.as_deref(),
        permissions: args.permissions.as_deref(),
        is_default: args.is_default,
    };
    roles::update_role(conn, ctx.project_id(), &args.key, change, ctx.now()).await
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

/// Delete a role; a conflict, with the count, while organization members hold
/// it.
#[tool(danger, group = ROLES, title = "Delete role", example = r#"{"key": "editor", "dry_run": true}"#)]
pub async fn delete_role(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: DeleteRoleArgs,
) -> Result<DangerResult<DeletedRole>, ToolError> {
    let role = roles::delete_role(conn, ctx.project_id(), &args.key, args.dry_run).await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: DeletedRole { role },
        cascade: Default::default(),
    })
}
