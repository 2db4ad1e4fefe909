//! The tokens of a grant: opaque access tokens (`ag_oat_`, 1 h) and
//! rotating refresh tokens (`ag_ort_`), stored as SHA-256 hashes. A spent
//! refresh token presented again after the reuse interval ends the grant
//! (someone else holds the chain), as end users' refresh tokens do. A
//! revoked grant (revoke_api_key, a client's revocation, a re-consent)
//! stops all its tokens: each lookup joins the grant's key.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use authgate_core::hash::sha256_hex;
use authgate_core::secrets::new_secret;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Caller, EventType, ToolError};
use authgate_project::AuthFailure;
use authgate_store::schema::{api_keys, mcp_tokens};
use authgate_store::{Conn, with_conn};

use crate::clients::Client;
use crate::{ACCESS_PREFIX, OAuthError, OAuthSettings, REFRESH_PREFIX, well_formed};

/// The token endpoint's answer (RFC 6749 §5.1); `scope` always.
#[derive(Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mcp_tokens)]
struct TokenRow {
    token_hash: String,
    kind: String,
    project_id: String,
    key_id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

/// Issues an access and a refresh token for the grant `key_id`.
pub async fn issue_pair(
    conn: &mut Conn<'_>, project_id: &str, key_id: &str, scope: String, settings: &OAuthSettings,
    now: DateTime<Utc>,
) -> Result<TokenPair, ToolError> {
    let access = new_secret(ACCESS_PREFIX);
    let refresh = new_secret(REFRESH_PREFIX);
    let row = |token: &str, kind: &str, ttl: chrono::Duration| TokenRow {
        token_hash: sha256_hex(token),
        kind: kind.to_owned(),
        project_id: project_id.to_owned(),
        key_id: key_id.to_owned(),
        created_at: to_micros(now),
        expires_at: to_micros(now + ttl),
        used_at: None,
    };
    let rows = [
        row(&access, "access", settings.access_ttl),
        row(&refresh, "refresh", settings.refresh_ttl),
    ];
    for row in &rows {
        with_conn!(conn, c => {
            diesel::insert_into(mcp_tokens::table).values(row).execute(c).await?;
        });
    }
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer",
        expires_in: settings.access_ttl.num_seconds(),
        refresh_token: refresh,
        scope,
    })
}

async fn find_token(
    conn: &mut Conn<'_>, presented: &str, kind: &str,
) -> Result<Option<TokenRow>, ToolError> {
    let hash = sha256_hex(presented);
    Ok(with_conn!(conn, c => {
        mcp_tokens::table
            .filter(mcp_tokens::token_hash.eq(&hash))
            .filter(mcp_tokens::kind.eq(kind))
            .select(TokenRow::as_select())
            .first(c)
            .await
            .optional()?
    }))
}

/// The grant's client and scope, for a refresh.
async fn grant_of(
    conn: &mut Conn<'_>, project_id: &str, key_id: &str,
) -> Result<Option<(Option<String>, String, bool)>, ToolError> {
    let row: Option<(Option<String>, String, Option<i64>)> = with_conn!(conn, c => {
        api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .filter(api_keys::id.eq(key_id))
            .select((api_keys::client_id, api_keys::scopes, api_keys::revoked_at))
            .first(c)
            .await
            .optional()?
    });
    Ok(row.map(|(client, scopes, revoked)| {
        let scopes: Vec<String> = serde_json::from_str(&scopes).unwrap_or_default();
        (client, scopes.join(" "), revoked.is_some())
    }))
}

/// Ends a grant (its key), audited with why; a no-op when it already
/// ended.
pub async fn end_grant(
    conn: &mut Conn<'_>, project_id: &str, key_id: &str, reason: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    match authgate_project::revoke_api_key(conn, project_id, key_id, false, now).await {
        Ok(_) => {}
        Err(e) if e.code == authgate_core::ErrorCode::Conflict => return Ok(()),
        Err(e) => return Err(e),
    }
    authgate_audit::NewAuditEvent::new(project_id, EventType::OauthGrantRevoked)
        .target(key_id)
        .meta("reason", reason)
        .record(conn, now)
        .await?;
    Ok(())
}

