//! The store on each backend: migrations, error classification, write
//! transactions, SQLite concurrency and schema invariants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_store::schema::projects;
use authgate_store::{Backend, Conn, Store, StoreError, StoreOptions, testing, with_conn};

async fn insert(conn: &mut Conn<'_>, id: &str) -> Result<(), StoreError> {
    with_conn!(conn, c => {
        diesel::insert_into(projects::table)
            .values((
                projects::id.eq(id),
                projects::name.eq("p"),
                projects::environment.eq("live"),
                projects::created_at.eq(0i64),
            ))
            .execute(c)
            .await?;
    });
    Ok(())
}

async fn insert_project(store: &Store, id: &str) -> Result<(), StoreError> {
    store.write(async |conn| insert(conn, id).await).await
}

async fn count_projects(store: &Store) -> i64 {
    store
        .read(async |conn| {
            Ok::<_, StoreError>(with_conn!(conn, c => {
                projects::table.count().get_result::<i64>(c).await?
            }))
        })
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_the_store_answers() {
    for db in testing::databases().await {
        let store = db.store().await;
        store.ping().await.expect("ping");
        // Opening again runs no migration twice.
        let again = Store::open(&db.url, StoreOptions::default())
            .await
            .expect("reopen");
        again.ping().await.expect("ping");
        assert_eq!(store.backend(), db.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violations_are_classified_on_both_backends() {
    testing::each_store(async |store, backend| {
        insert_project(store, "prj_1").await.expect("first insert");
        let err = insert_project(store, "prj_1").await.expect_err("duplicate");
        assert!(err.is_unique_violation(), "{:?}: {err:?}", backend);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_transaction_writes_nothing() {
    testing::each_store(async |store, backend| {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hook = ran.clone();
        let result: Result<(), StoreError> = store
            .write(async |conn| {
                insert(conn, "prj_tx").await?;
                conn.after_commit(move || {
                    hook.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
                Err(StoreError::Other("refused after the insert".into()))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(count_projects(store).await, 0, "{:?}", backend);
        assert_eq!(
            std::sync::atomic::AtomicUsize::load(&ran, std::sync::atomic::Ordering::SeqCst),
            0,
            "after-commit work does not run when the work rolls back"
        );
        let hook = ran.clone();
        store
            .write(async |conn| {
                insert(conn, "prj_tx").await?;
                conn.after_commit(move || {
                    hook.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
                Ok::<_, StoreError>(())
            })
            .await
            .expect("commits");
        assert_eq!(count_projects(store).await, 1);
        assert_eq!(
            std::sync::atomic::AtomicUsize::load(&ran, std::sync::atomic::Ordering::SeqCst),
            1
        );
    })
    .await;
}

/// Siblings of a connection work in its unit: on PostgreSQL they run
/// concurrently on the one connection and see the unit's own uncommitted
/// writes; what they register runs once the unit commits, and not at all
/// when it rolls back. SQLite has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siblings_share_the_unit_of_work() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    testing::each_store(async |store, backend| {
        let ran = Arc::new(AtomicUsize::new(0));
        for commit in [false, true] {
            let hooks = ran.clone();
            let result: Result<Vec<i64>, StoreError> = store
                .write(async |conn| {
                    insert(conn, "prj_sib").await?;
                    let Some(siblings) = conn.siblings(3) else {
                        assert_eq!(backend, Backend::Sqlite);
                        return Ok(Vec::new());
                    };
                    let counts =
                        futures::future::try_join_all(siblings.into_iter().map(|mut sibling| {
                            let hooks = hooks.clone();
                            async move {
                                let n = with_conn!(&mut sibling, c => {
                                    projects::table.count().get_result::<i64>(c).await?
                                });
                                sibling.after_commit(move || {
                                    hooks.fetch_add(1, Ordering::SeqCst);
                                });
                                Ok::<_, StoreError>(n)
                            }
                        }))
                        .await?;
                    if commit {
                        Ok(counts)
                    } else {
                        Err(StoreError::Other("rolled back".into()))
                    }
                })
                .await;
            match (backend, commit) {
                (Backend::Sqlite, _) => {
                    assert_eq!(result.expect("no siblings"), Vec::<i64>::new());
                    break;
                }
                (Backend::Postgres, false) => {
                    assert!(result.is_err());
                    assert_eq!(
                        AtomicUsize::load(&ran, Ordering::SeqCst),
                        0,
                        "rolled back: no hook runs"
                    );
                    assert_eq!(count_projects(store).await, 0);
                }
                (Backend::Postgres, true) => {
                    assert_eq!(
                        result.expect("commits"),
                        vec![1, 1, 1],
                        "each sees the insert"
                    );
                    assert_eq!(
                        AtomicUsize::load(&ran, Ordering::SeqCst),
                        3,
                        "each sibling's hook ran once"
                    );
                    assert_eq!(count_projects(store).await, 1);
                }
            }
        }
    })
    .await;
}

/// Many writers that read then write: none fails with "database is locked"
/// on SQLite, and no update is lost on either backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_read_then_write_transactions_all_commit() {
    testing::each_store(async |store, backend| {
        insert_project(store, "prj_counter").await.expect("seed");
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let store = store.clone();
            let postgres = backend == Backend::Postgres;
            tasks.push(tokio::spawn(async move {
                store
                    .write(async |conn| {
                        // PostgreSQL transactions are READ COMMITTED: a read that
                        // a write depends on must lock its row. SQLite's BEGIN
                        // IMMEDIATE already serialises writers.
                        if postgres {
                            conn.lock_project("prj_counter").await?;
                        }
                        with_conn!(conn, c => {
                            let n: i64 = projects::table
                                .filter(projects::id.eq("prj_counter"))
                                .select(projects::created_at)
                                .first(c)
                                .await?;
                            diesel::update(projects::table.filter(projects::id.eq("prj_counter")))
                                .set(projects::created_at.eq(n + 1))
                                .execute(c)
                                .await?;
                        });
                        Ok::<_, StoreError>(())
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("no 'database is locked'");
        }
        let n: i64 = store
            .read(async |conn| {
                Ok::<_, StoreError>(with_conn!(conn, c => {
                    projects::table
                        .filter(projects::id.eq("prj_counter"))
                        .select(projects::created_at)
                        .first(c)
                        .await?
                }))
            })
            .await
            .expect("read");
        assert_eq!(n, 16, "no lost update on {:?}", backend);
    })
    .await;
}

#[derive(QueryableByName)]
struct FkRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    on_delete: Option<String>,
}

/// The tables with a `project_id` column, in name order. A new
/// project-scoped table is added here as well as to `src/schema.rs` and to
/// both backends' migrations: until all of them agree,
/// `every_project_id_column_cascades_from_projects` fails on purpose.
const PROJECT_TABLES: [&str; 40] = [
    "admin_links",
    "admin_sessions",
    "api_keys",
    "audit_event_targets",
    "audit_events",
    "auth_providers",
    "auth_throttle",
    "auth_tokens",
    "billing_migration_items",
    "billing_migrations",
    "callback_urls",
    "email_outbox",
    "email_templates",
    "end_users",
    "invitations",
    "mcp_codes",
    "mcp_tokens",
    "memberships",
    "mfa_factors",
    "oauth_accounts",
    "oauth_codes",
    "oauth_states",
    "organizations",
    "password_credentials",
    "plans",
    "prices",
    "rbac_resources",
    "refresh_tokens",
    "roles",
    "security_alerts",
    "security_signals",
    "sessions",
    "signing_keys",
    "sms_codes",
    "subscriptions",
    "usage_events",
    "verification_codes",
    "webhook_deliveries",
    "webhook_endpoints",
    "webhook_messages",
];

/// The tables `src/schema.rs` declares with a `project_id` column, in name
/// order.
fn schema_project_tables() -> Vec<String> {
    let mut tables = Vec::new();
    let mut current: Option<&str> = None;
    for line in include_str!("../src/schema.rs").lines() {
        let trimmed = line.trim();
        if line.starts_with("    ") && !line.starts_with("        ") && trimmed.ends_with('{') {
            current = trimmed.split_whitespace().next();
        } else if trimmed.starts_with("project_id ->")
            && let Some(table) = current
        {
            tables.push(table.to_owned());
        }
    }
    tables.sort();
    tables
}

/// Every table with a `project_id` column references `projects` with ON
/// DELETE CASCADE; the tables the database has with that column are
/// exactly [`PROJECT_TABLES`], which are exactly those `src/schema.rs`
/// declares with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_project_id_column_cascades_from_projects() {
    assert_eq!(
        schema_project_tables(),
        PROJECT_TABLES,
        "src/schema.rs and PROJECT_TABLES name the same project-scoped tables"
    );
    testing::each_store(async |store, backend| {
        let rows: Vec<FkRow> = store
            .read(async |conn| {
                let rows: Vec<FkRow> = with_conn!(conn, c => {
                    let sql = match backend {
                        Backend::Postgres => {
                            "SELECT col.table_name::text AS table_name, \
                                    (SELECT rc.delete_rule::text \
                                       FROM information_schema.key_column_usage kcu \
                                       JOIN information_schema.referential_constraints rc \
                                         ON rc.constraint_name = kcu.constraint_name \
                                      WHERE kcu.table_name = col.table_name \
                                        AND kcu.column_name = 'project_id' LIMIT 1) AS on_delete \
                             FROM information_schema.columns col \
                             WHERE col.table_schema = 'public' AND col.column_name = 'project_id'"
                        }
                        Backend::Sqlite => {
                            "SELECT m.name AS table_name, \
                                    (SELECT fk.on_delete FROM pragma_foreign_key_list(m.name) fk \
                                      WHERE fk.\"from\" = 'project_id' AND fk.\"table\" = 'projects') AS on_delete \
                             FROM sqlite_master m \
                             WHERE m.type = 'table' \
                               AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) t WHERE t.name = 'project_id')"
                        }
                    };
                    diesel::sql_query(sql).load(c).await?
                });
                Ok::<_, StoreError>(rows)
            })
            .await
            .expect("schema query");
        let mut tables: Vec<&str> = rows.iter().map(|r| r.table_name.as_str()).collect();
        tables.sort_unstable();
        assert_eq!(
            tables, PROJECT_TABLES,
            "{backend:?}: the tables with a project_id column"
        );
        for row in rows {
            assert_eq!(
                row.on_delete.as_deref().map(str::to_uppercase).as_deref(),
                Some("CASCADE"),
                "{} on {backend:?}",
                row.table_name
            );
        }
    })
    .await;
}

/// A read unit of work sees one snapshot: a write committed meanwhile is
/// not visible inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_unit_of_work_sees_one_snapshot() {
    testing::each_store(async |store, backend| {
        insert_project(store, "prj_a").await.expect("seed");
        let writer = store.clone();
        let (first, second) = store
            .read(async |conn| {
                let count = async |conn: &mut Conn<'_>| -> Result<i64, StoreError> {
                    Ok(with_conn!(conn, c => {
                        projects::table.count().get_result::<i64>(c).await?
                    }))
                };
                let first = count(conn).await?;
                insert_project(&writer, "prj_b").await?;
                let second = count(conn).await?;
                Ok::<_, StoreError>((first, second))
            })
            .await
            .expect("read");
        assert_eq!((first, second), (1, 1), "{:?}", backend);
        assert_eq!(count_projects(store).await, 2);
    })
    .await;
}

/// On PostgreSQL a read unit sends its BEGIN pipelined with its first
/// statements: the very first statement already runs in the unit's
/// read-only REPEATABLE READ transaction, and a unit dropped half-way (its
/// future cancelled) leaves no transaction open on the connection the pool
/// hands out next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_units_first_statement_runs_in_its_transaction() {
    use diesel::sql_types::{Bool, Text};
    let setting = async |conn: &mut Conn<'_>| -> Result<String, StoreError> {
        Ok(with_conn!(conn, c => {
            diesel::select(diesel::dsl::sql::<Text>(
                "current_setting('transaction_isolation') || ' ' || current_setting('transaction_read_only')",
            ))
            .get_result::<String>(c)
            .await?
        }))
    };
    let Some(db) =
        testing::postgres_only("a_read_units_first_statement_runs_in_its_transaction").await
    else {
        return;
    };
    // One connection, so the next unit reuses or replaces it.
    let store = Store::open(
        &db.url,
        StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        },
    )
    .await
    .expect("open");
    let first = store.read(async |conn| setting(conn).await).await;
    assert_eq!(first.expect("read"), "repeatable read on");
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        store.read(async |conn| {
            Ok::<_, StoreError>(with_conn!(conn, c => {
                diesel::select(diesel::dsl::sql::<Bool>("pg_sleep(2) IS NOT NULL"))
                    .get_result::<bool>(c)
                    .await?
            }))
        }),
    )
    .await;
    assert!(cancelled.is_err(), "the slow read was cancelled");
    let next = store.autocommit(async |conn| setting(conn).await).await;
    assert_eq!(
        next.expect("autocommit"),
        "read committed off",
        "the next unit is not inside the cancelled one's transaction"
    );
}

#[derive(QueryableByName)]
struct CompileOption {
    #[diesel(sql_type = diesel::sql_types::Text)]
    compile_options: String,
}

/// The bundled SQLite keeps one plan per statement (QPSG), so cached
/// statements are not re-prepared when their bound values change (STAT4
/// would otherwise do that on every step).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_its_cached_statements() {
    let db = testing::sqlite();
    let store = db.store().await;
    let options: Vec<String> = store
        .read(async |conn| {
            let rows: Vec<CompileOption> = with_conn!(conn, c => {
                diesel::sql_query("PRAGMA compile_options").load(c).await?
            });
            Ok::<_, StoreError>(rows.into_iter().map(|r| r.compile_options).collect())
        })
        .await
        .expect("options");
    assert!(options.iter().any(|o| o == "ENABLE_QPSG"), "{options:?}");
}

/// A pool that stays exhausted past its wait is `Unavailable` (the tools
/// and the REST API answer it as 503 `unavailable` with Retry-After), not
/// an internal error, and the store answers again once a connection frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_unavailable_then_recovers() {
    for db in testing::databases().await {
        db.store().await; // migrated
        let store = Store::open(
            &db.url,
            StoreOptions {
                max_connections: 1,
                connect_timeout: std::time::Duration::from_millis(200),
                ..StoreOptions::default()
            },
        )
        .await
        .expect("a pool of one");
        let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .read(async |_conn| {
                        let _ = held_tx.send(());
                        let _ = release_rx.await;
                        Ok::<_, StoreError>(())
                    })
                    .await
            })
        };
        held_rx.await.expect("the connection is held");
        let waited = store.ping().await;
        assert!(
            matches!(waited, Err(StoreError::Unavailable(_))),
            "{:?}: {waited:?}",
            db.backend
        );
        release_tx.send(()).expect("release");
        holder.await.expect("holder").expect("its unit");
        store.ping().await.expect("answers again");
    }
}

