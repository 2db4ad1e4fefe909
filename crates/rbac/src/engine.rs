//! The permission engine: membership → role → permissions, then grants →
//! condition (CEL, see `conditions.rs`). A condition that fails to
//! evaluate, or would cost more than its budget, denies, with the reason.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use authgate_core::{Conn, ToolError, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::{end_users, memberships, organizations, roles};

use crate::conditions::{Variables, evaluate};
use crate::roles::{Grant, validate_key};

/// What a role allows, as the engine reads it.
#[derive(Debug, Clone)]
pub struct RoleModel {
    pub key: String,
    pub permissions: Vec<String>,
    pub grants: Vec<Grant>,
}

/// The answer to "may this member do this".
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Decision {
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
    /// The member's role in the organization (none when not a member).
    pub role: Option<String>,
    /// The permission string that allowed it, if one did.
    pub matched_permission: Option<String>,
    /// The grant that allowed it, if one did.
    pub matched_grant: Option<Grant>,
}

/// Whether a permission string covers `resource:action`.
pub fn permission_covers(permission: &str, resource: &str, action: &str) -> bool {
    if permission == "*" {
        return true;
    }
    match permission.split_once(':') {
        Some((r, a)) => r == resource && (a == "*" || a == action),
        None => false,
    }
}

fn grant_covers(grant: &Grant, resource: &str, action: &str) -> bool {
    grant.resource == resource && grant.actions.iter().any(|a| a == "*" || a == action)
}

/// The decision for a member holding `role`: a permission that covers the
/// action allows it; else the first grant that covers it and whose
/// condition holds (`eval` evaluates a condition); else denied. A
/// condition that cannot be evaluated counts as false, and its error is
/// the reason when nothing else allows.
pub fn decide(
    role: &RoleModel, resource: &str, action: &str,
    mut eval: impl FnMut(&str) -> Result<bool, String>,
) -> Decision {
    let allow = |reason: String, permission: Option<String>, grant: Option<Grant>| Decision {
        allowed: true,
        reason,
        role: Some(role.key.clone()),
        matched_permission: permission,
        matched_grant: grant,
    };
    if let Some(p) = role
        .permissions
        .iter()
        .find(|p| permission_covers(p, resource, action))
    {
        return allow(
            format!("role '{}' has the permission '{p}'", role.key),
            Some(p.clone()),
            None,
        );
    }
    let mut failure: Option<String> = None;
    let mut unmet = false;
    for grant in role
        .grants
        .iter()
        .filter(|g| grant_covers(g, resource, action))
    {
        match grant.condition.as_deref() {
            None => {
                return allow(
                    format!("role '{}' grants {action} on {resource}", role.key),
                    None,
                    Some(grant.clone()),
                );
            }
            Some(condition) => match eval(condition) {
                Ok(true) => {
                    return allow(
                        format!(
                            "role '{}' grants {action} on {resource} when {condition}",
                            role.key
                        ),
                        None,
                        Some(grant.clone()),
                    );
                }
                Ok(false) => unmet = true,
                Err(e) => {
                    failure = Some(format!(
                        "the condition '{condition}' could not be evaluated: {e}"
                    ))
                }
            },
        }
    }
    let reason = match (failure, unmet) {
        (Some(f), _) => format!("denied: {f}"),
        (None, true) => format!(
            "denied: the conditions of role '{}' for {action} on {resource} do not hold",
            role.key
        ),
        (None, false) => format!(
            "denied: role '{}' has no permission or grant for {action} on {resource}",
            role.key
        ),
    };
    Decision {
        allowed: false,
        reason,
        role: Some(role.key.clone()),
        matched_permission: None,
        matched_grant: None,
    }
}

/// A check's question.
pub struct Question<'a> {
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub resource: &'a str,
    pub action: &'a str,
    /// Extra attributes; `context.resource` is the resource instance.
    pub context: Option<&'a Value>,
}

/// A role as the check reads it: permissions, grants, when archived.
type RoleParts = (JsonText<Vec<String>>, JsonText<Vec<Grant>>, Option<i64>);

