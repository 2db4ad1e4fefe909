//! Invitations to an organization, by email. The invitee gets an
//! org_invitation mail (through the outbox, in the transaction that made
//! the invitation) with a single-use link; a signed-in user whose verified
//! email matches accepts it through `POST /api/v1/invitations/accept`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use authgate_core::changes::{self, ChangeType};
use authgate_core::hash::sha256_hex;
use authgate_core::secrets::new_secret;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_email::EmailKind;
use authgate_store::schema::{end_users, invitations, memberships};

use crate::organizations::{OrgRow, member_count, resolve};

/// How long an invitation link works.
pub const INVITATION_TTL: Duration = Duration::days(7);
const MAX_PENDING_SHOWN: i64 = 100;

/// An invitation as tools show it (never its token).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Invitation {
    pub id: String,
    pub org_id: String,
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: String,
    /// `pending`, `accepted`, `revoked` (revoke_org_invitation), `voided`
    /// (the person was added or removed directly) or `expired`.
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = invitations)]
struct InvitationRow {
    id: String,
    project_id: String,
    org_id: String,
    email: String,
    role: String,
    token_hash: String,
    status: String,
    expires_at: i64,
    created_at: i64,
    accepted_at: Option<i64>,
}

impl InvitationRow {
    fn view(self) -> Invitation {
        let status = if self.status == "pending" && self.expires_at <= to_micros(chrono::Utc::now())
        {
            "expired".to_owned()
        } else {
            self.status
        };
        Invitation {
            id: self.id,
            org_id: self.org_id,
            email: self.email,
            role: self.role,
            status,
            expires_at: from_micros(self.expires_at),
            created_at: from_micros(self.created_at),
            accepted_at: self.accepted_at.map(from_micros),
        }
    }
}

/// Pending invitations of an organization that have not expired, oldest
/// first (at most 100).
pub async fn pending_invitations(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, now: DateTime<Utc>,
) -> Result<Vec<Invitation>, ToolError> {
    let rows: Vec<InvitationRow> = with_conn!(conn, c => {
        invitations::table
            .filter(invitations::project_id.eq(project_id))
            .filter(invitations::org_id.eq(org_id))
            .filter(invitations::status.eq("pending"))
            .filter(invitations::expires_at.gt(to_micros(now)))
            .select(InvitationRow::as_select())
            .order(invitations::id.asc())
            .limit(MAX_PENDING_SHOWN)
            .load(c)
            .await?
    });
    Ok(rows.into_iter().map(InvitationRow::view).collect())
}

/// Invitations of an organization, any state (for delete_org's cascade).
pub async fn count(conn: &mut Conn<'_>, project_id: &str, org_id: &str) -> Result<i64, ToolError> {
    Ok(with_conn!(conn, c => {
        invitations::table
            .filter(invitations::project_id.eq(project_id))
            .filter(invitations::org_id.eq(org_id))
            .count()
            .get_result(c)
            .await?
    }))
}

/// What an invitation is sent with.
pub struct NewInvitation<'a> {
    pub org: &'a str,
    pub email: &'a str,
    pub role: Option<&'a str>,
    /// Who invites, for the mail ("Acme's admin").
    pub inviter: &'a str,
}

/// Invites an email address to an organization and queues the mail;
/// published as `invitation.created` (the invitation, never its token).
pub async fn invite_member(
    conn: &mut Conn<'_>, project_id: &str, new: NewInvitation<'_>, now: DateTime<Utc>,
) -> Result<Invitation, ToolError> {
    let email = authgate_identity::normalize_email("email", new.email)?;
    conn.lock_project(project_id).await?;
    let org = resolve(conn, project_id, new.org).await?;
    let role = crate::members::role_or_default(conn, project_id, new.role).await?;
    let at = to_micros(now);
    refuse_duplicate_or_full(conn, project_id, &org, &email, at).await?;
    let base = authgate_project::link_target(conn, project_id, None).await?;
    let token = new_secret("invite_");
    let row = InvitationRow {
        id: new_id("inv"),
        project_id: project_id.to_owned(),
        org_id: org.id.clone(),
        email: email.clone(),
        role,
        token_hash: sha256_hex(&token),
        status: "pending".into(),
        expires_at: to_micros(now + INVITATION_TTL),
        created_at: at,
        accepted_at: None,
    };
    with_conn!(conn, c => {
        diesel::insert_into(invitations::table).values(&row).execute(c).await?;
    });
    let mut link = base;
    link.query_pairs_mut()
        .append_pair("invitation_token", &token);
    let name = email.split('@').next().unwrap_or_default().to_owned();
    authgate_email::enqueue(
        conn,
        project_id,
        EmailKind::OrgInvitation,
        &email,
        json!({
            "user": {"name": name, "email": email},
            "org": {"name": org.name},
            "inviter": {"name": new.inviter},
            "link": link.to_string(),
            "expires_in": authgate_identity::human_duration(INVITATION_TTL),
        }),
        now,
    )
    .await?;
    let invitation = row.view();
    let created = ChangeType::InvitationCreated;
    changes::publish(conn, project_id, created, &invitation, now).await?;
    Ok(invitation)
}

