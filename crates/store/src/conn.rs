//! Units of work. Every query runs on a [`Conn`] that a unit of work hands
//! out: [`Store::read`] (one consistent snapshot), [`Store::write`] (a write
//! transaction) or [`Store::autocommit`] (each statement on its own). A
//! domain function takes `&mut Conn<'_>` and never knows which it is in, so
//! callers compose several domains in one transaction.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use diesel_async::{
    AnsiTransactionManager, AsyncConnection, RunQueryDsl as _, SimpleAsyncConnection as _,
    TransactionManager as _,
};

use crate::{Backend, DbConn, PgConn, Shared, SqliteConn, Store, StoreError};

/// The backend connection behind a [`Conn`]; matched by [`with_conn!`].
///
/// PostgreSQL is held by shared reference: diesel-async runs statements on
/// `&AsyncPgConnection`, and statements of futures polled together are
/// pipelined (see [`Conn::siblings`]). SQLite runs one statement at a time.
pub enum ConnRef<'a> {
    Postgres(&'a PgConn),
    Sqlite(&'a mut SqliteConn),
}

/// Work to do once the unit of work has committed (wake a worker, evict a
/// cache entry): never before, so nobody acts on data that may roll back.
pub type AfterCommit = Box<dyn FnOnce() + Send>;

/// The work a unit of work runs after it commits, collected from its
/// connection and the connection's siblings.
type Hooks = Mutex<Vec<AfterCommit>>;

/// A connection inside a unit of work.
pub struct Conn<'a> {
    inner: ConnRef<'a>,
    after_commit: &'a Hooks,
    pub(crate) shared: Arc<Shared>,
}

impl<'a> Conn<'a> {
    fn new(inner: ConnRef<'a>, shared: &Arc<Shared>, after_commit: &'a Hooks) -> Self {
        Self {
            inner,
            after_commit,
            shared: shared.clone(),
        }
    }

    /// `n` connections in this one's unit of work (the same transaction
    /// and snapshot) whose work may be polled concurrently, for reads that
    /// do not depend on each other. On PostgreSQL their statements are
    /// pipelined on the one connection: sent without waiting for the
    /// answers before them, so `n` independent reads cost about one round
    /// trip instead of `n`. `None` on SQLite, whose connection runs one
    /// statement at a time (and answers in microseconds): run the work in
    /// sequence on `self` instead. What a sibling registers with
    /// [`Conn::after_commit`] runs when the unit commits.
    pub fn siblings(&mut self, n: usize) -> Option<Vec<Conn<'_>>> {
        let ConnRef::Postgres(pg) = self.inner else {
            return None;
        };
        Some(
            (0..n)
                .map(|_| Conn::new(ConnRef::Postgres(pg), &self.shared, self.after_commit))
                .collect(),
        )
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            ConnRef::Postgres(_) => Backend::Postgres,
            ConnRef::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The value of type `T` attached to the store with
    /// [`Store::set_extension`](crate::Store::set_extension), if any.
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let map = self
            .shared
            .extensions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&std::any::TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// Runs `f` after the unit of work commits; dropped if it rolls back.
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.after_commit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(f));
    }

    /// For [`with_conn!`].
    #[doc(hidden)]
    pub fn backend_mut(&mut self) -> &mut ConnRef<'a> {
        &mut self.inner
    }

    /// Serialises a project's read-then-write work. SQLite's `BEGIN
    /// IMMEDIATE` already holds the database's one write lock; PostgreSQL's
    /// READ COMMITTED needs the project row locked before the reads a write
    /// depends on. `FOR NO KEY UPDATE`, not `FOR UPDATE`: a row inserted
    /// earlier in the transaction that references the project holds `FOR
    /// KEY SHARE` on it, which `FOR UPDATE` waits for, so two such
    /// transactions deadlocked (two signers rotating a key); lockers still
    /// queue behind one another.
    pub async fn lock_project(&mut self, project_id: &str) -> Result<(), StoreError> {
        use diesel::{ExpressionMethods as _, QueryDsl as _};
        if let ConnRef::Postgres(c) = &mut self.inner {
            crate::schema::projects::table
                .filter(crate::schema::projects::id.eq(project_id))
                .select(crate::schema::projects::id)
                .for_no_key_update()
                .load::<String>(c)
                .await?;
        }
        Ok(())
    }

    /// Takes, for the rest of this transaction, the lock that migrations
    /// run under: start-up work (the first project) cannot race another
    /// gateway starting on the same PostgreSQL.
    pub async fn lock_startup(&mut self) -> Result<(), StoreError> {
        if let ConnRef::Postgres(c) = &mut self.inner {
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({})",
                crate::STARTUP_LOCK
            ))
            .execute(c)
            .await?;
        }
        Ok(())
    }
}

