//! The guarded HTTP client: webhook deliveries and client-metadata
//! document fetches (authgate-oauth's CIMD) go out through it. It is hyper with pooled keep-alive
//! connections, TLS by rustls (ring, the web's roots), no redirects
//! followed (hyper follows none), a time limit around each whole attempt,
//! and names resolved by [`GuardedResolver`], which hands the connector
//! only addresses the policy allows, so a name cannot be pointed at a
//! private address between a check and the connection (the connection
//! goes to the very address that was checked).

use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;

use crate::policy::{Refusal, check_address, literal_address};

/// Resolves names with the system resolver and keeps the allowed
/// addresses; none allowed is a [`Refused`] error.
#[derive(Clone)]
pub struct GuardedResolver {
    allow_loopback: bool,
}

/// A name resolved only to refused addresses.
#[derive(Debug)]
pub struct Refused(pub Refusal);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Refused {}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match check_address(a.ip(), allow_loopback) {
                    Ok(()) => true,
                    Err(r) => {
                        refusal.get_or_insert(r);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refusal) {
                (true, Some(r)) => Err(std::io::Error::other(Refused(r))),
                _ => Ok(allowed.into_iter()),
            }
        })
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;
type Body = http_body_util::Full<bytes::Bytes>;

/// The outbound client of user-chosen URLs.
#[derive(Clone)]
pub struct GuardedClient {
    client: hyper_util::client::legacy::Client<Connector, Body>,
    allow_loopback: bool,
    timeout: Duration,
}

/// What one attempt met.
#[derive(Debug)]
pub enum Answer {
    /// The receiver answered: its status and the first 1 KiB of its body.
    Status(u16, String),
    /// No answer: `timeout`, `refused: ...`, or the connection error.
    Error(String),
}

/// The most of an answer's body read (the rest is dropped with the
/// connection); the first [`KEPT`] bytes are kept.
const READ_AT_MOST: usize = 64 * 1024;
const KEPT: usize = 1024;

impl GuardedClient {
    pub fn new(allow_loopback: bool, timeout: Duration) -> GuardedClient {
        GuardedClient::with_tls(allow_loopback, timeout, authgate_core::tls::client_config())
    }

    /// The same with a TLS configuration of the caller's (extra roots).
    pub fn with_tls(
        allow_loopback: bool, timeout: Duration, tls: rustls::ClientConfig,
    ) -> GuardedClient {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_loopback });
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(64)
                .build(connector);
        GuardedClient {
            client,
            allow_loopback,
            timeout,
        }
    }

    /// POSTs `body` to `url` with `headers`, within the time limit. A
    /// literal address in the URL is judged here (the connector does not
    /// resolve it); a name is judged by the resolver.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: bytes::Bytes) -> Answer {
        if let Err(refused) = self.literal_allowed(url) {
            return Answer::Error(refused);
        }
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("AuthGate-Webhooks/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let Ok(req) = req.body(Body::new(body)) else {
            return Answer::Error("not a valid request".into());
        };
        let attempt = async {
            let res = self.client.request(req).await.map_err(|e| describe(&e))?;
            let status = res.status().as_u16();
            Ok::<_, String>((status, read_some(res.into_body()).await))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Err(_) => Answer::Error("timeout".into()),
            Ok(Err(e)) => Answer::Error(e),
            Ok(Ok((status, text))) => Answer::Status(status, text),
        }
    }

    /// GETs `url` within the time limit, reading at most `max_bytes` of
    /// the body (more is an error): the status and the body. Redirects are
    /// answers like any other (not followed).
    pub async fn get(&self, url: &str, max_bytes: usize) -> Result<(u16, bytes::Bytes), String> {
        self.literal_allowed(url)?;
        let req = http::Request::builder()
            .method(http::Method::GET)
            .uri(url)
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("AuthGate/", env!("CARGO_PKG_VERSION")),
            )
            .body(Body::new(bytes::Bytes::new()))
            .map_err(|_| "not a valid request".to_owned())?;
        let attempt = async {
            let res = self.client.request(req).await.map_err(|e| describe(&e))?;
            let status = res.status().as_u16();
            let limited = http_body_util::Limited::new(res.into_body(), max_bytes);
            let body = limited
                .collect()
                .await
                .map_err(|_| format!("the answer is larger than {max_bytes} bytes"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| "timeout".to_owned())?
    }

    fn literal_allowed(&self, url: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|_| "not a valid URL".to_owned())?;
        let host = parsed.host().ok_or("the URL has no host")?;
        match literal_address(&host) {
            Some(ip) => check_address(ip, self.allow_loopback).map_err(|r| Refused(r).to_string()),
            None => Ok(()),
        }
    }
}

/// The first [`KEPT`] bytes of a body (as text), reading at most
/// [`READ_AT_MOST`] so a small answer leaves its connection reusable.
async fn read_some(mut body: hyper::body::Incoming) -> String {
    let mut kept = Vec::new();
    let mut read = 0;
    while read < READ_AT_MOST {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read += data.len();
                    let room = KEPT.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => break,
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    while text.len() > KEPT {
        text.pop();
    }
    text
}

/// The error of a failed request in a few words: a refusal by the
/// resolver, or the innermost cause.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut last = err.to_string();
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        // An io::Error's source skips the error it wraps: look inside.
        if let Some(refused) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Refused>())
        {
            return refused.to_string();
        }
        last = e.to_string();
        cause = e.source();
    }
    format!("connection failed: {}", authgate_core::truncate(&last, 200))
}
