//! Tests derived from the registry, so a new tool is covered without
//! editing them: declarations and examples, the danger result shape with
//! dry runs that count the same, tenant isolation of every id argument,
//! and the audit record committed with (and only with) the change.

use serde_json::{Value, json};

use authgate_core::ToolKind;

use crate::common::{self, err, ok};
use crate::fixtures::{Expect, danger_args, fixture};

#[test]
fn the_registry_builds_and_every_example_parses() {
    let registry = common::registry();
    assert!(!registry.is_empty());
    for tool in registry.iter() {
        let meta = tool.meta();
        let example: Value = serde_json::from_str(meta.example)
            .unwrap_or_else(|e| panic!("{}: example is not JSON: {e}", meta.name));
        tool.check_arguments(example)
            .unwrap_or_else(|e| panic!("{}: example does not parse: {e}", meta.name));
        assert!(
            registry.groups().iter().any(|g| g.name == meta.group),
            "{} is in a declared group",
            meta.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn danger_tools_report_the_same_counts_on_a_dry_run_as_for_real() {
    common::each_backend(&[], async |gw| {
        let registry = common::registry();
        let mut missing = Vec::new();
        for tool in registry
            .iter()
            .filter(|t| t.meta().kind == ToolKind::Danger)
        {
            let name = tool.meta().name;
            // A project of its own: some danger tools end the calling key.
            let (_, key) = common::second_project(gw, name).await;
            let c = common::connect(&gw.mcp_url(), &key).await;
            let Some(mut args) =
                danger_args(name, &c, &gw.url(), !tool.id_arguments().is_empty()).await
            else {
                missing.push(name);
                continue;
            };
            args["dry_run"] = json!(true);
            let dry = ok(&c, name, args.clone()).await;
            assert_eq!(dry["dry_run"], true, "{name}");
            assert!(dry["cascade"].is_object(), "{name}: {dry}");
            let targets: Vec<&String> = dry
                .as_object()
                .expect("object")
                .keys()
                .filter(|k| *k != "dry_run" && *k != "cascade")
                .collect();
            assert!(!targets.is_empty(), "{name} names its target: {dry}");
            // The dry run changed nothing: it can be repeated, same answer.
            let again = ok(&c, name, args.clone()).await;
            assert_eq!(again["cascade"], dry["cascade"], "{name}");
            args["dry_run"] = json!(false);
            let real = ok(&c, name, args).await;
            assert_eq!(real["dry_run"], false, "{name}");
            assert_eq!(
                real["cascade"], dry["cascade"],
                "{name}: the dry run reports what the real call does [{}]",
                gw.backend
            );
            let _ = c.cancel().await;
        }
        assert!(
            missing.is_empty(),
            "danger tools without a fixture: {missing:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_ids_are_not_found_and_no_list_shows_them() {
    common::each_backend_with_client(&[], async |gw, a| {
        let (b_project, b_key) = common::second_project(gw, "Project B").await;
        let b = common::connect(&gw.mcp_url(), &b_key).await;
        let b_me = ok(&b, "whoami", json!({})).await;
        let mut b_ids = vec![
            b_project.clone(),
            b_me["id"].as_str().expect("id").to_owned(),
        ];
        let a_counts = ok(a, "get_project_status", json!({})).await["counts"].clone();
        let registry = common::registry();
        // B's objects, one per tool with an id argument.
        let mut missing = Vec::new();
        let mut cases = Vec::new();
        for tool in registry.iter().filter(|t| !t.id_arguments().is_empty()) {
            let meta = tool.meta();
            let Some(f) = fixture(meta.name, &b, &gw.url(), &b_ids).await else {
                missing.push(meta.name);
                continue;
            };
            if let Expect::NotFound = f.expect {
                for (k, v) in f.args.as_object().expect("object") {
                    if tool.id_arguments().contains(k)
                        && let Some(s) = v.as_str()
                    {
                        b_ids.push(s.to_owned());
                    }
                }
            }
            cases.push((meta, f));
        }
        assert!(
            missing.is_empty(),
            "tools with an id argument but no cross-tenant fixture in fixtures.rs: {missing:?}"
        );
        // No count of A counts them; B's fixtures give every count
        // something to leak.
        assert_eq!(
            ok(a, "get_project_status", json!({})).await["counts"],
            a_counts,
            "A's counts count nothing of B"
        );
        let b_counts = ok(&b, "get_project_status", json!({})).await["counts"].clone();
        for (key, n) in b_counts.as_object().expect("counts") {
            assert!(n.as_i64() > Some(0), "B has no {key}: {b_counts}");
        }
        // No list of A shows any of them.
        let a_views = views(a).await;
        for id in &b_ids {
            assert!(!a_views.contains(id.as_str()), "a list of A shows B's {id}");
        }
        // Acting on them with A's key: not found (dry run or not).
        for (meta, f) in &cases {
            let dry_runs: &[Option<bool>] = if meta.kind == ToolKind::Danger {
                &[Some(true), Some(false)]
            } else {
                &[None]
            };
            for dry_run in dry_runs {
                let mut args = f.args.clone();
                if let Some(d) = dry_run {
                    args["dry_run"] = json!(d);
                }
                match &f.expect {
                    Expect::NotFound => {
                        err(a, meta.name, args, "not_found").await;
                    }
                    Expect::Shows(hidden) => {
                        let out = ok(a, meta.name, args).await.to_string();
                        for h in hidden {
                            assert!(!out.contains(h), "{}: A sees B's {h}", meta.name);
                        }
                    }
                }
            }
        }
        // Nothing of B changed, and A's audit log holds only A's actions.
        let b_views = views(&b).await;
        for id in &b_ids[2..] {
            assert!(b_views.contains(id.as_str()), "B's {id} is untouched");
        }
        let a_events = ok(a, "list_audit_events", json!({"limit": 100})).await;
        let a_me = ok(a, "whoami", json!({})).await;
        assert!(
            a_events["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|e| e["actor"]["id"] == a_me["id"]),
            "{a_events}"
        );
        let _ = b.cancel().await;
    })
    .await;
}

/// A write call's audit record is written in the call's transaction: when
/// it cannot be written, the change rolls back too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_audit_record_fails_is_rolled_back() {
    common::each_backend_with_client(&[], async |gw, c| {
        common::refuse_audit_rows(gw.store()).await;
        let e = err_internal(c, json!({"url": "https://rolled.example.com/cb"})).await;
        assert!(e.contains("internal"), "{e}");
        common::allow_audit_rows(gw.store()).await;
        let listed = ok(c, "list_callbacks", json!({})).await;
        assert_eq!(
            listed["data"],
            json!([]),
            "the callback rolled back with its record"
        );
        let added = ok(
            c,
            "add_callback",
            json!({"url": "https://kept.example.com/cb"}),
        )
        .await;
        let events = ok(c, "list_audit_events", json!({"target_id": added["id"]})).await;
        assert_eq!(events["data"][0]["type"], "tool.add_callback");
    })
    .await;
}

/// Everything every list (and get_project_status) shows `c`.
async fn views(c: &common::Client) -> String {
    let mut out = String::new();
    for tool in common::registry().iter() {
        let m = tool.meta();
        if m.kind != ToolKind::Read
            || !(m.name.starts_with("list_") || m.name == "get_project_status")
        {
            continue;
        }
        // Lists inside one parent (an organization's members) need its id:
        // the parent's own list covers what they would show.
        let needs_parent = tool
            .input_schema()
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        if needs_parent {
            continue;
        }
        let args = if m.name.starts_with("list_") {
            json!({"limit": 100})
        } else {
            json!({})
        };
        out.push_str(&ok(c, m.name, args).await.to_string());
    }
    out
}

/// add_callback with `args` must fail with an internal error; its text.
async fn err_internal(c: &common::Client, args: Value) -> String {
    let result = common::call_raw(c, "add_callback", args).await;
    assert_eq!(result.is_error, Some(true));
    result
        .content
        .first()
        .and_then(|b| b.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Every write and danger tool leaves an audit event of its call
/// (`tool.<name>`), whether it succeeds or is refused: called here with
/// its own example, in a project of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_and_danger_call_is_audited() {
    common::each_backend(&[], async |gw| {
        let registry = common::registry();
        let mut missing = Vec::new();
        let mut checked = 0;
        for tool in registry.iter().filter(|t| t.meta().kind != ToolKind::Read) {
            checked += 1;
            let name = tool.meta().name;
            let (project, key) = common::second_project(gw, name).await;
            let c = common::connect(&gw.mcp_url(), &key).await;
            let example: Value = serde_json::from_str(tool.meta().example).expect("example");
            let _ = common::call_raw(&c, name, example).await;
            let _ = c.cancel().await;
            let req = authgate_core::PageRequest::new(
                authgate_core::pagination::CursorCodec::new(gw.server.app.keys.cursor),
                "audit-completeness",
                &project,
                Some(100),
                None,
            )
            .expect("page");
            let filter = authgate_audit::EventFilter {
                event_type: Some(format!("tool.{name}")),
                ..Default::default()
            };
            let found = gw
                .store()
                .read(async |conn| authgate_audit::list_events(conn, &project, &filter, &req).await)
                .await
                .expect("events");
            if found.data.is_empty() {
                missing.push(name);
            }
        }
        assert!(
            checked >= 30,
            "every write and danger tool was called ({checked})"
        );
        assert!(
            missing.is_empty(),
            "write/danger tools whose call left no audit event: {missing:?}"
        );
    })
    .await;
}
