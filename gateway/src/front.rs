//! The one layer every request passes: it gives the request an id (in its
//! extensions and as the task's current id), finds its client (behind a
//! trusted proxy, the forwarded address), opens the request's tracing
//! span (request id, method, route; the auth layer adds the project), reads
//! the body whole (over the limit, declared or streamed, is 413; not sent
//! within the read timeout is 408), and when the request is answered logs
//! one line (the path, never the query or headers) and counts it by route
//! and status. One layer, not several: each axum layer costs a boxed
//! future and a service clone per request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, header};
use tracing::Instrument as _;

use authgate_core::new_id;

use crate::app::AppState;
use crate::config::MAX_BODY_BYTES;
use crate::jsonrpc::{too_large, too_slow, unreadable};
use crate::request::{ClientAddr, LoggedKey, RequestId};

pub async fn front(State(app): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = new_id("req");
    if let Some(client) = client_of(&req, &app.config.trusted_proxies) {
        req.extensions_mut().insert(ClientAddr(client));
    }
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
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        route = %route.as_deref().unwrap_or("unmatched"),
        project_id = tracing::field::Empty,
    );
    let mut resp = if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        drain(req.into_body()).await;
        too_large()
    } else {
        match read_whole(req, app.config.request_read_timeout).await {
            Ok(mut req) => {
                req.extensions_mut().insert(RequestId(request_id.clone()));
                let id = request_id.clone();
                crate::request::scope(id, next.run(req).instrument(span)).await
            }
            Err(refused) => refused,
        }
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

/// The request's client: its socket peer, or when the peer is a trusted
/// proxy the rightmost untrusted `X-Forwarded-For` address.
fn client_of(req: &Request, proxies: &[authgate_core::net::Cidr]) -> Option<IpAddr> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(authgate_core::net::client_address(peer, forwarded, proxies))
}

/// The request with its body read whole: no handler sees a body over the
/// limit (a chunked one included) or waits on a client that trickles one.
async fn read_whole(req: Request, timeout: Duration) -> Result<Request, Response> {
    use http_body_util::BodyExt as _;
    enum Fault {
        TooLarge,
        Unreadable,
    }
    let (parts, mut body) = req.into_parts();
    let read = async {
        let mut whole = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Fault::Unreadable)?;
            if let Some(data) = frame.data_ref() {
                if whole.len() + data.len() > MAX_BODY_BYTES {
                    return Err(Fault::TooLarge);
                }
                whole.extend_from_slice(data);
            }
        }
        Ok(whole.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(whole)) => Ok(Request::from_parts(parts, axum::body::Body::from(whole))),
        Ok(Err(Fault::TooLarge)) => {
            drain(body).await;
            Err(too_large())
        }
        Ok(Err(Fault::Unreadable)) => Err(unreadable()),
        Err(_) => Err(too_slow()),
    }
}

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
