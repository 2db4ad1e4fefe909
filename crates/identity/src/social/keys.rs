//! OpenID providers' discovery documents and signing keys, cached: a
//! discovery document for an hour, a JWKS for five minutes; a token signed
//! by a key the cached set lacks refetches the set, at most once a minute
//! per set (so a flood of forged `kid`s cannot make us hammer a provider).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;

use super::ProviderFailure;
use super::http::Outbound;

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
const JWKS_TTL: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// What AuthGate reads of a discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

fn unpublished(kid: &str) -> ProviderFailure {
    ProviderFailure::new(format!(
        "the ID token names key {kid:.40}, which the provider does not publish"
    ))
}

#[derive(Default)]
pub struct KeyCache {
    discovery: Mutex<HashMap<String, (Instant, Discovery)>>,
    jwks: Mutex<HashMap<String, (Instant, JwkSet)>>,
}

impl KeyCache {
    pub async fn discovery(
        &self, http: &Outbound, url: &str,
    ) -> Result<Discovery, ProviderFailure> {
        if let Ok(cache) = self.discovery.lock()
            && let Some((at, doc)) = cache.get(url)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(doc.clone());
        }
        let doc: Discovery = http.get_json(url, "discovery document").await?;
        if let Ok(mut cache) = self.discovery.lock() {
            cache.insert(url.to_owned(), (Instant::now(), doc.clone()));
        }
        Ok(doc)
    }

    /// The key `kid` of the set at `jwks_uri`.
    pub async fn key(
        &self, http: &Outbound, jwks_uri: &str, kid: &str,
    ) -> Result<Jwk, ProviderFailure> {
        let cached = self
            .jwks
            .lock()
            .ok()
            .and_then(|cache| cache.get(jwks_uri).cloned());
        if let Some((at, set)) = &cached {
            if at.elapsed() < JWKS_TTL
                && let Some(key) = set.find(kid)
            {
                return Ok(key.clone());
            }
            if at.elapsed() < REFETCH_AFTER {
                return Err(unpublished(kid));
            }
        }
        let set: JwkSet = http.get_json(jwks_uri, "JWKS").await?;
        let key = set.find(kid).cloned();
        if let Ok(mut cache) = self.jwks.lock() {
            cache.insert(jwks_uri.to_owned(), (Instant::now(), set));
        }
        key.ok_or_else(|| unpublished(kid))
    }
}
