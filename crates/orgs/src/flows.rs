//! Flows of organizations: the end-user REST flows (accepting an
//! invitation, choosing the active organization, `me` with the user's
//! memberships; SPEC 6), each one unit of work with its auth event inside,
//! and an organization's detail as get_org shows it, which is what the
//! organization's changes publish (creating, changing and deleting one).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_audit::NewAuditEvent;
use authgate_core::args::Cascade;
use authgate_core::changes::{self, ChangeType};
use authgate_core::{Conn, EventType, Outcome, RequestMeta, ToolError};
use authgate_identity::{Auth, Me, TokenSubject};

use crate::invitations::{Invitation, pending_invitations};
use crate::members::{self, Member};
use crate::organizations::{NewOrg, Org, OrgChange, create_org_row, get_org, update_org_row};

/// How many members an organization's detail shows (list_org_members pages
/// them all).
const MEMBERS_SHOWN: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The invitation token from the mailed link.
    pub token: String,
}

/// `POST /api/v1/invitations/accept`.
pub async fn accept_invitation(
    auth: &Auth, project_hint: Option<&str>, access_token: &str, body: AcceptBody,
    meta: &RequestMeta,
) -> Result<Member, ToolError> {
    let now = auth.now();
    auth.store
        .write(async |conn| {
            let me = auth.me(conn, project_hint, access_token, now).await?;
            let (project_id, user) = (me.project_id.as_str(), me.user);
            let member = crate::invitations::accept_invitation_token(
                conn,
                project_id,
                &body.token,
                &user,
                meta,
                now,
            )
            .await?;
            NewAuditEvent::auth(
                project_id,
                EventType::InvitationAccepted,
                Some(&user.id),
                meta,
                Outcome::Success,
            )
            .meta("role", member.role.clone())
            .record(conn, now)
            .await?;
            Ok(member)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveOrgBody {
    /// An organization id or slug the user is a member of; null clears it.
    pub org_id: Option<String>,
}

#[derive(Serialize)]
pub struct ActiveOrg {
    /// A new access token carrying org_id and role (or neither).
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub org_id: Option<String>,
    pub role: Option<String>,
}

/// `POST /api/v1/auth/active-org`: the session's active organization, and
/// an access token that carries it.
pub async fn set_active_org(
    auth: &Auth, project_hint: Option<&str>, access_token: &str, body: ActiveOrgBody,
    meta: &RequestMeta,
) -> Result<ActiveOrg, ToolError> {
    let now = auth.now();
    let s = &auth.settings;
    auth.store
        .write(async |conn| {
            let (claims, session) = auth
                .authenticate(conn, project_hint, access_token, now)
                .await?;
            let project_id = claims.aud.as_str();
            let chosen = match body.org_id.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(org) => {
                    let org = crate::organizations::resolve(conn, project_id, org).await?;
                    let role = members::member_role(conn, project_id, &org.id, &claims.sub)
                        .await?
                        .ok_or_else(|| {
                            ToolError::permission_denied(
                                "you are not a member of this organization",
                            )
                            .with_field("org_id")
                            .with_hint("GET /api/v1/me lists your organizations")
                        })?;
                    Some((org.id, role))
                }
            };
            let pair = chosen.as_ref().map(|(o, r)| (o.as_str(), r.as_str()));
            authgate_sessions::set_session_org(conn, project_id, &session.id, pair).await?;
            let token = authgate_identity::issue_access_token(
                conn,
                &auth.keys.encryption,
                project_id,
                &s.public_url,
                TokenSubject {
                    user_id: &claims.sub,
                    session_id: &session.id,
                    org: pair,
                },
                s.access_ttl,
                now,
            )
            .await?;
            let mut event = NewAuditEvent::auth(
                project_id,
                EventType::SessionOrgSwitched,
                Some(&claims.sub),
                meta,
                Outcome::Success,
            )
            .target(&session.id);
            if let Some((org, role)) = &chosen {
                event = event.target(org).meta("role", role.clone());
            }
            event.record(conn, now).await?;
            Ok(ActiveOrg {
                access_token: token,
                token_type: "Bearer",
                expires_in: s.access_ttl.num_seconds(),
                org_id: chosen.as_ref().map(|(o, _)| o.clone()),
                role: chosen.map(|(_, r)| r),
            })
        })
        .await
}

/// `GET /api/v1/me`: the token's user and session, with the user's
/// organization memberships, in one snapshot.
pub async fn me(auth: &Auth, project_hint: Option<&str>, token: &str) -> Result<Me, ToolError> {
    let now = auth.now();
    auth.store
        .read(async |conn| {
            let mut me = auth.me(conn, project_hint, token, now).await?;
            let memberships =
                members::memberships_of_user(conn, &me.project_id, &me.user.id).await?;
            me.memberships = memberships
                .into_iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()
                .map_err(ToolError::internal)?;
            Ok(me)
        })
        .await
}

/// An organization as tools show it (and changes publish it).
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrgDetail {
    #[serde(flatten)]
    pub org: Org,
    /// The first 100 members, oldest first (list_org_members pages them all).
    pub members: Vec<Member>,
    /// Invitations not yet accepted and not expired (the first 100).
    pub pending_invitations: Vec<Invitation>,
}

/// One organization (by id or slug) with its first 100 members and its
/// pending invitations.
pub async fn org_detail(
    conn: &mut Conn<'_>, project_id: &str, org: &str, now: DateTime<Utc>,
) -> Result<OrgDetail, ToolError> {
    let org = get_org(conn, project_id, org).await?;
    let members = members::first_members(conn, project_id, &org.id, MEMBERS_SHOWN).await?;
    let pending_invitations = pending_invitations(conn, project_id, &org.id, now).await?;
    Ok(OrgDetail {
        org,
        members,
        pending_invitations,
    })
}

/// Creates an organization; published as `organization.created`.
pub async fn create_org(
    conn: &mut Conn<'_>, project_id: &str, new: NewOrg<'_>, now: DateTime<Utc>,
) -> Result<Org, ToolError> {
    let org = create_org_row(conn, project_id, new, now).await?;
    // New: no member, no invitation yet (nothing to read).
    let detail = OrgDetail {
        org: org.clone(),
        members: Vec::new(),
        pending_invitations: Vec::new(),
    };
    let created = ChangeType::OrganizationCreated;
    changes::publish(conn, project_id, created, &detail, now).await?;
    Ok(org)
}

/// Changes an organization; published as `organization.updated`.
pub async fn update_org(
    conn: &mut Conn<'_>, project_id: &str, org: &str, change: OrgChange<'_>, now: DateTime<Utc>,
) -> Result<Org, ToolError> {
    let updated = update_org_row(conn, project_id, org, change, now).await?;
    let change = ChangeType::OrganizationUpdated;
    if let Some(outlet) = changes::outlet(conn, project_id, change).await? {
        let detail = org_detail(conn, project_id, &updated.id, now).await?;
        outlet.send(conn, &detail, now).await?;
    }
    Ok(updated)
}

/// Deletes an organization; its memberships and invitations go with it
/// (foreign keys), published as one `organization.deleted` with the
/// organization as get_org showed it just before. Returns it with what
/// went along, counted.
pub async fn delete_org(
    conn: &mut Conn<'_>, project_id: &str, org: &str, dry_run: bool, now: DateTime<Utc>,
) -> Result<(Org, Cascade), ToolError> {
    let row = crate::organizations::resolve(conn, project_id, org).await?;
    let members = crate::organizations::member_count(conn, project_id, &row.id).await?;
    let invited = crate::invitations::count(conn, project_id, &row.id).await?;
    let cascade = Cascade::from([
        ("memberships".to_owned(), members.max(0) as u64),
        ("invitations".to_owned(), invited.max(0) as u64),
    ]);
    if !dry_run {
        // Read before the rows go, sent once they are gone.
        let change = ChangeType::OrganizationDeleted;
        let deleted = match changes::outlet(conn, project_id, change).await? {
            Some(outlet) => Some((outlet, org_detail(conn, project_id, &row.id, now).await?)),
            None => None,
        };
        crate::organizations::delete_org_row(conn, project_id, &row.id).await?;
        authgate_sessions::organization_changed(conn, project_id, &row.id, None, None).await?;
        if let Some((outlet, detail)) = deleted {
            outlet.send(conn, &detail, now).await?;
        }
    }
    Ok((row.view(members), cascade))
}

/// Adds a member directly; their pending invitations to the organization
/// are voided (an older one, perhaps of another role, must not apply later).
pub async fn add_org_member(
    conn: &mut Conn<'_>, project_id: &str, org: &str, user_id: &str, role: Option<&str>,
    by: &members::AssignedBy<'_>, now: DateTime<Utc>,
) -> Result<Member, ToolError> {
    let member = members::add_member(conn, project_id, org, user_id, role, by, now).await?;
    if let Some(email) = &member.email {
        let org = crate::organizations::resolve(conn, project_id, org).await?;
        crate::invitations::void_pending(conn, project_id, &org.id, email).await?;
    }
    Ok(member)
}

/// Removes a member directly; their pending invitations to the
/// organization are voided, so none brings them back.
pub async fn remove_org_member(
    conn: &mut Conn<'_>, project_id: &str, org: &str, user_id: &str, dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Member, ToolError> {
    let member = members::remove_member(conn, project_id, org, user_id, dry_run, now).await?;
    if let (false, Some(email)) = (dry_run, &member.email) {
        let org = crate::organizations::resolve(conn, project_id, org).await?;
        crate::invitations::void_pending(conn, project_id, &org.id, email).await?;
    }
    Ok(member)
}
