//! Members of an organization: one role per user per organization.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::changes::{self, ChangeType};
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, EventType, Outcome, Page, PageRequest, ToolError, new_id, with_conn};
use authgate_store::schema::{end_users, memberships, organizations};

use crate::organizations::{member_count, resolve};

/// Who gives a member a role, for the `member.role_assigned` audit event
/// (the security rules read it: a role granting `*` alerts).
pub enum AssignedBy<'a> {
    /// An agent through a tool: its key and the call's request id.
    Key {
        key_id: &'a str,
        request_id: &'a str,
    },
    /// The user, accepting an invitation.
    User(&'a authgate_core::RequestMeta),
}

impl<'a> AssignedBy<'a> {
    /// The agent making this tool call.
    pub fn agent(ctx: &'a authgate_core::ToolContext) -> Self {
        AssignedBy::Key {
            key_id: &ctx.caller.key_id,
            request_id: &ctx.request_id,
        }
    }
}

async fn record_assignment(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, user_id: &str, role: &str,
    by: &AssignedBy<'_>, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    use authgate_audit::NewAuditEvent;
    let assigned = EventType::MemberRoleAssigned;
    let event = match by {
        AssignedBy::Key { key_id, request_id } => {
            let meta = authgate_core::RequestMeta::new(None, None, Some((*request_id).to_owned()));
            NewAuditEvent::auth(project_id, assigned, None, &meta, Outcome::Success).by_key(key_id)
        }
        AssignedBy::User(meta) => {
            NewAuditEvent::auth(project_id, assigned, Some(user_id), meta, Outcome::Success)
        }
    };
    event
        .target(org_id)
        .target(user_id)
        .meta("role", role)
        .record(conn, now)
        .await?;
    Ok(())
}

/// A member as tools show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Member {
    pub user_id: String,
    /// None for a user who signed up by SMS.
    pub email: Option<String>,
    pub name: Option<String>,
    /// The role key the member holds in this organization.
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

type MemberRow = (String, Option<String>, Option<String>, String, i64);

fn member(row: MemberRow) -> Member {
    let (user_id, email, name, role, joined) = row;
    Member {
        user_id,
        email,
        name,
        role,
        joined_at: from_micros(joined),
    }
}

fn not_a_member(user_id: &str) -> ToolError {
    ToolError::not_found(format!(
        "end user {user_id} is not a member of this organization"
    ))
    .with_field("user_id")
    .with_hint("list_org_members shows the members")
}

async fn load_member(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, user_id: &str,
) -> Result<Option<Member>, ToolError> {
    let row: Option<MemberRow> = with_conn!(conn, c => {
        memberships::table
            .inner_join(end_users::table)
            .filter(memberships::project_id.eq(project_id))
            .filter(end_users::project_id.eq(project_id))
            .filter(memberships::org_id.eq(org_id))
            .filter(memberships::user_id.eq(user_id))
            .select((memberships::user_id, end_users::email, end_users::name, memberships::role, memberships::created_at))
            .first(c)
            .await
            .optional()?
    });
    Ok(row.map(member))
}

/// A member as a change publishes it (`membership.*`): the member as
/// list_org_members shows it, with its organization.
#[derive(Debug, Clone, Serialize)]
pub struct OrgMember {
    pub org_id: String,
    #[serde(flatten)]
    pub member: Member,
}

/// Publishes a change of a membership of `org_id`.
async fn announce(
    conn: &mut Conn<'_>, project_id: &str, change: ChangeType, org_id: &str, member: &Member,
    now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let data = OrgMember {
        org_id: org_id.to_owned(),
        member: member.clone(),
    };
    changes::publish(conn, project_id, change, &data, now).await
}

/// Up to `limit` members of the organization `org_id` oldest first, after
/// the membership `after`, each with its membership id (the position).
async fn member_rows(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, after: Option<&str>, limit: i64,
) -> Result<Vec<(String, MemberRow)>, ToolError> {
    Ok(with_conn!(conn, c => {
        let mut q = memberships::table
            .inner_join(end_users::table)
            .filter(memberships::project_id.eq(project_id))
            .filter(end_users::project_id.eq(project_id))
            .filter(memberships::org_id.eq(org_id))
            .select((
                memberships::id,
                (memberships::user_id, end_users::email, end_users::name, memberships::role, memberships::created_at),
            ))
            .order(memberships::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(memberships::id.gt(after.to_owned()));
        }
        q.load(c).await?
    }))
}

