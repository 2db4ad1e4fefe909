//! Discovery: the protected-resource metadata of each MCP endpoint
//! (RFC 9728), the authorization server's metadata (RFC 8414, also served
//! as `openid-configuration` for clients that look there), and the
//! `WWW-Authenticate` challenge that points a client at them. Every URL is
//! made from `AUTHGATE_PUBLIC_URL`, never from the request's Host.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::AppState;

/// What a grant may hold; the consent picks among them.
pub const SCOPES: [&str; 3] = ["read", "write", "admin"];

/// The issuer: the public URL without a trailing slash.
pub fn issuer(app: &AppState) -> &str {
    app.config.public_url.trim_end_matches('/')
}

/// The MCP endpoint a request path belongs to (`/api/sse/messages` is the
/// SSE endpoint's).
pub fn endpoint_of(path: &str) -> &'static str {
    if path.starts_with("/api/sse") {
        "/api/sse"
    } else {
        "/api/mcp"
    }
}

/// The resource URIs a grant may be for (RFC 8707).
pub fn resources(app: &AppState) -> [String; 2] {
    let base = issuer(app);
    [format!("{base}/api/mcp"), format!("{base}/api/sse")]
}

/// The challenge of a 401 from an MCP endpoint: where its metadata is,
/// what to ask for, and, when a token was sent, that it is invalid.
pub fn challenge(app: &AppState, path: &str, invalid: Option<&str>) -> String {
    let mut c = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource{}\", scope=\"read write\"",
        issuer(app),
        endpoint_of(path)
    );
    if let Some(reason) = invalid {
        c.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{}\"",
            reason.replace(['"', '\\'], "'")
        ));
    }
    c
}

fn resource_document(app: &AppState, endpoint: &str) -> Value {
    let base = issuer(app);
    json!({
        "resource": format!("{base}{endpoint}"),
        "authorization_servers": [base],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "AuthGate",
        "resource_documentation": "https://github.com/authgate/authgate/blob/main/docs/oauth.md",
    })
}

pub async fn resource_root(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(resource_document(&app, "/api/mcp"))
}

pub async fn resource_mcp(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(resource_document(&app, "/api/mcp"))
}

pub async fn resource_sse(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(resource_document(&app, "/api/sse"))
}

/// The authorization server's metadata (RFC 8414).
pub fn server_document(app: &AppState) -> Value {
    let base = issuer(app);
    let methods = authgate_oauth::clients::AUTH_METHODS;
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "registration_endpoint": format!("{base}/oauth/register"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    })
}

pub async fn server(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(server_document(&app))
}
