//! Pre-account hijacking: someone who signs up with another person's
//! address (it stays unverified) could set a password and a second factor
//! and keep sessions open, then wait for the owner to prove the address
//! with a link and find the account already theirs. When a link proves the
//! address of an unverified account, whatever was set on it before is
//! dropped: the password, every session and every second factor (audited
//! as `account.claimed`). Kratos, Auth0 and Clerk treat an unverified
//! account the same way.

use chrono::{DateTime, Utc};

use authgate_core::{Conn, EventType, RequestMeta, ToolError};

use super::{Auth, user_event};
use crate::mfa;
use crate::users::{self, UserRow};

impl Auth {
    /// The owner of `user`'s address just proved it with a link (`method`):
    /// an unverified account is claimed. Returns whether that changed the
    /// user (a password or a second factor dropped), for the caller's one
    /// `user.updated` (the revoked sessions are published by sessions).
    pub(super) async fn claim(
        &self, conn: &mut Conn<'_>, user: &UserRow, method: &str, meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<bool, ToolError> {
        if user.email_verified {
            return Ok(false);
        }
        let project_id = user.project_id.as_str();
        let had_password = users::has_password(conn, project_id, &user.id).await?;
        users::delete_password(conn, project_id, &user.id).await?;
        let sessions = authgate_sessions::revoke_user_sessions(
            conn,
            project_id,
            &user.id,
            None,
            "account_claimed",
            now,
        )
        .await?;
        let factors = mfa::remove_all(conn, project_id, &user.id).await?;
        user_event(project_id, EventType::AccountClaimed, &user.id, meta)
            .meta("method", method)
            .meta("password_dropped", had_password)
            .meta("sessions_revoked", sessions)
            .meta("factors_removed", factors)
            .record(conn, now)
            .await?;
        Ok(had_password || factors > 0)
    }
}