/// The first `limit` members of the organization `org_id`, oldest first.
pub(crate) async fn first_members(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, limit: i64,
) -> Result<Vec<Member>, ToolError> {
    let rows = member_rows(conn, project_id, org_id, None, limit).await?;
    Ok(rows.into_iter().map(|(_, r)| member(r)).collect())
}

/// Members oldest first.
pub async fn list_members(
    conn: &mut Conn<'_>, project_id: &str, org: &str, page: &PageRequest,
) -> Result<Page<Member>, ToolError> {
    let org = resolve(conn, project_id, org).await?;
    let after = page.after.as_deref();
    let rows = member_rows(conn, project_id, &org.id, after, page.fetch_limit()).await?;
    // The cursor position is the membership id, which members do not show;
    // a user is a member once per organization, so the user id finds it.
    let positions: std::collections::HashMap<String, String> = rows
        .iter()
        .map(|(id, r)| (r.0.clone(), id.clone()))
        .collect();
    let items: Vec<Member> = rows.into_iter().map(|(_, r)| member(r)).collect();
    Ok(page.page(items, |m: &Member| {
        positions.get(&m.user_id).cloned().unwrap_or_default()
    }))
}

/// `role` if the project has it, else (when `None`) the default role.
pub(crate) async fn role_or_default(
    conn: &mut Conn<'_>, project_id: &str, role: Option<&str>,
) -> Result<String, ToolError> {
    match role {
        Some(r) => {
            authgate_rbac::require_assignable_role(conn, project_id, "role", r).await?;
            Ok(r.to_owned())
        }
        None => authgate_rbac::default_role(conn, project_id)
            .await?
            .ok_or_else(|| {
                ToolError::precondition("no role was given and the project has no default role")
                    .with_field("role")
                    .with_hint(
                        "pass role, or make a role the default with update_role (is_default: true)",
                    )
            }),
    }
}

/// Adds a user to an organization with `role` (or the project's default
/// role), published as `membership.created`. Refused: a user already a
/// member (conflict), a full organization (limit_exceeded), a role that
/// does not exist.
pub async fn add_member(
    conn: &mut Conn<'_>, project_id: &str, org: &str, user_id: &str, role: Option<&str>,
    by: &AssignedBy<'_>, now: DateTime<Utc>,
) -> Result<Member, ToolError> {
    // The count and the insert happen under the project lock, so two adds
    // at once cannot both take the last place.
    conn.lock_project(project_id).await?;
    let org = resolve(conn, project_id, org).await?;
    let user = authgate_identity::require_user(conn, project_id, user_id).await?;
    let (email, name) = (user.email, user.name);
    let role = role_or_default(conn, project_id, role).await?;
    if load_member(conn, project_id, &org.id, user_id)
        .await?
        .is_some()
    {
        return Err(
            ToolError::conflict(format!("{user_id} is already a member of {}", org.id))
                .with_field("user_id")
                .with_hint("update_org_member_role changes a member's role"),
        );
    }
    if let Some(limit) = org.member_limit {
        let members = member_count(conn, project_id, &org.id).await?;
        if members >= limit {
            return Err(ToolError::new(
                authgate_core::ErrorCode::LimitExceeded,
                format!("the organization is full: {members} of {limit} members"),
            )
            .with_field("org_id")
            .with_hint("raise member_limit with update_org, or remove a member"));
        }
    }
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::insert_into(memberships::table)
            .values((
                memberships::id.eq(new_id("mem")),
                memberships::project_id.eq(project_id),
                memberships::org_id.eq(&org.id),
                memberships::user_id.eq(user_id),
                memberships::role.eq(&role),
                memberships::created_at.eq(at),
                memberships::updated_at.eq(at),
            ))
            .execute(c)
            .await?;
    });
    record_assignment(conn, project_id, &org.id, user_id, &role, by, now).await?;
    let member = Member {
        user_id: user_id.to_owned(),
        email,
        name,
        role,
        joined_at: from_micros(at),
    };
    let change = ChangeType::MembershipCreated;
    announce(conn, project_id, change, &org.id, &member, now).await?;
    Ok(member)
}

