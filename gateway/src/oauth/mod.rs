//! AuthGate as the OAuth 2.1 authorization server of its MCP endpoint
//! (issue 23), one concern a file, as apollo-mcp-server's `auth/`:
//! discovery documents (`discovery.rs`), Dynamic Client Registration
//! (`register.rs`), client-id metadata documents (`cimd.rs`), the admin
//! browser session (`admin.rs`), the authorization endpoint and consent
//! page (`authorize.rs`, `consent.rs`), the token and revocation endpoints (`token.rs`,
//! `revoke.rs`); forms and pages in `form.rs` and `pages.rs`. Handlers
//! parse and answer; the rules are in authgate-oauth. The machine-facing
//! endpoints answer CORS `*` without credentials; every endpoint here
//! spends the client address's public budget.

// The handlers' helpers answer early with the page or JSON to send: the
// `Err` is that `Response`, moved once on a refusal path.
#![allow(clippy::result_large_err)]

pub(crate) mod admin;
mod authorize;
mod cimd;
mod consent;
pub mod discovery;
pub(crate) mod form;
pub(crate) mod pages;
mod register;
mod revoke;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use http::{HeaderValue, Method, StatusCode, header};

use crate::app::AppState;

/// The routes of the authorization server and the admin sign-in.
pub fn routes(app: Arc<AppState>) -> Router<Arc<AppState>> {
    let machine = Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(discovery::resource_root),
        )
        .route(
            "/.well-known/oauth-protected-resource/api/mcp",
            get(discovery::resource_mcp),
        )
        .route(
            "/.well-known/oauth-protected-resource/api/sse",
            get(discovery::resource_sse),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::server),
        )
        .route("/.well-known/openid-configuration", get(discovery::server))
        .route("/oauth/register", post(register::register))
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(revoke::revoke))
        .layer(from_fn(cors_any));
    let browser = Router::new()
        .route(
            "/oauth/authorize",
            get(authorize::show).post(authorize::decide),
        )
        .route("/admin/login", get(admin::login_page).post(admin::login))
        .route("/admin/logout", post(admin::logout));
    machine
        .merge(browser)
        .route_layer(from_fn_with_state(app, crate::rest::public_budget))
}

/// CORS for the endpoints a browser-based MCP client calls: any origin,
/// never credentials (nothing here reads a cookie).
async fn cors_any(req: Request, next: Next) -> Response {
    let mut resp = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// An OAuth error as JSON (RFC 6749 §5.2), never cached.
pub(crate) fn error_json(status: StatusCode, err: &authgate_oauth::OAuthError) -> Response {
    let body = serde_json::json!({"error": err.code, "error_description": err.description});
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A success as JSON, never cached (it may carry tokens or a secret).
pub(crate) fn ok_json(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// The database failed: 503 `temporarily_unavailable`, retry in a second.
pub(crate) fn unavailable_json(err: &authgate_core::ToolError) -> Response {
    tracing::warn!(error = %err, "authorization server unavailable");
    let err = authgate_oauth::OAuthError {
        code: "temporarily_unavailable",
        description: "the database is out of reach right now; retry shortly".into(),
    };
    let mut resp = error_json(StatusCode::SERVICE_UNAVAILABLE, &err);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
