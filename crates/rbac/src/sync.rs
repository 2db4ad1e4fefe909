//! The whole RBAC configuration as one document: what
//! get_rbac_sync_state returns and apply_rbac_sync takes. Applying diffs
//! the document against the stored configuration in one transaction:
//! creates, updates, and archives what the document no longer names (never
//! a hard delete). Applying the same document twice changes nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::roles;

use crate::resources::{self, check_grants_against, validate_actions};
use crate::roles::{self as role, Grant, NewRole, RoleRow, validate_key, validate_permissions};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceDoc {
    pub key: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDoc {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// The configuration: resources and roles, each sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncState {
    #[serde(default)]
    pub resources: Vec<ResourceDoc>,
    #[serde(default)]
    pub roles: Vec<RoleDoc>,
}

/// What applying changes (or would): `resource:<key>` and `role:<key>`.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Plan {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub archived: Vec<String>,
    pub unchanged: Vec<String>,
}

/// The stored configuration (archived entries left out).
pub async fn state(conn: &mut Conn<'_>, project_id: &str) -> Result<SyncState, ToolError> {
    let resources = resources::all_rows(conn, project_id)
        .await?
        .into_iter()
        .filter(|r| r.archived_at.is_none())
        .map(|r| ResourceDoc {
            actions: r.action_list(),
            key: r.key,
            name: r.name,
        })
        .collect();
    let roles = role::all_rows(conn, project_id)
        .await?
        .into_iter()
        .filter(|r| r.archived_at.is_none())
        .map(|r| RoleDoc {
            permissions: r.permission_list(),
            grants: r.grant_list(),
            key: r.key,
            name: r.name,
            is_default: r.is_default,
        })
        .collect();
    Ok(SyncState { resources, roles })
}