/// An invitation to `org` for `email` is refused when the address is
/// already a member, already invited (and the link still works), or the
/// organization is full.
async fn refuse_duplicate_or_full(
    conn: &mut Conn<'_>, project_id: &str, org: &OrgRow, email: &str, at: i64,
) -> Result<(), ToolError> {
    let (member, invited): (i64, i64) = with_conn!(conn, c => {
        let member = memberships::table
            .inner_join(end_users::table)
            .filter(memberships::project_id.eq(project_id))
            .filter(end_users::project_id.eq(project_id))
            .filter(memberships::org_id.eq(&org.id))
            .filter(end_users::email.eq(email))
            .count()
            .get_result(c)
            .await?;
        let invited = invitations::table
            .filter(invitations::project_id.eq(project_id))
            .filter(invitations::org_id.eq(&org.id))
            .filter(invitations::email.eq(email))
            .filter(invitations::status.eq("pending"))
            .filter(invitations::expires_at.gt(at))
            .count()
            .get_result(c)
            .await?;
        (member, invited)
    });
    if member > 0 {
        return Err(
            ToolError::conflict(format!("{email} is already a member of {}", org.id))
                .with_field("email")
                .with_hint("update_org_member_role changes a member's role"),
        );
    }
    if invited > 0 {
        return Err(ToolError::conflict(format!("{email} has a pending invitation to {}", org.id))
            .with_field("email")
            .with_hint("get_org lists pending invitations; the invitee can accept the one already sent"));
    }
    if let Some(limit) = org.member_limit
        && member_count(conn, project_id, &org.id).await? >= limit
    {
        return Err(ToolError::new(
            authgate_core::ErrorCode::LimitExceeded,
            format!("the organization is full ({limit} members)"),
        )
        .with_field("org_id")
        .with_hint("raise member_limit with update_org, or remove a member"));
    }
    Ok(())
}