/// An async closure over a [`Conn`] whose future is `Send`.
///
/// `AsyncFnOnce` alone cannot say that its future is `Send` on stable
/// Rust; naming the future through `FnOnce` can (diesel-async's own
/// transaction API bounds its closures the same way).
pub trait UnitOfWork<T, R>:
    AsyncFnOnce(T) -> R + FnOnce(T) -> <Self as UnitOfWork<T, R>>::Fut
{
    type Fut: Future<Output = R> + Send;
}

impl<F, T, Fut, R> UnitOfWork<T, R> for F
where
    F: AsyncFnOnce(T) -> R + FnOnce(T) -> Fut,
    Fut: Future<Output = R> + Send,
{
    type Fut = Fut;
}

/// What [`Store::read`], [`Store::write`] and [`Store::autocommit`] run:
/// an async closure over the unit's connection whose future is `Send`.
pub trait Work<R, E>:
    for<'r, 'c> AsyncFnOnce(&'r mut Conn<'c>) -> Result<R, E>
    + for<'r, 'c> UnitOfWork<&'r mut Conn<'c>, Result<R, E>>
    + Send
{
}

impl<R, E, F> Work<R, E> for F where
    F: for<'r, 'c> AsyncFnOnce(&'r mut Conn<'c>) -> Result<R, E>
        + for<'r, 'c> UnitOfWork<&'r mut Conn<'c>, Result<R, E>>
        + Send
{
}

#[derive(Clone, Copy)]
enum Mode {
    Read,
    Write,
}

fn run_hooks(hooks: Hooks) {
    for hook in hooks.into_inner().unwrap_or_else(PoisonError::into_inner) {
        hook();
    }
}

impl Store {
    /// Runs `f` in a read-only transaction: one consistent snapshot
    /// (PostgreSQL `REPEATABLE READ READ ONLY`; SQLite's deferred `BEGIN`,
    /// which in WAL mode reads one snapshot and never waits for a writer).
    pub async fn read<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: Work<R, E>,
        E: From<StoreError> + From<diesel::result::Error> + Send,
        R: Send,
    {
        self.transaction(Mode::Read, f).await
    }

    /// Runs `f` in a write transaction (`BEGIN` on PostgreSQL, `BEGIN
    /// IMMEDIATE` on SQLite) and commits when it returns `Ok`; an `Err`
    /// rolls everything back.
    pub async fn write<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: Work<R, E>,
        E: From<StoreError> + From<diesel::result::Error> + Send,
        R: Send,
    {
        self.transaction(Mode::Write, f).await
    }

    /// Runs `f` without a transaction: each statement commits on its own.
    /// For single statements, where `BEGIN`/`COMMIT` would only add round
    /// trips.
    pub async fn autocommit<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: Work<R, E>,
        E: From<StoreError> + From<diesel::result::Error> + Send,
        R: Send,
    {
        let (mut pooled, deadline) = self.conn().await?;
        let sqlite = matches!(pooled, DbConn::Sqlite(_));
        let hooks = Hooks::default();
        let work = async {
            let mut conn = Conn::new(ConnRef::from(&mut pooled), &self.shared, &hooks);
            f(&mut conn).await
        };
        // Single statements may write: they wait for the lock like a write unit.
        let outcome = self.within(deadline, run(sqlite, true, work)).await;
        let value = self.settle(pooled, outcome)?;
        run_hooks(hooks);
        Ok(value)
    }

