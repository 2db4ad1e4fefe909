//! What the sessions domain contributes: the count of active sessions to
//! get_project_status, and a user-data section (what deleting a user
//! removes, what an export shows: never a token).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use authgate_core::args::Cascade;
use authgate_core::time::to_micros;
use authgate_core::{
    Conn, StatusCount, ToolError, ToolRegistry, UserDataSection, UserRef, with_conn,
};
use authgate_store::schema::{refresh_tokens, sessions};

use crate::sessions::{Session, SessionRow};

pub(crate) fn register(registry: &mut ToolRegistry) {
    registry
        .status_count(StatusCount {
            key: "active_sessions",
            description: "Sessions neither revoked nor expired.",
            sql: "SELECT COUNT(*) FROM sessions \
                  WHERE project_id = {project} AND revoked_at IS NULL AND expires_at > {now}",
        })
        .user_data(SessionData);
}

/// Sessions and refresh tokens of a user: what deleting the user removes,
/// and what an export shows (no token).
pub struct SessionData;

impl UserDataSection for SessionData {
    const NAME: &'static str = "sessions";
    const TABLES: &'static [&'static str] = &["sessions", "refresh_tokens"];

    async fn count(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Cascade, ToolError> {
        let project_id = user.project_id.as_str();
        let (s, r): (i64, i64) = with_conn!(conn, c => {
            let s = sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::user_id.eq(&user.id))
                .count()
                .get_result(c)
                .await?;
            let r = refresh_tokens::table
                .filter(refresh_tokens::project_id.eq(project_id))
                .filter(refresh_tokens::user_id.eq(&user.id))
                .count()
                .get_result(c)
                .await?;
            (s, r)
        });
        Ok([
            ("sessions".to_owned(), s as u64),
            ("refresh_tokens".to_owned(), r as u64),
        ]
        .into())
    }

    async fn export(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Value, ToolError> {
        let (project_id, now) = (user.project_id.as_str(), user.at);
        let rows: Vec<SessionRow> = with_conn!(conn, c => {
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::user_id.eq(&user.id))
                .select(SessionRow::as_select())
                .order(sessions::id.asc())
                .load(c)
                .await?
        });
        let now = to_micros(now);
        let sessions: Vec<Session> = rows.iter().map(|r| r.view(now)).collect();
        serde_json::to_value(sessions).map_err(ToolError::internal)
    }
}
