//! Linked accounts: which user a provider's subject signs in as. One row
//! per (project, provider, subject), unique; a user may have several
//! providers. The provider's tokens are never kept.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::schema::oauth_accounts;

/// The user a provider's subject is linked to.
pub async fn user_of(
    conn: &mut Conn<'_>, project_id: &str, provider: &str, subject: &str,
) -> Result<Option<String>, ToolError> {
    Ok(with_conn!(conn, c => {
        oauth_accounts::table
            .filter(oauth_accounts::project_id.eq(project_id))
            .filter(oauth_accounts::provider.eq(provider))
            .filter(oauth_accounts::provider_user_id.eq(subject))
            .select(oauth_accounts::user_id)
            .first(c)
            .await
            .optional()?
    }))
}

/// Links the subject to the user.
pub async fn link(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, provider: &str, subject: &str,
    email: Option<&str>, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let id = new_id("oac");
    with_conn!(conn, c => {
        diesel::insert_into(oauth_accounts::table)
            .values((
                oauth_accounts::id.eq(&id),
                oauth_accounts::project_id.eq(project_id),
                oauth_accounts::user_id.eq(user_id),
                oauth_accounts::provider.eq(provider),
                oauth_accounts::provider_user_id.eq(subject),
                oauth_accounts::email.eq(email),
                oauth_accounts::created_at.eq(to_micros(now)),
            ))
            .execute(c)
            .await?;
    });
    Ok(id)
}
