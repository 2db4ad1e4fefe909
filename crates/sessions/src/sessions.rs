//! The session entity: opened at sign-in, listed and read by the tools,
//! revoked by the user (sign out), an agent or AuthGate itself, and
//! carrying the active organization the user chose.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_audit::NewAuditEvent;
use authgate_core::changes::{self, ChangeType};
use authgate_core::hash::sha256_hex;
use authgate_core::secrets::new_secret;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{
    Conn, EventType, Outcome, Page, PageRequest, RequestMeta, ToolError, new_id, with_conn,
};
use authgate_store::schema::{refresh_tokens, sessions};

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
pub(crate) struct SessionRow {
    pub(crate) id: String,
    project_id: String,
    pub(crate) user_id: String,
    created_at: i64,
    pub(crate) last_active_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    pub(crate) org_id: Option<String>,
    pub(crate) role: Option<String>,
}

impl SessionRow {
    pub(crate) fn view(&self, now: i64) -> Session {
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

/// Session settings: how long a session lives from sign-in, and the reuse
/// interval of its refresh tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    pub lifetime: Duration,
    /// How long a spent refresh token presented again still gets a pair
    /// for its session (`AUTHGATE_REFRESH_REUSE_INTERVAL`); zero: never.
    pub reuse_interval: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::days(30),
            reuse_interval: Duration::seconds(10),
        }
    }
}

/// A session's refresh token, stored as its SHA-256.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub(crate) struct RefreshRow {
    token_hash: String,
    project_id: String,
    pub(crate) session_id: String,
    pub(crate) user_id: String,
    created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) used_at: Option<i64>,
}