/// A member as the check reads it: the user's and organization's
/// attributes and the role the member holds (none: the role is gone), in
/// the order [`load_member`] selects them.
#[derive(Queryable)]
struct Member {
    user_id: String,
    email: Option<String>,
    email_verified: bool,
    user_metadata: JsonText<Map<String, Value>>,
    org_id: String,
    slug: String,
    org_metadata: JsonText<Map<String, Value>>,
    role_key: String,
    role: Option<RoleParts>,
}

/// Answers a question against the stored configuration. Unknown users and
/// organizations are not_found; a user who is not a member is denied.
pub async fn check(
    conn: &mut Conn<'_>, project_id: &str, q: Question<'_>,
) -> Result<Decision, ToolError> {
    validate_key("resource", q.resource)?;
    validate_key("action", q.action)?;
    let context = match q.context {
        None => Value::Object(Default::default()),
        Some(v) if v.is_object() => v.clone(),
        Some(_) => {
            return Err(ToolError::invalid(
                "context",
                "context must be a JSON object",
            ));
        }
    };
    let Some(m) = load_member(conn, project_id, &q).await? else {
        return not_a_member(conn, project_id, &q).await;
    };
    let Some((permissions, grants, None)) = m.role else {
        return Ok(Decision {
            allowed: false,
            reason: format!(
                "denied: the member's role '{}' no longer exists",
                m.role_key
            ),
            role: Some(m.role_key),
            matched_permission: None,
            matched_grant: None,
        });
    };
    let model = RoleModel {
        key: m.role_key,
        permissions: permissions.0,
        grants: grants.0,
    };
    let vars = Variables {
        user: serde_json::json!({"id": m.user_id, "email": m.email, "email_verified": m.email_verified, "metadata": m.user_metadata.0}),
        org: serde_json::json!({"id": m.org_id, "slug": m.slug, "metadata": m.org_metadata.0}),
        resource: context
            .get("resource")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default())),
        context,
    };
    Ok(decide(&model, q.resource, q.action, |c| evaluate(c, &vars)))
}

/// The common case in one statement: the membership with its user,
/// organization and role (every table filtered by the project). Only when
/// there is none do the separate reads of [`not_a_member`] tell an
/// unknown user or organization (not_found) from a non-member.
async fn load_member(
    conn: &mut Conn<'_>, project_id: &str, q: &Question<'_>,
) -> Result<Option<Member>, ToolError> {
    let by_id = q.org_id.starts_with("org_");
    Ok(with_conn!(conn, c => {
        let query = memberships::table
            .inner_join(end_users::table)
            .inner_join(organizations::table)
            .left_join(
                roles::table.on(roles::key
                    .eq(memberships::role)
                    .and(roles::project_id.eq(memberships::project_id))),
            )
            .filter(memberships::project_id.eq(project_id))
            .filter(end_users::project_id.eq(project_id))
            .filter(organizations::project_id.eq(project_id))
            .filter(end_users::id.eq(q.user_id))
            .select((
                end_users::id,
                end_users::email,
                end_users::email_verified,
                end_users::metadata,
                organizations::id,
                organizations::slug,
                organizations::metadata,
                memberships::role,
                (roles::permissions, roles::grants, roles::archived_at).nullable(),
            ))
            .into_boxed();
        let query = if by_id {
            query.filter(organizations::id.eq(q.org_id))
        } else {
            query.filter(organizations::slug.eq(q.org_id))
        };
        query.first(c).await.optional()?
    }))
}

