//! Projects: the tenant every other row belongs to. A project is made with
//! its first admin key, by the CLI or on the first run.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{ErrorCode, Project, Scope, ToolError, new_id, require_id};
use authgate_store::schema::{api_keys, projects};
use authgate_store::{Conn, with_conn};

use crate::keys::{CreatedApiKey, NewApiKey, new_key_row};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub(crate) struct ProjectRow {
    id: String,
    name: String,
    environment: String,
    created_at: i64,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            id: r.id,
            name: r.name,
            environment: r.environment,
            created_at: from_micros(r.created_at),
        }
    }
}

pub fn validate_project_name(name: &str) -> Result<String, ToolError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ToolError::invalid(
            "name",
            "project name must be 1 to 100 characters",
        ));
    }
    Ok(name.to_owned())
}

pub fn validate_environment(environment: &str) -> Result<(), ToolError> {
    match environment {
        "live" | "test" => Ok(()),
        _ => Err(ToolError::invalid(
            "environment",
            "environment must be 'live' or 'test'",
        )),
    }
}

/// Creates a project and its first admin key, in the caller's unit of work.
pub async fn create_project(
    conn: &mut Conn<'_>,
    name: &str,
    environment: &str,
    now: DateTime<Utc>,
) -> Result<(Project, CreatedApiKey), ToolError> {
    let name = validate_project_name(name)?;
    validate_environment(environment)?;
    let project = ProjectRow {
        id: new_id("prj"),
        name,
        environment: environment.to_owned(),
        created_at: to_micros(now),
    };
    let admin = NewApiKey {
        name: Some("Admin key".into()),
        scopes: vec![Scope::Admin],
        tools: None,
    };
    let (key_row, key) = new_key_row(&project.id, environment, &admin, now);
    with_conn!(conn, c => {
        diesel::insert_into(projects::table).values(&project).execute(c).await?;
        diesel::insert_into(api_keys::table).values(&key_row).execute(c).await?;
    });
    let created = key_row.created(key);
    Ok((project.into(), created))
}

/// On a database with no project, creates one and its admin key. Runs under
/// the start-up lock, so gateways starting together on one empty PostgreSQL
/// make one project between them.
pub async fn ensure_first_project(
    conn: &mut Conn<'_>,
    now: DateTime<Utc>,
) -> Result<Option<(Project, CreatedApiKey)>, ToolError> {
    conn.lock_startup().await?;
    let count: i64 = with_conn!(conn, c => {
        projects::table.count().get_result(c).await?
    });
    if count > 0 {
        return Ok(None);
    }
    create_project(conn, "My project", "live", now)
        .await
        .map(Some)
}

pub async fn get_project(conn: &mut Conn<'_>, project_id: &str) -> Result<Project, ToolError> {
    let row: Option<ProjectRow> = with_conn!(conn, c => {
        projects::table
            .filter(projects::id.eq(project_id))
            .select(ProjectRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    row.map(Project::from)
        .ok_or_else(|| ToolError::not_found(format!("project {project_id} not found")))
}

pub async fn list_projects(conn: &mut Conn<'_>) -> Result<Vec<Project>, ToolError> {
    let rows: Vec<ProjectRow> = with_conn!(conn, c => {
        projects::table
            .order(projects::id.asc())
            .select(ProjectRow::as_select())
            .load(c)
            .await?
    });
    Ok(rows.into_iter().map(Project::from).collect())
}

/// The project a request names exists: `not_found` naming `field` (the
/// header or argument that named it) when not.
pub async fn require_project(
    conn: &mut Conn<'_>,
    project_id: &str,
    field: &str,
) -> Result<Project, ToolError> {
    require_id(field, "prj", project_id)?;
    get_project(conn, project_id)
        .await
        .map_err(|e| match e.code {
            ErrorCode::NotFound => ToolError::not_found(format!("project {project_id} not found"))
                .with_field(field)
                .with_hint(format!(
                    "send the id of an existing project (prj_...) in {field}"
                )),
            _ => e,
        })
}
