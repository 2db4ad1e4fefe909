//! The authorization server's units of work, one a request: the gateway's
//! handlers call these with the store and never open a transaction
//! themselves (the structure check holds them to it).

use chrono::{DateTime, Utc};

use authgate_core::{Caller, ToolError};
use authgate_project::AuthFailure;
use authgate_store::Store;

use crate::admin::{self, AdminSession};
use crate::clients::{self, Client, RegisteredClient, ValidClient};
use crate::codes::{self, Exchange, NewCode};
use crate::tokens::{self, TokenPair};
use crate::{OAuthError, OAuthSettings};

/// Who an admin browser session is.
pub enum Signed {
    /// The operator: every project, or the one its link named.
    Operator(AdminSession),
    /// A key's holder: the key, checked again now.
    Key(AdminSession, Box<Caller>),
}

/// The live session of a cookie, with its key checked again: a revoked
/// key's session is no session.
pub async fn current_session(
    store: &Store, cookie: &str, now: DateTime<Utc>,
) -> Result<Option<Signed>, ToolError> {
    store
        .write(async |conn| {
            let Some(session) = admin::find_session(conn, cookie, now).await? else {
                return Ok(None);
            };
            let (Some(project), Some(key)) = (&session.project_id, &session.key_id) else {
                return Ok(Some(Signed::Operator(session)));
            };
            Ok(authgate_project::caller_of_key(conn, project, key)
                .await?
                .ok()
                .map(|caller| Signed::Key(session, Box::new(caller))))
        })
        .await
}

/// Opens a session for a key's holder: the cookie's value.
pub async fn open_key_session(
    store: &Store, caller: &Caller, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    store
        .write(async |conn| {
            admin::open_session(conn, Some(&caller.project.id), Some(&caller.key_id), now).await
        })
        .await
}

/// Spends a one-time link and opens the operator's session: the cookie's
/// value, or `None` for an unknown, spent or late link.
pub async fn open_link_session(
    store: &Store, token: &str, now: DateTime<Utc>,
) -> Result<Option<String>, ToolError> {
    store
        .write(async |conn| {
            let Some(project) = admin::redeem_link(conn, token, now).await? else {
                return Ok(None);
            };
            admin::open_session(conn, project.as_deref(), None, now)
                .await
                .map(Some)
        })
        .await
}

/// Ends a session (sign-out).
pub async fn end_session(store: &Store, cookie: &str, now: DateTime<Utc>) -> Result<(), ToolError> {
    store
        .write(async |conn| admin::end_session(conn, cookie, now).await)
        .await
}

/// Makes a one-time sign-in link for the operator (`authgate admin login`).
pub async fn create_link(
    store: &Store, project_id: Option<&str>, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    store
        .write(async |conn| {
            if let Some(p) = project_id {
                authgate_project::get_project(conn, p).await?;
            }
            admin::create_link(conn, project_id, now).await
        })
        .await
}

/// Registers a client (DCR).
pub async fn register(
    store: &Store, client: ValidClient, now: DateTime<Utc>,
) -> Result<RegisteredClient, ToolError> {
    store
        .write(async |conn| clients::register_client(conn, client, now).await)
        .await
}

/// A known client by its id.
pub async fn find_client(
    store: &Store, client_id: &str, now: DateTime<Utc>,
) -> Result<Option<Client>, ToolError> {
    store
        .read(async |conn| clients::find_client(conn, client_id, now).await)
        .await
}

/// Stores a fetched metadata document's client.
pub async fn save_cimd_client(
    store: &Store, url: &str, client: ValidClient, now: DateTime<Utc>,
) -> Result<Client, ToolError> {
    store
        .write(async |conn| clients::save_cimd_client(conn, url, client, now).await)
        .await
}

/// Issues the code of a consent (the client marked used).
pub async fn issue_code(
    store: &Store, new: NewCode, settings: &OAuthSettings, now: DateTime<Utc>,
) -> Result<String, ToolError> {
    store
        .write(async |conn| {
            clients::touch_client(conn, &new.client_id, now).await?;
            codes::issue_code(conn, new, settings, now).await
        })
        .await
}

/// Exchanges a code; the transaction commits even when the answer is an
/// OAuth error, so a reused code's revocation sticks.
pub async fn exchange_code(
    store: &Store, exchange: Exchange<'_>, settings: &OAuthSettings, now: DateTime<Utc>,
) -> Result<Result<TokenPair, OAuthError>, ToolError> {
    store
        .write(async |conn| codes::exchange_code(conn, exchange, settings, now).await)
        .await
}

/// Exchanges a refresh token for the next pair.
pub async fn refresh(
    store: &Store, token: &str, client: &Client, settings: &OAuthSettings, now: DateTime<Utc>,
) -> Result<Result<TokenPair, OAuthError>, ToolError> {
    store
        .write(async |conn| tokens::refresh(conn, token, client, settings, now).await)
        .await
}

/// Revokes the grant behind a token of `client` (RFC 7009).
pub async fn revoke_token(
    store: &Store, token: &str, client: &Client, now: DateTime<Utc>,
) -> Result<Option<String>, ToolError> {
    store
        .write(async |conn| tokens::revoke_token(conn, token, client, now).await)
        .await
}

/// Resolves an access token on a connection of its own, without a
/// transaction (two indexed reads).
pub async fn authenticate_access(
    store: &Store, token: &str, now: DateTime<Utc>,
) -> Result<Result<(Caller, DateTime<Utc>), AuthFailure>, ToolError> {
    store
        .autocommit(async |conn| tokens::authenticate_access(conn, token, now).await)
        .await
}

/// Every project (the operator's choice on the consent page).
pub async fn projects(store: &Store) -> Result<Vec<authgate_core::Project>, ToolError> {
    store
        .read(async |conn| authgate_project::list_projects(conn).await)
        .await
}