/// Exchanges a refresh token for the next pair (RFC 6749 §6).
pub async fn refresh(
    conn: &mut Conn<'_>, presented: &str, client: &Client, settings: &OAuthSettings,
    now: DateTime<Utc>,
) -> Result<Result<TokenPair, OAuthError>, ToolError> {
    let invalid = || {
        Ok(Err(OAuthError::invalid_grant(
            "the refresh token is invalid, expired or revoked; authorize again",
        )))
    };
    if !well_formed(presented, REFRESH_PREFIX) {
        return invalid();
    }
    let Some(row) = find_token(conn, presented, "refresh").await? else {
        return invalid();
    };
    let Some((grant_client, scope, revoked)) = grant_of(conn, &row.project_id, &row.key_id).await?
    else {
        return invalid();
    };
    if grant_client.as_deref() != Some(client.id.as_str()) {
        return Ok(Err(OAuthError::invalid_grant(
            "this refresh token was issued to another client",
        )));
    }
    if revoked || row.expires_at <= to_micros(now) {
        return invalid();
    }
    if let Some(used) = row.used_at {
        let grace = settings.reuse_interval.num_microseconds().unwrap_or(0);
        if to_micros(now) - used > grace {
            end_grant(conn, &row.project_id, &row.key_id, "refresh_reused", now).await?;
            return Ok(Err(OAuthError::invalid_grant(
                "this refresh token was already used, so its grant has been revoked; authorize again",
            )));
        }
    } else {
        let changed = with_conn!(conn, c => {
            diesel::update(
                mcp_tokens::table
                    .filter(mcp_tokens::token_hash.eq(&row.token_hash))
                    .filter(mcp_tokens::used_at.is_null()),
            )
            .set(mcp_tokens::used_at.eq(Some(to_micros(now))))
            .execute(c)
            .await?
        });
        if changed == 0 {
            return invalid();
        }
    }
    let pair = issue_pair(conn, &row.project_id, &row.key_id, scope, settings, now).await?;
    Ok(Ok(pair))
}

/// Revokes the grant behind an access or refresh token of `client`
/// (RFC 7009): an unknown token, or another client's, changes nothing
/// (and the endpoint answers 200 all the same). Returns the grant ended.
pub async fn revoke_token(
    conn: &mut Conn<'_>, presented: &str, client: &Client, now: DateTime<Utc>,
) -> Result<Option<String>, ToolError> {
    let kind = if well_formed(presented, ACCESS_PREFIX) {
        "access"
    } else if well_formed(presented, REFRESH_PREFIX) {
        "refresh"
    } else {
        return Ok(None);
    };
    let Some(row) = find_token(conn, presented, kind).await? else {
        return Ok(None);
    };
    let Some((grant_client, _, _)) = grant_of(conn, &row.project_id, &row.key_id).await? else {
        return Ok(None);
    };
    if grant_client.as_deref() != Some(client.id.as_str()) {
        return Ok(None);
    }
    end_grant(conn, &row.project_id, &row.key_id, "revoked_by_client", now).await?;
    Ok(Some(row.key_id))
}

/// Resolves a presented access token to its grant's caller and the
/// token's expiry: one read of the token, one of its grant.
pub async fn authenticate_access(
    conn: &mut Conn<'_>, presented: &str, now: DateTime<Utc>,
) -> Result<Result<(Caller, DateTime<Utc>), AuthFailure>, ToolError> {
    if !well_formed(presented, ACCESS_PREFIX) {
        return Ok(Err(AuthFailure::Malformed));
    }
    let Some(row) = find_token(conn, presented, "access").await? else {
        return Ok(Err(AuthFailure::Unknown));
    };
    if row.expires_at <= to_micros(now) {
        return Ok(Err(AuthFailure::Unknown));
    }
    let caller = authgate_project::caller_of_key(conn, &row.project_id, &row.key_id).await?;
    Ok(caller.map(|c| (c, from_micros(row.expires_at))))
}

/// Removes tokens past their life (housekeeping).
pub async fn purge_expired(conn: &mut Conn<'_>, now: DateTime<Utc>) -> Result<usize, ToolError> {
    Ok(with_conn!(conn, c => {
        diesel::delete(mcp_tokens::table.filter(mcp_tokens::expires_at.lt(to_micros(now))))
            .execute(c)
            .await?
    }))
}
