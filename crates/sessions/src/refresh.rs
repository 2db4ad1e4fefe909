//! Refresh tokens: opaque, random, stored only as their SHA-256, rotated
//! on every use. A spent token presented again revokes its session.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_audit::NewAuditEvent;
use authgate_core::hash::sha256_hex;
use authgate_core::time::to_micros;
use authgate_core::{Conn, EventType, Outcome, RequestMeta, ToolError, with_conn};
use authgate_store::schema::{memberships, refresh_tokens, sessions};

use crate::sessions::{
    RefreshRow, Session, SessionRow, announce_revoked, load, new_refresh, set_session_org,
};

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

/// A spent token presented again: its session is revoked (published as
/// `session.revoked`) and the reuse recorded.
async fn reused(
    conn: &mut Conn<'_>, project_id: &str, token: RefreshRow, meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<Refreshed, ToolError> {
    let at = to_micros(now);
    let session = load(conn, project_id, &token.session_id).await?;
    if let Some(session) = session.filter(|s| s.revoked_at.is_none()) {
        let revoked: Vec<SessionRow> = with_conn!(conn, c => {
            diesel::update(
                sessions::table
                    .filter(sessions::project_id.eq(project_id))
                    .filter(sessions::id.eq(&session.id))
                    .filter(sessions::revoked_at.is_null()),
            )
            .set((
                sessions::revoked_at.eq(Some(at)),
                sessions::revoked_reason.eq(Some("refresh_token_reused")),
            ))
            .returning(SessionRow::as_returning())
            .get_results(c)
            .await?
        });
        announce_revoked(conn, project_id, &revoked, now).await?;
    }
    NewAuditEvent::auth(
        project_id,
        EventType::TokenRefreshReused,
        Some(&token.user_id),
        meta,
        Outcome::Denied,
    )
    .target(&token.session_id)
    .record(conn, now)
    .await?;
    Ok(Refreshed::Reused {
        session_id: token.session_id,
    })
}

/// Exchanges a refresh token for the next one. A token used twice revokes
/// its session (and records `token.refresh_reused`): either the user's
/// copy or a thief's was a replay, and there is no telling which. Within
/// `reuse_interval` of its first use, though, a spent token presented
/// again is two tabs (or a double effect) refreshing at once: it gets a
/// pair for the same session, and nothing is revoked. The session's
/// organization is read again from the membership: a removed member's or
/// a deleted organization's selection is cleared, a changed role is the
/// new one.
pub async fn refresh_session(
    conn: &mut Conn<'_>, project_id: &str, presented: &str, reuse_interval: Duration,
    meta: &RequestMeta, now: DateTime<Utc>,
) -> Result<Refreshed, ToolError> {
    let at = to_micros(now);
    let hash = sha256_hex(presented);
    let Some(token) = token_row(conn, project_id, &hash).await? else {
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
        // Read again: a concurrent presenter may have spent it just now.
        let first_use = token_row(conn, project_id, &hash)
            .await?
            .and_then(|t| t.used_at);
        let grace = reuse_interval.num_microseconds().unwrap_or(0);
        if !first_use.is_some_and(|u| grace > 0 && at - u <= grace) {
            return reused(conn, project_id, token, meta, now).await;
        }
    }
    let Some(mut session) = load(conn, project_id, &token.session_id).await? else {
        return Ok(Refreshed::Invalid);
    };
    if token.expires_at <= at || session.revoked_at.is_some() || session.expires_at <= at {
        return Ok(Refreshed::Invalid);
    }
    current_org(conn, project_id, &mut session).await?;
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
    session.last_active_at = at;
    Ok(Refreshed::Rotated {
        session: Box::new(session.view(at)),
        refresh_token,
    })
}

async fn token_row(
    conn: &mut Conn<'_>, project_id: &str, hash: &str,
) -> Result<Option<RefreshRow>, ToolError> {
    Ok(with_conn!(conn, c => {
        refresh_tokens::table
            .filter(refresh_tokens::project_id.eq(project_id))
            .filter(refresh_tokens::token_hash.eq(hash))
            .select(RefreshRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// The session's organization as the membership stands now: the member's
/// current role, or none once the member was removed or the organization
/// deleted (the session's selection is then cleared).
async fn current_org(
    conn: &mut Conn<'_>, project_id: &str, session: &mut SessionRow,
) -> Result<(), ToolError> {
    let Some(org_id) = session.org_id.clone() else {
        return Ok(());
    };
    let role: Option<String> = with_conn!(conn, c => {
        memberships::table
            .filter(memberships::project_id.eq(project_id))
            .filter(memberships::org_id.eq(&org_id))
            .filter(memberships::user_id.eq(&session.user_id))
            .select(memberships::role)
            .first(c)
            .await
            .optional()?
    });
    if role != session.role {
        let selection = role.as_deref().map(|r| (org_id.as_str(), r));
        set_session_org(conn, project_id, &session.id, selection).await?;
        session.org_id = role.is_some().then_some(org_id);
        session.role = role;
    }
    Ok(())
}

/// Deletes refresh tokens spent or expired before `cutoff` (every project:
/// a maintenance sweep, off the request path). Returns how many.
pub async fn prune_refresh_tokens(
    conn: &mut Conn<'_>, cutoff: DateTime<Utc>,
) -> Result<usize, ToolError> {
    let cutoff = to_micros(cutoff);
    Ok(with_conn!(conn, c => {
        diesel::delete(
            refresh_tokens::table
                .filter(refresh_tokens::used_at.lt(cutoff).or(refresh_tokens::expires_at.lt(cutoff))),
        )
        .execute(c)
        .await?
    }))
}

/// Whether a refresh token is one this project issued (spent or not): a
/// read, so an unknown token is refused without a write unit.
pub async fn refresh_token_exists(
    conn: &mut Conn<'_>, project_id: &str, presented: &str,
) -> Result<bool, ToolError> {
    let hash = sha256_hex(presented);
    let found: Option<String> = with_conn!(conn, c => {
        refresh_tokens::table
            .filter(refresh_tokens::project_id.eq(project_id))
            .filter(refresh_tokens::token_hash.eq(&hash))
            .select(refresh_tokens::token_hash)
            .first(c)
            .await
            .optional()?
    });
    Ok(found.is_some())
}
