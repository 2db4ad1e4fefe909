//! The project domain API on each backend.

use std::collections::BTreeSet;

use chrono::Utc;

use authgate_core::pagination::CursorCodec;
use authgate_core::{ErrorCode, Scope};
use authgate_project::providers::{self, ProviderChange};
use authgate_project::{AuthFailure, NewApiKey, callbacks, keys};
use authgate_store::testing;

const KEY: [u8; 32] = [9; 32];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_authenticate_until_revoked() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (project, admin) = keys::create_project(&store, "P", "test", Utc::now())
            .await
            .expect("project");
        assert!(admin.key.starts_with("ag_test_"));
        let caller = keys::authenticate(&store, &admin.key, Utc::now())
            .await
            .expect("db")
            .expect("valid");
        assert_eq!(caller.project_id, project.id);
        assert_eq!(caller.scopes, vec![Scope::Admin]);
        assert_eq!(caller.environment, "test");
        let info = keys::get_api_key(&store, &project.id, &admin.id)
            .await
            .expect("listed");
        assert!(info.last_used_at.is_some(), "last use recorded");

        assert_eq!(
            keys::authenticate(&store, "nope", Utc::now())
                .await
                .expect("db"),
            Err(AuthFailure::Malformed)
        );
        let unknown = format!("ag_test_{}", "z".repeat(40));
        assert_eq!(
            keys::authenticate(&store, &unknown, Utc::now())
                .await
                .expect("db"),
            Err(AuthFailure::Unknown)
        );

        keys::revoke_api_key(&store, &project.id, &admin.id, false, Utc::now())
            .await
            .expect("revoke");
        assert_eq!(
            keys::authenticate(&store, &admin.key, Utc::now())
                .await
                .expect("db"),
            Err(AuthFailure::Revoked {
                key_id: admin.id.clone(),
                project_id: project.id.clone()
            })
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_keys_are_not_found() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (a, _) = keys::create_project(&store, "A", "live", Utc::now())
            .await
            .expect("a");
        let (b, b_key) = keys::create_project(&store, "B", "live", Utc::now())
            .await
            .expect("b");
        let err = keys::get_api_key(&store, &a.id, &b_key.id)
            .await
            .expect_err("hidden");
        assert_eq!(err.code, ErrorCode::NotFound);
        let err = keys::revoke_api_key(&store, &a.id, &b_key.id, false, Utc::now())
            .await
            .expect_err("hidden");
        assert_eq!(err.code, ErrorCode::NotFound);
        assert!(
            keys::authenticate(&store, &b_key.key, Utc::now())
                .await
                .expect("db")
                .is_ok(),
            "B's key still works"
        );
        let (revoked, _) = keys::regenerate_api_keys(&store, &a.id, Utc::now())
            .await
            .expect("regenerate");
        assert!(!revoked.contains(&b_key.id));
        assert_eq!(
            keys::active_keys(&store, &b.id)
                .await
                .expect("b keys")
                .len(),
            1
        );
        assert_eq!(
            keys::active_keys(&store, &a.id)
                .await
                .expect("a keys")
                .len(),
            1,
            "only the new key"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_stable_under_concurrent_inserts() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (p, _) = keys::create_project(&store, "P", "live", Utc::now())
            .await
            .expect("project");
        let codec = CursorCodec::new(KEY);
        let mut expected = Vec::new();
        for i in 0..5 {
            let cb = callbacks::add_callback(
                &store,
                &p.id,
                &format!("https://a.example.com/{i}"),
                Utc::now(),
            )
            .await
            .expect("add");
            expected.push(cb.id);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut round = 0;
        loop {
            let req = codec
                .request("callbacks", &p.id, Some(2), cursor.as_deref())
                .expect("request");
            let page = callbacks::list_callbacks(&store, &p.id, &req, &codec)
                .await
                .expect("page");
            seen.extend(page.data.iter().map(|c| c.id.clone()));
            // Inserts between pages land after the keyset position.
            if round < 3 {
                let cb = callbacks::add_callback(
                    &store,
                    &p.id,
                    &format!("https://b.example.com/{round}"),
                    Utc::now(),
                )
                .await
                .expect("add");
                expected.push(cb.id);
            }
            round += 1;
            if !page.has_more {
                break;
            }
            cursor = page.next_cursor;
        }
        assert_eq!(
            seen, expected,
            "every row once, in order, on {:?}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_provider_changes_all_apply() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (p, _) = keys::create_project(&store, "P", "live", Utc::now())
            .await
            .expect("project");
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
                };
                providers::configure_providers(&store, &KEY, &project, &[change], Utc::now()).await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("each change applies");
        }
        let list = providers::list_providers(&store, &p.id)
            .await
            .expect("list");
        let github = list
            .iter()
            .find(|s| s.provider == "github")
            .expect("github");
        let id = github.client_id.clone().expect("a client id");
        let secret = providers::client_secret(&store, &KEY, &p.id, "github")
            .await
            .expect("decrypts")
            .expect("set");
        assert_eq!(
            id.replace("client", "secret"),
            secret,
            "id and secret come from one change"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_keys_keep_their_scopes_and_allow_list() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (p, _) = keys::create_project(&store, "P", "live", Utc::now())
            .await
            .expect("project");
        let created = keys::create_api_key(
            &store,
            &p.id,
            NewApiKey {
                name: Some("ci".into()),
                scopes: vec![Scope::Read, Scope::Write],
                tools: Some(vec!["group:audit".into()]),
            },
            Utc::now(),
        )
        .await
        .expect("create");
        let caller = keys::authenticate(&store, &created.key, Utc::now())
            .await
            .expect("db")
            .expect("valid");
        assert_eq!(caller.scopes, vec![Scope::Read, Scope::Write]);
        assert_eq!(caller.tools, Some(vec!["group:audit".to_string()]));
        let codec = CursorCodec::new(KEY);
        let req = codec
            .request("api_keys", &p.id, Some(100), None)
            .expect("request");
        let page = keys::list_api_keys(&store, &p.id, &req, &codec)
            .await
            .expect("list");
        let ids: BTreeSet<_> = page.data.iter().map(|k| k.id.clone()).collect();
        assert!(ids.contains(&created.id));
        assert!(
            !serde_json::to_string(&page.data)
                .expect("json")
                .contains(&created.key)
        );
    }
}
