//! Assembles the HTTP server: the MCP endpoints behind the auth layer,
//! the REST API, health checks, and the background work, on the listener
//! of `serve.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http::StatusCode;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use authgate_core::{Clock, SystemClock};
use authgate_project::{CreatedApiKey, Project};
use authgate_store::{Store, StoreOptions};

use crate::app::AppState;
use crate::config::{Config, MAX_BODY_BYTES};
use crate::mcp::{McpHandler, McpTools};
use crate::sse::SseSessions;

/// Opens the configured database and runs its migrations.
pub async fn open_store(config: &Config) -> Result<Store, String> {
    let options = StoreOptions {
        unit_timeout: config.db_timeout,
        ..StoreOptions::default()
    };
    Store::open(&config.database_url, options)
        .await
        .map_err(|e| {
            format!(
                "opening {}: {e}",
                crate::config::redact_url(&config.database_url)
            )
        })
}

/// On a database with no project, creates one and its admin key, under
/// the start-up lock: gateways starting together make one project.
pub async fn ensure_first_project(
    store: &Store,
) -> Result<Option<(Project, CreatedApiKey)>, String> {
    let now = SystemClock.now();
    store
        .write(async |conn| authgate_project::ensure_first_project(conn, now).await)
        .await
        .map_err(|e| e.to_string())
}

pub fn router(app: Arc<AppState>) -> Router {
    let tools = Arc::new(McpTools::new(&app.registry));
    let sse = Arc::new(SseSessions::new(tools.clone()));
    let base = StreamableHttpServerConfig::default()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(app.shutdown.child_token());
    let mcp_config = if app.config.allowed_hosts.iter().any(|h| h == "*") {
        base.disable_allowed_hosts()
    } else {
        base.with_allowed_hosts(app.config.allowed_hosts.clone())
    };
    let factory_app = app.clone();
    let factory_tools = tools.clone();
    let factory = move || Ok(McpHandler::new(factory_app.clone(), factory_tools.clone()));
    let mcp_routes = if app.config.stateless {
        let service = StreamableHttpService::new(
            factory,
            Arc::new(NeverSessionManager::default()),
            mcp_config
                .with_legacy_session_mode(false)
                .with_json_response(true),
        );
        Router::new().route_service("/api/mcp", service)
    } else {
        let service = StreamableHttpService::new(factory, app.mcp_sessions.clone(), mcp_config);
        Router::new().route_service("/api/mcp", service)
    };
    let authenticated = mcp_routes
        .route("/api/sse", get(crate::sse::open))
        .route("/api/sse/messages", post(crate::sse::post))
        .layer(axum::Extension(sse))
        .route_layer(from_fn_with_state(app.clone(), crate::auth::authenticate));
    Router::new()
        .merge(authenticated)
        .merge(crate::rest::routes(app.clone()))
        .merge(crate::oauth::routes(app.clone()))
        .merge(crate::admin::routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::render))
        .layer(from_fn_with_state(app.clone(), crate::front::front))
        .with_state(app)
}

async fn readyz(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

/// How often idle buckets and bindings are swept and key uses written.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How often detection state that can no longer count is removed.
const SECURITY_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes stale pending alerts and signals, off the request path.
async fn sweep_security(app: Arc<AppState>) {
    // The first sweep one period after start, not at start.
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + SECURITY_SWEEP_EVERY,
        SECURITY_SWEEP_EVERY,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let swept =
                    authgate_security::sweep(&app.store.patient(), &app.config.security, app.clock.now()).await;
                if let Err(err) = swept {
                    tracing::warn!(error = %err, "could not sweep stale security state");
                }
            }
        }
    }
}

/// How often spent tokens and stale counting windows are pruned, and
/// subscriptions the payment provider never confirmed are canceled.
const TOKEN_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Prunes what identity keeps only for a while and reconciles pending
/// subscriptions, off the request path.
async fn sweep_tokens(app: Arc<AppState>) {
    let mut tick = tokio::time::interval(TOKEN_SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let now = app.clock.now();
                let store = app.store.patient();
                match authgate_identity::prune_tokens(&store, app.config.token_retention, now).await {
                    Ok(pruned) => tracing::debug!(?pruned, "pruned spent tokens"),
                    Err(err) => tracing::warn!(error = %err, "could not prune spent tokens"),
                }
                if let Err(err) = authgate_billing::reconcile_pending(&store, now).await {
                    tracing::warn!(error = %err, "could not reconcile pending subscriptions");
                }
                if let Err(err) = authgate_oauth::purge(&store, now).await {
                    tracing::warn!(error = %err, "could not purge spent OAuth codes, tokens and clients");
                }
            }
        }
    }
}

