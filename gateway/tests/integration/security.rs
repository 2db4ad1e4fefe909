//! Authentication, scopes, allow-lists, tenant isolation, secrets, bad
//! input, limits and session binding, on every backend.

use serde_json::{Value, json};

use crate::common::{self, err, ok, post_raw};

async fn assert_401(resp: reqwest::Response, reason: &str) {
    assert_eq!(resp.status(), 401);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let body: Value = resp.json().await.expect("JSON body");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["error"]["code"], -32001);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Unauthorized: ") && message.contains(reason),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_key_get_401_with_a_readable_reason() {
    common::each_backend(&[], async |gw| {
        let url = gw.mcp_url();
        assert_401(
            post_raw(&url, None, common::initialize_body(), &[]).await,
            "missing API key",
        )
        .await;
        assert_401(
            post_raw(&url, Some("not-a-key"), common::initialize_body(), &[]).await,
            "malformed",
        )
        .await;
        let unknown = format!("ag_live_{}", "A".repeat(40));
        assert_401(
            post_raw(&url, Some(&unknown), common::initialize_body(), &[]).await,
            "unknown API key",
        )
        .await;
        let sse = reqwest::get(format!("{}/api/sse", gw.url()))
            .await
            .expect("answered");
        assert_401(sse, "missing API key").await;
        // The health endpoints need no key.
        let health = reqwest::get(format!("{}/healthz", gw.url()))
            .await
            .expect("answered");
        assert_eq!(health.status(), 200);
        let ready = reqwest::get(format!("{}/readyz", gw.url()))
            .await
            .expect("answered");
        assert_eq!(ready.status(), 200);
        assert_eq!(ready.text().await.expect("body"), "ready");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_and_allow_lists_decide_what_a_key_sees_and_calls() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let read_key = ok(
            admin,
            "create_api_key",
            json!({"name": "reader", "scopes": ["read"]}),
        )
        .await;
        let write_key = ok(
            admin,
            "create_api_key",
            json!({"name": "writer", "scopes": ["write"]}),
        )
        .await;
        let listed_key = ok(
            admin,
            "create_api_key",
            json!({"scopes": ["admin"], "tools": ["whoami", "group:audit"]}),
        )
        .await;

        let reader = common::connect(&gw.mcp_url(), read_key["key"].as_str().expect("key")).await;
        let tools = reader.list_all_tools().await.expect("tools/list");
        assert_eq!(
            tools.len(),
            common::tools_of(authgate_core::ToolKind::Read).len(),
            "only read tools"
        );
        assert!(
            tools
                .iter()
                .all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true))
        );
        // (tool, arguments, a fragment of the refusal's message)
        for (tool, args, fragment) in [
            (
                "add_callback",
                json!({"url": "https://a.example.com/cb"}),
                Some("'write' scope"),
            ),
            ("revoke_api_key", json!({"key_id": read_key["id"]}), None),
            ("create_api_key", json!({}), None),
        ] {
            let denied = err(&reader, tool, args, "permission_denied").await;
            if let Some(fragment) = fragment {
                assert!(
                    denied["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(fragment),
                    "{tool}: {denied}"
                );
            }
        }
        ok(&reader, "list_callbacks", json!({})).await;

        let writer = common::connect(&gw.mcp_url(), write_key["key"].as_str().expect("key")).await;
        assert_eq!(
            writer.list_all_tools().await.expect("tools/list").len(),
            common::tools_of(authgate_core::ToolKind::Read).len()
                + common::tools_of(authgate_core::ToolKind::Write).len(),
            "read and write tools"
        );
        ok(
            &writer,
            "add_callback",
            json!({"url": "https://a.example.com/cb"}),
        )
        .await;
        err(
            &writer,
            "regenerate_api_key",
            json!({"dry_run": true}),
            "permission_denied",
        )
        .await;
        let wider = err(
            &writer,
            "create_api_key",
            json!({"scopes": ["admin"]}),
            "permission_denied",
        )
        .await;
        assert_eq!(wider["field"], "scopes");
        ok(&writer, "create_api_key", json!({"scopes": ["write"]})).await;

        let limited =
            common::connect(&gw.mcp_url(), listed_key["key"].as_str().expect("key")).await;
        let mut names: Vec<String> = limited
            .list_all_tools()
            .await
            .expect("tools/list")
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["list_audit_event_types", "list_audit_events", "whoami"]
        );
        err(&limited, "list_callbacks", json!({}), "permission_denied").await;
        ok(&limited, "list_audit_events", json!({})).await;
        // Its allow-list also bounds what it can hand on (create_api_key is not even callable).
        err(
            &limited,
            "create_api_key",
            json!({"tools": ["whoami"]}),
            "permission_denied",
        )
        .await;

        // Refusals are audited with the refused key as actor.
        let denied_events = ok(
            admin,
            "list_audit_events",
            json!({"actor_id": read_key["id"], "limit": 100}),
        )
        .await;
        let outcomes: Vec<&str> = denied_events["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|e| e["outcome"].as_str())
            .collect();
        assert_eq!(outcomes, ["denied", "denied", "denied"], "{denied_events}");
        let denied_list = ok(
            admin,
            "list_audit_events",
            json!({"event_type": "tool.list_callbacks"}),
        )
        .await;
        assert_eq!(
            denied_list["data"][0]["outcome"], "denied",
            "a refused read call is audited too"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_limited_by_allow_list_creates_only_narrower_keys() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let key = ok(
            admin,
            "create_api_key",
            json!({"scopes": ["write"], "tools": ["group:auth_config"]}),
        )
        .await;
        let c = common::connect(&gw.mcp_url(), key["key"].as_str().expect("key")).await;
        for (args, field) in [
            (json!({"scopes": ["read"]}), "tools"),
            (json!({"tools": ["whoami"]}), "tools[0]"),
        ] {
            let e = err(&c, "create_api_key", args.clone(), "permission_denied").await;
            assert_eq!(e["field"], field, "create_api_key({args})");
        }
        let narrower = ok(&c, "create_api_key", json!({"tools": ["list_callbacks"]})).await;
        assert_eq!(narrower["tools"], json!(["list_callbacks"]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_gets_401_on_its_next_request() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let created = ok(admin, "create_api_key", json!({"scopes": ["read"]})).await;
        let key = created["key"].as_str().expect("key").to_owned();
        let victim = common::connect(&gw.mcp_url(), &key).await;
        ok(&victim, "whoami", json!({})).await;
        ok(admin, "revoke_api_key", json!({"key_id": created["id"]})).await;
        let mut params = rmcp::model::CallToolRequestParams::new("whoami");
        params = params.with_arguments(serde_json::Map::new());
        assert!(
            victim.call_tool(params).await.is_err(),
            "the revoked key's next call fails"
        );
        assert_401(
            post_raw(&gw.mcp_url(), Some(&key), common::initialize_body(), &[]).await,
            "revoked",
        )
        .await;
        let events = ok(
            admin,
            "list_audit_events",
            json!({"event_type": "api_key.revoked_key_used"}),
        )
        .await;
        assert_eq!(events["data"][0]["actor"]["id"], created["id"]);
        assert_eq!(events["data"][0]["outcome"], "denied");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_cannot_see_or_touch_each_other() {
    common::each_backend_with_client(&[], async |gw, a| {
        let (b_project, b_key) = common::second_project(gw, "Project B").await;
        let b = common::connect(&gw.mcp_url(), &b_key).await;

        let b_cb = ok(
            &b,
            "add_callback",
            json!({"url": "https://b.example.com/cb"}),
        )
        .await;
        let b_cb2 = ok(
            &b,
            "add_callback",
            json!({"url": "https://b.example.com/cb2"}),
        )
        .await;
        let b_new_key = ok(&b, "create_api_key", json!({"name": "b key"})).await;
        ok(&b, "configure_auth_providers", json!({"providers": [{"provider": "google", "enabled": true, "client_id": "b-id", "client_secret": "b-secret"}]})).await;
        let b_me = ok(&b, "whoami", json!({})).await;
        let b_ids = [
            b_cb["id"].as_str().expect("id").to_owned(),
            b_cb2["id"].as_str().expect("id").to_owned(),
            b_new_key["id"].as_str().expect("id").to_owned(),
            b_me["id"].as_str().expect("id").to_owned(),
            b_project.clone(),
        ];
        ok(
            a,
            "add_callback",
            json!({"url": "https://b.example.com/cb"}),
        )
        .await;

        // Acting on B's ids with A's key: not found, and nothing changes.
        for dry_run in [true, false] {
            for (tool, id_argument, id) in [
                ("remove_callback", "callback_id", &b_ids[0]),
                ("revoke_api_key", "key_id", &b_ids[2]),
                ("revoke_api_key", "key_id", &b_ids[3]),
            ] {
                err(
                    a,
                    tool,
                    json!({id_argument: id, "dry_run": dry_run}),
                    "not_found",
                )
                .await;
            }
        }
        assert_eq!(
            ok(&b, "list_callbacks", json!({})).await["data"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        ok(&b, "whoami", json!({})).await;

        // A's lists show none of B's rows.
        let mut a_views = Vec::new();
        for (tool, args) in [
            ("whoami", json!({})),
            ("get_project_status", json!({})),
            ("list_auth_providers", json!({})),
            ("list_callbacks", json!({"limit": 100})),
            ("list_api_keys", json!({"limit": 100})),
            ("list_audit_event_types", json!({"limit": 100})),
        ] {
            a_views.push(ok(a, tool, args).await.to_string());
        }
        let a_all = a_views.join("\n");
        for id in &b_ids {
            assert!(!a_all.contains(id.as_str()), "A sees B's {id}");
        }
        // A's audit log holds only A's own calls (its refused attempts name
        // B's ids as their targets, which is what an investigator needs).
        let a_me = ok(a, "whoami", json!({})).await;
        let a_events = ok(a, "list_audit_events", json!({"limit": 100})).await;
        assert!(
            a_events["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|e| e["actor"]["id"] == a_me["id"]),
            "{a_events}"
        );
        let b_events = ok(&b, "list_audit_events", json!({"limit": 100})).await;
        assert!(
            b_events["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|e| e["actor"]["id"] == b_me["id"]),
            "{b_events}"
        );
        assert!(!a_all.contains("b-id"), "A sees B's provider config");
        assert_eq!(
            ok(a, "list_callbacks", json!({})).await["data"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            ok(a, "get_project_status", json!({})).await["counts"]["callbacks"],
            1
        );
        let a_google = ok(a, "list_auth_providers", json!({})).await["data"][0].clone();
        assert_eq!(
            (a_google["enabled"].clone(), a_google["configured"].clone()),
            (json!(false), json!(false))
        );
        let a_events = ok(a, "list_audit_events", json!({"target_id": b_ids[0]})).await;
        assert_eq!(
            a_events["data"].as_array().map(Vec::len),
            Some(2),
            "only A's own refused attempts on that id"
        );

        // A cursor from B's list is refused in A.
        let b_page = ok(&b, "list_callbacks", json!({"limit": 1})).await;
        let e = err(
            a,
            "list_callbacks",
            json!({"cursor": b_page["next_cursor"]}),
            "invalid_argument",
        )
        .await;
        assert_eq!(e["field"], "cursor");
        // And one from another list of the same project.
        let a_keys_page = ok(a, "list_api_keys", json!({"limit": 1})).await;
        ok(a, "create_api_key", json!({})).await;
        let a_keys_page = if a_keys_page["next_cursor"].is_null() {
            ok(a, "list_api_keys", json!({"limit": 1})).await
        } else {
            a_keys_page
        };
        err(
            a,
            "list_callbacks",
            json!({"cursor": a_keys_page["next_cursor"]}),
            "invalid_argument",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_outputs_audit_events_or_logs() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let client_secret = format!("oauth-client-secret-{}", ulid::Ulid::new());
        ok(admin, "configure_auth_providers", json!({"providers": [{"provider": "discord", "enabled": true, "client_id": "cid", "client_secret": client_secret}]})).await;
        let created = ok(admin, "create_api_key", json!({"scopes": ["write"]})).await;
        let created_key = created["key"].as_str().expect("key").to_owned();
        let regen = ok(admin, "regenerate_api_key", json!({})).await;
        let regen_key = regen["key"].as_str().expect("key").to_owned();
        let fresh = common::connect(&gw.mcp_url(), &regen_key).await;
        ok(
            &fresh,
            "add_callback",
            json!({"url": "https://secrets.example.com/cb"}),
        )
        .await;

        let secrets = [
            gw.admin_key.clone(),
            authgate_core::hash::sha256_hex(&gw.admin_key),
            created_key.clone(),
            authgate_core::hash::sha256_hex(&created_key),
            regen_key.clone(),
            authgate_core::hash::sha256_hex(&regen_key),
            client_secret.clone(),
        ];
        let mut outputs = String::new();
        for (tool, args) in [
            ("whoami", json!({})),
            ("get_project_status", json!({})),
            ("list_auth_providers", json!({})),
            ("list_api_keys", json!({"limit": 100})),
            ("list_audit_events", json!({"limit": 100})),
            ("list_callbacks", json!({})),
        ] {
            outputs.push_str(&ok(&fresh, tool, args).await.to_string());
        }
        let logs = common::logs();
        assert!(logs.contains("request"), "the log capture works");
        for secret in &secrets {
            assert!(
                !outputs.contains(secret.as_str()),
                "a secret appears in a tool output"
            );
            assert!(
                !logs.contains(secret.as_str()),
                "a secret appears in the logs"
            );
        }
        // The stored audit rows themselves, read past the tools.
        let stored = serde_json::to_string(&common::stored_events(gw, Default::default()).await)
            .expect("json");
        assert!(stored.contains("tool.create_api_key"));
        for secret in &secrets {
            assert!(
                !stored.contains(secret.as_str()),
                "a secret appears in an audit event"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field_and_writes_nothing() {
    common::each_backend_with_client(&[], async |gw, c| {
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            ("add_callback", json!({"url": 5}), "invalid_argument", "url"),
            ("add_callback", json!({}), "invalid_argument", "url"),
            (
                "add_callback",
                json!({"url": "https://ok.example.com/cb", "note": "x"}),
                "invalid_argument",
                "note",
            ),
            (
                "add_callback",
                json!({"url": "javascript:alert(1)"}),
                "invalid_argument",
                "url",
            ),
            (
                "add_callback",
                json!({"url": "/relative/callback"}),
                "invalid_argument",
                "url",
            ),
            (
                "add_callback",
                json!({"url": "http://public.example.com/cb"}),
                "invalid_argument",
                "url",
            ),
            (
                "add_callback",
                json!({"url": "https://app.example.com/cb#x"}),
                "invalid_argument",
                "url",
            ),
            (
                "create_api_key",
                json!({"scopes": ["superuser"]}),
                "invalid_argument",
                "scopes[0]",
            ),
            (
                "create_api_key",
                json!({"scopes": []}),
                "invalid_argument",
                "scopes",
            ),
            (
                "create_api_key",
                json!({"tools": ["drop_database"]}),
                "invalid_argument",
                "tools[0]",
            ),
            (
                "create_api_key",
                json!({"name": ""}),
                "invalid_argument",
                "name",
            ),
            (
                "create_api_key",
                json!({"name": 42}),
                "invalid_argument",
                "name",
            ),
            (
                "configure_auth_providers",
                json!({"providers": [{"provider": "myspace", "enabled": true}]}),
                "invalid_argument",
                "providers[0].provider",
            ),
            (
                "configure_auth_providers",
                json!({"providers": [{"provider": "email", "enabled": "yes"}]}),
                "invalid_argument",
                "providers[0].enabled",
            ),
            (
                "configure_auth_providers",
                json!({"providers": [{"provider": "email", "enabled": true, "client_secret": "x"}]}),
                "invalid_argument",
                "providers[0].client_secret",
            ),
            (
                "configure_auth_providers",
                json!({"providers": [{"provider": "email", "enabled": false}, {"provider": "github", "enabled": true, "client_id": "x"}]}),
                "precondition_failed",
                "providers[1].client_secret",
            ),
            (
                "configure_auth_providers",
                json!({"providers": [{"provider": "sms", "enabled": true}]}),
                "precondition_failed",
                "providers[0].client_id",
            ),
            (
                "configure_auth_providers",
                json!({"providers": []}),
                "invalid_argument",
                "providers",
            ),
            (
                "list_callbacks",
                json!({"limit": 0}),
                "invalid_argument",
                "limit",
            ),
            (
                "list_callbacks",
                json!({"limit": 101}),
                "invalid_argument",
                "limit",
            ),
            (
                "list_callbacks",
                json!({"limit": -1}),
                "invalid_argument",
                "limit",
            ),
            (
                "list_callbacks",
                json!({"cursor": "garbage"}),
                "invalid_argument",
                "cursor",
            ),
            (
                "list_audit_events",
                json!({"since": "yesterday"}),
                "invalid_argument",
                "since",
            ),
            (
                "list_audit_events",
                json!({"target_id": "x' OR 1=1 --"}),
                "invalid_argument",
                "target_id",
            ),
            (
                "revoke_api_key",
                json!({"key_id": "nope"}),
                "invalid_argument",
                "key_id",
            ),
            ("revoke_api_key", json!({}), "invalid_argument", "key_id"),
            (
                "remove_callback",
                json!({"callback_id": "cb_x", "dry_run": "no"}),
                "invalid_argument",
                "dry_run",
            ),
            (
                "whoami",
                json!({"project_id": "prj_other"}),
                "invalid_argument",
                "project_id",
            ),
            (
                "get_project_status",
                json!({"verbose": true}),
                "invalid_argument",
                "verbose",
            ),
            (
                "list_auth_providers",
                json!({"limit": 0}),
                "invalid_argument",
                "limit",
            ),
            (
                "list_api_keys",
                json!({"cursor": "eyJ4IjoxfQ.AAAA"}),
                "invalid_argument",
                "cursor",
            ),
            (
                "list_audit_event_types",
                json!({"limit": 500}),
                "invalid_argument",
                "limit",
            ),
            (
                "list_audit_events",
                json!({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
                "invalid_argument",
                "until",
            ),
            (
                "regenerate_api_key",
                json!({"dry_run": "yes"}),
                "invalid_argument",
                "dry_run",
            ),
        ];
        for (tool, args, code, field) in cases {
            let e = err(c, tool, args.clone(), code).await;
            assert_eq!(e["field"], json!(field), "{tool}({args}): {e}");
        }
        // Nothing was written by any of them.
        assert_eq!(ok(c, "list_callbacks", json!({})).await["data"], json!([]));
        assert_eq!(
            ok(c, "list_api_keys", json!({})).await["data"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let providers = ok(c, "list_auth_providers", json!({})).await;
        assert!(
            providers["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|p| p["updated_at"].is_null()),
            "{providers}"
        );

        // Protocol-level faults are JSON-RPC errors.
        let mut params = rmcp::model::CallToolRequestParams::new("no_such_tool");
        params = params.with_arguments(serde_json::Map::new());
        match c.call_tool(params).await {
            Err(rmcp::ServiceError::McpError(e)) => assert_eq!(e.code.0, -32602),
            other => panic!("unknown tool should be -32602, got {other:?}"),
        }
        let malformed = post_raw(&gw.mcp_url(), Some(&gw.admin_key), "{not json", &[]).await;
        let status = malformed.status().as_u16();
        let body: Value = malformed.json().await.unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&status),
            "malformed JSON-RPC gets a 4xx, got {status}"
        );
        assert_eq!(body["error"]["code"], -32700, "{body}");
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
            // Just over the limit: what the server leaves unread fits in the
            // socket buffers, so the client always reads the 413 (a far
            // larger body can meet a closed socket while still being sent).
            "x".repeat(1024 * 1024 + 64 * 1024)
        );
        let too_big = post_raw(&gw.mcp_url(), Some(&gw.admin_key), big.clone(), &[]).await;
        assert_eq!(too_big.status(), 413);
        // Chunked (no Content-Length) is limited too.
        let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
        let chunked = post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            reqwest::Body::wrap_stream(stream),
            &[],
        )
        .await;
        assert_eq!(chunked.status(), 413);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_gets_429_with_retry_after() {
    common::each_backend(&[("AUTHGATE_RATE_LIMIT", "1/s burst 2")], async |gw| {
        let mut statuses = Vec::new();
        let mut retry_after = None;
        for _ in 0..4 {
            let resp = post_raw(
                &gw.mcp_url(),
                Some(&gw.admin_key),
                common::initialize_body(),
                &[],
            )
            .await;
            statuses.push(resp.status().as_u16());
            if resp.status() == 429 {
                retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body: Value = resp.json().await.expect("JSON body");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("Rate limited"))
                );
            }
        }
        assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
        assert_eq!(statuses[3], 429, "{statuses:?}");
        assert!(
            retry_after
                .and_then(|r| r.parse::<u64>().ok())
                .is_some_and(|s| s >= 1)
        );
        let filter = authgate_audit::EventFilter {
            event_type: Some("api_key.rate_limited".into()),
            ..Default::default()
        };
        let events = common::stored_events(gw, filter).await;
        assert_eq!(events.len(), 1, "one audit event per window");
        assert_eq!(events[0].outcome, "denied");
        // The bucket refills: after a second the key is served again.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let again = post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            common::initialize_body(),
            &[],
        )
        .await;
        assert_eq!(again.status(), 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_bound_to_the_key_that_opened_it() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let (b_project, b_key) = common::second_project(gw, "Project B").await;
        let same_project = ok(admin, "create_api_key", json!({"scopes": ["admin"]})).await;
        let owner_id = ok(admin, "whoami", json!({})).await["id"].clone();
        let init = post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            common::initialize_body(),
            &[],
        )
        .await;
        assert_eq!(init.status(), 200);
        let session = init
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("session id")
            .to_owned();
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
        let headers = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-06-18"),
        ];
        // Another project's key, and another key of the same project.
        for other in [b_key.as_str(), same_project["key"].as_str().expect("key")] {
            let replay = post_raw(&gw.mcp_url(), Some(other), list.clone(), &headers).await;
            assert_eq!(replay.status(), 403);
            let body: Value = replay.json().await.expect("JSON");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("another API key"),
                "{body}"
            );
        }
        // Both attempts are in the owner's project, naming the owner's key.
        let refused = ok(
            admin,
            "list_audit_events",
            json!({"event_type": "mcp.session_refused", "target_id": owner_id}),
        )
        .await;
        let actors: Vec<&Value> = refused["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| &e["actor"]["id"])
            .collect();
        assert_eq!(actors.len(), 2, "{refused}");
        assert!(actors.contains(&&same_project["id"]));
        let b = common::connect(&gw.mcp_url(), &b_key).await;
        let b_refused = ok(
            &b,
            "list_audit_events",
            json!({"event_type": "mcp.session_refused"}),
        )
        .await;
        assert_eq!(
            b_refused["data"].as_array().map(Vec::len),
            Some(1),
            "and in the intruder's own project ({b_project})"
        );
        let initialized =
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
        post_raw(&gw.mcp_url(), Some(&gw.admin_key), initialized, &headers).await;
        let own = post_raw(&gw.mcp_url(), Some(&gw.admin_key), list, &headers).await;
        assert_eq!(own.status(), 200);
        let text = own.text().await.expect("body");
        assert!(text.contains("whoami"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_mode_serves_clients_of_every_protocol_generation() {
    common::each_backend(&[("AUTHGATE_STATELESS", "true")], async |gw| {
        for version in [
            rmcp::model::ProtocolVersion::V_2025_03_26,
            rmcp::model::ProtocolVersion::LATEST_WITH_INITIALIZE,
            rmcp::model::ProtocolVersion::LATEST,
        ] {
            let c = common::connect_with(&gw.mcp_url(), &gw.admin_key, version.clone()).await;
            assert_eq!(
                c.list_all_tools().await.expect("tools/list").len(),
                common::registry().len(),
                "{version}"
            );
            let me = ok(&c, "whoami", json!({})).await;
            assert_eq!(me["project"]["id"], json!(gw.project_id));
            ok(
                &c,
                "add_callback",
                json!({"url": format!("https://s.example.com/{}", version)}),
            )
            .await;
        }
        let init = post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            common::initialize_body(),
            &[],
        )
        .await;
        assert!(
            init.headers().get("mcp-session-id").is_none(),
            "no sessions when stateless"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_the_allow_list_are_refused() {
    for db in common::databases().await {
        let gw = common::start(&db, &[]).await;
        let evil = post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            common::initialize_body(),
            &[("host", "evil.example.com")],
        )
        .await;
        assert_eq!(evil.status(), 403);
        gw.server.stop().await;
        let open = common::start(
            &db,
            &[
                ("AUTHGATE_ALLOWED_HOSTS", "auth.example.com"),
                ("AUTHGATE_PUBLIC_URL", "https://auth.example.com"),
            ],
        )
        .await;
        let allowed = post_raw(
            &open.mcp_url(),
            Some(&open.admin_key),
            common::initialize_body(),
            &[("host", "auth.example.com")],
        )
        .await;
        assert_eq!(allowed.status(), 200);
        let local = post_raw(
            &open.mcp_url(),
            Some(&open.admin_key),
            common::initialize_body(),
            &[],
        )
        .await;
        assert_eq!(local.status(), 403, "only the configured hosts");
        open.server.stop().await;
    }
}

/// Requests with different keys of one project draw on one project-wide
/// rate limit: all of a project's keys share one budget, so minting keys
/// does not multiply it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_keys_share_one_rate_limit() {
    common::each_backend_with_client(
        &[("AUTHGATE_PROJECT_RATE_LIMIT", "1/s burst 4")],
        async |gw, admin| {
            let second = ok(admin, "create_api_key", json!({"scopes": ["read"]})).await;
            let keys = [
                gw.admin_key.clone(),
                second["key"].as_str().expect("key").to_owned(),
            ];
            let mut statuses = Vec::new();
            let mut message = String::new();
            for i in 0..6 {
                let resp = post_raw(
                    &gw.mcp_url(),
                    Some(&keys[i % 2]),
                    common::initialize_body(),
                    &[],
                )
                .await;
                statuses.push(resp.status().as_u16());
                if resp.status() == 429 {
                    let body: Value = resp.json().await.expect("JSON");
                    message = body["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                }
            }
            assert!(statuses.contains(&429), "{statuses:?}");
            assert!(message.contains("project's keys together"), "{message}");
            let limited = common::stored_events(
                gw,
                authgate_audit::EventFilter {
                    event_type: Some("api_key.rate_limited".into()),
                    ..Default::default()
                },
            )
            .await;
            assert!(!limited.is_empty(), "the refusal is audited");
        },
    )
    .await;
}

/// A project holds at most AUTHGATE_MAX_ACTIVE_KEYS active keys: one more is
/// refused with a hint to revoke one, and revoking one makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_keys_are_capped() {
    common::each_backend_with_client(&[("AUTHGATE_MAX_ACTIVE_KEYS", "2")], async |_, c| {
        let second = ok(c, "create_api_key", json!({})).await;
        let e = err(c, "create_api_key", json!({}), "limit_exceeded").await;
        assert!(
            e["hint"].as_str().is_some_and(|h| h.contains("revoke")),
            "{e}"
        );
        ok(c, "revoke_api_key", json!({"key_id": second["id"]})).await;
        ok(c, "create_api_key", json!({})).await;
    })
    .await;
}

/// Failed authentications are limited per client IP, checked before the
/// key is looked up: past the limit even a valid key from that address
/// waits, until the bucket refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_limited_per_address() {
    common::each_backend(
        &[("AUTHGATE_AUTH_FAILURE_LIMIT", "1/s burst 3")],
        async |gw| {
            let unknown = format!("ag_live_{}", "Q".repeat(40));
            for _ in 0..3 {
                let r = post_raw(
                    &gw.mcp_url(),
                    Some(&unknown),
                    common::initialize_body(),
                    &[],
                )
                .await;
                assert_eq!(r.status(), 401);
            }
            let r = post_raw(
                &gw.mcp_url(),
                Some(&unknown),
                common::initialize_body(),
                &[],
            )
            .await;
            assert_eq!(r.status(), 429);
            assert!(r.headers().get("retry-after").is_some());
            let valid = post_raw(
                &gw.mcp_url(),
                Some(&gw.admin_key),
                common::initialize_body(),
                &[],
            )
            .await;
            assert_eq!(valid.status(), 429, "refused before any lookup");
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let valid = post_raw(
                &gw.mcp_url(),
                Some(&gw.admin_key),
                common::initialize_body(),
                &[],
            )
            .await;
            assert_eq!(valid.status(), 200, "served again once the bucket refills");
        },
    )
    .await;
}

/// A refused call's huge or unknown arguments cannot grow its audit row;
/// unknown tools (with their name cut short) and refused hosts are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_audited_with_bounded_rows() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let reader = ok(admin, "create_api_key", json!({"scopes": ["read"]})).await;
        let r = common::connect(&gw.mcp_url(), reader["key"].as_str().expect("key")).await;
        let huge = "z".repeat(200_000);
        err(
            &r,
            "revoke_api_key",
            json!({"key_id": huge, "note_id": huge, "extra": [huge, huge]}),
            "permission_denied",
        )
        .await;
        let events = ok(
            admin,
            "list_audit_events",
            json!({"event_type": "tool.revoke_api_key"}),
        )
        .await;
        let event = &events["data"][0];
        assert_eq!(event["outcome"], "denied");
        assert_eq!(event["targets"], json!([]), "no malformed id is a target");
        assert!(event.to_string().len() < 2_000, "{event}");

        let long_name = "x".repeat(5_000);
        let mut params = rmcp::model::CallToolRequestParams::new(long_name.clone());
        params = params.with_arguments(serde_json::Map::new());
        assert!(
            r.call_tool(params).await.is_err(),
            "unknown tool is a protocol error"
        );
        let unknown = ok(
            admin,
            "list_audit_events",
            json!({"event_type": "mcp.unknown_tool"}),
        )
        .await;
        let event = &unknown["data"][0];
        assert_eq!(event["actor"]["id"], reader["id"]);
        assert!(
            event["tool"]
                .as_str()
                .is_some_and(|t| t.chars().count() <= 65)
        );

        let refused = post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            common::initialize_body(),
            &[("host", "evil.example.com")],
        )
        .await;
        assert_eq!(refused.status(), 403);
        let host = ok(
            admin,
            "list_audit_events",
            json!({"event_type": "mcp.host_refused"}),
        )
        .await;
        assert_eq!(host["data"].as_array().map(Vec::len), Some(1), "{host}");
    })
    .await;
}

/// A key's use is recorded without delaying its calls: `last_used_at` is
/// never written on the authentication path:
/// calls are served while another writer holds SQLite's write lock (a
/// synchronous write would wait for it, then fail), and the use is written
/// in the background afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_use_is_recorded_off_the_request_path() {
    common::each_backend_with_client(&[], async |gw, admin| {
        let created = ok(admin, "create_api_key", json!({"scopes": ["read"]})).await;
        let key = created["key"].as_str().expect("key").to_owned();
        let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
        let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
        let store = gw.store().clone();
        let holder = tokio::spawn(async move {
            store
                .write(async |_c| {
                    let _ = held_tx.send(());
                    let _ = hold_rx.await;
                    Ok::<_, authgate_core::ToolError>(())
                })
                .await
        });
        held_rx.await.expect("the write lock is held");
        let c = common::connect(&gw.mcp_url(), &key).await;
        for _ in 0..3 {
            ok(&c, "whoami", json!({})).await;
        }
        ok(&c, "list_callbacks", json!({})).await;
        let _ = hold_tx.send(());
        holder.await.expect("task").expect("released");
        let mut used = Value::Null;
        for _ in 0..40 {
            let keys = ok(admin, "list_api_keys", json!({"limit": 100})).await;
            used = keys["data"]
                .as_array()
                .expect("data")
                .iter()
                .find(|k| k["id"] == created["id"])
                .map(|k| k["last_used_at"].clone())
                .unwrap_or_default();
            if used.is_string() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        assert!(used.is_string(), "last_used_at written in the background");
    })
    .await;
}

/// Security review 2, fault 8: the REST endpoints that take a key
/// (`/permissions/check`, `/subscriptions`) ignored its tool allow-list and
/// the failed-authentication bucket. A key limited to whoami now gets 403
/// there (audited as a denied call); a key allowed the rbac group may check
/// but not subscribe; garbage keys on REST spend the same per-address
/// bucket as on MCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_key_endpoints_apply_allow_lists_and_the_failure_bucket() {
    common::each_backend_with_client(
        &[("AUTHGATE_AUTH_FAILURE_LIMIT", "1/s burst 3")],
        async |gw, c| {
            let url = gw.url();
            let whoami_only = ok(c, "create_api_key", json!({"scopes": ["write"], "tools": ["whoami"]})).await["key"]
                .as_str()
                .expect("key")
                .to_owned();
            let rbac_only = ok(c, "create_api_key", json!({"scopes": ["write"], "tools": ["group:rbac"]})).await["key"]
                .as_str()
                .expect("key")
                .to_owned();
            let check = json!({"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "org_id": "org_01JD8X3V9Q4K7M2N5P6R8S0T1W", "resource": "posts", "action": "read"});
            let subscribe = json!({"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "price_id": "price_01JD8X3V9Q4K7M2N5P6R8S0T1W"});
            let call = async |key: &str, path: &str, body: &Value| {
                common::rest(reqwest::Method::POST, &url, path, None, Some(key), Some(body.clone())).await
            };
            let e = call(&whoami_only, "/api/v1/permissions/check", &check).await;
            let e = e.refused(403, "permission_denied");
            assert!(e["message"].as_str().unwrap_or_default().contains("allow-list"), "{e}");
            call(&whoami_only, "/api/v1/subscriptions", &subscribe)
                .await
                .refused(403, "permission_denied");
            let cancel = common::rest(reqwest::Method::DELETE, &url, "/api/v1/subscriptions/sub_01JD8X3V9Q4K7M2N5P6R8S0T1W", None, Some(&whoami_only), None).await;
            cancel.refused(403, "permission_denied");
            // The rbac group may check (here: an unknown user), not subscribe.
            call(&rbac_only, "/api/v1/permissions/check", &check)
                .await
                .refused(404, "not_found");
            call(&rbac_only, "/api/v1/subscriptions", &subscribe)
                .await
                .refused(403, "permission_denied");
            let denied: Vec<String> = common::stored_events(gw, Default::default())
                .await
                .into_iter()
                .filter(|e| e.outcome == "denied")
                .map(|e| e.event_type)
                .collect();
            for t in ["tool.check_rbac_permission", "tool.create_subscription", "tool.cancel_subscription"] {
                assert!(denied.iter().any(|d| d == t), "{t} in {denied:?}");
            }

            // Garbage keys on REST spend the address's failure bucket,
            // which MCP shares.
            let garbage = format!("ag_live_{}", "Z".repeat(40));
            for _ in 0..3 {
                call(&garbage, "/api/v1/permissions/check", &check)
                    .await
                    .refused(401, "unauthenticated");
            }
            let r = call(&garbage, "/api/v1/permissions/check", &check).await;
            r.refused(429, "rate_limited");
            assert!(r.headers.get("retry-after").is_some());
            let mcp = post_raw(&gw.mcp_url(), Some(&gw.admin_key), common::initialize_body(), &[]).await;
            assert_eq!(mcp.status(), 429, "the bucket is the address's, on every endpoint");
        },
    )
    .await;
}
