//! RBAC resources: what a project protects (`posts`, `invoices`) and the
//! actions each allows. Grants name a resource and some of its actions.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::time::to_micros;
use authgate_core::{Conn, Page, PageRequest, ToolError, insert_new, new_id, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::rbac_resources;

use crate::roles::{Grant, validate_key};

const MAX_ACTIONS: usize = 50;
const MAX_GRANTS: usize = 100;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Resource {
    pub key: String,
    pub name: String,
    pub actions: Vec<String>,
    /// Archived by apply_rbac_sync: grants may no longer name it.
    pub archived: bool,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = rbac_resources)]
pub(crate) struct ResourceRow {
    id: String,
    project_id: String,
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) actions: JsonText<Vec<String>>,
    pub(crate) archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl ResourceRow {
    pub(crate) fn action_list(&self) -> Vec<String> {
        self.actions.0.clone()
    }

    pub(crate) fn view(&self) -> Resource {
        Resource {
            key: self.key.clone(),
            name: self.name.clone(),
            actions: self.action_list(),
            archived: self.archived_at.is_some(),
        }
    }
}

/// Checks a resource's actions: 1 to 50 words, unique.
pub fn validate_actions(field: &str, actions: &[String]) -> Result<Vec<String>, ToolError> {
    if actions.is_empty() || actions.len() > MAX_ACTIONS {
        return Err(ToolError::invalid(
            field,
            format!("{field} must list 1 to {MAX_ACTIONS} actions (e.g. [\"read\", \"write\"])"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, a) in actions.iter().enumerate() {
        validate_key(&format!("{field}[{i}]"), a)?;
        if out.contains(a) {
            return Err(ToolError::invalid(
                format!("{field}[{i}]"),
                format!("action '{a}' is listed twice"),
            ));
        }
        out.push(a.clone());
    }
    Ok(out)
}

pub(crate) fn validate_name(name: &str) -> Result<String, ToolError> {
    authgate_core::text::display_name("name", name, 100)
}

pub(crate) async fn all_rows(
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<Vec<ResourceRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        rbac_resources::table
            .filter(rbac_resources::project_id.eq(project_id))
            .select(ResourceRow::as_select())
            .order(rbac_resources::key.asc())
            .load(c)
            .await?
    }))
}

pub async fn list_resources(
    conn: &mut Conn<'_>, project_id: &str, page: &PageRequest,
) -> Result<Page<Resource>, ToolError> {
    let rows: Vec<ResourceRow> = with_conn!(conn, c => {
        let mut q = rbac_resources::table
            .filter(rbac_resources::project_id.eq(project_id))
            .select(ResourceRow::as_select())
            .order(rbac_resources::key.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = &page.after {
            q = q.filter(rbac_resources::key.gt(after.clone()));
        }
        q.load(c).await?
    });
    Ok(page.page(
        rows.iter().map(ResourceRow::view).collect(),
        |r: &Resource| r.key.clone(),
    ))
}

pub(crate) async fn insert(
    conn: &mut Conn<'_>, project_id: &str, key: &str, name: &str, actions: &[String],
    now: DateTime<Utc>,
) -> Result<Resource, ToolError> {
    let at = to_micros(now);
    let row = ResourceRow {
        id: new_id("res"),
        project_id: project_id.to_owned(),
        key: key.to_owned(),
        name: name.to_owned(),
        actions: JsonText(actions.to_vec()),
        archived_at: None,
        created_at: at,
        updated_at: at,
    };
    if !insert_new!(conn, rbac_resources::table, &row) {
        return Err(key_taken(key));
    }
    Ok(row.view())
}

fn key_taken(key: &str) -> ToolError {
    ToolError::conflict(format!("a resource with key '{key}' already exists"))
        .with_field("key")
        .with_hint("apply_rbac_sync changes existing resources")
}

pub(crate) async fn set(
    conn: &mut Conn<'_>, project_id: &str, key: &str, name: &str, actions: &[String],
    archived_at: Option<i64>, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let actions = JsonText(actions.to_vec());
    with_conn!(conn, c => {
        diesel::update(
            rbac_resources::table
                .filter(rbac_resources::project_id.eq(project_id))
                .filter(rbac_resources::key.eq(key)),
        )
        .set((
            rbac_resources::name.eq(name),
            rbac_resources::actions.eq(actions),
            rbac_resources::archived_at.eq(archived_at),
            rbac_resources::updated_at.eq(to_micros(now)),
        ))
        .execute(c)
        .await?;
    });
    Ok(())
}

pub async fn create_resource(
    conn: &mut Conn<'_>, project_id: &str, key: &str, name: Option<&str>, actions: &[String],
    now: DateTime<Utc>,
) -> Result<Resource, ToolError> {
    validate_key("key", key)?;
    let name = validate_name(name.unwrap_or(key))?;
    let actions = validate_actions("actions", actions)?;
    insert(conn, project_id, key, &name, &actions, now).await
}

/// Checks grants against `resources` (key, actions): every resource
/// declared, every action one of its own (or `*`), every condition valid.
pub(crate) fn check_grants_against(
    field: &str, grants: &[Grant], resources: &[(String, Vec<String>)],
) -> Result<Vec<Grant>, ToolError> {
    if grants.len() > MAX_GRANTS {
        return Err(ToolError::invalid(
            field,
            format!("a role has at most {MAX_GRANTS} grants"),
        ));
    }
    let mut out = Vec::with_capacity(grants.len());
    for (i, g) in grants.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some((_, allowed)) = resources.iter().find(|(k, _)| *k == g.resource) else {
            return Err(ToolError::invalid(
                format!("{at}.resource"),
                format!("the project has no resource '{}'", g.resource),
            )
            .with_hint("create_rbac_resource declares one (list_rbac_resources shows them)"));
        };
        if g.actions.is_empty() {
            return Err(ToolError::invalid(
                format!("{at}.actions"),
                "a grant names at least one action (or *)",
            ));
        }
        for (j, a) in g.actions.iter().enumerate() {
            if a != "*" && !allowed.contains(a) {
                return Err(ToolError::invalid(
                    format!("{at}.actions[{j}]"),
                    format!(
                        "'{}' allows no action '{a}'; it allows {}",
                        g.resource,
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let condition = match g.condition.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(src) => {
                crate::conditions::compile_condition(&format!("{at}.condition"), src)?;
                Some(src.to_owned())
            }
        };
        out.push(Grant {
            resource: g.resource.clone(),
            actions: g.actions.clone(),
            condition,
        });
    }
    Ok(out)
}

/// Checks grants against the project's live resources.
pub async fn check_grants(
    conn: &mut Conn<'_>, project_id: &str, field: &str, grants: &[Grant],
) -> Result<Vec<Grant>, ToolError> {
    let resources: Vec<(String, Vec<String>)> = all_rows(conn, project_id)
        .await?
        .into_iter()
        .filter(|r| r.archived_at.is_none())
        .map(|r| {
            let actions = r.action_list();
            (r.key, actions)
        })
        .collect();
    check_grants_against(field, grants, &resources)
}