pub(crate) fn new_refresh(
    project_id: &str, session: &SessionRow, now: i64,
) -> (RefreshRow, String) {
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

fn not_found(session_id: &str) -> ToolError {
    ToolError::not_found(format!("session {session_id} not found in this project"))
        .with_field("session_id")
        .with_hint("list_sessions shows the active sessions of this project")
}

/// Opens a session for a user who just proved who they are; returns it
/// and its first refresh token (shown this once). Publishes
/// `session.created`.
pub async fn create_session(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, meta: &RequestMeta,
    settings: SessionSettings, now: DateTime<Utc>,
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
    let session = row.view(at);
    changes::publish(conn, project_id, ChangeType::SessionCreated, &session, now).await?;
    Ok((session, token))
}

pub(crate) async fn load(
    conn: &mut Conn<'_>, project_id: &str, session_id: &str,
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

pub async fn get_session(
    conn: &mut Conn<'_>, project_id: &str, session_id: &str, now: DateTime<Utc>,
) -> Result<Session, ToolError> {
    load(conn, project_id, session_id)
        .await?
        .map(|r| r.view(to_micros(now)))
        .ok_or_else(|| not_found(session_id))
}

/// The session if it is still usable (for checking an access token).
pub async fn active_session(
    conn: &mut Conn<'_>, project_id: &str, session_id: &str, now: DateTime<Utc>,
) -> Result<Option<Session>, ToolError> {
    let now = to_micros(now);
    Ok(load(conn, project_id, session_id)
        .await?
        .map(|r| r.view(now))
        .filter(|s| s.active))
}

/// Active sessions, newest first, optionally of one user.
pub async fn list_active_sessions(
    conn: &mut Conn<'_>, project_id: &str, user_id: Option<&str>, page: &PageRequest,
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
/// Revoke a session at once: its refresh token stops working and its access
/// tokens are refused by verify_token. Publishes `session.revoked` when
/// this call revoked it.
pub async fn revoke_session(
    conn: &mut Conn<'_>, project_id: &str, session_id: &str, by: RevokedBy<'_>, meta: &RequestMeta,
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
    let revoked = with_conn!(conn, c => {
        diesel::update(
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::id.eq(session_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((sessions::revoked_at.eq(Some(at)), sessions::revoked_reason.eq(Some(reason))))
        .execute(c)
        .await?
    });
    row.revoked_at = Some(at);
    row.revoked_reason = Some(reason.to_owned());
    let event_type = match by {
        RevokedBy::SignOut => EventType::SignOut,
        _ => EventType::SessionRevoked,
    };
    let mut event = NewAuditEvent::auth(
        project_id,
        event_type,
        Some(&row.user_id),
        meta,
        Outcome::Success,
    )
    .target(session_id)
    .meta("reason", reason);
    if let RevokedBy::Key(key) = by {
        event = event.by_key(key);
    }
    event.record(conn, now).await?;
    let session = row.view(at);
    if revoked > 0 {
        changes::publish(conn, project_id, ChangeType::SessionRevoked, &session, now).await?;
    }
    Ok(session)
}

/// Revokes every active session of a user but `except` (after a password
/// reset); returns how many. Publishes `session.revoked` for each.
pub async fn revoke_user_sessions(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, except: Option<&str>,
    reason: &'static str, now: DateTime<Utc>,
) -> Result<usize, ToolError> {
    let at = to_micros(now);
    let keep = except.unwrap_or("");
    let revoked: Vec<SessionRow> = with_conn!(conn, c => {
        diesel::update(
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(keep)),
        )
        .set((sessions::revoked_at.eq(Some(at)), sessions::revoked_reason.eq(Some(reason))))
        .returning(SessionRow::as_returning())
        .get_results(c)
        .await?
    });
    announce_revoked(conn, project_id, &revoked, now).await?;
    Ok(revoked.len())
}

/// Publishes `session.revoked` for sessions just revoked, each as
/// get_session shows it (one read when nobody listens).
pub(crate) async fn announce_revoked(
    conn: &mut Conn<'_>, project_id: &str, revoked: &[SessionRow], now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let change = ChangeType::SessionRevoked;
    if revoked.is_empty() || changes::outlet(conn, project_id, change).await?.is_none() {
        return Ok(());
    }
    let at = to_micros(now);
    for row in revoked {
        changes::publish(conn, project_id, change, &row.view(at), now).await?;
    }
    Ok(())
}

/// Sets the session's active organization and role (null to clear).
pub async fn set_session_org(
    conn: &mut Conn<'_>, project_id: &str, session_id: &str, org: Option<(&str, &str)>,
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

/// What an organization change does to the sessions that chose it: a
/// member removed (`user_id` and no `role`) or the organization deleted
/// (no `user_id`) clears their selection; a changed role (`user_id` and
/// `role`) becomes theirs. Refresh reads the membership again anyway; this
/// makes `/me` and the session tools say so at once.
pub async fn organization_changed(
    conn: &mut Conn<'_>, project_id: &str, org_id: &str, user_id: Option<&str>, role: Option<&str>,
) -> Result<usize, ToolError> {
    let (org, role) = match role {
        Some(r) => (Some(org_id.to_owned()), Some(r.to_owned())),
        None => (None, None),
    };
    Ok(with_conn!(conn, c => {
        let mut q = diesel::update(
            sessions::table
                .filter(sessions::project_id.eq(project_id))
                .filter(sessions::org_id.eq(org_id)),
        )
        .into_boxed();
        if let Some(u) = user_id {
            q = q.filter(sessions::user_id.eq(u));
        }
        q.set((sessions::org_id.eq(org), sessions::role.eq(role)))
            .execute(c)
            .await?
    }))
}

/// How many sessions of the user are active (not revoked, not expired).
pub async fn count_active_sessions(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, now: DateTime<Utc>,
) -> Result<u64, ToolError> {
    let n: i64 = with_conn!(conn, c => {
        sessions::table
            .filter(sessions::project_id.eq(project_id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(to_micros(now)))
            .count()
            .get_result(c)
            .await?
    });
    Ok(n.max(0) as u64)
}
