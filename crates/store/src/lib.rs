//! Storage for AuthGate. Owns the diesel schema, the pooled connections to
//! SQLite (embedded default) and PostgreSQL (production and scale-out), the
//! embedded migrations of both backends, and the one conversion of database
//! errors into [`StoreError`].
//!
//! Domain code never sees the pool: it runs inside a unit of work
//! ([`Store::read`], [`Store::write`]) and takes the [`Conn`] that unit
//! hands it, so one tool call or REST request is one transaction across
//! domains. Queries are written once: [`with_conn!`] expands a block for
//! each backend, so the same diesel DSL is compiled against
//! `AsyncPgConnection` and `SyncConnectionWrapper<SqliteConnection>`.

mod conn;
mod json;
mod notify;
mod outage;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use conn::{AfterCommit, Conn, ConnRef, UnitOfWork};
pub use json::JsonText;
pub use notify::CHANNEL;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, SqliteConnection};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;

pub use diesel;
pub use diesel_async;

pub type PgConn = AsyncPgConnection;
/// SQLite behind diesel-async, running each statement inline: a unit of
/// work takes one blocking hop for all its statements (see `conn.rs`),
/// rather than one `spawn_blocking` per statement.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// Runs diesel-async's "blocking" SQLite calls on the calling thread. Only
/// sound where the caller is allowed to block: inside a unit of work, which
/// runs on a blocking section of its own.
pub struct Inline;

impl diesel_async::sync_connection_wrapper::SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self, task: impl FnOnce() -> R + Send + 'static,
    ) -> futures::future::BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        Box::pin(futures::future::ready(Ok(task())))
    }

    fn get_runtime() -> Self {
        Inline
    }
}

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The PostgreSQL advisory lock that migrations and first-run set-up take,
/// so gateways starting together on one database do each once. Any
/// constant works; it only has to be the same in every gateway.
pub(crate) const STARTUP_LOCK: i64 = 7_243_011;

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Storage failures, already classified; never carries SQL text to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    /// A unique constraint refused the write; carries the constraint (or
    /// `table.column` on SQLite) so callers can say which value is taken.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    #[error("foreign key constraint violated")]
    ForeignKeyViolation,
    /// The pool or the connection is unavailable; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::UniqueViolation(_))
    }
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let name = info
                    .constraint_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| info.message().to_owned());
                StoreError::UniqueViolation(name)
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                StoreError::ForeignKeyViolation
            }
            // The connection is gone (`UnableToSendCommand` is how
            // diesel-async reports a socket error or a closed connection),
            // or the server is a standby that refuses writes (SQLSTATE
            // 25006, as a demoted primary answers during a switch-over):
            // a later try, on another connection, may work.
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::ReadOnlyTransaction,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            DieselError::BrokenTransactionManager => {
                StoreError::Unavailable("broken transaction manager".into())
            }
            other => StoreError::Other(with_sources(&other)),
        }
    }
}

/// An error and its sources, `: `-joined (diesel names the field of a
/// value that does not deserialize; the source says why).
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A pool of connections to one database, of either backend, and the
/// listeners of its notifications. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pools,
    pub(crate) shared: Arc<Shared>,
    /// PostgreSQL: the deadline of this handle's units (see `outage.rs`).
    unit_timeout: Duration,
}

#[derive(Clone)]
enum Pools {
    Postgres(Pool<PgConn>),
    Sqlite(Pool<SqliteConn>),
}

/// What the clones of one store share.
pub(crate) struct Shared {
    url: String,
    pub(crate) listeners: std::sync::RwLock<Vec<Listener>>,
    /// Hooks other crates attach to this store's units of work (the audit
    /// log's observers), by type; see [`Store::set_extension`].
    pub(crate) extensions: std::sync::RwLock<Extensions>,
    /// SQLite has one write lock. Write units of this process queue here,
    /// first come first served, before they take it: without the queue
    /// they poll SQLite's busy handler, and under load an unlucky writer
    /// can starve past the busy timeout ("database is locked").
    pub(crate) sqlite_writers: tokio::sync::Mutex<()>,
    /// PostgreSQL units' deadline and the window after an outage.
    pub(crate) outage: outage::Outage,
}

