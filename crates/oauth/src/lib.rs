//! AuthGate as the OAuth 2.1 authorization server of its own MCP endpoint
//! (issue 23), one concern a file: the redirect-URI rules (`redirect.rs`),
//! clients registered by DCR or known by their metadata document
//! (`clients.rs`), authorization codes with PKCE (`codes.rs`), access and
//! refresh tokens of a grant (`tokens.rs`), and the admin browser sessions
//! that consent (`admin.rs`). A grant is an API key of kind `oauth`
//! (authgate-project), so everything that holds for keys holds for it.
//! The gateway's `oauth/` handlers parse and answer; every rule is here.

pub mod admin;
pub mod clients;
pub mod codes;
mod error;
pub mod flows;
pub mod fuzzing;
pub mod redirect;
pub mod tokens;

pub use error::OAuthError;

use chrono::Duration;

/// The lifetimes and limits of the authorization server.
#[derive(Debug, Clone, Copy)]
pub struct OAuthSettings {
    /// An access token's life (`AUTHGATE_OAUTH_ACCESS_TTL`, 1 h).
    pub access_ttl: Duration,
    /// A refresh token's life from its issue (30 days).
    pub refresh_ttl: Duration,
    /// An authorization code's life (60 s).
    pub code_ttl: Duration,
    /// How long a spent refresh token may be presented again without
    /// ending its grant (`AUTHGATE_REFRESH_REUSE_INTERVAL`).
    pub reuse_interval: Duration,
    /// The cap on a project's active keys, grants included.
    pub keys: authgate_project::KeySettings,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            access_ttl: Duration::hours(1),
            refresh_ttl: Duration::days(30),
            code_ttl: Duration::seconds(60),
            reuse_interval: Duration::seconds(10),
            keys: authgate_project::KeySettings::default(),
        }
    }
}

/// Which secrets are which, by their prefix.
pub const ACCESS_PREFIX: &str = "ag_oat_";
pub const REFRESH_PREFIX: &str = "ag_ort_";
pub const CODE_PREFIX: &str = "ag_oac_";
pub const CLIENT_SECRET_PREFIX: &str = "ag_ocs_";

/// Whether `token` has the shape of one of our secrets of `prefix`
/// (checked before any lookup): the prefix and 43 base64url characters.
pub fn well_formed(token: &str, prefix: &str) -> bool {
    token.strip_prefix(prefix).is_some_and(|r| {
        r.len() == 43
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Removes what has ended: codes a day past their life, tokens past
/// theirs, registrations unused for 30 days (housekeeping, off the request
/// path).
pub async fn purge(
    store: &authgate_store::Store, now: chrono::DateTime<chrono::Utc>,
) -> Result<(), authgate_core::ToolError> {
    store
        .write(async |conn| {
            codes::purge_expired(conn, now).await?;
            tokens::purge_expired(conn, now).await?;
            clients::purge_unused(conn, now).await?;
            Ok(())
        })
        .await
}
