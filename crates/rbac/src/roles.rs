//! The role entity: an immutable `key` (what members hold), a name, flat
//! permissions (`posts:read`, `posts:*`, `*`), grants on declared
//! resources with optional CEL conditions, and `is_default` (at most one
//! role per project, kept by a unique partial index as well as by the
//! code).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, Page, PageRequest, ToolError, insert_new, new_id, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::{memberships, roles};

const MAX_NAME: usize = 100;
const MAX_PERMISSIONS: usize = 200;

/// A role as tools show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Role {
    /// Immutable; organization members hold the role by this key.
    pub key: String,
    pub name: String,
    /// `resource:action`, `resource:*` or `*`.
    pub permissions: Vec<String>,
    /// New members get this role when none is named.
    pub is_default: bool,
    /// Actions on resources the role allows, each with an optional CEL
    /// condition.
    pub grants: Vec<Grant>,
    /// Archived by apply_rbac_sync: kept, but assignable no more.
    pub archived: bool,
    /// Organization members holding the role.
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a role grants: `actions` on `resource` (`*` for every action),
/// when `condition` (CEL) holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// A declared resource key (create_rbac_resource).
    pub resource: String,
    /// Actions of that resource, or `*`.
    pub actions: Vec<String>,
    /// CEL over user, org, resource and context, e.g. `resource.owner_id ==
    /// user.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = roles)]
pub(crate) struct RoleRow {
    id: String,
    project_id: String,
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) permissions: JsonText<Vec<String>>,
    pub(crate) is_default: bool,
    created_at: i64,
    updated_at: i64,
    pub(crate) grants: JsonText<Vec<Grant>>,
    pub(crate) archived_at: Option<i64>,
}

impl RoleRow {
    pub(crate) fn updated_at_micros(&self) -> i64 {
        self.updated_at
    }

    pub(crate) fn permission_list(&self) -> Vec<String> {
        self.permissions.0.clone()
    }

    pub(crate) fn grant_list(&self) -> Vec<Grant> {
        self.grants.0.clone()
    }

    fn view(self, member_count: i64) -> Role {
        Role {
            permissions: self.permissions.0,
            grants: self.grants.0,
            archived: self.archived_at.is_some(),
            key: self.key,
            name: self.name,
            is_default: self.is_default,
            member_count,
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
        }
    }
}

/// A role key: `[a-z0-9_-]`, 1 to 64 characters.
pub(crate) fn validate_key(field: &str, key: &str) -> Result<(), ToolError> {
    authgate_core::text::require_key(field, key, "org_admin")
}

fn validate_name(name: &str) -> Result<String, ToolError> {
    authgate_core::text::display_name("name", name, MAX_NAME)
}