type Extensions = std::collections::HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>;

/// Called with `(topic, payload)` for each notification, and with
/// `("resync", "")` when notifications may have been missed.
pub type Listener = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// The topic a listener hears when notifications may have been lost (the
/// PostgreSQL listener reconnected): drop whatever it caches.
pub const RESYNC: &str = "resync";

/// One pooled connection, held for one unit of work.
// Short-lived and on the stack: boxing the larger variant would cost an
// allocation per checkout for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum DbConn {
    Postgres(Object<PgConn>),
    Sqlite(Object<SqliteConn>),
}

/// A snapshot of the connection pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub size: usize,
    pub in_use: usize,
    pub waiting: usize,
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: usize,
    /// How long a checkout waits for a free connection, or for a new one.
    pub connect_timeout: Duration,
    /// PostgreSQL only: how long a unit of work may take, its checkout
    /// included, before it is abandoned as `Unavailable` (its connection
    /// discarded). A frozen or unreachable server then answers in bounded
    /// time instead of holding requests forever. SQLite units run in
    /// process and have the busy timeout.
    pub unit_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            unit_timeout: DEFAULT_UNIT_TIMEOUT,
        }
    }
}

/// A request must answer within 2 s even when PostgreSQL does not.
pub const DEFAULT_UNIT_TIMEOUT: Duration = Duration::from_millis(1500);

/// The deadline of [`Store::patient`] units: work off the request path.
pub const BACKGROUND_UNIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a `sqlite://PATH` URL points, or `None` for another scheme.
pub fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

