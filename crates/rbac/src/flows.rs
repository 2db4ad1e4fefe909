//! Flows of more than one step: a role made of grants (checked against the
//! declared resources first), and the REST permission check, with an
//! access token (the user and organization come from it) or with a
//! write-scoped key (they are given).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use authgate_core::{Conn, ToolError};
use authgate_identity::Auth;
use authgate_store::Store;

use crate::engine::{self, Decision, Question};
use crate::roles::{self, Grant, NewRole, Role};

/// Makes a role of `grants`, each checked against the declared resources
/// and actions (conditions compiled).
pub async fn create_role_with_grants(
    conn: &mut Conn<'_>, project_id: &str, key: &str, name: Option<&str>, grants: &[Grant],
    now: DateTime<Utc>,
) -> Result<Role, ToolError> {
    let grants = crate::resources::check_grants(conn, project_id, "grants", grants).await?;
    let new = NewRole {
        key,
        name,
        permissions: &[],
        is_default: false,
        grants: &grants,
    };
    roles::create_role(conn, project_id, new, now).await
}

/// The body of `POST /api/v1/permissions/check`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionCheck {
    pub resource: String,
    pub action: String,
    pub context: Option<Value>,
    /// With a key only.
    pub user_id: Option<String>,
    /// With a key only (id or slug).
    pub org_id: Option<String>,
}

/// A check asked with a write-scoped key of `project_id`: `user_id` and
/// `org_id` are required.
pub async fn check_permission_with_key(
    store: &Store, project_id: &str, body: PermissionCheck,
) -> Result<Decision, ToolError> {
    let need = |v: &Option<String>, field: &str| {
        v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            ToolError::invalid(
                field,
                format!("{field} is required with an API key (the user and organization to check)"),
            )
        })
    };
    let (user_id, org_id) = (
        need(&body.user_id, "user_id")?,
        need(&body.org_id, "org_id")?,
    );
    store
        .read(async |conn| {
            let question = Question {
                user_id: &user_id,
                org_id: &org_id,
                resource: &body.resource,
                action: &body.action,
                context: body.context.as_ref(),
            };
            engine::check(conn, project_id, question).await
        })
        .await
}

/// A check asked with an end user's access token: the user and the
/// organization are the token's (its active organization), in the same
/// snapshot as the token's session check.
pub async fn check_permission_with_token(
    auth: &Auth, project_hint: Option<&str>, token: &str, body: PermissionCheck,
) -> Result<Decision, ToolError> {
    if body.user_id.is_some() || body.org_id.is_some() {
        let field = if body.user_id.is_some() {
            "user_id"
        } else {
            "org_id"
        };
        return Err(ToolError::invalid(
            field,
            "with an access token the user and organization come from the token; send only resource, action and context",
        ));
    }
    let now = auth.now();
    auth.store
        .read(async |conn| {
            let (claims, _) = auth.authenticate(conn, project_hint, token, now).await?;
            let org = claims.org_id.clone().ok_or_else(|| {
                ToolError::precondition("the access token carries no active organization")
                    .with_field("Authorization")
                    .with_hint(
                        "choose one with POST /api/v1/auth/active-org, then use the token it returns",
                    )
            })?;
            let question = Question {
                user_id: &claims.sub,
                org_id: &org,
                resource: &body.resource,
                action: &body.action,
                context: body.context.as_ref(),
            };
            engine::check(conn, &claims.aud, question).await
        })
        .await
}
