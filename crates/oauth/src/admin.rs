//! Admin browser sessions: what the consent page (and the dashboard)
//! needs to know who is at the browser. One is opened by a pasted API key
//! (its project, at most its scopes: the key is checked on every use, so
//! revoking it ends the session) or by a one-time link of `authgate admin
//! login` (the operator: every project, or the one it named). The cookie's
//! value is random and stored as its hash; a session ends after 30 idle
//! minutes, 12 hours, or a sign-out.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::ToolError;
use authgate_core::hash::sha256_hex;
use authgate_core::secrets::new_secret;
use authgate_core::time::to_micros;
use authgate_store::schema::{admin_links, admin_sessions};
use authgate_store::{Conn, with_conn};

/// The session cookie's name.
pub const ADMIN_COOKIE: &str = "authgate_admin";
/// A session without a request for this long ends.
pub const IDLE: Duration = Duration::minutes(30);
/// No session lives longer.
pub const MAX_AGE: Duration = Duration::hours(12);
/// A sign-in link lives this long, and works once.
pub const LINK_TTL: Duration = Duration::minutes(10);

/// Who a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// The stored hash of the cookie (for CSRF tokens and sign-out).
    pub id_hash: String,
    /// The project; `None` for the operator (every project).
    pub project_id: Option<String>,
    /// The key it was opened with; `None` for the operator.
    pub key_id: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_sessions)]
struct SessionRow {
    id_hash: String,
    project_id: Option<String>,
    key_id: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    ended_at: Option<i64>,
}

/// Opens a session; the answer is the cookie's value (shown once).
pub async fn open_session(
    conn: &mut Conn<'_>, project_id: Option<&str>, key_id: Option<&str>, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let cookie = new_secret("ags_");
    let row = SessionRow {
        id_hash: sha256_hex(&cookie),
        project_id: project_id.map(str::to_owned),
        key_id: key_id.map(str::to_owned),
        created_at: to_micros(now),
        last_seen_at: to_micros(now),
        ended_at: None,
    };
    with_conn!(conn, c => {
        diesel::insert_into(admin_sessions::table).values(&row).execute(c).await?;
    });
    Ok(cookie)
}

/// The live session of a cookie, marked seen now.
pub async fn find_session(
    conn: &mut Conn<'_>, cookie: &str, now: DateTime<Utc>,
) -> Result<Option<AdminSession>, ToolError> {
    if !crate::well_formed(cookie, "ags_") {
        return Ok(None);
    }
    let hash = sha256_hex(cookie);
    let row: Option<SessionRow> = with_conn!(conn, c => {
        admin_sessions::table
            .filter(admin_sessions::id_hash.eq(&hash))
            .filter(admin_sessions::ended_at.is_null())
            .select(SessionRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let Some(row) = row else { return Ok(None) };
    let at = to_micros(now);
    if row.last_seen_at < to_micros(now - IDLE) || row.created_at < to_micros(now - MAX_AGE) {
        return Ok(None);
    }
    with_conn!(conn, c => {
        diesel::update(admin_sessions::table.filter(admin_sessions::id_hash.eq(&hash)))
            .set(admin_sessions::last_seen_at.eq(at))
            .execute(c)
            .await?;
    });
    Ok(Some(AdminSession {
        id_hash: row.id_hash,
        project_id: row.project_id,
        key_id: row.key_id,
    }))
}

/// Ends a session (sign-out).
pub async fn end_session(
    conn: &mut Conn<'_>, cookie: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let hash = sha256_hex(cookie);
    with_conn!(conn, c => {
        diesel::update(admin_sessions::table.filter(admin_sessions::id_hash.eq(&hash)))
            .set(admin_sessions::ended_at.eq(Some(to_micros(now))))
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Makes a one-time sign-in link's token for the operator (every
/// project, or `project_id`).
pub async fn create_link(
    conn: &mut Conn<'_>, project_id: Option<&str>, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let token = new_secret("agl_");
    with_conn!(conn, c => {
        diesel::insert_into(admin_links::table)
            .values((
                admin_links::token_hash.eq(sha256_hex(&token)),
                admin_links::project_id.eq(project_id),
                admin_links::expires_at.eq(to_micros(now + LINK_TTL)),
            ))
            .execute(c)
            .await?;
    });
    Ok(token)
}

/// Spends a sign-in link: the project it is for (`Some(None)`: every
/// project), or `None` when it is unknown, spent or late.
pub async fn redeem_link(
    conn: &mut Conn<'_>, token: &str, now: DateTime<Utc>,
) -> Result<Option<Option<String>>, ToolError> {
    if !crate::well_formed(token, "agl_") {
        return Ok(None);
    }
    let hash = sha256_hex(token);
    let at = to_micros(now);
    let project: Option<Option<String>> = with_conn!(conn, c => {
        diesel::update(
            admin_links::table
                .filter(admin_links::token_hash.eq(&hash))
                .filter(admin_links::used_at.is_null())
                .filter(admin_links::expires_at.gt(at)),
        )
        .set(admin_links::used_at.eq(Some(at)))
        .returning(admin_links::project_id)
        .get_result(c)
        .await
        .optional()?
    });
    Ok(project)
}
