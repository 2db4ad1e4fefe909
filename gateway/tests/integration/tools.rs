//! tools/list and a successful call of every tool, on every backend.

use serde_json::{Value, json};

use authgate_core::schema::{formats_in, is_standard_format};

use crate::common::{self, err, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_shows_every_tool_with_annotations_and_clean_schemas() {
    common::each_backend(&[], async |gw| {
        let client = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let info = client.peer_info().expect("server info after initialize");
        assert_eq!(
            info.server_info.as_ref().map(|s| s.name.as_str()),
            Some("authgate")
        );
        assert_eq!(
            info.instructions.as_deref(),
            Some(gw.server.app.registry.instructions().as_str())
        );
        let registry = common::registry();
        for group in registry.groups() {
            assert!(
                gw.server.app.registry.instructions().contains(group.name),
                "the instructions name group {}",
                group.name
            );
        }
        let tools = client.list_all_tools().await.expect("tools/list");
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort();
        let expected: Vec<&str> = registry.iter().map(|t| t.meta().name).collect();
        assert_eq!(names, expected, "[{}]", gw.backend);
        for tool in &tools {
            let meta = *registry.get(&tool.name).expect("registered").meta();
            let kind = meta.kind.as_str();
            // Only what differs from MCP's defaults (readOnlyHint false,
            // destructiveHint true, idempotentHint false, openWorldHint true).
            let a = tool.annotations.as_ref().expect("annotations");
            assert_eq!(a.open_world_hint, None, "{}", tool.name);
            match kind {
                "read" => {
                    assert_eq!(a.read_only_hint, Some(true), "{}", tool.name);
                    assert_eq!(a.idempotent_hint, None, "{}", tool.name);
                }
                "write" => {
                    assert_eq!(a.read_only_hint, None, "{}", tool.name);
                    assert_eq!(a.destructive_hint, Some(false), "{}", tool.name);
                }
                _ => {
                    assert_eq!(a.read_only_hint, None, "{}", tool.name);
                    assert_eq!(a.destructive_hint, Some(true), "{}", tool.name);
                }
            }
            if kind != "read" {
                let idempotent = meta.idempotent.then_some(true);
                assert_eq!(a.idempotent_hint, idempotent, "{}", tool.name);
            }
            assert!(
                tool.title.as_deref().is_some_and(|t| !t.is_empty()),
                "{} has a title",
                tool.name
            );
            let description = tool.description.as_deref().unwrap_or_default();
            assert!(
                description.starts_with(&format!("[{kind}]")),
                "{}: {description}",
                tool.name
            );
            let input = Value::Object((*tool.input_schema).clone());
            assert_eq!(input["type"], "object", "{}", tool.name);
            // additionalProperties is left out of what is published (the
            // strict dialects refuse it); the server still refuses unknown
            // arguments (bad_input_names_the_field_and_writes_nothing).
            assert!(input.get("additionalProperties").is_none(), "{}", tool.name);
            let output =
                Value::Object((**tool.output_schema.as_ref().expect("output schema")).clone());
            assert_eq!(output["type"], "object", "{}", tool.name);
            for schema in [&input, &output] {
                for format in formats_in(schema) {
                    assert!(
                        is_standard_format(&format),
                        "{} has format {format}",
                        tool.name
                    );
                }
            }
            if kind == "danger" {
                assert!(
                    input["properties"]["dry_run"].is_object(),
                    "{} takes dry_run",
                    tool.name
                );
            }
            if tool.name.starts_with("list_") {
                assert!(
                    input["properties"]["limit"].is_object(),
                    "{} takes limit",
                    tool.name
                );
                assert!(
                    input["properties"]["cursor"].is_object(),
                    "{} takes cursor",
                    tool.name
                );
            }
        }
        client.cancel().await.expect("client closes");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_succeeds_through_the_mcp_client() {
    common::each_backend_with_client(&[], async |gw, c| {

        // whoami
        let me = ok(c, "whoami", json!({})).await;
        assert!(me["id"].as_str().is_some_and(|id| id.starts_with("key_")));
        assert_eq!(me["project"]["id"], json!(gw.project_id));
        assert_eq!(me["environment"], "live");
        assert_eq!(me["scopes"], json!(["admin"]));
        assert_eq!(me["tools"], Value::Null);
        assert_eq!(me["rate_limit"]["per_second"], 10000);
        assert!(
            me["prefix"]
                .as_str()
                .is_some_and(|p| p.len() == 12 && gw.admin_key.starts_with(p))
        );
        let admin_key_id = me["id"].as_str().expect("id").to_owned();

        // get_project_status on a fresh project
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["project"]["name"], "Project A");
        assert_eq!(status["project"]["id"], json!(gw.project_id));
        assert_eq!(status["counts"]["callbacks"], 0);
        assert_eq!(status["counts"]["active_api_keys"], 1);
        let email = status["auth_providers"]
            .as_array()
            .expect("providers")
            .iter()
            .find(|p| p["provider"] == "email")
            .expect("email listed")
            .clone();
        assert_eq!(email["enabled"], true);

        // auth providers
        let providers = ok(c, "list_auth_providers", json!({})).await;
        let names: Vec<&str> = providers["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|p| p["provider"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names,
            [
                "google",
                "github",
                "discord",
                "azure",
                "apple",
                "email",
                "magic_link",
                "sms"
            ]
        );
        assert_eq!(providers["has_more"], false);
        let page1 = ok(c, "list_auth_providers", json!({"limit": 3})).await;
        assert_eq!(page1["data"].as_array().map(Vec::len), Some(3));
        assert_eq!(page1["has_more"], true);
        let page2 = ok(
            c,
            "list_auth_providers",
            json!({"limit": 5, "cursor": page1["next_cursor"]}),
        )
        .await;
        assert_eq!(page2["data"][0]["provider"], "azure");
        assert_eq!(page2["data"].as_array().map(Vec::len), Some(5));
        assert_eq!(page2["has_more"], false);

        let configured = ok(c, "configure_auth_providers", json!({"providers": [
            {"provider": "github", "enabled": true, "client_id": "Iv1.abc", "client_secret": "gh-secret-value-123"},
            {"provider": "magic_link", "enabled": true}
        ]})).await;
        let github = configured["providers"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["provider"] == "github")
            .expect("github")
            .clone();
        assert_eq!(github["enabled"], true);
        assert_eq!(github["configured"], true);
        assert_eq!(github["has_client_secret"], true);
        assert_eq!(github["client_id"], "Iv1.abc");
        assert!(!configured.to_string().contains("gh-secret-value-123"));
        // Disabling keeps the stored credentials.
        let disabled = ok(
            c,
            "configure_auth_providers",
            json!({"providers": [{"provider": "github", "enabled": false}]}),
        )
        .await;
        let github = disabled["providers"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["provider"] == "github")
            .expect("github")
            .clone();
        assert_eq!(
            (github["enabled"].clone(), github["configured"].clone()),
            (json!(false), json!(true))
        );
        let encryption = gw.server.app.keys.encryption;
        let secret = gw
            .store()
            .read(async |c| {
                authgate_project::client_secret(c, &encryption, &gw.project_id, "github").await
            })
            .await
            .expect("reads");
        assert_eq!(
            secret.as_deref(),
            Some("gh-secret-value-123"),
            "secret decrypts server-side"
        );

        // callbacks
        let cb = ok(
            c,
            "add_callback",
            json!({"url": "https://app.example.com/auth/callback"}),
        )
        .await;
        let cb_id = cb["id"].as_str().expect("id").to_owned();
        assert!(cb_id.starts_with("cb_"));
        assert_eq!(cb["url"], "https://app.example.com/auth/callback");
        assert!(cb["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        ok(
            c,
            "add_callback",
            json!({"url": "http://localhost:3000/cb"}),
        )
        .await;
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.example.com/other"}),
        )
        .await;
        let page = ok(c, "list_callbacks", json!({"limit": 2})).await;
        assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(page["data"][0]["id"], json!(cb_id));
        assert_eq!(page["has_more"], true);
        let rest = ok(
            c,
            "list_callbacks",
            json!({"limit": 2, "cursor": page["next_cursor"]}),
        )
        .await;
        assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
        assert_eq!(rest["next_cursor"], Value::Null);
        let dry = ok(
            c,
            "remove_callback",
            json!({"callback_id": cb_id, "dry_run": true}),
        )
        .await;
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["callback"]["id"], json!(cb_id));
        assert_eq!(dry["cascade"], json!({}));
        assert_eq!(
            ok(c, "list_callbacks", json!({})).await["data"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let removed = ok(c, "remove_callback", json!({"callback_id": cb_id})).await;
        assert_eq!(removed["dry_run"], false);
        assert_eq!(
            ok(c, "list_callbacks", json!({})).await["data"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        err(
            c,
            "remove_callback",
            json!({"callback_id": cb_id}),
            "not_found",
        )
        .await;

        // API keys
        let created = ok(
            c,
            "create_api_key",
            json!({"name": "ci", "scopes": ["read"], "tools": ["group:audit", "whoami"]}),
        )
        .await;
        let new_key = created["key"].as_str().expect("key").to_owned();
        let new_id = created["id"].as_str().expect("id").to_owned();
        assert!(new_key.starts_with("ag_live_"));
        assert_eq!(created["prefix"].as_str(), Some(&new_key[..12]));
        assert_eq!(created["scopes"], json!(["read"]));
        assert_eq!(created["tools"], json!(["group:audit", "whoami"]));
        let default_scoped = ok(c, "create_api_key", json!({})).await;
        assert_eq!(default_scoped["scopes"], json!(["read"]));
        assert_eq!(default_scoped["name"], Value::Null);
        let keys = ok(c, "list_api_keys", json!({})).await;
        let listed: Vec<&Value> = keys["data"].as_array().expect("data").iter().collect();
        assert_eq!(listed.len(), 3);
        assert!(
            !keys.to_string().contains(&new_key),
            "list_api_keys never shows a key"
        );
        assert!(
            listed
                .iter()
                .all(|k| k.get("key").is_none() && k.get("key_hash").is_none())
        );
        let paged = ok(c, "list_api_keys", json!({"limit": 1})).await;
        assert_eq!(paged["data"][0]["id"], json!(admin_key_id));
        assert_eq!(paged["has_more"], true);

        let dry = ok(
            c,
            "revoke_api_key",
            json!({"key_id": new_id, "dry_run": true}),
        )
        .await;
        assert_eq!(
            (dry["dry_run"].clone(), dry["api_key"]["revoked_at"].clone()),
            (json!(true), Value::Null)
        );
        let revoked = ok(c, "revoke_api_key", json!({"key_id": new_id})).await;
        assert!(revoked["api_key"]["revoked_at"].is_string());
        err(c, "revoke_api_key", json!({"key_id": new_id}), "conflict").await;

        // audit
        let events = ok(c, "list_audit_events", json!({})).await;
        let data = events["data"].as_array().expect("data");
        assert_eq!(data[0]["type"], "tool.revoke_api_key", "newest first");
        assert_eq!(data[0]["outcome"], "error");
        assert_eq!(data[0]["error_code"], "conflict");
        let success = ok(
            c,
            "list_audit_events",
            json!({"event_type": "tool.revoke_api_key", "target_id": new_id}),
        )
        .await;
        let success_events = success["data"].as_array().expect("data");
        assert_eq!(
            success_events.len(),
            3,
            "dry run, revoke and the refused repeat"
        );
        let applied = success_events
            .iter()
            .find(|e| e["outcome"] == "success" && e["arguments_hash"] != data[0]["arguments_hash"])
            .expect("a success");
        assert_eq!(
            applied["actor"],
            json!({"type": "api_key", "id": admin_key_id})
        );
        assert_eq!(
            applied["client"],
            json!({"name": "authgate-tests", "version": "9.9.9"})
        );
        assert_eq!(applied["tool"], "revoke_api_key");
        assert!(applied["latency_ms"].is_number());
        assert!(
            applied["arguments_hash"]
                .as_str()
                .is_some_and(|h| h.len() == 64)
        );
        let by_actor = ok(
            c,
            "list_audit_events",
            json!({"actor_id": admin_key_id, "limit": 100}),
        )
        .await;
        assert!(by_actor["data"].as_array().is_some_and(|d| d.len() >= 10));
        assert!(
            by_actor["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|e| e["type"].as_str().is_some_and(|t| t.starts_with("tool.")))
        );
        assert!(
            by_actor["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|e| e["tool"] != "whoami"),
            "read calls are not audited"
        );
        let future = ok(
            c,
            "list_audit_events",
            json!({"since": "2999-01-01T00:00:00Z"}),
        )
        .await;
        assert_eq!(future["data"], json!([]));
        let first = ok(c, "list_audit_events", json!({"limit": 2})).await;
        let second = ok(
            c,
            "list_audit_events",
            json!({"limit": 2, "cursor": first["next_cursor"]}),
        )
        .await;
        assert!(
            first["data"][1]["id"].as_str() > second["data"][0]["id"].as_str(),
            "pages continue strictly older"
        );
        let types = ok(c, "list_audit_event_types", json!({})).await;
        let types: Vec<&str> = types["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for t in [
            "tool.add_callback",
            "tool.configure_auth_providers",
            "tool.create_api_key",
            "tool.remove_callback",
            "tool.revoke_api_key",
        ] {
            assert!(types.contains(&t), "{t} in {types:?}");
        }
        let mut sorted = types.clone();
        sorted.sort();
        assert_eq!(types, sorted);

        // regenerate: dry run, then for real; the calling key is revoked too.
        let dry = ok(c, "regenerate_api_key", json!({"dry_run": true})).await;
        assert_eq!(dry["dry_run"], true);
        assert!(dry.get("key").is_none());
        assert_eq!(dry["revoked_key_ids"].as_array().map(Vec::len), Some(2));
        assert_eq!(dry["cascade"], json!({"api_keys": 2}));
        let regen = ok(c, "regenerate_api_key", json!({})).await;
        assert_eq!(regen["cascade"], json!({"api_keys": 2}));
        let fresh = regen["key"].as_str().expect("new key").to_owned();
        assert!(
            regen["revoked_key_ids"]
                .as_array()
                .expect("ids")
                .contains(&json!(admin_key_id))
        );
        assert_eq!(regen["scopes"], json!(["admin"]));
        let c2 = common::connect(&gw.mcp_url(), &fresh).await;
        let me2 = ok(&c2, "whoami", json!({})).await;
        assert_eq!(me2["id"], regen["id"]);
        let regen_events = ok(
            &c2,
            "list_audit_events",
            json!({"event_type": "tool.regenerate_api_key", "limit": 1}),
        )
        .await;
        assert_eq!(regen_events["data"][0]["outcome"], "success");
        c2.cancel().await.expect("closes");
    })
    .await;
}

/// Where a schema declares an object, as paths from the arguments' root:
/// `state`, `state.roles[0]`, `state.roles[0].grants[0]`, ...
fn object_paths(schema: &Value, path: &str, out: &mut Vec<String>) {
    let is = |s: &Value, t: &str| match &s["type"] {
        Value::String(x) => x == t,
        Value::Array(xs) => xs.iter().any(|x| x == t),
        _ => false,
    };
    for branch in ["anyOf", "oneOf", "allOf"] {
        for b in schema[branch].as_array().into_iter().flatten() {
            object_paths(b, path, out);
        }
    }
    if is(schema, "object") {
        if !path.is_empty() && !out.iter().any(|p| p == path) {
            out.push(path.to_owned());
        }
        for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
            let inner = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            object_paths(sub, &inner, out);
        }
    }
    if is(schema, "array") && schema["items"].is_object() {
        object_paths(&schema["items"], &format!("{path}[0]"), out);
    }
}

/// Arguments holding `bad` at `path` (and only what leads there).
fn arguments_with(path: &str, bad: &Value) -> Value {
    let mut steps: Vec<(String, bool)> = Vec::new();
    for part in path.split('.') {
        match part.strip_suffix("[0]") {
            Some(name) => {
                steps.push((name.to_owned(), false));
                steps.push((String::new(), true));
            }
            None => steps.push((part.to_owned(), false)),
        }
    }
    steps
        .iter()
        .rev()
        .fold(bad.clone(), |inner, (name, index)| {
            if *index {
                json!([inner])
            } else {
                json!({ name.as_str(): inner })
            }
        })
}

/// Security review 2, fault 15: serde let an array stand in for a struct,
/// so `apply_rbac_sync {"state": []}` read as an empty document and
/// archived every role and resource. Every tool now checks its arguments
/// against its schema's types first: an array, a string or a number where
/// an object is declared, at every depth of every tool, is an
/// invalid_argument naming the path, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_strings_and_numbers_never_stand_in_for_objects() {
    common::each_backend_with_client(&[], async |gw, c| {
        ok(c, "create_rbac_resource", json!({"key": "posts", "actions": ["read"]})).await;
        ok(c, "create_rbac_role", json!({"key": "reader", "grants": [{"resource": "posts", "actions": ["read"]}]})).await;
        let e = err(c, "apply_rbac_sync", json!({"state": []}), "invalid_argument").await;
        assert_eq!(e["field"], "state", "{e}");
        let state = ok(c, "get_rbac_sync_state", json!({})).await;
        assert_eq!(state["roles"][0]["key"], "reader", "the attack archived nothing: {state}");
        assert_eq!(state["resources"][0]["key"], "posts", "{state}");

        let registry = common::registry();
        let mut checked = Vec::new();
        for tool in registry.iter() {
            let schema = Value::Object((**tool.input_schema()).clone());
            let mut paths = Vec::new();
            object_paths(&schema, "", &mut paths);
            for path in paths {
                for bad in [json!([]), json!("x"), json!(5)] {
                    let args = arguments_with(&path, &bad);
                    let e = err(c, tool.meta().name, args.clone(), "invalid_argument").await;
                    assert_eq!(e["field"], path.as_str(), "{} {args}: {e}", tool.meta().name);
                }
                checked.push(format!("{}:{path}", tool.meta().name));
            }
        }
        for deep in ["apply_rbac_sync:state.roles[0].grants[0]", "configure_auth_providers:providers[0]"] {
            assert!(checked.iter().any(|p| p == deep), "{deep} in {checked:?}");
        }
        let audit = common::query_n(
            gw.store(),
            "SELECT COUNT(*) AS n FROM audit_events WHERE outcome = 'success' AND event_type LIKE 'tool.%' AND event_type NOT IN ('tool.create_rbac_resource', 'tool.create_rbac_role')",
        )
        .await;
        assert_eq!(audit, 0, "no refused call changed anything");
    })
    .await;
}

/// What an assistant puts in its context for AuthGate: every tool's
/// definition. Printed, and pinned: everything but the output schemas at
/// most 40 KiB, the whole tools/list at most 72 KiB (126 KB before issue
/// 20; names, descriptions, input schemas and annotations were 52 KB).
/// The budget grows with the catalogue at the rate issue 20 set (36 and
/// 64 KiB for 66 tools, about 560 and 1,000 bytes a tool): 73 tools since
/// the seven webhook tools of issue 22 (38.6 and 71.3 KB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_fits_the_context_budget() {
    common::each_backend_with_client(&[], async |_gw, c| {
        let tools = c.list_all_tools().await.expect("tools/list");
        let size = |v: &Value| serde_json::to_string(v).expect("json").len();
        let mut context = 0;
        let mut whole = 0;
        for t in &tools {
            let mut v = serde_json::to_value(t).expect("a tool as JSON");
            whole += size(&v) + 1;
            if let Some(o) = v.as_object_mut() {
                o.remove("outputSchema");
            }
            context += size(&v) + 1;
        }
        println!(
            "tools/list: {} tools, {whole} bytes; without output schemas {context} bytes",
            tools.len()
        );
        // The strict dialects (Gemini's function declarations): one type per
        // input schema, never a list, and no keyword they refuse.
        let mut warnings = Vec::new();
        fn strict(v: &Value, path: &str, out: &mut Vec<String>) {
            let Some(o) = v.as_object() else {
                out.push(format!("{path}: not a schema object"));
                return;
            };
            if !o.get("type").is_some_and(Value::is_string) {
                out.push(format!("{path}: type {:?}", o.get("type")));
            }
            for k in ["anyOf", "oneOf", "allOf", "additionalProperties", "$ref"] {
                if o.contains_key(k) {
                    out.push(format!("{path}: {k}"));
                }
            }
            if let Some(props) = o.get("properties").and_then(Value::as_object) {
                for (name, p) in props {
                    strict(p, &format!("{path}.{name}"), out);
                }
            }
            if let Some(items) = o.get("items") {
                strict(items, &format!("{path}[]"), out);
            }
        }
        for t in &tools {
            let schema = Value::Object((*t.input_schema).clone());
            strict(&schema, &t.name, &mut warnings);
        }
        println!("strict input-schema warnings: {}", warnings.len());
        // Unknown arguments are still refused, though the published
        // schemas no longer say additionalProperties: false.
        let refused = err(c, "list_end_users", json!({"bogus": 1}), "invalid_argument").await;
        assert_eq!(refused["field"], "bogus", "{refused}");
        assert_eq!(warnings, Vec::<String>::new());
        assert!(context <= 40 * 1024, "context {context} bytes > 40 KiB");
        assert!(whole <= 72 * 1024, "tools/list {whole} bytes > 72 KiB");
    })
    .await;
}