impl Store {
    /// Opens a pool for `url` (`sqlite://PATH` or `postgres://...`) and runs
    /// the pending migrations of that backend.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let store = Self::connect(url, options)?;
        store.migrate(url).await?;
        Ok(store)
    }

    /// Opens a pool without touching the schema.
    pub fn connect(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        if let Some(path) = sqlite_path(url) {
            if path.is_empty() {
                return Err(StoreError::InvalidUrl(
                    "sqlite URL has no path; use sqlite://./data/authgate.db".into(),
                ));
            }
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let mut config = ManagerConfig::<SqliteConn>::default();
            config.custom_setup = Box::new(|url| {
                async move {
                    let mut conn =
                        <SqliteConn as diesel_async::AsyncConnection>::establish(url).await?;
                    conn.batch_execute(&sqlite_pragmas())
                        .await
                        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                    Ok(conn)
                }
                .boxed()
            });
            config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
            let manager = AsyncDieselConnectionManager::new_with_config(path, config);
            let pool = pool(manager, &options)?;
            Ok(Store::new(Pools::Sqlite(pool), url, &options))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut config = ManagerConfig::<PgConn>::default();
            config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
            let manager = AsyncDieselConnectionManager::new_with_config(url, config);
            let pool = pool(manager, &options)?;
            Ok(Store::new(Pools::Postgres(pool), url, &options))
        } else {
            Err(StoreError::InvalidUrl(
                "DATABASE_URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    /// Attaches a value of type `T` to this store (and its clones),
    /// replacing any earlier one: what code holding only a [`Conn`] of
    /// this store needs per server, such as the audit log's observers.
    pub fn set_extension<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        self.shared
            .extensions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(std::any::TypeId::of::<T>(), value);
    }

    /// This store for work off the request path (sweeps, prunes, delivery
    /// workers): its PostgreSQL units may take up to
    /// [`BACKGROUND_UNIT_TIMEOUT`], as a large table's clean-up legitimately
    /// can, rather than a request's deadline. Same pool, same outage window.
    pub fn patient(&self) -> Store {
        Store {
            unit_timeout: BACKGROUND_UNIT_TIMEOUT.max(self.unit_timeout),
            ..self.clone()
        }
    }

    fn new(pool: Pools, url: &str, options: &StoreOptions) -> Store {
        Store {
            unit_timeout: options.unit_timeout,
            pool,
            shared: Arc::new(Shared {
                url: url.to_owned(),
                listeners: std::sync::RwLock::new(Vec::new()),
                extensions: std::sync::RwLock::new(Extensions::new()),
                sqlite_writers: tokio::sync::Mutex::new(()),
                outage: outage::Outage::default(),
            }),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pools::Postgres(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The pool's size, connections in use and tasks waiting for one.
    pub fn pool_status(&self) -> PoolStatus {
        let status = match &self.pool {
            Pools::Postgres(pool) => pool.status(),
            Pools::Sqlite(pool) => pool.status(),
        };
        PoolStatus {
            size: status.size,
            in_use: status.size.saturating_sub(status.available),
            waiting: status.waiting,
        }
    }

    /// Takes a connection from the pool, and on PostgreSQL the deadline of
    /// the unit of work it is for (see `outage.rs`).
    pub(crate) async fn conn(&self) -> Result<(DbConn, Option<tokio::time::Instant>), StoreError> {
        match &self.pool {
            Pools::Postgres(pool) => {
                let deadline = self.shared.outage.admit(self.unit_timeout)?;
                match tokio::time::timeout_at(deadline, pool.get()).await {
                    Ok(Ok(conn)) => Ok((DbConn::Postgres(conn), Some(deadline))),
                    // A busy pool is load, not an outage.
                    Ok(Err(
                        e @ deadpool::managed::PoolError::Timeout(
                            deadpool::managed::TimeoutType::Wait,
                        ),
                    )) => Err(StoreError::Unavailable(e.to_string())),
                    Ok(Err(e)) => {
                        self.shared.outage.trip("no connection could be made");
                        Err(StoreError::Unavailable(e.to_string()))
                    }
                    Err(_) => Err(StoreError::Unavailable(
                        "no connection was free within the unit's time".into(),
                    )),
                }
            }
            Pools::Sqlite(pool) => pool
                .get()
                .await
                .map(|c| (DbConn::Sqlite(c), None))
                .map_err(|e| StoreError::Unavailable(e.to_string())),
        }
    }

    /// Runs a unit's work within its deadline. `None` when the deadline
    /// passed: the outage window opens, and the caller discards the
    /// connection.
    pub(crate) async fn within<T>(
        &self, deadline: Option<tokio::time::Instant>, work: impl Future<Output = T>,
    ) -> Option<T> {
        let Some(at) = deadline else {
            return Some(work.await);
        };
        match tokio::time::timeout_at(at, work).await {
            Ok(value) => Some(value),
            Err(_) => {
                self.shared
                    .outage
                    .trip("a unit of work passed its deadline");
                None
            }
        }
    }

    /// A unit that failed on a connection that is now closed or broken
    /// met an outage, whatever its error said (a server shutting down
    /// ends its sessions with an error of its own first).
    pub(crate) fn failed_on(&self, conn: &mut DbConn) -> Option<StoreError> {
        use diesel_async::pooled_connection::PoolableConnection as _;
        let DbConn::Postgres(pg) = conn else {
            return None;
        };
        if !pg.is_broken() {
            return None;
        }
        self.shared
            .outage
            .trip("a connection closed under a unit of work");
        Some(StoreError::Unavailable(
            "the connection to the database closed".into(),
        ))
    }

    /// Runs the embedded migrations of this backend. Blocking work runs on
    /// the blocking pool (diesel's harness is synchronous); on PostgreSQL an
    /// advisory lock keeps several gateways starting at once from racing.
    pub async fn migrate(&self, url: &str) -> Result<(), StoreError> {
        let url = url.to_owned();
        let backend = self.backend();
        tokio::task::spawn_blocking(move || {
            // Processes opening a new SQLite file together: switching it to
            // WAL takes a lock SQLite does not wait for (no busy handler),
            // so that step can answer "database is locked" at once. The run
            // is one transaction, so it is simply run again.
            let mut tries = 0;
            loop {
                match run_migrations(backend, &url) {
                    Err(StoreError::Other(e))
                        if backend == Backend::Sqlite && e.contains("locked") && tries < 50 =>
                    {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    done => return done,
                }
            }
        })
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))?
    }

    /// `SELECT 1` through the pool, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.autocommit(async |conn| {
            with_conn!(conn, c => {
                diesel::sql_query("SELECT 1").execute(c).await?;
            });
            Ok::<_, StoreError>(())
        })
        .await
    }
}

/// The busy timeout comes first: the journal-mode change can need a lock.
fn sqlite_pragmas() -> String {
    format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    )
}

