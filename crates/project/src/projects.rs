//! Projects: the tenant every other row belongs to. A project is made with
//! its first admin key, by the CLI or on the first run.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::time::from_micros;
use authgate_core::{ErrorCode, Project, ToolError, require_id};
use authgate_store::schema::projects;
use authgate_store::{Conn, with_conn};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub(crate) struct ProjectRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) environment: String,
    pub(crate) created_at: i64,
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
    conn: &mut Conn<'_>, project_id: &str, field: &str,
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
