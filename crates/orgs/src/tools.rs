//! The organization and member tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use authgate_core::args::DangerResult;
use authgate_core::{
    Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, require_id, tool,
};

use crate::flows::OrgDetail;
use crate::invitations::{self, Invitation, InvitationStatus, NewInvitation};
use crate::members::{self, Member};
use crate::organizations::{self as orgs, NewOrg, Org, OrgChange};

pub const ORGANIZATIONS: &str = "organizations";

pub fn register(registry: &mut ToolRegistry) {
    crate::sections::register(registry);
    registry
        .group(ToolGroup {
            name: ORGANIZATIONS,
            summary: "organizations (teams, workspaces) of end users and their members' roles",
        })
        .register(ListOrgs)
        .register(GetOrg)
        .register(CreateOrg)
        .register(UpdateOrg)
        .register(DeleteOrg)
        .register(ListOrgMembers)
        .register(ListUserMemberships)
        .register(AddOrgMember)
        .register(UpdateOrgMemberRole)
        .register(RemoveOrgMember)
        .register(InviteOrgMember)
        .register(ListOrgInvitations)
        .register(RevokeOrgInvitation);
}

fn user_id(id: &str) -> Result<(), ToolError> {
    require_id("user_id", "usr", id)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOrgsArgs {
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
    /// Only organizations whose name or slug contains this (case-insensitive).
    pub query: Option<String>,
}

/// List the project's organizations, oldest first, with member_count.
#[tool(read, group = ORGANIZATIONS, title = "List organizations", example = r#"{"query": "acme"}"#)]
pub async fn list_orgs(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListOrgsArgs,
) -> Result<Page<Org>, ToolError> {
    let query = args
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    if query.is_some_and(|q| q.len() > 200) {
        return Err(ToolError::invalid(
            "query",
            "query must be at most 200 bytes",
        ));
    }
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    orgs::list_orgs(conn, ctx.project_id(), query, &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgIdArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
}

/// Get one organization by id or slug, with its first 100 members, pending
/// invitations and member_count.
#[tool(read, group = ORGANIZATIONS, title = "Get organization", example = r#"{"org_id": "acme-corp"}"#)]
pub async fn get_org(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: OrgIdArgs,
) -> Result<OrgDetail, ToolError> {
    crate::flows::org_detail(conn, ctx.project_id(), &args.org_id, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgArgs {
    pub name: String,
    /// a-z, 0-9 and -, 2 to 48 characters, unique (default: from the name).
    pub slug: Option<String>,
    /// At most this many members (default: no limit).
    pub member_limit: Option<i64>,
    /// A JSON object to keep on the organization (at most 8 KiB).
    pub metadata: Option<Value>,
}

/// Create an organization; without a slug one is made from the name. A taken
/// slug is a conflict.
#[tool(
    write,
    group = ORGANIZATIONS,
    title = "Create organization",
    example = r#"{"name": "Acme Corp", "member_limit": 50, "metadata": {"plan": "team"}}"#
)]
pub async fn create_org(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CreateOrgArgs,
) -> Result<Org, ToolError> {
    let new = NewOrg {
        name: &args.name,
        slug: args.slug.as_deref(),
        member_limit: args.member_limit,
        metadata: args.metadata.as_ref(),
    };
    crate::flows::create_org(conn, ctx.project_id(), new, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    pub name: Option<String>,
    pub slug: Option<String>,
    /// An https URL of the organization's logo.
    pub image_url: Option<String>,
    /// Below the current member count is a conflict.
    pub member_limit: Option<i64>,
    /// Replaces the metadata object.
    pub metadata: Option<Value>,
}

/// Change an organization; what is not given stays. A slug in use, or a
/// member_limit below the member count, is a conflict.
#[tool(
    write,
    group = ORGANIZATIONS,
    title = "Update organization",
    idempotent,
    example = r#"{"org_id": "org_01JD8X3V9Q4K7M2N5P6R8S0T1W", "name": "Acme Inc", "member_limit": 100}"#
)]
pub async fn update_org(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UpdateOrgArgs,
) -> Result<Org, ToolError> {
    let change = OrgChange {
        name: args.name.as_deref(),
        slug: args.slug.as_deref(),
        image_url: args.image_url.as_deref(),
        member_limit: args.member_limit,
        metadata: args.metadata.as_ref(),
    };
    crate::flows::update_org(conn, ctx.project_id(), &args.org_id, change, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteOrgArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    /// Show what would be deleted without deleting it.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedOrg {
    pub organization: Org,
}

/// Delete an organization with its memberships and invitations. Irreversible.
#[tool(
    danger,
    group = ORGANIZATIONS,
    title = "Delete organization",
    example = r#"{"org_id": "org_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn delete_org(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: DeleteOrgArgs,
) -> Result<DangerResult<DeletedOrg>, ToolError> {
    let (organization, cascade) = crate::flows::delete_org(
        conn,
        ctx.project_id(),
        &args.org_id,
        args.dry_run,
        ctx.now(),
    )
    .await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: DeletedOrg { organization },
        cascade,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOrgMembersArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
}

/// List an organization's members, oldest first, with their roles.
#[tool(
    read,
    group = ORGANIZATIONS,
    title = "List organization members",
    example = r#"{"org_id": "acme-corp", "limit": 50}"#
)]
pub async fn list_org_members(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListOrgMembersArgs,
) -> Result<Page<Member>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    members::list_members(conn, ctx.project_id(), &args.org_id, &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListUserMembershipsArgs {
    /// The end user (usr_...).
    pub user_id: String,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
}

/// List the organizations an end user belongs to, oldest membership
/// first, with the role in each.
#[tool(
    read,
    group = ORGANIZATIONS,
    title = "List a user's memberships",
    example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#
)]
pub async fn list_user_memberships(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListUserMembershipsArgs,
) -> Result<Page<members::Membership>, ToolError> {
    user_id(&args.user_id)?;
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    members::user_memberships(conn, ctx.project_id(), &args.user_id, &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOrgMemberArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    /// The end user (usr_...).
    pub user_id: String,
    /// A role key (default: the project's default role).
    pub role: Option<String>,
}

/// Add an end user to an organization with a role (default: the project's
/// default role). Already a member: conflict; organization full:
/// limit_exceeded.
#[tool(
    write,
    group = ORGANIZATIONS,
    title = "Add organization member",
    example = r#"{"org_id": "acme-corp", "user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "role": "editor"}"#
)]
pub async fn add_org_member(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: AddOrgMemberArgs,
) -> Result<Member, ToolError> {
    user_id(&args.user_id)?;
    crate::flows::add_org_member(
        conn,
        ctx.project_id(),
        &args.org_id,
        &args.user_id,
        args.role.as_deref(),
        &members::AssignedBy::agent(ctx),
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgMemberRoleArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    /// The member (usr_...).
    pub user_id: String,
    /// A role key that exists.
    pub role: String,
}

/// Give a member another role (it must exist).
#[tool(
    write,
    group = ORGANIZATIONS,
    title = "Change member role",
    idempotent,
    example = r#"{"org_id": "acme-corp", "user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "role": "admin"}"#
)]
pub async fn update_org_member_role(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UpdateOrgMemberRoleArgs,
) -> Result<Member, ToolError> {
    user_id(&args.user_id)?;
    members::set_member_role(
        conn,
        ctx.project_id(),
        &args.org_id,
        &args.user_id,
        &args.role,
        &members::AssignedBy::agent(ctx),
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveOrgMemberArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    /// The member (usr_...).
    pub user_id: String,
    /// Show what would be removed without removing it.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RemovedMember {
    pub member: Member,
}

/// Remove a member from an organization (the user stays in the project).
#[tool(
    danger,
    group = ORGANIZATIONS,
    title = "Remove organization member",
    example = r#"{"org_id": "acme-corp", "user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn remove_org_member(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: RemoveOrgMemberArgs,
) -> Result<DangerResult<RemovedMember>, ToolError> {
    user_id(&args.user_id)?;
    let member = crate::flows::remove_org_member(
        conn,
        ctx.project_id(),
        &args.org_id,
        &args.user_id,
        args.dry_run,
        ctx.now(),
    )
    .await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: RemovedMember { member },
        cascade: Default::default(),
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteOrgMemberArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    /// Who to invite.
    pub email: String,
    /// The role they get on accepting (default: the project's default role).
    pub role: Option<String>,
}