/// Checks permission strings (`resource:action`, `resource:*`, `*`) and
/// returns them without duplicates, in the order given.
pub fn validate_permissions(permissions: &[String]) -> Result<Vec<String>, ToolError> {
    if permissions.len() > MAX_PERMISSIONS {
        return Err(ToolError::invalid(
            "permissions",
            format!("a role has at most {MAX_PERMISSIONS} permissions"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(permissions.len());
    for (i, p) in permissions.iter().enumerate() {
        let p = p.trim();
        let ok = p == "*"
            || p.split_once(':').is_some_and(|(resource, action)| {
                authgate_core::text::is_key(resource)
                    && (action == "*" || authgate_core::text::is_key(action))
            });
        if !ok {
            return Err(ToolError::invalid(
                format!("permissions[{i}]"),
                format!(
                    "'{p}' is not a permission: use resource:action (posts:read), resource:* or *, with a-z, 0-9, _ and -"
                ),
            ));
        }
        if !out.iter().any(|q| q == p) {
            out.push(p.to_owned());
        }
    }
    Ok(out)
}

fn not_found(key: &str) -> ToolError {
    ToolError::not_found(format!("role '{key}' not found in this project"))
        .with_field("key")
        .with_hint("list_roles shows the project's roles; create_role makes one")
}

/// Every role row of the project (sync and the engine read them whole).
pub(crate) async fn all_rows(
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<Vec<RoleRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        roles::table
            .filter(roles::project_id.eq(project_id))
            .select(RoleRow::as_select())
            .order(roles::key.asc())
            .load(c)
            .await?
    }))
}

pub(crate) async fn load(
    conn: &mut Conn<'_>, project_id: &str, key: &str,
) -> Result<Option<RoleRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        roles::table
            .filter(roles::project_id.eq(project_id))
            .filter(roles::key.eq(key))
            .select(RoleRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// Members holding each of `keys`.
async fn member_counts(
    conn: &mut Conn<'_>, project_id: &str, keys: &[String],
) -> Result<BTreeMap<String, i64>, ToolError> {
    let rows: Vec<(String, i64)> = with_conn!(conn, c => {
        memberships::table
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::role.eq_any(keys))
            .group_by(memberships::role)
            .select((memberships::role, diesel::dsl::count_star()))
            .load(c)
            .await?
    });
    Ok(rows.into_iter().collect())
}

async fn view(conn: &mut Conn<'_>, project_id: &str, row: RoleRow) -> Result<Role, ToolError> {
    let n = member_counts(conn, project_id, std::slice::from_ref(&row.key))
        .await?
        .get(&row.key)
        .copied()
        .unwrap_or(0);
    Ok(row.view(n))
}

/// Whether the project has a (not archived) role with this key.
pub async fn role_exists(
    conn: &mut Conn<'_>, project_id: &str, key: &str,
) -> Result<bool, ToolError> {
    Ok(load(conn, project_id, key)
        .await?
        .is_some_and(|r| r.archived_at.is_none()))
}

/// The role a key names, or `invalid_argument` on `field` (for callers
/// that assign roles).
pub async fn require_assignable_role(
    conn: &mut Conn<'_>, project_id: &str, field: &str, key: &str,
) -> Result<(), ToolError> {
    validate_key(field, key)?;
    if role_exists(conn, project_id, key).await? {
        return Ok(());
    }
    Err(
        ToolError::invalid(field, format!("the project has no role '{key}'"))
            .with_hint("list_roles shows the roles; create_role makes one"),
    )
}

/// Whether the project's role `key` holds the `*` permission (every
/// action on every resource). False for a role that does not exist.
pub async fn role_grants_everything(
    conn: &mut Conn<'_>, project_id: &str, key: &str,
) -> Result<bool, ToolError> {
    let permissions: Option<JsonText<Vec<String>>> = with_conn!(conn, c => {
        roles::table
            .filter(roles::project_id.eq(project_id))
            .filter(roles::key.eq(key))
            .select(roles::permissions)
            .first(c)
            .await
            .optional()?
    });
    Ok(permissions.is_some_and(|p| p.0.iter().any(|x| x == "*")))
}

/// The key of the project's default role, if it has one.
pub async fn default_role(
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<Option<String>, ToolError> {
    Ok(with_conn!(conn, c => {
        roles::table
            .filter(roles::project_id.eq(project_id))
            .filter(roles::is_default.eq(true))
            .filter(roles::archived_at.is_null())
            .select(roles::key)
            .first(c)
            .await
            .optional()?
    }))
}

pub async fn get_role(conn: &mut Conn<'_>, project_id: &str, key: &str) -> Result<Role, ToolError> {
    validate_key("key", key)?;
    let row = load(conn, project_id, key)
        .await?
        .ok_or_else(|| not_found(key))?;
    view(conn, project_id, row).await
}

/// Roles by key.
pub async fn list_roles(
    conn: &mut Conn<'_>, project_id: &str, page: &PageRequest,
) -> Result<Page<Role>, ToolError> {
    let rows: Vec<RoleRow> = with_conn!(conn, c => {
        let mut q = roles::table
            .filter(roles::project_id.eq(project_id))
            .select(RoleRow::as_select())
            .order(roles::key.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = &page.after {
            q = q.filter(roles::key.gt(after.clone()));
        }
        q.load(c).await?
    });
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let counts = member_counts(conn, project_id, &keys).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let n = counts.get(&r.key).copied().unwrap_or(0);
            r.view(n)
        })
        .collect();
    Ok(page.page(items, |r: &Role| r.key.clone()))
}

/// Every role's key and name, for the project status (at most `limit`).
pub async fn role_summaries(
    conn: &mut Conn<'_>, project_id: &str, limit: i64,
) -> Result<Vec<(String, String, bool)>, ToolError> {
    Ok(with_conn!(conn, c => {
        roles::table
            .filter(roles::project_id.eq(project_id))
            .filter(roles::archived_at.is_null())
            .select((roles::key, roles::name, roles::is_default))
            .order(roles::key.asc())
            .limit(limit)
            .load(c)
            .await?
    }))
}

/// Clears the project's default role (before another becomes it).
async fn clear_default(conn: &mut Conn<'_>, project_id: &str, now: i64) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(
            roles::table
                .filter(roles::project_id.eq(project_id))
                .filter(roles::is_default.eq(true)),
        )
        .set((roles::is_default.eq(false), roles::updated_at.eq(now)))
        .execute(c)
        .await?;
    });
    Ok(())
}

/// What a new role is made of.
pub struct NewRole<'a> {
    pub key: &'a str,
    pub name: Option<&'a str>,
    pub permissions: &'a [String],
    pub is_default: bool,
    /// Checked against the declared resources by the caller
    /// ([`crate::resources::check_grants`]).
    pub grants: &'a [Grant],
}

