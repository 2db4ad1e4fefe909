//! What travels with one request from layer to layer: its id (given by
//! the front layer, in the request's extensions and in a task-local for
//! code that renders an answer), what the auth layer resolved, and the key
//! a response was served for (for the request's log line).

use std::sync::Arc;

use authgate_core::{Caller, RateBudget, new_id};

/// The request id the front layer gave a request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    static CURRENT: String;
}

/// Runs `fut` as the request `id`: [`current_id`] answers it inside.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The id of the request being served on this task (a fresh one outside
/// any request, e.g. in a spawned task).
pub fn current_id() -> String {
    CURRENT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| new_id("req"))
}

/// The client a request came from: the socket peer, or behind a trusted
/// proxy the address it forwarded (see `authgate_core::net`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    /// The client of `req`, put there by the front layer (the peer when a
    /// request did not pass it, as in a router test).
    pub fn of(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
        extensions.get::<ClientAddr>().map(|c| c.0).or_else(|| {
            extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        })
    }
}

/// What the auth middleware resolved for one request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub caller: Arc<Caller>,
    pub budget: RateBudget,
    pub request_id: String,
}

/// The key id a response was served for, for the request log line.
#[derive(Clone)]
pub struct LoggedKey(pub String);