/// Invite an email address to an organization: mails a single-use link (7 days)
/// to the first callback URL with `invitation_token`; the app then calls POST
/// /api/v1/invitations/accept for the signed-in invitee. Member or invited: conflict.
#[tool(
    write,
    group = ORGANIZATIONS,
    title = "Invite organization member",
    example = r#"{"org_id": "acme-corp", "email": "dana@acme.com", "role": "editor"}"#
)]
pub async fn invite_org_member(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: InviteOrgMemberArgs,
) -> Result<Invitation, ToolError> {
    let inviter = ctx.caller.project.name.clone();
    let new = NewInvitation {
        org: &args.org_id,
        email: &args.email,
        role: args.role.as_deref(),
        inviter: &inviter,
    };
    invitations::invite_member(conn, ctx.project_id(), new, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOrgInvitationsArgs {
    /// The organization's id (org_...) or slug.
    pub org_id: String,
    /// Only invitations in this state: pending, accepted, revoked, voided
    /// or expired.
    pub status: Option<InvitationStatus>,
    /// 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// next_cursor of the previous page.
    pub cursor: Option<String>,
}

/// List an organization's invitations, newest first, each with address, role
/// and state.
#[tool(read, group = ORGANIZATIONS, title = "List organization invitations", example = r#"{"org_id": "acme-corp", "status": "pending"}"#)]
pub async fn list_org_invitations(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListOrgInvitationsArgs,
) -> Result<Page<Invitation>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    crate::invitations::list_invitations(
        conn,
        ctx.project_id(),
        &args.org_id,
        args.status,
        &page,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeOrgInvitationArgs {
    /// The invitation (inv_...).
    pub invitation_id: String,
}

/// Revoke a pending invitation: its link stops working at once. One no longer
/// pending changes nothing; an accepted one is a conflict.
#[tool(
    write,
    group = ORGANIZATIONS,
    title = "Revoke organization invitation",
    idempotent,
    example = r#"{"invitation_id": "inv_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#
)]
pub async fn revoke_org_invitation(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: RevokeOrgInvitationArgs,
) -> Result<Invitation, ToolError> {
    require_id("invitation_id", "inv", &args.invitation_id)?;
    crate::invitations::revoke_invitation(conn, ctx.project_id(), &args.invitation_id, ctx.now())
        .await
}
