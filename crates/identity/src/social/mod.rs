//! Social sign-in: the OAuth 2.0 and OpenID Connect providers (Google,
//! GitHub, Discord, Microsoft, Apple). One concern a file: the providers'
//! endpoints and authorize URLs (`providers.rs`), the HTTP client with its
//! address rule and time budget (`http.rs`), discovery documents and JWKS
//! with their cache (`keys.rs`), ID-token validation (`id_token.rs`),
//! Apple's client-secret JWT (`apple.rs`), the code exchange and profile of
//! each provider (`exchange.rs`), and the rows a sign-in leaves: its state
//! and one-time code (`grants.rs`) and the linked accounts (`accounts.rs`).
//! The flows that use them are in `flows/social.rs`.

pub(crate) mod accounts;
mod apple;
pub(crate) mod exchange;
pub(crate) mod grants;
pub(crate) mod http;
mod id_token;
mod keys;
pub(crate) mod providers;

pub use http::{Outbound, endpoint_allowed, outbound_client};
pub use providers::{Provider, SocialEndpoints};

use std::sync::Arc;

/// Who signed in, as the provider says.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The provider's stable id of the user (`sub`, GitHub's numeric id).
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider vouches that the user controls `email`.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// What social sign-in runs on: the providers' endpoints (server
/// environment only, never per project), the HTTP client, and the cache
/// of discovery documents and signing keys.
#[derive(Clone)]
pub struct SocialSettings {
    pub endpoints: SocialEndpoints,
    pub http: http::Outbound,
    pub(crate) keys: Arc<keys::KeyCache>,
}

impl SocialSettings {
    pub fn new(endpoints: SocialEndpoints, http: http::Outbound) -> Self {
        Self {
            endpoints,
            http,
            keys: Arc::new(keys::KeyCache::default()),
        }
    }
}

impl Default for SocialSettings {
    fn default() -> Self {
        Self::new(SocialEndpoints::default(), outbound_client())
    }
}

impl std::fmt::Debug for SocialSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocialSettings")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Why a provider step failed; each becomes the `error=` of the redirect
/// back to the app. The detail goes to the audit record, never a secret.
#[derive(Debug)]
pub struct ProviderFailure(pub String);

impl ProviderFailure {
    pub fn new(detail: impl Into<String>) -> Self {
        Self(detail.into())
    }
}

impl std::fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
