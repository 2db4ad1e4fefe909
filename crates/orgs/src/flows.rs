//! The end-user REST flows of organizations: accepting an invitation and
//! choosing the active organization (SPEC 6). Each is one unit of work
//! with its auth event inside.

use serde::{Deserialize, Serialize};

use authgate_audit::NewAuditEvent;
use authgate_core::{RequestMeta, ToolError};
use authgate_identity::Auth;
use authgate_identity::jwt::{self, TokenSubject};

use crate::members::Member;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The invitation token from the mailed link.
    pub token: String,
}

/// `POST /api/v1/invitations/accept`.
pub async fn accept_invitation(
    auth: &Auth,
    project_hint: Option<&str>,
    access_token: &str,
    body: AcceptBody,
    meta: &RequestMeta,
) -> Result<Member, ToolError> {
    let now = auth.now();
    auth.store
        .write(async |conn| {
            let (claims, _) = auth
                .authenticate(conn, project_hint, access_token, now)
                .await?;
            let project_id = claims.aud.as_str();
            let user = authgate_identity::users::get(conn, project_id, &claims.sub).await?;
            let member =
                crate::invitations::accept(conn, project_id, &body.token, &user, meta, now).await?;
            let event = NewAuditEvent::auth(
                project_id,
                "invitation.accepted",
                Some(&user.id),
                meta,
                "success",
            )
            .meta("role", member.role.clone());
            authgate_audit::record(conn, event, now).await?;
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
    auth: &Auth,
    project_hint: Option<&str>,
    access_token: &str,
    body: ActiveOrgBody,
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
                    let org = crate::resolve(conn, project_id, org).await?;
                    let role = crate::members::role_of(conn, project_id, &org.id, &claims.sub)
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
            authgate_sessions::set_active_org(conn, project_id, &session.id, pair).await?;
            let token = jwt::issue(
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
                "session.org_switched",
                Some(&claims.sub),
                meta,
                "success",
            )
            .target(&session.id);
            if let Some((org, role)) = &chosen {
                event = event.target(org).meta("role", role.clone());
            }
            authgate_audit::record(conn, event, now).await?;
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
