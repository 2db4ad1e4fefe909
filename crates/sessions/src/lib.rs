//! End-user sessions. A session is created at sign-in with an opaque
//! refresh token (random, stored only as its SHA-256). Every refresh marks
//! the presented token used and issues the next one; presenting a used
//! token again (a stolen copy, or a replay) revokes the whole session.
//! Revocation takes effect on the next request: access tokens name their
//! session (`sid`), and every check of one reads the session's state.

pub mod tools;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use authgate_audit::NewAuditEvent;
use authgate_core::args::Cascade;
use authgate_core::secrets::{new_secret, sha256_hex};
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{
    Conn, Page, PageRequest, RequestMeta, ToolError, UserDataSection, UserRef, new_id, with_conn,
};
use authgate_store::schema::{refresh_tokens, sessions};

pub use tools::register;

/// A session as tools show it. Tokens never appear.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked: `sign_out`, `revoked`, `refresh_token_reused`,
    /// `password_reset`, `user_deleted`.
    pub revoked_reason: Option<String>,
    /// Whether it can still be used (not revoked, not expired).
    pub active: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The active organization, when one was chosen.
    pub org_id: Option<String>,
    /// The member's role in the active organization.
    pub role: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    project_id: String,
    user_id: String,
    created_at: i64,
    last_active_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    org_id: Option<String>,
    role: Option<String>,
}