/// Accepts an invitation for the user `user_id` (signed in, with the
/// verified address `email`): the user becomes a member with the
/// invitation's role. Published as `invitation.accepted`, then
/// `membership.created`.
pub async fn accept_invitation_token(
    conn: &mut Conn<'_>, project_id: &str, token: &str, user: &authgate_identity::EndUser,
    meta: &authgate_core::RequestMeta, now: DateTime<Utc>,
) -> Result<crate::members::Member, ToolError> {
    // Invitations are addressed by email: a user without one matches none.
    let (user_id, email) = (user.id.as_str(), user.email.as_deref().unwrap_or_default());
    let bad = || {
        ToolError::invalid(
            "token",
            "this invitation is invalid, expired or already accepted; ask for a new one",
        )
    };
    let token = token.trim();
    if token.is_empty() || token.len() > 200 {
        return Err(bad());
    }
    conn.lock_project(project_id).await?;
    let row: Option<InvitationRow> = with_conn!(conn, c => {
        invitations::table
            .filter(invitations::project_id.eq(project_id))
            .filter(invitations::token_hash.eq(sha256_hex(token)))
            .select(InvitationRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let at = to_micros(now);
    let Some(mut row) = row.filter(|r| r.status == "pending" && r.expires_at > at) else {
        return Err(bad());
    };
    if row.email != email {
        return Err(ToolError::permission_denied(
            "this invitation was sent to another email address",
        )
        .with_field("token")
        .with_hint("sign in with the account of the invited address"));
    }
    if !user.email_verified {
        return Err(ToolError::permission_denied(
            "verify your email address before accepting an invitation",
        )
        .with_field("token")
        .with_hint("POST /api/v1/auth/verify-email with the code mailed to you"));
    }
    // Accepted first, so the change that says so goes before the
    // membership's; a refused membership rolls both back.
    with_conn!(conn, c => {
        diesel::update(
            invitations::table
                .filter(invitations::project_id.eq(project_id))
                .filter(invitations::id.eq(&row.id)),
        )
            .set((invitations::status.eq("accepted"), invitations::accepted_at.eq(Some(at))))
            .execute(c)
            .await?;
    });
    row.status = "accepted".into();
    row.accepted_at = Some(at);
    let (org_id, role) = (row.org_id.clone(), row.role.clone());
    let accepted = ChangeType::InvitationAccepted;
    changes::publish(conn, project_id, accepted, &row.view(), now).await?;
    crate::members::add_member(
        conn,
        project_id,
        &org_id,
        user_id,
        Some(&role),
        &crate::members::AssignedBy::User(meta),
        now,
    )
    .await
}

/// The states an invitation list can be filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Voided,
    Expired,
}

/// An organization's invitations, newest first, optionally of one state.
pub async fn list_invitations(
    conn: &mut Conn<'_>, project_id: &str, org: &str, status: Option<InvitationStatus>,
    page: &authgate_core::PageRequest, now: DateTime<Utc>,
) -> Result<authgate_core::Page<Invitation>, ToolError> {
    let org = resolve(conn, project_id, org).await?;
    let at = to_micros(now);
    let rows: Vec<InvitationRow> = with_conn!(conn, c => {
        let mut q = invitations::table
            .filter(invitations::project_id.eq(project_id))
            .filter(invitations::org_id.eq(&org.id))
            .select(InvitationRow::as_select())
            .order(invitations::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        q = match status {
            None => q,
            Some(InvitationStatus::Pending) => q
                .filter(invitations::status.eq("pending"))
                .filter(invitations::expires_at.gt(at)),
            Some(InvitationStatus::Expired) => q
                .filter(invitations::status.eq("pending"))
                .filter(invitations::expires_at.le(at)),
            Some(InvitationStatus::Accepted) => q.filter(invitations::status.eq("accepted")),
            Some(InvitationStatus::Revoked) => q.filter(invitations::status.eq("revoked")),
            Some(InvitationStatus::Voided) => q.filter(invitations::status.eq("voided")),
        };
        if let Some(after) = &page.after {
            q = q.filter(invitations::id.lt(after.clone()));
        }
        q.load(c).await?
    });
    Ok(page.page(
        rows.into_iter().map(InvitationRow::view).collect(),
        |i: &Invitation| i.id.clone(),
    ))
}

/// Revokes a pending invitation: its link stops working (published as
/// `invitation.revoked`). Revoking one that is no longer pending changes
/// nothing, except that an accepted one is a conflict (the person is a
/// member: remove_org_member).
pub async fn revoke_invitation(
    conn: &mut Conn<'_>, project_id: &str, invitation_id: &str, now: DateTime<Utc>,
) -> Result<Invitation, ToolError> {
    let row: Option<InvitationRow> = with_conn!(conn, c => {
        invitations::table
            .filter(invitations::project_id.eq(project_id))
            .filter(invitations::id.eq(invitation_id))
            .select(InvitationRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let mut row = row.ok_or_else(|| {
        ToolError::not_found(format!(
            "invitation {invitation_id} not found in this project"
        ))
        .with_field("invitation_id")
        .with_hint("list_org_invitations shows an organization's invitations")
    })?;
    match row.status.as_str() {
        "accepted" => Err(ToolError::conflict(format!(
            "invitation {invitation_id} was accepted; its invitee is a member"
        ))
        .with_field("invitation_id")
        .with_hint("remove_org_member removes the member")),
        "pending" => {
            let revoked = with_conn!(conn, c => {
                diesel::update(
                    invitations::table
                        .filter(invitations::project_id.eq(project_id))
                        .filter(invitations::id.eq(invitation_id))
                        .filter(invitations::status.eq("pending")),
                )
                .set(invitations::status.eq("revoked"))
                .execute(c)
                .await?
            });
            row.status = "revoked".into();
            let invitation = row.view();
            if revoked > 0 {
                let change = ChangeType::InvitationRevoked;
                changes::publish(conn, project_id, change, &invitation, now).await?;
            }
            Ok(invitation)
        }
        _ => Ok(row.view()),
    }
}

/// Voids the pending invitations of `email` to an organization: the
/// person was added or removed directly, so an older invitation (perhaps
/// with another role) must not bring them back.
pub(crate) async fn void_pending(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, email: &str,
) -> Result<usize, ToolError> {
    Ok(with_conn!(conn, c => {
        diesel::update(
            invitations::table
                .filter(invitations::project_id.eq(project_id))
                .filter(invitations::org_id.eq(org_id))
                .filter(invitations::email.eq(email))
                .filter(invitations::status.eq("pending")),
        )
        .set(invitations::status.eq("voided"))
        .execute(c)
        .await?
    }))
}