pub async fn create_role(
    conn: &mut Conn<'_>, project_id: &str, new: NewRole<'_>, now: DateTime<Utc>,
) -> Result<Role, ToolError> {
    validate_key("key", new.key)?;
    let name = validate_name(new.name.unwrap_or(new.key))?;
    let permissions = validate_permissions(new.permissions)?;
    let at = to_micros(now);
    // The default changes hands in this transaction; the project lock keeps
    // two creators from both making theirs the default.
    conn.lock_project(project_id).await?;
    if new.is_default {
        clear_default(conn, project_id, at).await?;
    }
    let row = RoleRow {
        id: new_id("role"),
        project_id: project_id.to_owned(),
        key: new.key.to_owned(),
        name,
        permissions: JsonText(permissions),
        is_default: new.is_default,
        created_at: at,
        updated_at: at,
        grants: JsonText(new.grants.to_vec()),
        archived_at: None,
    };
    if !insert_new!(conn, roles::table, &row) {
        return Err(key_taken(new.key));
    }
    Ok(row.view(0))
}

fn key_taken(key: &str) -> ToolError {
    ToolError::conflict(format!("a role with key '{key}' already exists"))
        .with_field("key")
        .with_hint("keys are immutable and unique; update_role changes the existing one")
}

/// A partial update; `None` leaves a field as it is.
pub struct RoleChange<'a> {
    pub name: Option<&'a str>,
    pub permissions: Option<&'a [String]>,
    pub is_default: Option<bool>,
}

pub async fn update_role(
    conn: &mut Conn<'_>, project_id: &str, key: &str, change: RoleChange<'_>, now: DateTime<Utc>,
) -> Result<Role, ToolError> {
    validate_key("key", key)?;
    let name = change.name.map(validate_name).transpose()?;
    let permissions = change.permissions.map(validate_permissions).transpose()?;
    let at = to_micros(now);
    conn.lock_project(project_id).await?;
    let mut row = load(conn, project_id, key)
        .await?
        .ok_or_else(|| not_found(key))?;
    if change.is_default == Some(true) && !row.is_default {
        clear_default(conn, project_id, at).await?;
    }
    if let Some(n) = name {
        row.name = n;
    }
    if let Some(p) = permissions {
        row.permissions = JsonText(p);
    }
    if let Some(d) = change.is_default {
        row.is_default = d;
    }
    row.updated_at = at;
    with_conn!(conn, c => {
        diesel::update(
            roles::table
                .filter(roles::project_id.eq(project_id))
                .filter(roles::id.eq(&row.id)),
        )
            .set((
                roles::name.eq(&row.name),
                roles::permissions.eq(&row.permissions),
                roles::is_default.eq(row.is_default),
                roles::updated_at.eq(at),
            ))
            .execute(c)
            .await?;
    });
    view(conn, project_id, row).await
}

/// Deletes a role that no member holds; while members hold it, a conflict
/// that says how many.
pub async fn delete_role(
    conn: &mut Conn<'_>, project_id: &str, key: &str, dry_run: bool,
) -> Result<Role, ToolError> {
    validate_key("key", key)?;
    conn.lock_project(project_id).await?;
    let row = load(conn, project_id, key)
        .await?
        .ok_or_else(|| not_found(key))?;
    let role = view(conn, project_id, row.clone()).await?;
    if role.member_count > 0 {
        return Err(ToolError::conflict(format!(
            "role '{key}' is held by {} organization member(s)",
            role.member_count
        ))
        .with_field("key")
        .with_hint("move them to another role with update_org_member_role first"));
    }
    if !dry_run {
        with_conn!(conn, c => {
            diesel::delete(
                roles::table
                    .filter(roles::project_id.eq(project_id))
                    .filter(roles::id.eq(&row.id)),
            )
            .execute(c)
            .await?;
        });
    }
    Ok(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_resource_action_pairs_or_wildcards() {
        let ok = validate_permissions(&[
            "posts:read".into(),
            "posts:*".into(),
            "*".into(),
            "posts:read".into(),
        ])
        .expect("valid");
        assert_eq!(ok, ["posts:read", "posts:*", "*"]);
        for bad in [
            "posts",
            "posts:",
            ":read",
            "Posts:read",
            "posts:read:x",
            "*:read",
            "po sts:read",
        ] {
            let err = validate_permissions(&["a:b".into(), bad.into()]).expect_err(bad);
            assert_eq!(err.field.as_deref(), Some("permissions[1]"), "{bad}");
        }
    }

    #[test]
    fn keys_are_short_lowercase_words() {
        assert!(validate_key("key", "org_admin-2").is_ok());
        for bad in ["", "Admin", "a b", "é", &"a".repeat(65)] {
            assert!(validate_key("key", bad).is_err(), "{bad}");
        }
    }
}