/// Checks a document on its own: keys, names, actions, permissions, one
/// default at most, grants against the document's own resources, and
/// conditions. Returns it normalised (sorted by key).
fn validate(doc: &SyncState) -> Result<SyncState, ToolError> {
    let mut seen = BTreeSet::new();
    let mut resources_out = Vec::new();
    for (i, r) in doc.resources.iter().enumerate() {
        validate_key(&format!("state.resources[{i}].key"), &r.key)?;
        if !seen.insert(r.key.clone()) {
            return Err(ToolError::invalid(
                format!("state.resources[{i}].key"),
                format!("resource '{}' is listed twice", r.key),
            ));
        }
        let name = resources::validate_name(&r.name)
            .map_err(|e| e.with_field(format!("state.resources[{i}].name")))?;
        let actions = validate_actions(&format!("state.resources[{i}].actions"), &r.actions)?;
        resources_out.push(ResourceDoc {
            key: r.key.clone(),
            name,
            actions,
        });
    }
    let declared: Vec<(String, Vec<String>)> = resources_out
        .iter()
        .map(|r| (r.key.clone(), r.actions.clone()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut roles_out = Vec::new();
    for (i, r) in doc.roles.iter().enumerate() {
        validate_key(&format!("state.roles[{i}].key"), &r.key)?;
        if !seen.insert(r.key.clone()) {
            return Err(ToolError::invalid(
                format!("state.roles[{i}].key"),
                format!("role '{}' is listed twice", r.key),
            ));
        }
        let permissions = validate_permissions(&r.permissions).map_err(|e| {
            let field = e.field.clone().unwrap_or_default();
            e.with_field(format!("state.roles[{i}].{field}"))
        })?;
        let grants =
            check_grants_against(&format!("state.roles[{i}].grants"), &r.grants, &declared)?;
        let name = resources::validate_name(&r.name)
            .map_err(|e| e.with_field(format!("state.roles[{i}].name")))?;
        roles_out.push(RoleDoc {
            key: r.key.clone(),
            name,
            permissions,
            is_default: r.is_default,
            grants,
        });
    }
    if roles_out.iter().filter(|r| r.is_default).count() > 1 {
        return Err(ToolError::invalid(
            "state.roles",
            "at most one role may be the default",
        ));
    }
    resources_out.sort_by(|a, b| a.key.cmp(&b.key));
    roles_out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(SyncState {
        resources: resources_out,
        roles: roles_out,
    })
}

/// Makes the stored configuration equal to `doc` (unless `dry_run`) and
/// returns the plan. A role held by members is never archived: conflict.
pub async fn apply(
    conn: &mut Conn<'_>, project_id: &str, doc: &SyncState, dry_run: bool, now: DateTime<Utc>,
) -> Result<Plan, ToolError> {
    let doc = validate(doc)?;
    conn.lock_project(project_id).await?;
    let mut run = Run {
        project_id,
        dry_run,
        now,
        at: to_micros(now),
        plan: Plan::default(),
    };
    let stored_roles = role::all_rows(conn, project_id).await?;
    let archived: Vec<&RoleRow> = stored_roles
        .iter()
        .filter(|r| r.archived_at.is_none() && !doc.roles.iter().any(|d| d.key == r.key))
        .collect();
    run.refuse_held(conn, &archived).await?;
    run.resources(conn, &doc.resources).await?;
    run.roles(conn, &doc.roles, &stored_roles).await?;
    run.archive_roles(conn, &archived).await?;
    Ok(run.plan)
}

/// One application of a document: what it changes, recorded in the plan.
struct Run<'a> {
    project_id: &'a str,
    dry_run: bool,
    now: DateTime<Utc>,
    at: i64,
    plan: Plan,
}

impl Run<'_> {
    /// Roles to archive that members hold: a conflict, named with the count.
    async fn refuse_held(
        &self, conn: &mut Conn<'_>, archived: &[&RoleRow],
    ) -> Result<(), ToolError> {
        for r in archived {
            let held = role::get_role(conn, self.project_id, &r.key)
                .await?
                .member_count;
            if held > 0 {
                return Err(ToolError::conflict(format!(
                    "role '{}' is held by {held} organization member(s) and cannot be archived",
                    r.key
                ))
                .with_field("state.roles")
                .with_hint(
                    "keep the role in the document, or move its members to another role first",
                ));
            }
        }
        Ok(())
    }

    async fn resources(
        &mut self, conn: &mut Conn<'_>, wanted: &[ResourceDoc],
    ) -> Result<(), ToolError> {
        let (project_id, now) = (self.project_id, self.now);
        let stored = resources::all_rows(conn, project_id).await?;
        for d in wanted {
            let name = format!("resource:{}", d.key);
            match stored.iter().find(|r| r.key == d.key) {
                None => {
                    self.plan.created.push(name);
                    if !self.dry_run {
                        resources::insert(conn, project_id, &d.key, &d.name, &d.actions, now)
                            .await?;
                    }
                }
                Some(r)
                    if r.archived_at.is_none()
                        && r.name == d.name
                        && r.action_list() == d.actions =>
                {
                    self.plan.unchanged.push(name)
                }
                Some(_) => {
                    self.plan.updated.push(name);
                    if !self.dry_run {
                        resources::set(conn, project_id, &d.key, &d.name, &d.actions, None, now)
                            .await?;
                    }
                }
            }
        }
        let gone = stored
            .iter()
            .filter(|r| r.archived_at.is_none() && !wanted.iter().any(|d| d.key == r.key));
        for r in gone {
            self.plan.archived.push(format!("resource:{}", r.key));
            if !self.dry_run {
                let actions = r.action_list();
                resources::set(
                    conn,
                    project_id,
                    &r.key,
                    &r.name,
                    &actions,
                    Some(self.at),
                    now,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn roles(
        &mut self, conn: &mut Conn<'_>, wanted: &[RoleDoc], stored: &[RoleRow],
    ) -> Result<(), ToolError> {
        let project_id = self.project_id;
        if !self.dry_run && wanted.iter().any(|r| r.is_default) {
            // The default changes hands below; clear it first.
            with_conn!(conn, c => {
                diesel::update(roles::table.filter(roles::project_id.eq(project_id)).filter(roles::is_default.eq(true)))
                    .set(roles::is_default.eq(false))
                    .execute(c)
                    .await?;
            });
        }
        for d in wanted {
            let name = format!("role:{}", d.key);
            let Some(r) = stored.iter().find(|r| r.key == d.key) else {
                self.plan.created.push(name);
                if !self.dry_run {
                    let new = NewRole {
                        key: &d.key,
                        name: Some(&d.name),
                        permissions: &d.permissions,
                        is_default: d.is_default,
                        grants: &d.grants,
                    };
                    role::create_role(conn, project_id, new, self.now).await?;
                }
                continue;
            };
            let same = r.archived_at.is_none()
                && r.name == d.name
                && r.permission_list() == d.permissions
                && r.is_default == d.is_default
                && r.grant_list() == d.grants;
            if same {
                self.plan.unchanged.push(name);
            } else {
                self.plan.updated.push(name);
            }
            if !self.dry_run {
                let updated_at = if same { r.updated_at_micros() } else { self.at };
                set_role(conn, project_id, d, updated_at).await?;
            }
        }
        Ok(())
    }

    async fn archive_roles(
        &mut self, conn: &mut Conn<'_>, archived: &[&RoleRow],
    ) -> Result<(), ToolError> {
        let (project_id, at) = (self.project_id, self.at);
        for r in archived {
            self.plan.archived.push(format!("role:{}", r.key));
            if !self.dry_run {
                with_conn!(conn, c => {
                    diesel::update(roles::table.filter(roles::project_id.eq(project_id)).filter(roles::key.eq(&r.key)))
                        .set((roles::archived_at.eq(Some(at)), roles::is_default.eq(false), roles::updated_at.eq(at)))
                        .execute(c)
                        .await?;
                });
            }
        }
        Ok(())
    }
}

/// Writes a stored role as the document has it (and unarchives it).
async fn set_role(
    conn: &mut Conn<'_>, project_id: &str, d: &RoleDoc, updated_at: i64,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(roles::table.filter(roles::project_id.eq(project_id)).filter(roles::key.eq(&d.key)))
            .set((
                roles::name.eq(&d.name),
                roles::permissions.eq(JsonText(d.permissions.clone())),
                roles::grants.eq(JsonText(d.grants.clone())),
                roles::is_default.eq(d.is_default),
                roles::archived_at.eq(None::<i64>),
                roles::updated_at.eq(updated_at),
            ))
            .execute(c)
            .await?;
    });
    Ok(())
}