/// `PRAGMA foreign_key_check` finds no row that breaks a foreign key.
fn foreign_keys_hold(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Broken {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table: String,
    }
    let broken: Vec<Broken> =
        diesel::RunQueryDsl::load(diesel::sql_query("PRAGMA foreign_key_check"), conn)?;
    match broken.into_iter().next() {
        None => Ok(()),
        Some(b) => Err(StoreError::Migration(format!(
            "after the migrations, rows of {} break a foreign key",
            b.table
        ))),
    }
}

fn run_migrations(backend: Backend, url: &str) -> Result<(), StoreError> {
    let migration_err =
        |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match backend {
        Backend::Sqlite => {
            let path = sqlite_path(url).unwrap_or(url);
            let mut conn = SqliteConnection::establish(path)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            diesel::connection::SimpleConnection::batch_execute(&mut conn, &sqlite_pragmas())?;
            // Foreign keys are off for the run (SQLite ignores the pragma
            // inside a transaction): a migration that rebuilds a table, as
            // SQLite's ALTER TABLE page says to, must not cascade its DROP.
            // They are checked whole before the commit instead.
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA foreign_keys = OFF;",
            )?;
            // The write lock for the whole run, so processes starting
            // together migrate once; the harness's own transactions nest
            // as savepoints.
            use diesel::connection::{AnsiTransactionManager, TransactionManager as _};
            AnsiTransactionManager::begin_transaction_sql(&mut conn, "BEGIN IMMEDIATE")?;
            let run = conn
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|_| ())
                .map_err(migration_err)
                .and_then(|()| foreign_keys_hold(&mut conn));
            match run {
                Ok(()) => AnsiTransactionManager::commit_transaction(&mut conn)?,
                Err(e) => {
                    let _ = AnsiTransactionManager::rollback_transaction(&mut conn);
                    return Err(e);
                }
            }
        }
        Backend::Postgres => {
            let mut conn = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<
                PgConn,
            >::establish(url)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            diesel::RunQueryDsl::execute(
                diesel::sql_query(format!("SELECT pg_advisory_lock({STARTUP_LOCK})")),
                &mut conn,
            )?;
            let result = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|_| ())
                .map_err(migration_err);
            diesel::RunQueryDsl::execute(
                diesel::sql_query(format!("SELECT pg_advisory_unlock({STARTUP_LOCK})")),
                &mut conn,
            )?;
            result?;
        }
    }
    Ok(())
}

/// A pool of `options.max_connections` whose waits and connects give up
/// after `options.connect_timeout`.
fn pool<M: deadpool::managed::Manager>(
    manager: M, options: &StoreOptions,
) -> Result<deadpool::managed::Pool<M>, StoreError> {
    deadpool::managed::Pool::builder(manager)
        .max_size(options.max_connections)
        .wait_timeout(Some(options.connect_timeout))
        .create_timeout(Some(options.connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}