    async fn transaction<R, E, F>(&self, mode: Mode, f: F) -> Result<R, E>
    where
        F: Work<R, E>,
        E: From<StoreError> + From<diesel::result::Error> + Send,
        R: Send,
    {
        // SQLite writers queue in order, before they hold a connection.
        let _queued = match (mode, &self.pool) {
            (Mode::Write, crate::Pools::Sqlite(_)) if !IN_SQLITE_UNIT.get() => {
                Some(self.shared.sqlite_writers.lock().await)
            }
            _ => None,
        };
        let (mut pooled, deadline) = self.conn().await?;
        let sqlite = matches!(pooled, DbConn::Sqlite(_));
        let hooks = Hooks::default();
        let work = async {
            let result = match &mut pooled {
                DbConn::Postgres(pg) => {
                    let pg = begin_pipelined(pg)?;
                    let mut conn = Conn::new(ConnRef::Postgres(pg), &self.shared, &hooks);
                    let mut on = pg;
                    match mode {
                        // A read does not wait for its BEGIN: `join` polls it
                        // first, so it is sent first, and the work's
                        // statements follow it at once. If it fails, the
                        // work was not in the unit's snapshot: its result is
                        // dropped.
                        Mode::Read => {
                            let (began, result) =
                                futures::future::join(on.batch_execute(READ_BEGIN), f(&mut conn))
                                    .await;
                            began.map_err(E::from).and(result)
                        }
                        // A write waits for its BEGIN: no write may run
                        // outside its transaction.
                        Mode::Write => match on.batch_execute("BEGIN").await {
                            Ok(()) => f(&mut conn).await,
                            Err(err) => Err(E::from(err)),
                        },
                    }
                }
                DbConn::Sqlite(lite) => {
                    begin_sqlite(lite, mode).await?;
                    let mut conn = Conn::new(ConnRef::Sqlite(lite), &self.shared, &hooks);
                    f(&mut conn).await
                }
            };
            match result {
                Ok(value) => {
                    finish(&mut pooled, true).await?;
                    Ok(value)
                }
                Err(err) => {
                    // A failed rollback leaves the transaction open; the pool
                    // then sees a broken connection and discards it.
                    if let Err(rollback) = finish(&mut pooled, false).await {
                        tracing::warn!(error = %rollback, "rollback failed");
                    }
                    Err(err)
                }
            }
        };
        let blocking = matches!(mode, Mode::Write);
        let outcome = self.within(deadline, run(sqlite, blocking, work)).await;
        let value = self.settle(pooled, outcome)?;
        run_hooks(hooks);
        Ok(value)
    }

    /// A unit's result once its work ended: a unit past its deadline
    /// gives its connection up (the server may answer it whenever it
    /// wakes), and one that failed on a connection that died met the
    /// outage, whatever its own error said.
    fn settle<R, E>(&self, mut pooled: DbConn, outcome: Option<Result<R, E>>) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        let Some(result) = outcome else {
            if let DbConn::Postgres(pg) = pooled {
                drop(deadpool::managed::Object::take(pg));
            }
            return Err(E::from(StoreError::Unavailable(
                "the database did not answer within the unit's time".into(),
            )));
        };
        match result {
            Err(err) => Err(self.failed_on(&mut pooled).map_or(err, E::from)),
            ok => ok,
        }
    }
}

impl<'a> From<&'a mut DbConn> for ConnRef<'a> {
    fn from(pooled: &'a mut DbConn) -> Self {
        match pooled {
            DbConn::Postgres(p) => ConnRef::Postgres(p),
            DbConn::Sqlite(p) => ConnRef::Sqlite(p),
        }
    }
}

thread_local! {
    /// Set while this thread runs a SQLite unit of work.
    static IN_SQLITE_UNIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a unit of work. On SQLite every statement runs inline (see
/// [`crate::Inline`]). A write unit may wait for the database's one write
/// lock (up to the busy timeout), so it runs in one blocking section
/// (`block_in_place`) for all its statements, never blocking the async
/// workers. A read unit in WAL mode never waits for a writer and takes
/// microseconds, so it runs where it is: a thread hand-off would cost more
/// than the reads (the profile in docs/benchmarks.md). A unit opened inside
/// another, or on a current-thread runtime, runs where it is.
async fn run<T>(sqlite: bool, blocking: bool, work: impl Future<Output = T> + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if !sqlite || !blocking || IN_SQLITE_UNIT.get() {
        return work.await;
    }
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            struct Unset;
            impl Drop for Unset {
                fn drop(&mut self) {
                    IN_SQLITE_UNIT.set(false);
                }
            }
            tokio::task::block_in_place(|| {
                IN_SQLITE_UNIT.set(true);
                let _unset = Unset;
                handle.block_on(work)
            })
        }
        _ => work.await,
    }
}