/// Gives a member `role`; published as `membership.updated` when the role
/// changed.
pub async fn set_member_role(
    conn: &mut Conn<'_>, project_id: &str, org: &str, user_id: &str, role: &str,
    by: &AssignedBy<'_>, now: DateTime<Utc>,
) -> Result<Member, ToolError> {
    // Under the lock delete_role takes, so a role cannot vanish under a new holder.
    conn.lock_project(project_id).await?;
    let org = resolve(conn, project_id, org).await?;
    authgate_rbac::require_assignable_role(conn, project_id, "role", role).await?;
    let mut m = load_member(conn, project_id, &org.id, user_id)
        .await?
        .ok_or_else(|| not_a_member(user_id))?;
    with_conn!(conn, c => {
        diesel::update(
            memberships::table
                .filter(memberships::project_id.eq(project_id))
                .filter(memberships::org_id.eq(&org.id))
                .filter(memberships::user_id.eq(user_id)),
        )
        .set((memberships::role.eq(role), memberships::updated_at.eq(to_micros(now))))
        .execute(c)
        .await?;
    });
    authgate_sessions::organization_changed(conn, project_id, &org.id, Some(user_id), Some(role))
        .await?;
    record_assignment(conn, project_id, &org.id, user_id, role, by, now).await?;
    if m.role != role {
        m.role = role.to_owned();
        let change = ChangeType::MembershipUpdated;
        announce(conn, project_id, change, &org.id, &m, now).await?;
    }
    Ok(m)
}

/// Removes a member (a dry run only finds it); published as
/// `membership.deleted` with the member as it was.
pub async fn remove_member(
    conn: &mut Conn<'_>, project_id: &str, org: &str, user_id: &str, dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Member, ToolError> {
    let org = resolve(conn, project_id, org).await?;
    let m = load_member(conn, project_id, &org.id, user_id)
        .await?
        .ok_or_else(|| not_a_member(user_id))?;
    if !dry_run {
        with_conn!(conn, c => {
            diesel::delete(
                memberships::table
                    .filter(memberships::project_id.eq(project_id))
                    .filter(memberships::org_id.eq(&org.id))
                    .filter(memberships::user_id.eq(user_id)),
            )
            .execute(c)
            .await?;
        });
        authgate_sessions::organization_changed(conn, project_id, &org.id, Some(user_id), None)
            .await?;
        let change = ChangeType::MembershipDeleted;
        announce(conn, project_id, change, &org.id, &m, now).await?;
    }
    Ok(m)
}

/// A user's memberships, with each organization's id, slug and name.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Membership {
    pub org_id: String,
    pub org_slug: String,
    pub org_name: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

pub async fn memberships_of_user(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<Vec<Membership>, ToolError> {
    let rows = membership_rows(conn, project_id, user_id, None, None).await?;
    Ok(rows.into_iter().map(|(_, m)| m).collect())
}

/// A user's memberships, a page at a time (list_user_memberships): the
/// user must be the project's.
pub async fn user_memberships(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, page: &PageRequest,
) -> Result<Page<Membership>, ToolError> {
    authgate_identity::require_user(conn, project_id, user_id).await?;
    let rows = membership_rows(
        conn,
        project_id,
        user_id,
        page.after.as_deref(),
        Some(page.fetch_limit()),
    )
    .await?;
    let positions: std::collections::HashMap<String, String> = rows
        .iter()
        .map(|(id, m)| (m.org_id.clone(), id.clone()))
        .collect();
    let items: Vec<Membership> = rows.into_iter().map(|(_, m)| m).collect();
    Ok(page.page(items, |m: &Membership| {
        positions.get(&m.org_id).cloned().unwrap_or_default()
    }))
}

/// A user's memberships after the membership `after`, oldest first, with
/// each membership's id (the cursor position).
async fn membership_rows(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, after: Option<&str>, limit: Option<i64>,
) -> Result<Vec<(String, Membership)>, ToolError> {
    let rows: Vec<(String, String, String, String, String, i64)> = with_conn!(conn, c => {
        let mut q = memberships::table
            .inner_join(organizations::table)
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::user_id.eq(user_id))
            .select((memberships::id, organizations::id, organizations::slug, organizations::name, memberships::role, memberships::created_at))
            .order(memberships::id.asc())
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(memberships::id.gt(after.to_owned()));
        }
        if let Some(limit) = limit {
            q = q.limit(limit);
        }
        q.load(c).await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, org_id, org_slug, org_name, role, joined)| {
            (
                id,
                Membership {
                    org_id,
                    org_slug,
                    org_name,
                    role,
                    joined_at: from_micros(joined),
                },
            )
        })
        .collect())
}

/// The role a user holds in an organization, if a member.
pub async fn member_role(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, user_id: &str,
) -> Result<Option<String>, ToolError> {
    Ok(with_conn!(conn, c => {
        memberships::table
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::org_id.eq(org_id))
            .filter(memberships::user_id.eq(user_id))
            .select(memberships::role)
            .first(c)
            .await
            .optional()?
    }))
}