/// No membership joined: an unknown user or organization is not_found;
/// otherwise the user is not a member, which is a denial.
async fn not_a_member(
    conn: &mut Conn<'_>, project_id: &str, q: &Question<'_>,
) -> Result<Decision, ToolError> {
    let user_id = authgate_identity::require_user(conn, project_id, q.user_id)
        .await?
        .id;
    let by_id = q.org_id.starts_with("org_");
    let org: Option<String> = with_conn!(conn, c => {
        let org = organizations::table
            .filter(organizations::project_id.eq(project_id))
            .select(organizations::id)
            .into_boxed();
        let org = if by_id { org.filter(organizations::id.eq(q.org_id)) } else { org.filter(organizations::slug.eq(q.org_id)) };
        org.first(c).await.optional()?
    });
    let org_id = org.ok_or_else(|| {
        ToolError::not_found(format!(
            "organization {} not found in this project",
            q.org_id
        ))
        .with_field("org_id")
    })?;
    Ok(Decision {
        allowed: false,
        reason: format!("denied: {user_id} is not a member of {org_id}"),
        role: None,
        matched_permission: None,
        matched_grant: None,
    })
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const RESOURCES: &[&str] = &["posts", "comments"];
    const ACTIONS: &[&str] = &["read", "write", "delete"];
    const CONDITIONS: &[&str] = &["c1", "c2", "c3"];

    fn permission() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_owned()),
            (0..RESOURCES.len()).prop_map(|r| format!("{}:*", RESOURCES[r])),
            (0..RESOURCES.len(), 0..ACTIONS.len())
                .prop_map(|(r, a)| format!("{}:{}", RESOURCES[r], ACTIONS[a])),
        ]
    }

    fn grant() -> impl Strategy<Value = Grant> {
        (
            0..RESOURCES.len(),
            prop::collection::vec(
                prop_oneof![
                    Just("*".to_owned()),
                    (0..ACTIONS.len()).prop_map(|a| ACTIONS[a].to_owned())
                ],
                1..3,
            ),
            prop::option::of(0..CONDITIONS.len()),
        )
            .prop_map(|(r, actions, c)| Grant {
                resource: RESOURCES[r].to_owned(),
                actions,
                condition: c.map(|i| CONDITIONS[i].to_owned()),
            })
    }

    /// The plain model: allowed when some permission or some grant whose
    /// condition holds covers the request.
    fn reference(
        permissions: &[String], grants: &[Grant], outcomes: &BTreeMap<String, Option<bool>>,
        resource: &str, action: &str,
    ) -> bool {
        let by_permission = permissions.iter().any(|p| {
            p == "*" || *p == format!("{resource}:*") || *p == format!("{resource}:{action}")
        });
        let by_grant = grants.iter().any(|g| {
            g.resource == resource
                && g.actions.iter().any(|a| a == "*" || a == action)
                && match &g.condition {
                    None => true,
                    // None in `outcomes` is an evaluation error: it never allows.
                    Some(c) => outcomes.get(c).copied().flatten() == Some(true),
                }
        });
        by_permission || by_grant
    }

    proptest! {
        #[test]
        fn the_engine_agrees_with_the_reference_model(
            permissions in prop::collection::vec(permission(), 0..4),
            grants in prop::collection::vec(grant(), 0..5),
            outcomes in prop::collection::vec(prop::option::of(any::<bool>()), 3),
            r in 0..RESOURCES.len(),
            a in 0..ACTIONS.len(),
        ) {
            let outcomes: BTreeMap<String, Option<bool>> =
                CONDITIONS.iter().map(|c| (*c).to_owned()).zip(outcomes).collect();
            let role = RoleModel { key: "r".into(), permissions: permissions.clone(), grants: grants.clone() };
            let (resource, action) = (RESOURCES[r], ACTIONS[a]);
            let decision = decide(&role, resource, action, |c| match outcomes.get(c).copied().flatten() {
                Some(b) => Ok(b),
                None => Err("boom".into()),
            });
            prop_assert_eq!(decision.allowed, reference(&permissions, &grants, &outcomes, resource, action));
            // What allowed it is reported, and it covers the request.
            if decision.allowed {
                match (&decision.matched_permission, &decision.matched_grant) {
                    (Some(p), None) => prop_assert!(permission_covers(p, resource, action)),
                    (None, Some(g)) => prop_assert!(g.resource == resource && g.actions.iter().any(|x| x == "*" || x == action)),
                    other => prop_assert!(false, "allowed without one match: {:?}", other),
                }
            } else {
                prop_assert!(decision.matched_permission.is_none() && decision.matched_grant.is_none());
            }
        }
    }
}
