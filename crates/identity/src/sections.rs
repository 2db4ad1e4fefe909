//! What identity contributes: the count of end users to
//! get_project_status, and the user-data section of its tables (what
//! deleting a user removes, what an export shows: never a hash or code).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use authgate_core::args::Cascade;
use authgate_core::{
    Conn, StatusCount, ToolError, ToolRegistry, UserDataSection, UserRef, with_conn,
};
use authgate_store::schema::{
    auth_tokens, mfa_factors, oauth_accounts, oauth_codes, password_credentials, verification_codes,
};

use crate::users;

pub(crate) fn register(registry: &mut ToolRegistry) {
    registry
        .status_count(StatusCount {
            key: "end_users",
            description: "End users of the project.",
            sql: "SELECT COUNT(*) FROM end_users WHERE project_id = {project}",
        })
        .user_data(IdentityData);
}

/// The identity tables that hold a user's rows.
pub struct IdentityData;

async fn count_rows(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<[i64; 6], ToolError> {
    Ok(with_conn!(conn, c => {
        [
            password_credentials::table
                .filter(password_credentials::project_id.eq(project_id))
                .filter(password_credentials::user_id.eq(user_id))
                .count()
                .get_result::<i64>(c)
                .await?,
            oauth_accounts::table
                .filter(oauth_accounts::project_id.eq(project_id))
                .filter(oauth_accounts::user_id.eq(user_id))
                .count()
                .get_result::<i64>(c)
                .await?,
            mfa_factors::table
                .filter(mfa_factors::project_id.eq(project_id))
                .filter(mfa_factors::user_id.eq(user_id))
                .count()
                .get_result::<i64>(c)
                .await?,
            verification_codes::table
                .filter(verification_codes::project_id.eq(project_id))
                .filter(verification_codes::user_id.eq(user_id))
                .count()
                .get_result::<i64>(c)
                .await?,
            auth_tokens::table
                .filter(auth_tokens::project_id.eq(project_id))
                .filter(auth_tokens::user_id.eq(user_id))
                .count()
                .get_result::<i64>(c)
                .await?,
            oauth_codes::table
                .filter(oauth_codes::project_id.eq(project_id))
                .filter(oauth_codes::user_id.eq(user_id))
                .count()
                .get_result::<i64>(c)
                .await?,
        ]
    }))
}

impl UserDataSection for IdentityData {
    const NAME: &'static str = "identity";
    const TABLES: &'static [&'static str] = &[
        "password_credentials",
        "oauth_accounts",
        "mfa_factors",
        "verification_codes",
        "auth_tokens",
        "oauth_codes",
    ];

    async fn count(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Cascade, ToolError> {
        let project_id = user.project_id.as_str();
        let counts = count_rows(conn, project_id, &user.id).await?;
        Ok(Self::TABLES
            .iter()
            .zip(counts)
            .map(|(t, n)| ((*t).to_owned(), n as u64))
            .collect())
    }

    async fn export(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Value, ToolError> {
        let project_id = user.project_id.as_str();
        let detail = users::detail(conn, project_id, &user.id).await?;
        let counts = count_rows(conn, project_id, &user.id).await?;
        Ok(serde_json::json!({
            "profile": detail.user,
            "password": detail.password,
            "linked_accounts": detail.linked_accounts,
            "mfa_factors": detail.mfa.factors,
            "pending_email_codes": counts[3],
            "pending_link_tokens": counts[4],
            "pending_sign_in_codes": counts[5],
        }))
    }
}