/// The phone sign-in migration rebuilds SQLite's `end_users` (email becomes
/// optional): a database with users, sessions and linked accounts keeps
/// every row, and the other tables' foreign keys point at the new table
/// (deleting a user still removes its sessions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_end_users_keeps_every_row_and_every_foreign_key() {
    use diesel::connection::SimpleConnection as _;
    use diesel_migrations::MigrationHarness as _;
    let Some(db) = testing::databases()
        .await
        .into_iter()
        .find(|d| d.backend == Backend::Sqlite)
    else {
        panic!("SQLite is always under test");
    };
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir).expect("the test database's folder");
    }
    {
        let mut conn = diesel::SqliteConnection::establish(&path).expect("open");
        let pending = conn
            .pending_migrations(authgate_store::SQLITE_MIGRATIONS)
            .expect("pending");
        for m in pending {
            if m.name().to_string().starts_with("2026-12-07-000015") {
                break;
            }
            conn.run_migration(&m).expect("an earlier migration");
        }
        conn.batch_execute(
            "PRAGMA foreign_keys = ON;
             INSERT INTO projects (id, name, environment, created_at) VALUES ('p1', 'p', 'live', 0);
             INSERT INTO end_users (id, project_id, email, name, email_verified, metadata,
                                    created_at, updated_at)
                 VALUES ('u1', 'p1', 'ada@example.com', 'Ada', 1, '{}', 1, 2);
             INSERT INTO sessions (id, project_id, user_id, created_at, last_active_at, expires_at)
                 VALUES ('s1', 'p1', 'u1', 0, 0, 9);
             INSERT INTO oauth_accounts (id, project_id, user_id, provider, provider_user_id, created_at)
                 VALUES ('o1', 'p1', 'u1', 'github', '42', 0);",
        )
        .expect("rows before the rebuild");
    }
    let store = db.store().await;
    let count = async |sql: &'static str| -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        store
            .read(async |c| {
                Ok::<_, StoreError>(with_conn!(c, c => {
                    diesel::sql_query(sql).get_result::<N>(c).await?.n
                }))
            })
            .await
            .expect("count")
    };
    assert_eq!(count("SELECT COUNT(*) AS n FROM sessions").await, 1);
    assert_eq!(count("SELECT COUNT(*) AS n FROM oauth_accounts").await, 1);
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM end_users WHERE email = 'ada@example.com' \
             AND name = 'Ada' AND email_verified AND phone IS NULL AND NOT phone_verified"
        )
        .await,
        1
    );
    store
        .write(async |c| {
            with_conn!(c, c => {
                diesel::sql_query("DELETE FROM end_users WHERE id = 'u1'").execute(c).await?;
            });
            Ok::<_, StoreError>(())
        })
        .await
        .expect("delete");
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM sessions").await,
        0,
        "the cascade still works"
    );
    assert_eq!(count("SELECT COUNT(*) AS n FROM oauth_accounts").await, 0);
}

