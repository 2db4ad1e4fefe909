//! The project domain API on each backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use authgate_core::pagination::{CursorCodec, PageRequest};
use authgate_core::{ErrorCode, Scope, ToolError};
use authgate_project::{
    self as project_api, AuthFailure, CreatedApiKey, Issuer, KeyRequest, KeySettings, NewApiKey,
    Project, ProviderChange,
};
use authgate_store::schema::{api_keys, projects};
use authgate_store::{Store, StoreOptions, testing, with_conn};

const KEY: [u8; 32] = [9; 32];

async fn project(store: &Store, name: &str, env: &str) -> (Project, CreatedApiKey) {
    store
        .write(async |c| project_api::create_project(c, name, env, Utc::now()).await)
        .await
        .expect("project")
}

async fn authenticate(store: &Store, key: &str) -> Result<authgate_core::Caller, AuthFailure> {
    store
        .read(async |c| project_api::authenticate_key(c, key).await)
        .await
        .expect("db")
}

fn page(list: &'static str, project: &str, limit: u32, cursor: Option<&str>) -> PageRequest {
    PageRequest::new(CursorCodec::new(KEY), list, project, Some(limit), cursor).expect("page")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_authenticate_until_revoked_and_authentication_writes_nothing() {
    testing::each_store(async |store, _| {
        let (project, admin) = project(store, "P", "test").await;
        assert!(admin.key.starts_with("ag_test_"));
        // A read-only unit of work: authentication writes nothing (on
        // PostgreSQL a write here would fail the read-only transaction).
        let caller = authenticate(store, &admin.key).await.expect("valid");
        assert_eq!(caller.project.id, project.id);
        assert_eq!(caller.project.name, "P");
        assert_eq!(caller.scopes, vec![Scope::Admin]);
        assert_eq!(caller.project.environment, "test");
        let info = store
            .read(async |c| project_api::get_api_key(c, &project.id, &admin.id).await)
            .await
            .expect("listed");
        assert!(info.last_used_at.is_none(), "not written on the auth path");
        let at = Utc::now().timestamp_micros();
        store
            .write(async |c| {
                project_api::record_last_used(c, &[(project.id.clone(), admin.id.clone(), at)])
                    .await
            })
            .await
            .expect("recorded");
        let info = store
            .read(async |c| project_api::get_api_key(c, &project.id, &admin.id).await)
            .await
            .expect("listed");
        assert_eq!(info.last_used_at.map(|t| t.timestamp_micros()), Some(at));

        assert_eq!(
            authenticate(store, "nope").await.err(),
            Some(AuthFailure::Malformed)
        );
        let unknown = format!("ag_test_{}", "z".repeat(40));
        assert_eq!(
            authenticate(store, &unknown).await.err(),
            Some(AuthFailure::Unknown)
        );

        store
            .write(async |c| {
                project_api::revoke_api_key(c, &project.id, &admin.id, false, Utc::now()).await
            })
            .await
            .expect("revoke");
        assert_eq!(
            authenticate(store, &admin.key).await.err(),
            Some(AuthFailure::Revoked {
                key_id: admin.id.clone(),
                project_id: project.id.clone()
            })
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_keys_are_not_found() {
    testing::each_store(async |store, _| {
        let (a, _) = project(store, "A", "live").await;
        let (b, b_key) = project(store, "B", "live").await;
        let err = store
            .read(async |c| project_api::get_api_key(c, &a.id, &b_key.id).await)
            .await
            .expect_err("hidden");
        assert_eq!(err.code, ErrorCode::NotFound);
        let err = store
            .write(async |c| {
                project_api::revoke_api_key(c, &a.id, &b_key.id, false, Utc::now()).await
            })
            .await
            .expect_err("hidden");
        assert_eq!(err.code, ErrorCode::NotFound);
        assert!(
            authenticate(store, &b_key.key).await.is_ok(),
            "B's key still works"
        );
        let (revoked, _) = store
            .write(async |c| project_api::regenerate_api_keys(c, &a.id, false, Utc::now()).await)
            .await
            .expect("regenerate");
        assert!(!revoked.contains(&b_key.id));
        let count = |p: String| {
            let store = store.clone();
            async move {
                store
                    .read(async |c| project_api::active_api_keys(c, &p).await)
                    .await
                    .expect("keys")
                    .len()
            }
        };
        assert_eq!(count(b.id.clone()).await, 1);
        assert_eq!(count(a.id.clone()).await, 1, "only the new key");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_stable_under_concurrent_inserts() {
    testing::each_store(async |store, backend| {
        let (p, _) = project(store, "P", "live").await;
        let add = |url: String| {
            let store = store.clone();
            let id = p.id.clone();
            async move {
                store
                    .write(async |c| project_api::add_callback(c, &id, &url, Utc::now()).await)
                    .await
                    .expect("add")
            }
        };
        let mut expected = Vec::new();
        for i in 0..5 {
            expected.push(add(format!("https://a.example.com/{i}")).await.id);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut round = 0;
        loop {
            let req = page("list_callbacks", &p.id, 2, cursor.as_deref());
            let page = store
                .read(async |c| project_api::list_callbacks(c, &p.id, &req).await)
                .await
                .expect("page");
            seen.extend(page.data.iter().map(|c| c.id.clone()));
            // Inserts between pages land after the keyset position.
            if round < 3 {
                expected.push(add(format!("https://b.example.com/{round}")).await.id);
            }
            round += 1;
            if !page.has_more {
                break;
            }
            cursor = page.next_cursor;
        }
        assert_eq!(seen, expected, "every row once, in order, on {:?}", backend);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_provider_changes_all_apply() {
    testing::each_store(async |store, _| {
        let (p, _) = project(store, "P", "live").await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            let project = p.id.clone();
            tasks.push(tokio::spawn(async move {
                let change = ProviderChange {
                    provider: "github".into(),
                    enabled: true,
                    client_id: Some(format!("client-{i}")),
                    client_secret: Some(format!("secret-{i}")),
                    ..Default::default()
                };
                store
                    .write(async |c| {
                        project_api::configure_providers(
                            c,
                            &KEY,
                            "http://127.0.0.1:8080",
                            &project,
                            &[change],
                            Utc::now(),
                        )
                        .await
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("each change applies");
        }
        let (list, secret) = store
            .read(async |c| {
                let list = project_api::list_providers(c, "http://127.0.0.1:8080", &p.id).await?;
                let secret = project_api::client_secret(c, &KEY, &p.id, "github").await?;
                Ok::<_, ToolError>((list, secret))
            })
            .await
            .expect("read");
        let github = list
            .iter()
            .find(|s| s.provider == "github")
            .expect("github");
        let id = github.client_id.clone().expect("a client id");
        assert_eq!(
            id.replace("client", "secret"),
            secret.expect("set"),
            "id and secret come from one change"
        );
        let debug = format!(
            "{:?}",
            ProviderChange {
                provider: "github".into(),
                enabled: true,
                client_id: None,
                client_secret: Some("s3cret-value".into()),
                ..Default::default()
            }
        );
        assert!(!debug.contains("s3cret-value"), "{debug}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_keys_keep_their_scopes_and_allow_list() {
    testing::each_store(async |store, _| {
        let (p, _) = project(store, "P", "live").await;
        let new = NewApiKey {
            name: Some("ci".into()),
            scopes: vec![Scope::Read, Scope::Write],
            tools: Some(vec!["group:audit".into()]),
        };
        let created = store
            .write(async |c| {
                project_api::create_api_key(c, &p.id, new, KeySettings::default(), Utc::now()).await
            })
            .await
            .expect("create");
        assert!(
            !format!("{created:?}").contains(&created.key),
            "a created key's Debug hides the key"
        );
        let caller = authenticate(store, &created.key).await.expect("valid");
        assert_eq!(caller.scopes, vec![Scope::Read, Scope::Write]);
        assert_eq!(caller.tools, Some(vec!["group:audit".to_string()]));
        let req = page("list_api_keys", &p.id, 100, None);
        let page = store
            .read(async |c| project_api::list_api_keys(c, &p.id, &req).await)
            .await
            .expect("list");
        let ids: BTreeSet<_> = page.data.iter().map(|k| k.id.clone()).collect();
        assert!(ids.contains(&created.id));
        assert!(
            !serde_json::to_string(&page.data)
                .expect("json")
                .contains(&created.key)
        );
    })
    .await;
}

/// A damaged allow-list never widens a key: reading the key is an
/// internal error (logged), so the key authenticates nothing, and the
/// same row with a readable list works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_allow_list_denies_everything() {
    testing::each_store(async |store, _| {
        let (_, admin) = project(store, "P", "live").await;
        let id = admin.id.clone();
        let set_tools = async |tools: &'static str| {
            store
                .write(async |c| {
                    with_conn!(c, c => {
                        diesel::update(api_keys::table.filter(api_keys::id.eq(&id)))
                            .set(api_keys::tools.eq(Some(tools)))
                            .execute(c)
                            .await?;
                    });
                    Ok::<_, ToolError>(())
                })
                .await
                .expect("change the row");
        };
        set_tools("[not json").await;
        let err = store
            .read(async |c| project_api::authenticate_key(c, &admin.key).await)
            .await
            .expect_err("a damaged row is an error");
        assert_eq!(err.code, ErrorCode::Internal);
        set_tools(r#"["whoami"]"#).await;
        let caller = authenticate(store, &admin.key).await.expect("a key again");
        assert_eq!(caller.tools, Some(vec!["whoami".to_owned()]));
    })
    .await;
}

/// A project never holds more than `max_active_keys` active keys, even
/// when keys are created concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_keys_are_capped_under_concurrency() {
    testing::each_store(async |store, backend| {
        let (p, _) = project(store, "P", "live").await;
        let settings = KeySettings { max_active_keys: 5 };
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let store = store.clone();
            let id = p.id.clone();
            tasks.push(tokio::spawn(async move {
                let new = NewApiKey {
                    name: None,
                    scopes: vec![Scope::Read],
                    tools: None,
                };
                store
                    .write(async |c| {
                        project_api::create_api_key(c, &id, new, settings, Utc::now()).await
                    })
                    .await
            }));
        }
        let mut created = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => created += 1,
                Err(e) => assert_eq!(e.code, ErrorCode::LimitExceeded, "{e}"),
            }
        }
        assert_eq!(created, 4, "the admin key and four more on {:?}", backend);
        let active = store
            .read(async |c| project_api::count_active_api_keys(c, &p.id).await)
            .await
            .expect("count");
        assert_eq!(active, 5);
    })
    .await;
}

/// A key hands on no more than it holds; the operator has no such bound.
#[test]
fn new_keys_are_no_wider_than_their_issuer() {
    struct NoRecorder;
    impl authgate_core::CallRecorder for NoRecorder {
        fn record<'a>(
            &'a self, _: &'a mut authgate_core::Conn<'_>, _: &'a authgate_core::CallRecord,
            _: &'a authgate_core::ToolContext,
        ) -> futures::future::BoxFuture<'a, Result<(), ToolError>> {
            Box::pin(async { Ok(()) })
        }
    }
    let mut registry = authgate_core::ToolRegistry::new();
    authgate_project::register(&mut registry);
    registry.call_recorder(std::sync::Arc::new(NoRecorder));
    let registry = registry.build().expect("registry builds");
    let catalog = registry.catalog();
    let caller = |scopes: Vec<Scope>, tools: Option<Vec<&str>>| authgate_core::Caller {
        key_id: "key_1".into(),
        key_name: None,
        key_prefix: "ag_live_abcd".into(),
        project: authgate_core::Project {
            id: "prj_1".into(),
            name: "P".into(),
            environment: "live".into(),
            created_at: Utc::now(),
        },
        scopes,
        tools: tools.map(|t| t.into_iter().map(str::to_owned).collect()),
        client_name: None,
        connection: Default::default(),
    };
    let writer = caller(vec![Scope::Write], None);
    let wider = project_api::validate_new_key(
        Issuer::Key(&writer),
        catalog,
        KeyRequest {
            scopes: Some(vec![Scope::Admin]),
            ..Default::default()
        },
    )
    .expect_err("wider");
    assert_eq!(
        (wider.code, wider.field.as_deref()),
        (ErrorCode::PermissionDenied, Some("scopes"))
    );
    let listed = caller(vec![Scope::Admin], Some(vec!["group:auth_config"]));
    let unlisted =
        project_api::validate_new_key(Issuer::Key(&listed), catalog, KeyRequest::default())
            .expect_err("needs an allow-list");
    assert_eq!(unlisted.field.as_deref(), Some("tools"));
    let outside = project_api::validate_new_key(
        Issuer::Key(&listed),
        catalog,
        KeyRequest {
            tools: Some(vec!["whoami".into()]),
            ..Default::default()
        },
    )
    .expect_err("outside");
    assert_eq!(outside.field.as_deref(), Some("tools[0]"));
    assert!(
        project_api::validate_new_key(
            Issuer::Key(&listed),
            catalog,
            KeyRequest {
                tools: Some(vec!["list_callbacks".into()]),
                ..Default::default()
            },
        )
        .is_ok()
    );
    let operator = project_api::validate_new_key(
        Issuer::Operator,
        catalog,
        KeyRequest {
            scopes: Some(vec![Scope::Admin]),
            ..Default::default()
        },
    )
    .expect("the operator may");
    assert_eq!(operator.scopes, vec![Scope::Admin]);
    let unknown = project_api::validate_new_key(
        Issuer::Operator,
        catalog,
        KeyRequest {
            tools: Some(vec!["drop_database".into()]),
            ..Default::default()
        },
    )
    .expect_err("unknown tool");
    assert_eq!(unknown.code, ErrorCode::InvalidArgument);
}

/// Gateways starting together on one empty database make one first
/// project between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_makes_one_project_when_gateways_start_together() {
    for db in testing::databases().await {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let url = db.url.clone();
            tasks.push(tokio::spawn(async move {
                let store = Store::open(&url, StoreOptions::default())
                    .await
                    .expect("opens and migrates");
                store
                    .write(async |c| project_api::ensure_first_project(c, Utc::now()).await)
                    .await
                    .expect("first run")
            }));
        }
        let mut made = 0;
        for t in tasks {
            made += usize::from(t.await.expect("task").is_some());
        }
        assert_eq!(made, 1, "{:?}", db.backend);
        let store = db.store().await;
        let count: i64 = store
            .read(async |c| {
                Ok::<_, ToolError>(with_conn!(c, c => {
                    projects::table.count().get_result(c).await?
                }))
            })
            .await
            .expect("count");
        assert_eq!(count, 1);
    }
}
