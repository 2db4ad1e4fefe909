//! The state every request shares: configuration, the store, the registry,
//! the rate limits, session bindings, the key cache, the end-user flows,
//! and the timer that keeps them tidy. It knows no transport: the MCP
//! definitions and SSE sessions live with their modules.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use authgate_core::{Caller, Clock, Registry, ServerKeys, Settings};
use authgate_store::Store;

use crate::auth::bindings::SessionBindings;
use crate::config::Config;
use crate::keycache::{KEY_CACHE_TTL, KeyCache};
use crate::ratelimit::{Buckets, RefusalLog};

/// OAuth client registrations one address may make in an hour.
pub const REGISTRATIONS_PER_HOUR: u32 = 20;

/// The gateway's rate limits.
pub struct Limits {
    pub per_key: Buckets<String>,
    pub per_project: Buckets<String>,
    /// Failed authentications per client IP.
    pub auth_failures: Buckets<IpAddr>,
    /// Requests per client address to the unauthenticated REST endpoints.
    pub public: Buckets<IpAddr>,
    /// OAuth client registrations per client address (20 an hour).
    pub registrations: Buckets<IpAddr>,
    pub refusals: RefusalLog,
}

impl Limits {
    fn new(config: &Config) -> Self {
        Limits {
            per_key: Buckets::new(config.rate_limit),
            per_project: Buckets::new(config.project_rate_limit),
            auth_failures: Buckets::new(config.auth_failure_limit),
            public: Buckets::new(config.public_rate_limit),
            registrations: Buckets::hourly(REGISTRATIONS_PER_HOUR),
            refusals: RefusalLog::default(),
        }
    }

    fn sweep(&self, now: Instant) {
        self.per_key.sweep(now);
        self.per_project.sweep(now);
        self.auth_failures.sweep(now);
        self.public.sweep(now);
        self.registrations.sweep(now);
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
        if let Err(err) = authgate_project::flush_key_uses(store, &uses).await {
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
    pub keys: Arc<ServerKeys>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub limits: Limits,
    pub sessions: SessionBindings,
    /// rmcp's Streamable HTTP sessions, idled out after
    /// `AUTHGATE_SESSION_IDLE_TIMEOUT`.
    pub mcp_sessions:
        Arc<rmcp::transport::streamable_http_server::session::local::LocalSessionManager>,
    pub last_used: LastUsed,
    pub key_cache: KeyCache,
    /// The end-user flows behind the REST API.
    pub auth: authgate_identity::Auth,
    /// The authorization server's lifetimes (issue 23).
    pub oauth: authgate_oauth::OAuthSettings,
    /// Fetches MCP clients' metadata documents (the guarded client:
    /// no redirects, 5 s, private addresses refused).
    pub cimd: authgate_webhooks::GuardedClient,
    /// Cancelled when the server stops: ends MCP sessions and SSE streams,
    /// which graceful shutdown would otherwise wait on forever.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    pub fn new(
        config: Config, store: Store, registry: Arc<Registry>, secret: &[u8], clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, String> {
        authgate_security::Detector::attach(&store, config.security.clone());
        authgate_webhooks::Outbox::attach(&store);
        let (settings, identity) = crate::settings::domain_settings(&config)?;
        let keys = Arc::new(ServerKeys::derive(secret));
        let auth =
            authgate_identity::Auth::new(store.clone(), clock.clone(), keys.clone(), identity);
        let oauth = crate::settings::oauth_settings(&config)?;
        let cimd = crate::settings::cimd_client(&config)?;
        let sessions = SessionBindings::new(
            config.session_idle_timeout + Duration::from_secs(60),
            config.max_sessions_per_key as usize,
        );
        let mut manager =
            rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default();
        manager.session_config.keep_alive = Some(config.session_idle_timeout);
        let mcp_sessions = Arc::new(manager);
        Ok(Arc::new(AppState {
            limits: Limits::new(&config),
            oauth,
            cimd,
            config,
            store,
            registry,
            keys,
            auth,
            clock,
            settings,
            sessions,
            mcp_sessions,
            last_used: LastUsed::default(),
            key_cache: KeyCache::new(KEY_CACHE_TTL),
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