/// A PostgreSQL unit that outlives its deadline (a server that stopped
/// answering) is `Unavailable` at the deadline, not when the server
/// answers; units fail at once for the next second, then run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_past_its_deadline_is_unavailable_then_the_database_is_tried_again() {
    for db in testing::databases().await {
        if db.backend != Backend::Postgres {
            continue;
        }
        db.store().await; // migrated
        let store = Store::open(
            &db.url,
            StoreOptions {
                max_connections: 2,
                unit_timeout: std::time::Duration::from_millis(300),
                ..StoreOptions::default()
            },
        )
        .await
        .expect("a pool");
        let started = std::time::Instant::now();
        let slow = store
            .read(async |conn| {
                with_conn!(conn, c => {
                    diesel::sql_query("SELECT pg_sleep(3)").execute(c).await?;
                });
                Ok::<_, StoreError>(())
            })
            .await;
        let took = started.elapsed();
        assert!(matches!(slow, Err(StoreError::Unavailable(_))), "{slow:?}");
        assert!(
            took < std::time::Duration::from_secs(2),
            "abandoned at its deadline: {took:?}"
        );
        let at_once = std::time::Instant::now();
        let refused = store.ping().await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(
            at_once.elapsed() < std::time::Duration::from_millis(100),
            "without waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        store.ping().await.expect("tried again after the window");
        assert_eq!(
            store.pool_status().in_use,
            0,
            "the abandoned connection is not held"
        );
    }
}
