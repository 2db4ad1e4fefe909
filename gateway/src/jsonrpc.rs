//! JSON-RPC error bodies for the MCP endpoints: what a refusal before any
//! tool runs looks like, and the rewrite of rmcp's plain-text transport
//! faults into bodies SDKs can show.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// A JSON-RPC error body with no request id, as SDKs show it.
pub fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": message},
    });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

pub fn too_large() -> Response {
    jsonrpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        -32600,
        "Request body too large: the limit is 1 MiB",
    )
}

/// A body the client did not finish sending within the read timeout.
pub fn too_slow() -> Response {
    let mut resp = jsonrpc_error(
        StatusCode::REQUEST_TIMEOUT,
        -32600,
        "Request body not received in time: send the whole body at once",
    );
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A body the client broke off.
pub fn unreadable() -> Response {
    jsonrpc_error(
        StatusCode::BAD_REQUEST,
        -32600,
        "Request body could not be read: it was cut off",
    )
}

/// rmcp answers transport faults (a body that is not JSON-RPC, a missing
/// header) with plain text; SDKs show a JSON-RPC error body far better.
pub async fn as_jsonrpc_error(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !status.is_client_error() || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let (status, code, message) = if text.contains("deserialize") {
        (
            StatusCode::BAD_REQUEST,
            -32700,
            format!("Parse error: the body is not a JSON-RPC message ({text})"),
        )
    } else {
        let reason = status.canonical_reason().unwrap_or("Bad request");
        let detail = if text.is_empty() {
            reason.to_owned()
        } else {
            text
        };
        (status, -32600, format!("Invalid request: {detail}"))
    };
    let mut out = jsonrpc_error(status, code, &message);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
