//! HTTP layers in front of every endpoint: request ids and the one log line
//! per request, the body limit, the Host check, and JSON-RPC error bodies.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use authgate_core::new_id;

use crate::app::{AppState, RequestId};
use crate::config::MAX_BODY_BYTES;

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

/// The one layer every request passes: gives it an id, refuses a declared
/// body over the limit (rmcp and the SSE bridge enforce the same limit
/// while reading undeclared bodies), and when it is answered logs one line
/// (the path, never the query or headers) and counts it by route and
/// status. One layer, not three: each axum layer costs a boxed future and a
/// service clone per request.
pub async fn front(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = new_id("req");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut resp = if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        drain(req.into_body()).await;
        too_large()
    } else {
        req.extensions_mut().insert(RequestId(request_id.clone()));
        next.run(req).await
    };
    crate::metrics::request(route, resp.status());
    let key_id = resp
        .extensions()
        .get::<LoggedKey>()
        .map(|k| k.0.as_str())
        .unwrap_or_default();
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        key_id = %key_id,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The key id a response was served for, for the request log line.
#[derive(Clone)]
pub struct LoggedKey(pub String);

/// Reads and drops (a bounded amount of) a refused body, so the client,
/// still sending, reads the 413 instead of a reset connection.
pub async fn drain(body: axum::body::Body) {
    use http_body_util::BodyExt as _;
    const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
    let mut body = body;
    let mut seen = 0usize;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map(|d| d.len()).unwrap_or(0);
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

pub fn too_large() -> Response {
    jsonrpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        -32600,
        "Request body too large: the limit is 1 MiB",
    )
}

/// Checks the Host header against the allowed hosts.
pub fn host_allowed(app: &AppState, headers: &HeaderMap) -> bool {
    if app.config.allowed_hosts.iter().any(|h| h == "*") {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let bare = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    app.config
        .allowed_hosts
        .iter()
        .any(|allowed| allowed == host || allowed == bare)
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
