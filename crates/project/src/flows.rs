//! Flows across projects and keys: a project is made with its first
//! admin key, and a database with no project gets one on the first run.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::time::to_micros;
use authgate_core::{Project, Scope, ToolError, new_id};
use authgate_store::schema::{api_keys, projects};
use authgate_store::{Conn, with_conn};

use crate::keys::{CreatedApiKey, NewApiKey, new_key_row};
use crate::projects::{ProjectRow, validate_environment, validate_project_name};

/// Creates a project and its first admin key, in the caller's unit of work.
pub async fn create_project(
    conn: &mut Conn<'_>, name: &str, environment: &str, now: DateTime<Utc>,
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
    conn: &mut Conn<'_>, now: DateTime<Utc>,
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
