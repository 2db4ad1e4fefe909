//! The state every request shares, and what the auth layer attaches to a
//! request for the MCP handler to find.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use authgate_core::{Caller, Clock, RateBudget, Registry, ServerKeys, Settings, ToolRegistry};
use authgate_store::Store;

use crate::config::Config;
use crate::ratelimit::{Buckets, RefusalLog};

/// Every domain's tools, groups and status sections, checked.
pub fn registry() -> Result<Registry, String> {
    let mut registry = ToolRegistry::new();
    authgate_project::register(&mut registry);
    authgate_audit::register(&mut registry);
    authgate_email::register(&mut registry);
    authgate_sessions::register(&mut registry);
    authgate_identity::register(&mut registry);
    authgate_rbac::register(&mut registry);
    authgate_orgs::register(&mut registry);
    authgate_billing::register(&mut registry);
    authgate_export::register(&mut registry);
    authgate_security::register(&mut registry);
    registry
        .build()
        .map_err(|problems| format!("the tool registry is invalid: {}", problems.join("; ")))
}

/// What the auth middleware resolved for one request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub caller: Arc<Caller>,
    pub budget: RateBudget,
    pub request_id: String,
}

/// The request id the logging layer gave a request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Which key opened an MCP session (Streamable HTTP or legacy SSE): rmcp
/// does not tie a session to credentials, so the gateway does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    pub key_id: String,
    pub project_id: String,
}

struct Binding {
    owner: SessionOwner,
    seen: Instant,
}

#[derive(Default)]
pub struct SessionBindings {
    map: DashMap<String, Binding>,
}

/// Bindings unused this long are dropped (rmcp idles sessions out at 5 min).
const BINDING_IDLE: Duration = Duration::from_secs(30 * 60);

impl SessionBindings {
    /// The key a session is bound to, refreshing its last use.
    pub fn owner_of(&self, session: &str) -> Option<SessionOwner> {
        self.map.get_mut(session).map(|mut b| {
            b.seen = Instant::now();
            b.owner.clone()
        })
    }

    /// Binds a session to a key unless it is bound already.
    pub fn bind(&self, session: &str, owner: SessionOwner) {
        self.map.entry(session.to_owned()).or_insert(Binding {
            owner,
            seen: Instant::now(),
        });
    }

    pub fn unbind(&self, session: &str) {
        self.map.remove(session);
    }

    pub fn sweep(&self, now: Instant) {
        self.map
            .retain(|_, b| now.saturating_duration_since(b.seen) < BINDING_IDLE);
    }
}

/// The gateway's rate limits.
pub struct Limits {
    pub per_key: Buckets<String>,
    pub per_project: Buckets<String>,
    /// Failed authentications per client IP.
    pub auth_failures: Buckets<IpAddr>,
    pub refusals: RefusalLog,
}

impl Limits {
    fn sweep(&self, now: Instant) {
        self.per_key.sweep(now);
        self.per_project.sweep(now);
        self.auth_failures.sweep(now);
        self.refusals.sweep(now);
    }
}

/// When keys were last used, gathered on the request path (in memory) and
/// written in batches off it, so authentication never waits on a write.
#[derive(Default)]
pub struct LastUsed {
    pending: DashMap<String, (String, i64)>,
}

impl LastUsed {
    pub fn touch(&self, caller: &Caller, at_micros: i64) {
        self.pending.insert(
            caller.key_id.clone(),
            (caller.project.id.clone(), at_micros),
        );
    }

    /// Writes what was gathered, in one transaction.
    pub async fn flush(&self, store: &Store) {
        let keys: Vec<String> = self.pending.iter().map(|e| e.key().clone()).collect();
        let uses: Vec<(String, String, i64)> = keys
            .into_iter()
            .filter_map(|k| self.pending.remove(&k).map(|(key, (p, at))| (p, key, at)))
            .collect();
        if uses.is_empty() {
            return;
        }
        let written = store
            .write(async |conn| authgate_project::keys::record_last_used(conn, &uses).await)
            .await;
        if let Err(err) = written {
            tracing::warn!(error = %err, keys = uses.len(), "could not record when keys were last used; retrying later");
            // Keep them for the next flush, unless a newer use came in.
            for (project, key, at) in uses {
                self.pending.entry(key).or_insert((project, at));
            }
        }
    }
}

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub registry: Arc<Registry>,
    /// The MCP definition of every tool, built once.
    pub tool_defs: BTreeMap<String, rmcp::model::Tool>,
    pub instructions: String,
    /// The MCP server info, built once.
    pub server_info: rmcp::model::ServerConfig,
    pub keys: Arc<ServerKeys>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub limits: Limits,
    pub sessions: SessionBindings,
    pub sse: crate::sse::SseSessions,
    pub last_used: LastUsed,
    pub key_cache: crate::keycache::KeyCache,
    /// The end-user flows behind the REST API.
    pub auth: authgate_identity::Auth,
    /// Cancelled when the server stops: ends MCP sessions and SSE streams,
    /// which graceful shutdown would otherwise wait on forever.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    pub fn new(
        config: Config,
        store: Store,
        secret: &[u8],
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, String> {
        let registry = Arc::new(registry()?);
        authgate_security::Detector::attach(&store, config.security.clone());
        crate::metrics::handle();
        let tool_defs = registry
            .iter()
            .map(|t| {
                (
                    t.meta().name.to_owned(),
                    crate::mcp::tool_definition(t.as_ref()),
                )
            })
            .collect();
        let mut settings = Settings::default();
        settings.insert(authgate_project::KeySettings {
            max_active_keys: config.max_active_keys,
        });
        let passwords = authgate_identity::passwords::Passwords::for_this_machine(
            authgate_identity::passwords::HashParams::default(),
        )
        .map_err(|e| e.to_string())?;
        if let Some(secret_key) = &config.stripe_secret_key {
            let stripe = authgate_stripe::StripeMirror::new(&authgate_stripe::StripeConfig {
                secret_key: secret_key.clone(),
                api_base: config.stripe_api_base.clone(),
            })?;
            settings.insert(authgate_billing::mirror::BillingSettings {
                mirror: Some(Arc::new(stripe)),
            });
        }
        let identity = authgate_identity::IdentitySettings::new(&config.public_url, passwords);
        settings.insert(identity.clone());
        let keys = Arc::new(ServerKeys::derive(secret));
        let auth =
            authgate_identity::Auth::new(store.clone(), clock.clone(), keys.clone(), identity);
        Ok(Arc::new(AppState {
            limits: Limits {
                per_key: Buckets::new(config.rate_limit),
                per_project: Buckets::new(config.project_rate_limit),
                auth_failures: Buckets::new(config.auth_failure_limit),
                refusals: RefusalLog::default(),
            },
            server_info: crate::mcp::server_info(&registry.instructions()),
            instructions: registry.instructions(),
            config,
            store,
            registry,
            tool_defs,
            keys,
            auth,
            clock,
            settings,
            sessions: SessionBindings::default(),
            sse: crate::sse::SseSessions::default(),
            last_used: LastUsed::default(),
            key_cache: crate::keycache::KeyCache::new(crate::keycache::KEY_CACHE_TTL),
            shutdown: tokio_util::sync::CancellationToken::new(),
        }))
    }

    /// Housekeeping on a timer: idle buckets and session bindings are
    /// dropped, and key uses are written. Never on the request path.
    pub async fn run_housekeeping(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => {
                    self.last_used.flush(&self.store).await;
                    return;
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.limits.sweep(now);
                    self.sessions.sweep(now);
                    self.key_cache.sweep();
                    self.last_used.flush(&self.store).await;
                }
            }
        }
    }
}