/// A read unit's snapshot on PostgreSQL.
const READ_BEGIN: &str = "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Records a transaction as open on a PostgreSQL connection whose `BEGIN`
/// the caller sends next (a read pipelines it with its first statements).
/// Until `finish` closes it the connection counts as in a transaction, so
/// one dropped half-way (its future cancelled), or whose `BEGIN` failed and
/// whose rollback failed too, is discarded by the pool rather than reused.
/// A failed `BEGIN` goes through the unit's rollback like any error
/// (PostgreSQL only warns that no transaction is open).
fn begin_pipelined(pg: &mut PgConn) -> diesel::QueryResult<&PgConn> {
    use diesel::connection::TransactionDepthChange;
    let state = AnsiTransactionManager::transaction_manager_status_mut(pg).transaction_state()?;
    if state.transaction_depth().is_some() {
        return Err(diesel::result::Error::AlreadyInTransaction);
    }
    state.change_transaction_depth(TransactionDepthChange::IncreaseDepth)?;
    Ok(pg)
}

// Transactions are driven through the transaction managers directly
// rather than diesel-async's closure API: nesting its higher-ranked
// closures inside ours defeats rustc's proof that the future is `Send`.
async fn begin_sqlite(conn: &mut SqliteConn, mode: Mode) -> diesel::QueryResult<()> {
    let sql = match mode {
        Mode::Read => "BEGIN",
        // A deferred read-then-write transaction fails with "database is
        // locked" under concurrency; IMMEDIATE takes the write lock up front.
        Mode::Write => "BEGIN IMMEDIATE",
    };
    conn.spawn_blocking(move |inner| {
        diesel::connection::AnsiTransactionManager::begin_transaction_sql(inner, sql)
    })
    .await
}

async fn finish(conn: &mut DbConn, commit: bool) -> diesel::QueryResult<()> {
    match (conn, commit) {
        (DbConn::Postgres(c), true) => {
            <PgConn as AsyncConnection>::TransactionManager::commit_transaction(&mut **c).await
        }
        (DbConn::Postgres(c), false) => {
            <PgConn as AsyncConnection>::TransactionManager::rollback_transaction(&mut **c).await
        }
        (DbConn::Sqlite(c), true) => {
            <SqliteConn as AsyncConnection>::TransactionManager::commit_transaction(&mut **c).await
        }
        (DbConn::Sqlite(c), false) => {
            <SqliteConn as AsyncConnection>::TransactionManager::rollback_transaction(&mut **c)
                .await
        }
    }
}

/// Runs a block once against whichever backend the connection is, with the
/// connection bound to `$c` as `&mut &PgConn` or `&mut SqliteConn` (both
/// run diesel-async's `RunQueryDsl`). `$conn` is a `&mut Conn`.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:block) => {
        match $crate::Conn::backend_mut($conn) {
            $crate::ConnRef::Postgres(pg) => {
                let $c: &mut &$crate::PgConn = pg;
                $body
            }
            $crate::ConnRef::Sqlite(lite) => {
                let $c: &mut $crate::SqliteConn = &mut **lite;
                $body
            }
        }
    };
}

/// Inserts `$row` into `$table` unless a unique key already holds such a
/// row, and says whether it did: `true` when inserted. "Create unless
/// taken" is one statement this way, with no race between a read and the
/// insert; the caller answers `false` with its own conflict error.
#[macro_export]
macro_rules! insert_new {
    ($conn:expr, $table:expr, $row:expr) => {
        $crate::with_conn!($conn, c => {
            ::diesel_async::RunQueryDsl::execute(
                ::diesel::insert_into($table).values($row).on_conflict_do_nothing(),
                c,
            )
            .await?
        }) == 1
    };
}
