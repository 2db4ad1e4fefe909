//! Step-up for OAuth grants (MCP 2025-11-25, incremental consent): a
//! `tools/call` to a tool outside what the grant holds answers 403 with
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`
//! naming what is needed, so the client can send the person back to the
//! consent page for more. Only the grant's own limits step up (its scopes
//! and tool groups); a connection's own narrowing (`read_only`,
//! `toolsets`) and API keys answer as before, with the tool's error.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use authgate_core::{Caller, ConnectionLimits, Scope};

use crate::app::AppState;
use crate::config::MAX_BODY_BYTES;

/// Passes the request on, or answers the step-up challenge.
pub(crate) async fn check_step_up(
    app: &AppState, caller: &Caller, req: Request,
) -> Result<Request, Box<Response>> {
    if caller.client_name.is_none() || req.method() != http::Method::POST {
        return Ok(req);
    }
    let path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    // The front layer has read the whole body already: this only takes it.
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    if let Some(resp) = needs_more(app, caller, &bytes, &path) {
        return Err(Box::new(resp));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn needs_more(app: &AppState, caller: &Caller, body: &[u8], path: &str) -> Option<Response> {
    let msg: Value = serde_json::from_slice(body).ok()?;
    if msg.get("method")?.as_str()? != "tools/call" {
        return None;
    }
    let name = msg.get("params")?.get("name")?.as_str()?;
    let meta = app.registry.get(name)?.meta();
    let grant = Caller {
        connection: ConnectionLimits::default(),
        ..caller.clone()
    };
    let refused = grant.check(meta).err()?;
    let needed = Scope::required_for(meta.kind).max(caller.max_scope().unwrap_or(Scope::Read));
    let scope: Vec<&str> = [Scope::Read, Scope::Write, Scope::Admin]
        .into_iter()
        .filter(|s| *s <= needed)
        .map(Scope::as_str)
        .collect();
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}/.well-known/oauth-protected-resource{}\", error_description=\"{}\"",
        scope.join(" "),
        crate::oauth::discovery::issuer(app),
        crate::oauth::discovery::endpoint_of(path),
        refused.message.replace(['"', '\\'], "'")
    );
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": msg.get("id").cloned().unwrap_or(Value::Null),
        "error": {"code": -32003, "message": format!("Forbidden: {}; authorize again with more scope", refused.message)},
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    Some(resp)
}
