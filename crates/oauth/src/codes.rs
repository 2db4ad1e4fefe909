//! Authorization codes (RFC 6749 §4.1, OAuth 2.1 §4.1): `ag_oac_…`,
//! stored hashed, single use, 60 s, bound to the client, the redirect URI,
//! the PKCE S256 challenge and the resource. The exchange makes the grant
//! (an API key of kind `oauth`) and its first tokens in one transaction; a
//! code presented again revokes what its first exchange issued.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::hash::{sha256, sha256_hex};
use authgate_core::secrets::{new_secret, same};
use authgate_core::time::to_micros;
use authgate_core::{EventType, Scope, ToolError};
use authgate_project::{NewApiKey, NewGrant};
use authgate_store::schema::mcp_codes;
use authgate_store::{Conn, JsonText, with_conn};

use crate::clients::Client;
use crate::tokens::{TokenPair, end_grant, issue_pair};
use crate::{CODE_PREFIX, OAuthError, OAuthSettings, well_formed};

/// What a consent grants, bound into its code.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub project_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub scopes: Vec<Scope>,
    pub tools: Option<Vec<String>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mcp_codes)]
struct CodeRow {
    code_hash: String,
    project_id: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    resource: String,
    scopes: JsonText<Vec<String>>,
    tools: Option<JsonText<Vec<String>>>,
    expires_at: i64,
    used_at: Option<i64>,
    key_id: Option<String>,
}

/// Whether `challenge` is an S256 code challenge: 43 base64url characters.
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// Issues a code for a consent.
pub async fn issue_code(
    conn: &mut Conn<'_>, new: NewCode, settings: &OAuthSettings, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let code = new_secret(CODE_PREFIX);
    let row = CodeRow {
        code_hash: sha256_hex(&code),
        project_id: new.project_id,
        client_id: new.client_id,
        redirect_uri: new.redirect_uri,
        code_challenge: new.code_challenge,
        resource: new.resource,
        scopes: JsonText(new.scopes.iter().map(|s| s.as_str().to_owned()).collect()),
        tools: new.tools.map(JsonText),
        expires_at: to_micros(now + settings.code_ttl),
        used_at: None,
        key_id: None,
    };
    with_conn!(conn, c => {
        diesel::insert_into(mcp_codes::table).values(&row).execute(c).await?;
    });
    Ok(code)
}

/// What the client presents at the token endpoint with its code.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub code: &'a str,
    pub client: &'a Client,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub resource: Option<&'a str>,
}

fn bad_grant(msg: &str) -> Result<Result<TokenPair, OAuthError>, ToolError> {
    Ok(Err(OAuthError::invalid_grant(msg)))
}

/// Exchanges a code for the grant's first tokens. Commit the transaction
/// even when this answers an OAuth error: a reused code's revocation must
/// stick.
pub async fn exchange_code(
    conn: &mut Conn<'_>, ex: Exchange<'_>, settings: &OAuthSettings, now: DateTime<Utc>,
) -> Result<Result<TokenPair, OAuthError>, ToolError> {
    if !well_formed(ex.code, CODE_PREFIX) {
        return bad_grant("the authorization code is invalid");
    }
    let hash = sha256_hex(ex.code);
    let row: Option<CodeRow> = with_conn!(conn, c => {
        mcp_codes::table
            .filter(mcp_codes::code_hash.eq(&hash))
            .select(CodeRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let Some(row) = row else {
        return bad_grant("the authorization code is invalid");
    };
    if row.used_at.is_some() {
        if let Some(key_id) = &row.key_id {
            end_grant(conn, &row.project_id, key_id, "code_reused", now).await?;
        }
        return bad_grant(
            "this authorization code was already used; the tokens it gave are revoked",
        );
    }
    if row.client_id != ex.client.id {
        return bad_grant("this authorization code was issued to another client");
    }
    if row.expires_at <= to_micros(now) {
        return bad_grant(
            "the authorization code has expired (codes live 60 seconds); authorize again",
        );
    }
    if ex.redirect_uri != Some(row.redirect_uri.as_str()) {
        return bad_grant("redirect_uri must be the one the authorization request used");
    }
    let Some(verifier) = ex.code_verifier else {
        return Ok(Err(OAuthError::invalid_request(
            "code_verifier is required (PKCE S256)",
        )));
    };
    if !(43..=128).contains(&verifier.len()) || !same(&s256(verifier), &row.code_challenge) {
        return bad_grant("code_verifier does not match the code_challenge");
    }
    if let Some(resource) = ex.resource
        && resource != row.resource
    {
        return Ok(Err(OAuthError::invalid_target(
            "resource must be the one the authorization request named",
        )));
    }
    let scopes: Vec<Scope> = row
        .scopes
        .0
        .iter()
        .filter_map(|s| Scope::parse(s))
        .collect();
    let grant = NewGrant {
        client_id: ex.client.id.clone(),
        client_name: ex.client.display_name(),
        key: NewApiKey {
            name: Some(ex.client.display_name()),
            scopes: scopes.clone(),
            tools: row.tools.clone().map(|t| t.0),
        },
    };
    let (key_id, replaced) =
        authgate_project::create_grant(conn, &row.project_id, grant, settings.keys, now).await?;
    with_conn!(conn, c => {
        diesel::update(mcp_codes::table.filter(mcp_codes::code_hash.eq(&hash)))
            .set((
                mcp_codes::used_at.eq(Some(to_micros(now))),
                mcp_codes::key_id.eq(Some(&key_id)),
            ))
            .execute(c)
            .await?;
    });
    for old in &replaced {
        authgate_audit::NewAuditEvent::new(&row.project_id, EventType::OauthGrantRevoked)
            .target(old)
            .meta("reason", "replaced")
            .record(conn, now)
            .await?;
    }
    let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    authgate_audit::NewAuditEvent::new(&row.project_id, EventType::OauthGrantCreated)
        .target(&key_id)
        .meta("client_id", ex.client.id.clone())
        .meta("client_name", ex.client.display_name())
        .meta("scopes", scope_names.join(" "))
        .record(conn, now)
        .await?;
    crate::clients::touch_client(conn, &ex.client.id, now).await?;
    let pair = issue_pair(
        conn,
        &row.project_id,
        &key_id,
        scope_names.join(" "),
        settings,
        now,
    )
    .await?;
    Ok(Ok(pair))
}

/// Removes codes past their life (housekeeping).
pub async fn purge_expired(conn: &mut Conn<'_>, now: DateTime<Utc>) -> Result<usize, ToolError> {
    // Kept a day past expiry, so a late replay still finds (and revokes)
    // what the code issued.
    let cutoff = to_micros(now - chrono::Duration::days(1));
    Ok(with_conn!(conn, c => {
        diesel::delete(mcp_codes::table.filter(mcp_codes::expires_at.lt(cutoff)))
            .execute(c)
            .await?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_is_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(valid_challenge(&s256(verifier)));
        assert!(!valid_challenge("plain-verifier"));
    }
}
