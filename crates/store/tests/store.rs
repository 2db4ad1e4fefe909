//! The store on each backend: migrations, error classification, write
//! transactions, SQLite concurrency and schema invariants.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_store::schema::projects;
use authgate_store::{Backend, Store, StoreError, StoreOptions, testing, with_conn, write_tx};

async fn insert_project(store: &Store, id: &str) -> Result<(), StoreError> {
    let mut conn = store.conn().await?;
    with_conn!(&mut conn, c => {
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

async fn count_projects(store: &Store) -> i64 {
    let mut conn = store.conn().await.expect("conn");
    with_conn!(&mut conn, c => {
        projects::table.count().get_result::<i64>(c).await.expect("count")
    })
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
    for db in testing::databases().await {
        let store = db.store().await;
        insert_project(&store, "prj_1").await.expect("first insert");
        let err = insert_project(&store, "prj_1")
            .await
            .expect_err("duplicate");
        assert!(err.is_unique_violation(), "{:?}: {err:?}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_transaction_writes_nothing() {
    for db in testing::databases().await {
        let store = db.store().await;
        let mut conn = store.conn().await.expect("conn");
        let result: Result<(), StoreError> = write_tx!(&mut conn, c => {
            diesel::insert_into(projects::table)
                .values((
                    projects::id.eq("prj_tx"),
                    projects::name.eq("p"),
                    projects::environment.eq("live"),
                    projects::created_at.eq(0i64),
                ))
                .execute(c)
                .await?;
            Err(StoreError::Other("refused after the insert".into()))
        });
        assert!(result.is_err());
        drop(conn);
        assert_eq!(count_projects(&store).await, 0, "{:?}", db.backend);
    }
}

/// Many writers that read then write: none fails with "database is locked"
/// on SQLite, and no update is lost on either backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_read_then_write_transactions_all_commit() {
    for db in testing::databases().await {
        let store = db.store().await;
        insert_project(&store, "prj_counter").await.expect("seed");
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let store = store.clone();
            let postgres = db.backend == Backend::Postgres;
            tasks.push(tokio::spawn(async move {
                let mut conn = store.conn().await.expect("conn");
                let r: Result<(), StoreError> = write_tx!(&mut conn, c => {
                    // PostgreSQL transactions are READ COMMITTED: a read that
                    // a write depends on must lock its row. SQLite's BEGIN
                    // IMMEDIATE already serialises writers.
                    if postgres {
                        diesel::sql_query("SELECT id FROM projects WHERE id = 'prj_counter' FOR UPDATE")
                            .execute(c)
                            .await?;
                    }
                    let n: i64 = projects::table
                        .filter(projects::id.eq("prj_counter"))
                        .select(projects::created_at)
                        .first(c)
                        .await?;
                    diesel::update(projects::table.filter(projects::id.eq("prj_counter")))
                        .set(projects::created_at.eq(n + 1))
                        .execute(c)
                        .await?;
                    Ok(())
                });
                r
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("no 'database is locked'");
        }
        let mut conn = store.conn().await.expect("conn");
        let n: i64 = with_conn!(&mut conn, c => {
            projects::table
                .filter(projects::id.eq("prj_counter"))
                .select(projects::created_at)
                .first(c)
                .await
                .expect("read")
        });
        assert_eq!(n, 16, "no lost update on {:?}", db.backend);
    }
}

#[derive(QueryableByName)]
struct FkRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    on_delete: String,
}

/// Every `project_id` column references `projects` with ON DELETE CASCADE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_project_id_column_cascades_from_projects() {
    for db in testing::databases().await {
        let store = db.store().await;
        let mut conn = store.conn().await.expect("conn");
        let tables = [
            "api_keys",
            "auth_providers",
            "callback_urls",
            "audit_events",
            "email_templates",
            "email_outbox",
        ];
        let rows: Vec<FkRow> = match db.backend {
            Backend::Postgres => with_conn!(&mut conn, c => {
                diesel::sql_query(
                    "SELECT tc.table_name::text AS table_name, rc.delete_rule::text AS on_delete \
                     FROM information_schema.table_constraints tc \
                     JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name \
                     JOIN information_schema.referential_constraints rc ON rc.constraint_name = tc.constraint_name \
                     WHERE tc.constraint_type = 'FOREIGN KEY' AND kcu.column_name = 'project_id'",
                )
                .load(c)
                .await
                .expect("query")
            }),
            Backend::Sqlite => {
                let mut all = Vec::new();
                for t in tables {
                    let mut rows: Vec<FkRow> = with_conn!(&mut conn, c => {
                        diesel::sql_query(format!(
                            "SELECT '{t}' AS table_name, on_delete FROM pragma_foreign_key_list('{t}') WHERE \"from\" = 'project_id'"
                        ))
                        .load(c)
                        .await
                        .expect("query")
                    });
                    all.append(&mut rows);
                }
                all
            }
        };
        for t in tables {
            let row = rows
                .iter()
                .find(|r| r.table_name == t)
                .unwrap_or_else(|| panic!("{t} has no project_id foreign key"));
            assert_eq!(
                row.on_delete.to_uppercase(),
                "CASCADE",
                "{t} on {:?}",
                db.backend
            );
        }
    }
}
