//! Client ID Metadata Documents: a `client_id` that is an https URL with a
//! path names its own metadata, fetched through the guarded client (no
//! redirects, 5 s, 5 KB, and never a private or loopback address unless
//! the test-only `AUTHGATE_OAUTH_CIMD_ALLOW_LOOPBACK` says so), checked,
//! and cached for a day.

use authgate_oauth::OAuthError;
use authgate_oauth::clients::{CIMD_CACHE, Client, MAX_CIMD_BYTES, is_cimd_url, validate_cimd};

use crate::app::AppState;

/// Fetches a metadata document: its body, or why not.
async fn fetch(app: &AppState, url: &str) -> Result<bytes::Bytes, OAuthError> {
    let refused = |why: String| {
        OAuthError::invalid_client(format!(
            "the client metadata document at {url} could not be fetched: {why}"
        ))
    };
    match app.cimd.get(url, MAX_CIMD_BYTES).await {
        Ok((200, body)) => Ok(body),
        Ok((status, _)) => Err(refused(format!(
            "it answered {status} (redirects are not followed)"
        ))),
        Err(why) => Err(refused(why)),
    }
}

/// What went wrong finding a client: an OAuth refusal, or the database.
pub enum Lookup {
    Refused(OAuthError),
    Unavailable(authgate_core::ToolError),
}

/// The client of an authorization request: a registration, or a metadata
/// document (from the cache when fresh).
pub async fn client_for_authorization(app: &AppState, client_id: &str) -> Result<Client, Lookup> {
    let now = app.clock.now();
    let known = authgate_oauth::flows::find_client(&app.store, client_id, now)
        .await
        .map_err(Lookup::Unavailable)?;
    let cimd = is_cimd_url(client_id);
    match known {
        Some(client) if !cimd || now - client.created_at < CIMD_CACHE => return Ok(client),
        None if !cimd => {
            return Err(Lookup::Refused(OAuthError::invalid_client(
                "unknown client_id: the registration expired or never existed. Clear this client's saved OAuth state (in Claude Code: /mcp, then clear authentication) and connect again so it registers anew.",
            )));
        }
        _ => {}
    }
    let body = fetch(app, client_id).await.map_err(Lookup::Refused)?;
    let valid = validate_cimd(client_id, &body).map_err(Lookup::Refused)?;
    authgate_oauth::flows::save_cimd_client(&app.store, client_id, valid, now)
        .await
        .map_err(Lookup::Unavailable)
}
