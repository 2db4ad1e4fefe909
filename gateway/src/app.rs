//! The state every request shares, and what the auth layer attaches to a
//! request for the MCP handler to find.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authgate_core::{Caller, Catalog, Clock, RateBudget, ServerKeys, ToolRegistry};
use authgate_store::Store;

use crate::config::Config;
use crate::ratelimit::RateLimiter;

/// Every domain's tools, as the gateway serves them.
pub fn registry() -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    authgate_project::register(&mut registry);
    authgate_audit::register(&mut registry);
    authgate_email::register(&mut registry);
    registry
}

/// What the auth middleware resolved for one request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub caller: Caller,
    pub budget: RateBudget,
    pub request_id: String,
}

/// The request id the logging layer gave a request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// MCP session ids and the project whose key opened each: rmcp does not
/// tie a session to credentials, so the gateway does.
#[derive(Default)]
pub struct SessionBindings {
    map: Mutex<HashMap<String, (String, Instant)>>,
}

/// Bindings unused this long are dropped (rmcp idles sessions out at 5 min).
const BINDING_IDLE: Duration = Duration::from_secs(30 * 60);

impl SessionBindings {
    /// The project a session is bound to, refreshing its last use.
    pub fn project_of(&self, session: &str) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(session).map(|(project, seen)| {
            *seen = Instant::now();
            project.clone()
        })
    }

    /// Binds a session to a project unless it is bound already.
    pub fn bind(&self, session: &str, project: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() > 1024 {
            map.retain(|_, (_, seen)| now.duration_since(*seen) < BINDING_IDLE);
        }
        map.entry(session.to_owned())
            .or_insert_with(|| (project.to_owned(), now));
    }

    pub fn unbind(&self, session: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session);
    }
}

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub registry: ToolRegistry,
    pub catalog: Arc<Catalog>,
    /// The MCP definition of every tool, built once.
    pub tool_defs: BTreeMap<String, rmcp::model::Tool>,
    pub keys: Arc<ServerKeys>,
    pub clock: Arc<dyn Clock>,
    pub limiter: RateLimiter,
    pub sessions: SessionBindings,
    pub sse: crate::sse::SseSessions,
    /// Cancelled when the server stops: ends MCP sessions and SSE streams,
    /// which graceful shutdown would otherwise wait on forever.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Wakes the email delivery worker when mail is queued here.
    pub mail_wake: Arc<tokio::sync::Notify>,
}

impl AppState {
    pub fn new(config: Config, store: Store, secret: &[u8], clock: Arc<dyn Clock>) -> Arc<Self> {
        let registry = registry();
        let catalog = Arc::new(registry.catalog());
        let tool_defs = registry
            .iter()
            .map(|t| {
                (
                    t.meta().name.to_owned(),
                    crate::mcp::tool_definition(t.as_ref()),
                )
            })
            .collect();
        Arc::new(AppState {
            limiter: RateLimiter::new(config.rate_limit),
            config,
            store,
            registry,
            catalog,
            tool_defs,
            keys: Arc::new(ServerKeys::derive(secret)),
            clock,
            sessions: SessionBindings::default(),
            sse: crate::sse::SseSessions::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            mail_wake: Arc::new(tokio::sync::Notify::new()),
        })
    }
}
