//! Fresh databases for tests. Every test gets a new SQLite file, and a new
//! PostgreSQL database too when `AUTHGATE_TEST_DATABASE_URL` names a server
//! (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! When `AUTHGATE_TEST_PG_MARKER` names a file, each PostgreSQL database
//! handed out appends a line to it, so CI can prove the PostgreSQL pass ran.
//!
//! Test-only (the `testing` feature): a database that cannot be made fails
//! the test at once.
#![allow(clippy::panic)]

use std::io::Write as _;
use std::path::PathBuf;

use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::{Backend, PgConn, Store, StoreOptions};

pub const TEST_DATABASE_URL_VAR: &str = "AUTHGATE_TEST_DATABASE_URL";
pub const PG_MARKER_VAR: &str = "AUTHGATE_TEST_PG_MARKER";

/// A database that exists for one test and is removed when dropped.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl TestDb {
    /// Opens (and migrates) a pool on this database.
    pub async fn store(&self) -> Store {
        Store::open(
            &self.url,
            StoreOptions {
                max_connections: 4,
                // Tests load two cores with many gateways: a slow unit
                // there is not an outage (the fault tests set their own).
                unit_timeout: std::time::Duration::from_secs(60),
                ..StoreOptions::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("opening test database {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                let admin_url = admin_url.clone();
                let name = name.clone();
                // Drop runs inside the test's runtime; use a thread of our own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            if let Ok(mut conn) = PgConn::establish(&admin_url).await {
                                let _ = diesel::sql_query(format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .execute(&mut conn)
                                .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

fn unique_name() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

/// A fresh SQLite database in its own temporary directory.
pub fn sqlite() -> TestDb {
    let dir = std::env::temp_dir().join(format!("authgate-test-{}", unique_name()));
    let url = format!("sqlite://{}", dir.join("authgate.db").display());
    TestDb {
        backend: Backend::Sqlite,
        url,
        cleanup: Cleanup::Dir(dir),
    }
}

/// A fresh PostgreSQL database on the server named by `admin_url`.
pub async fn postgres(admin_url: &str) -> TestDb {
    let name = format!("authgate_t_{}", unique_name());
    let mut conn = PgConn::establish(admin_url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {TEST_DATABASE_URL_VAR}: {e}"));
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    if let Ok(marker) = std::env::var(PG_MARKER_VAR)
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(marker)
    {
        let _ = writeln!(file, "{name}");
    }
    TestDb {
        backend: Backend::Postgres,
        url: replace_database(admin_url, &name),
        cleanup: Cleanup::PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
        },
    }
}

/// `postgres://u@h:p/db?x` with `db` replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_and_path = &base[scheme_end..];
    let authority = authority_and_path
        .split_once('/')
        .map(|(a, _)| a)
        .unwrap_or(authority_and_path);
    let mut out = format!("{}{}/{}", &base[..scheme_end], authority, name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The databases a test should run on: SQLite always, PostgreSQL when
/// `AUTHGATE_TEST_DATABASE_URL` is set.
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite()];
    if let Ok(url) = std::env::var(TEST_DATABASE_URL_VAR)
        && !url.is_empty()
    {
        dbs.push(postgres(&url).await);
    }
    dbs
}

/// What a criterion benchmark runs on: a runtime of one worker thread (the
/// server's share of a small machine) and the databases of [`databases`].
pub fn bench_databases() -> (tokio::runtime::Runtime, Vec<TestDb>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a runtime for the benchmark: {e}"));
    let dbs = rt.block_on(databases());
    (rt, dbs)
}

/// Runs `test` once per database of [`databases`] (SQLite, and PostgreSQL
/// when `AUTHGATE_TEST_DATABASE_URL` is set), each time with a store opened
/// (and migrated) on a fresh database, and the backend it runs on.
pub async fn each_store(test: impl AsyncFn(&Store, Backend)) {
    for db in databases().await {
        let store = db.store().await;
        test(&store, db.backend).await;
    }
}

/// A fresh PostgreSQL database for a test that only PostgreSQL can run, or
/// `None` (with a line saying so) when `AUTHGATE_TEST_DATABASE_URL` is not
/// set. When it is set, a server that cannot be reached fails the test:
/// the test never passes having run nothing.
pub async fn postgres_only(test: &str) -> Option<TestDb> {
    match std::env::var(TEST_DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(postgres(&url).await),
        _ => {
            eprintln!("{test}: skipped, it needs PostgreSQL ({TEST_DATABASE_URL_VAR} is not set)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_the_database_name_and_keeps_the_query() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "t3"), "postgres://h/t3");
    }
}
