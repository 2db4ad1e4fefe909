//! What the organizations domain contributes: the 10 newest
//! organizations and their number to get_project_status, and memberships
//! (and invitations to the user's address) as a user-data section.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use authgate_core::args::Cascade;
use authgate_core::status::{StatusCount, StatusSection};
use authgate_core::time::from_micros;
use authgate_core::{
    Conn, ToolContext, ToolError, ToolRegistry, UserDataSection, UserRef, with_conn,
};
use authgate_store::schema::memberships;

use crate::members::memberships_of_user;

pub(crate) fn register(registry: &mut ToolRegistry) {
    registry
        .status_section(OrgsStatus)
        .status_count(StatusCount {
            key: "organizations",
            description: "Organizations of the project.",
            sql: "SELECT COUNT(*) FROM organizations WHERE project_id = {project}",
        })
        .user_data(OrgsData);
}

const NEWEST: i64 = 10;

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrgsStatusOutput {
    /// The 10 newest organizations.
    pub organizations: Vec<OrgSummary>,
}

pub struct OrgsStatus;

impl StatusSection for OrgsStatus {
    type Output = OrgsStatusOutput;

    async fn read(
        &self, ctx: &ToolContext, conn: &mut Conn<'_>,
    ) -> Result<OrgsStatusOutput, ToolError> {
        let organizations = crate::organizations::newest_orgs(conn, ctx.project_id(), NEWEST)
            .await?
            .into_iter()
            .map(|(id, name, slug)| OrgSummary { id, name, slug })
            .collect();
        Ok(OrgsStatusOutput { organizations })
    }
}

/// Organization memberships are a user's data: deleting the user removes
/// them, and an export lists them.
pub struct OrgsData;

impl UserDataSection for OrgsData {
    const NAME: &'static str = "organizations";
    const TABLES: &'static [&'static str] = &["memberships"];

    async fn count(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Cascade, ToolError> {
        let project_id = user.project_id.as_str();
        let n: i64 = with_conn!(conn, c => {
            memberships::table
                .filter(memberships::project_id.eq(project_id))
                .filter(memberships::user_id.eq(&user.id))
                .count()
                .get_result(c)
                .await?
        });
        Ok(Cascade::from([("memberships".to_owned(), n as u64)]))
    }

    async fn export(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Value, ToolError> {
        let project_id = user.project_id.as_str();
        let list = memberships_of_user(conn, project_id, &user.id).await?;
        // Invitations are addressed by email: a user without one has none.
        let email = user.email.clone().unwrap_or_default();
        let invited: Vec<(String, String, String, String, i64, i64)> = with_conn!(conn, c => {
            authgate_store::schema::invitations::table
                .filter(authgate_store::schema::invitations::project_id.eq(project_id))
                .filter(authgate_store::schema::invitations::email.eq(&email))
                .select((
                    authgate_store::schema::invitations::id,
                    authgate_store::schema::invitations::org_id,
                    authgate_store::schema::invitations::role,
                    authgate_store::schema::invitations::status,
                    authgate_store::schema::invitations::created_at,
                    authgate_store::schema::invitations::expires_at,
                ))
                .order(authgate_store::schema::invitations::id.asc())
                .load(c)
                .await?
        });
        let invitations: Vec<Value> = invited
            .into_iter()
            .map(|(id, org_id, role, status, created, expires)| {
                serde_json::json!({
                    "id": id, "org_id": org_id, "role": role, "status": status,
                    "created_at": from_micros(created), "expires_at": from_micros(expires),
                })
            })
            .collect();
        Ok(serde_json::json!({"memberships": list, "invitations_to_email": invitations}))
    }
}