/// How long shutdown waits in all: the drain of requests in flight
/// (`serve::DRAIN`) and then the connections, so SIGTERM exits in under 10 s.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(8);

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub app: Arc<AppState>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `config.bind` (port 0 picks a free one) and serves.
    pub async fn start(
        config: Config, store: Store, secret: &[u8], clock: Arc<dyn Clock>,
    ) -> std::io::Result<Server> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        // Bound to port 0 with the default public URL: the URL is where the
        // server listens (redirect URIs and token issuers must be reachable).
        let mut config = config;
        if config.bind.port() == 0 && config.public_url == format!("http://{}", config.bind) {
            config.public_url = format!("http://{addr}");
        }
        let registry = Arc::new(crate::registry::registry().map_err(std::io::Error::other)?);
        crate::metrics::handle();
        let app =
            AppState::new(config, store, registry, secret, clock).map_err(std::io::Error::other)?;
        // Revocations evict cached keys: this process's at once, other
        // gateways' through the store's notifications.
        let weak = Arc::downgrade(&app);
        app.store.on_notify(move |topic, payload| {
            let Some(app) = weak.upgrade() else { return };
            match topic {
                authgate_project::KEY_EVENTS => {
                    if let Some(event) = authgate_project::KeyEvent::parse(payload) {
                        app.key_cache.evict(&event);
                    }
                }
                authgate_store::RESYNC => app.key_cache.clear(),
                _ => {}
            }
        });
        tokio::spawn(app.store.clone().listen(app.shutdown.clone()));
        tokio::spawn(app.clone().run_housekeeping(HOUSEKEEPING_EVERY));
        tokio::spawn(sweep_security(app.clone()));
        tokio::spawn(sweep_tokens(app.clone()));
        let mailer = match &app.config.smtp_url {
            Some(url) => authgate_email::Mailer::from_url(url, &app.config.email_from),
            None => {
                let dir = app.config.dev_mailbox();
                tracing::info!(dir = %dir.display(), "SMTP_URL is not set: mail is written to the development mailbox");
                authgate_email::Mailer::dev_mailbox(&dir, &app.config.email_from)
            }
        }
        .map_err(std::io::Error::other)?;
        tokio::spawn(authgate_email::run_worker(
            app.store.patient(),
            mailer,
            authgate_email::DeliveryOptions {
                retention: app.config.outbox_retention,
                ..Default::default()
            },
            app.shutdown.clone(),
        ));
        tokio::spawn(authgate_webhooks::run_worker(
            app.store.patient(),
            authgate_webhooks::WorkerOptions::new(
                app.config.webhooks.clone(),
                app.keys.encryption,
                app.clock.clone(),
            ),
            app.shutdown.clone(),
        ));
        let router = router(app.clone());
        let shutdown = CancellationToken::new();
        let read_timeout = app.config.request_read_timeout;
        let task = tokio::spawn(crate::serve::serve(
            listener,
            router,
            read_timeout,
            shutdown.clone(),
            app.shutdown.clone(),
        ));
        Ok(Server {
            addr,
            app,
            shutdown,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, ends open sessions
    /// and streams, and waits (at most [`SHUTDOWN_GRACE`]).
    pub async fn stop(self) {
        self.shutdown.cancel();
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        self.app.shutdown.cancel();
    }

    /// Serves until the task ends (or `shutdown` is cancelled).
    pub async fn wait(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let token = self.shutdown.clone();
        let mut task = self.task;
        tokio::select! {
            r = &mut task => r.map_err(std::io::Error::other)?,
            () = shutdown => {
                token.cancel();
                let ended = match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                    Ok(r) => r.map_err(std::io::Error::other)?,
                    Err(_) => {
                        task.abort();
                        Ok(())
                    }
                };
                self.app.shutdown.cancel();
                ended
            }
        }
    }
}