impl SessionRow {
    fn view(&self, now: i64) -> Session {
        Session {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            created_at: from_micros(self.created_at),
            last_active_at: from_micros(self.last_active_at),
            expires_at: from_micros(self.expires_at),
            revoked_at: self.revoked_at.map(from_micros),
            revoked_reason: self.revoked_reason.clone(),
            active: self.revoked_at.is_none() && self.expires_at > now,
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            org_id: self.org_id.clone(),
            role: self.role.clone(),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
struct RefreshRow {
    token_hash: String,
    project_id: String,
    session_id: String,
    user_id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

/// Session settings: how long a session lives from sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    pub lifetime: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::days(30),
        }
    }
}

fn not_found(session_id: &str) -> ToolError {
    ToolError::not_found(format!("session {session_id} not found in this project"))
        .with_field("session_id")
        .with_hint("list_sessions shows the active sessions of this project")
}

fn new_refresh(project_id: &str, session: &SessionRow, now: i64) -> (RefreshRow, String) {
    let token = new_secret("agrt_");
    let row = RefreshRow {
        token_hash: sha256_hex(&token),
        project_id: project_id.to_owned(),
        session_id: session.id.clone(),
        user_id: session.user_id.clone(),
        created_at: now,
        expires_at: session.expires_at,
        used_at: None,
    };
    (row, token)
}

/// Opens a session for a user who just proved who they are; returns it
/// and its first refresh token (shown this once).
pub async fn create(
    conn: &mut Conn<'_>,
    project_id: &str,
    user_id: &str,
    meta: &RequestMeta,
    settings: SessionSettings,
    now: DateTime<Utc>,
) -> Result<(Session, String), ToolError> {
    let at = to_micros(now);
    let row = SessionRow {
        id: new_id("ses"),
        project_id: project_id.to_owned(),
        user_id: user_id.to_owned(),
        created_at: at,
        last_active_at: at,
        expires_at: to_micros(now + settings.lifetime),
        revoked_at: None,
        revoked_reason: None,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        org_id: None,
        role: None,
    };
    let (refresh, token) = new_refresh(project_id, &row, at);
    with_conn!(conn, c => {
        diesel::insert_into(sessions::table).values(&row).execute(c).await?;
        diesel::insert_into(refresh_tokens::table).values(&refresh).execute(c).await?;
    });
    Ok((row.view(at), token))
}

async fn load(
    conn: &mut Conn<'_>,
    project_id: &str,
    session_id: &str,
) -> Result<Option<SessionRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        sessions::table
            .filter(sessions::project_id.eq(project_id))
            .filter(sessions::id.eq(session_id))
            .select(SessionRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

pub async fn get(
    conn: &mut Conn<'_>,
    project_id: &str,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<Session, ToolError> {
    load(conn, project_id, session_id)
        .await?
        .map(|r| r.view(to_micros(now)))
        .ok_or_else(|| not_found(session_id))
}

/// The session if it is still usable (for checking an access token).
pub async fn active(
    conn: &mut Conn<'_>,
    project_id: &str,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, ToolError> {
    let now = to_micros(now);
    Ok(load(conn, project_id, session_id)
        .await?
        .map(|r| r.view(now))
        .filter(|s| s.active))
}

/// Active sessions, newest first, optionally of one user.
pub async fn list_active(
    conn: &mut Conn<'_>,
    project_id: &str,
    user_id: Option<&str>,
    page: &PageRequest,
    now: DateTime<Utc>,
) -> Result<Page<Session>, ToolError> {
    let at = to_micros(now);
    let rows: Vec<SessionRow> = with_conn!(conn, c => {
        let mut q = sessions::table
            .filter(sessions::project_id.eq(project_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(at))
            .select(SessionRow::as_select())
            .order(sessions::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(user) = user_id {
            q = q.filter(sessions::user_id.eq(user.to_owned()));
        }
        if let Some(after) = &page.after {
            q = q.filter(sessions::id.lt(after.clone()));
        }
        q.load(c).await?
    });
    let items = rows.iter().map(|r| r.view(at)).collect();
    Ok(page.page(items, |s: &Session| s.id.clone()))
}

/// Who revokes a session, which decides its audit event.
#[derive(Debug, Clone, Copy)]
pub enum RevokedBy<'a> {
    /// The user signing out (`sign_out`).
    SignOut,
    /// An agent, through revoke_session (`session.revoked`).
    Key(&'a str),
    /// AuthGate itself, with a reason (`session.revoked`).
    System(&'static str),
}

impl RevokedBy<'_> {
    fn reason(&self) -> &'static str {
        match self {
            RevokedBy::SignOut => "sign_out",
            RevokedBy::Key(_) => "revoked",
            RevokedBy::System(reason) => reason,
        }
    }
}

/// Revokes a session (a revoked one stays as it is: revoking is
/// idempotent) and records the auth event, in the caller's unit of work.
pub async fn revoke(
    conn: &mut Conn<'_>,
    project_id: &str,
    session_id: &str,
    by: RevokedBy<'_>,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<Session, ToolError> {
    let at = to_micros(now);
    let mut row = load(conn, project_id, session_id)
        .await?
        .ok_or_else(|| not_found(session_id))?;
    if row.revoked_at.is_some() {
        return Ok(row.view(at));
    }
    let reason = by.reason();
    with_conn!(conn, c => {
        diesel::update(
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::id.eq(session_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((sessions::revoked_at.eq(Some(at)), sessions::revoked_reason.eq(Some(reason))))
        .execute(c)
        .await?;
    });
    row.revoked_at = Some(at);
    row.revoked_reason = Some(reason.to_owned());
    let event_type = match by {
        RevokedBy::SignOut => "sign_out",
        _ => "session.revoked",
    };
    let mut event =
        NewAuditEvent::auth(project_id, event_type, Some(&row.user_id), meta, "success")
            .target(session_id)
            .meta("reason", reason);
    if let RevokedBy::Key(key) = by {
        event = event.by_key(key);
    }
    authgate_audit::record(conn, event, now).await?;
    Ok(row.view(at))
}

/// Revokes every active session of a user but `except` (after a password
/// reset); returns how many.
pub async fn revoke_all_of_user(
    conn: &mut Conn<'_>,
    project_id: &str,
    user_id: &str,
    except: Option<&str>,
    reason: &'static str,
    now: DateTime<Utc>,
) -> Result<usize, ToolError> {
    let at = to_micros(now);
    let keep = except.unwrap_or("");
    Ok(with_conn!(conn, c => {
        diesel::update(
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(keep)),
        )
        .set((sessions::revoked_at.eq(Some(at)), sessions::revoked_reason.eq(Some(reason))))
        .execute(c)
        .await?
    }))
}

/// What a refresh came to.
#[derive(Debug)]
pub enum Refreshed {
    /// The token was good: the session goes on with this next token.
    Rotated {
        session: Box<Session>,
        refresh_token: String,
    },
    /// The token had been used before: the session is now revoked.
    Reused { session_id: String },
    /// Unknown, expired, or its session is no longer active.
    Invalid,
}

/// Exchanges a refresh token for the next one. A token used twice revokes
/// its session (and records `token.refresh_reused`): either the user's
/// copy or a thief's was a replay, and there is no telling which.
pub async fn refresh(
    conn: &mut Conn<'_>,
    project_id: &str,
    presented: &str,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<Refreshed, ToolError> {
    let at = to_micros(now);
    let hash = sha256_hex(presented);
    let token: Option<RefreshRow> = with_conn!(conn, c => {
        refresh_tokens::table
            .filter(refresh_tokens::project_id.eq(project_id))
            .filter(refresh_tokens::token_hash.eq(&hash))
            .select(RefreshRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let Some(token) = token else {
        return Ok(Refreshed::Invalid);
    };
    // Spend the token: only one presenter wins, even concurrently.
    let spent = with_conn!(conn, c => {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::project_id.eq(project_id))
                .filter(refresh_tokens::token_hash.eq(&hash))
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(Some(at)))
        .execute(c)
        .await?
    });
    if spent == 0 {
        let session = load(conn, project_id, &token.session_id).await?;
        if let Some(session) = session.filter(|s| s.revoked_at.is_none()) {
            with_conn!(conn, c => {
                diesel::update(
                    sessions::table
                        .filter(sessions::project_id.eq(project_id))
                        .filter(sessions::id.eq(&session.id)),
                )
                .set((
                    sessions::revoked_at.eq(Some(at)),
                    sessions::revoked_reason.eq(Some("refresh_token_reused")),
                ))
                .execute(c)
                .await?;
            });
        }
        let event = NewAuditEvent::auth(
            project_id,
            "token.refresh_reused",
            Some(&token.user_id),
            meta,
            "denied",
        )
        .target(&token.session_id);
        authgate_audit::record(conn, event, now).await?;
        return Ok(Refreshed::Reused {
            session_id: token.session_id,
        });
    }
    let Some(session) = load(conn, project_id, &token.session_id).await? else {
        return Ok(Refreshed::Invalid);
    };
    if token.expires_at <= at || session.revoked_at.is_some() || session.expires_at <= at {
        return Ok(Refreshed::Invalid);
    }
    let (next, refresh_token) = new_refresh(project_id, &session, at);
    with_conn!(conn, c => {
        diesel::insert_into(refresh_tokens::table).values(&next).execute(c).await?;
        diesel::update(
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::id.eq(&session.id)),
        )
        .set(sessions::last_active_at.eq(at))
        .execute(c)
        .await?;
    });
    let mut session = session;
    session.last_active_at = at;
    Ok(Refreshed::Rotated {
        session: Box::new(session.view(at)),
        refresh_token,
    })
}

/// Sets the session's active organization and role (null to clear).
pub async fn set_active_org(
    conn: &mut Conn<'_>,
    project_id: &str,
    session_id: &str,
    org: Option<(&str, &str)>,
) -> Result<(), ToolError> {
    let (org_id, role) = match org {
        Some((o, r)) => (Some(o.to_owned()), Some(r.to_owned())),
        None => (None, None),
    };
    with_conn!(conn, c => {
        diesel::update(
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::id.eq(session_id)),
        )
        .set((sessions::org_id.eq(org_id), sessions::role.eq(role)))
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Sessions and refresh tokens of a user: what deleting the user removes,
/// and what an export shows (no token).
pub struct SessionData;

impl UserDataSection for SessionData {
    const NAME: &'static str = "sessions";
    const TABLES: &'static [&'static str] = &["sessions", "refresh_tokens"];

    async fn count(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        user: &UserRef,
    ) -> Result<Cascade, ToolError> {
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

    async fn export(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        user: &UserRef,
    ) -> Result<Value, ToolError> {
        let rows: Vec<SessionRow> = with_conn!(conn, c => {
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::user_id.eq(&user.id))
                .select(SessionRow::as_select())
                .order(sessions::id.asc())
                .load(c)
                .await?
        });
        let now = to_micros(Utc::now());
        let sessions: Vec<Session> = rows.iter().map(|r| r.view(now)).collect();
        serde_json::to_value(sessions).map_err(ToolError::internal)
    }
}
