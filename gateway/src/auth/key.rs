//! Resolving the presented API key: from the cache when it holds the key,
//! else from the database (and then cached). Failures are counted by
//! reason; a revoked key's use is audited, at most once a window per key.

use std::sync::Arc;
use std::time::Instant;

use http::HeaderMap;

use authgate_core::{Caller, ErrorCode, EventType};
use authgate_project::AuthFailure;

use super::bearer::bearer;
use super::refusal::{Refusal, RefusalEvent};
use crate::app::AppState;

fn failure_label(failure: &AuthFailure) -> &'static str {
    match failure {
        AuthFailure::Missing => "missing",
        AuthFailure::Malformed => "malformed",
        AuthFailure::Unknown => "unknown",
        AuthFailure::Revoked { .. } => "revoked",
    }
}

/// The presented key's caller, or the refusal to answer.
pub(crate) async fn resolve_key(
    app: &AppState, headers: &HeaderMap,
) -> Result<Arc<Caller>, Refusal> {
    let Some(token) = bearer(headers) else {
        crate::metrics::auth_failure("missing");
        return Err(Refusal::unauthorized(AuthFailure::Missing.reason()));
    };
    if token.starts_with(authgate_oauth::ACCESS_PREFIX) {
        return resolve_access_token(app, token).await;
    }
    if !authgate_project::key_well_formed(token) {
        crate::metrics::auth_failure("malformed");
        return Err(Refusal::unauthorized(AuthFailure::Malformed.reason()));
    }
    let digest = authgate_project::key_digest(token);
    if let Some(caller) = app.key_cache.get(&digest) {
        return Ok(caller);
    }
    let generation = app.key_cache.generation();
    match authgate_project::authenticate_key_in(&app.store, token).await {
        Ok(Ok(caller)) => {
            let caller = Arc::new(caller);
            app.key_cache.insert(generation, digest, caller.clone());
            Ok(caller)
        }
        Ok(Err(failure)) => {
            crate::metrics::auth_failure(failure_label(&failure));
            let refusal = Refusal::unauthorized(failure.reason());
            Err(Refusal {
                audit: revoked_key_event(app, failure),
                ..refusal
            })
        }
        Err(err) => {
            crate::metrics::auth_failure("unavailable");
            Err(Refusal::unavailable(&err))
        }
    }
}

const ACCESS_TOKEN_REFUSED: &str =
    "the access token is invalid, expired or revoked; refresh it or authorize again";

/// An OAuth access token's caller (its grant's), cached no longer than
/// the token lives.
async fn resolve_access_token(app: &AppState, token: &str) -> Result<Arc<Caller>, Refusal> {
    if !authgate_oauth::well_formed(token, authgate_oauth::ACCESS_PREFIX) {
        crate::metrics::auth_failure("malformed");
        return Err(Refusal::unauthorized(ACCESS_TOKEN_REFUSED));
    }
    let digest = authgate_project::key_digest(token);
    if let Some(caller) = app.key_cache.get(&digest) {
        return Ok(caller);
    }
    let generation = app.key_cache.generation();
    let now = app.clock.now();
    let found = authgate_oauth::flows::authenticate_access(&app.store, token, now).await;
    match found {
        Ok(Ok((caller, expires))) => {
            let caller = Arc::new(caller);
            let left = (expires - now).to_std().unwrap_or_default();
            let ends = Instant::now() + left;
            app.key_cache
                .insert_until(generation, digest, caller.clone(), Some(ends));
            Ok(caller)
        }
        Ok(Err(failure)) => {
            crate::metrics::auth_failure(failure_label(&failure));
            Err(Refusal {
                audit: revoked_key_event(app, failure),
                ..Refusal::unauthorized(ACCESS_TOKEN_REFUSED)
            })
        }
        Err(err) => {
            crate::metrics::auth_failure("unavailable");
            Err(Refusal::unavailable(&err))
        }
    }
}

/// A revoked key in a loop must not flood the audit log: one event per key
/// per window.
fn revoked_key_event(app: &AppState, failure: AuthFailure) -> Option<RefusalEvent> {
    let AuthFailure::Revoked { key_id, project_id } = failure else {
        return None;
    };
    app.limits
        .refusals
        .should_record(&key_id, "revoked", Instant::now())
        .then(|| RefusalEvent {
            project_id,
            targets: vec![key_id.clone()],
            key_id,
            event_type: EventType::ApiKeyRevokedKeyUsed,
            error_code: ErrorCode::Unauthenticated,
        })
}
