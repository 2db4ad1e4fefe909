//! RBAC through the real MCP client and the REST check, on every backend:
//! the seed's example (an org, three members, resources, roles with grants
//! and an ownership condition), and the sync document.

use serde_json::{Value, json};

use crate::common::{self, err, ok, rest, sign_up};

const PASSWORD: &str = "correct horse battery";

fn seed_document() -> Value {
    json!({
        "resources": [
            {"key": "comments", "name": "Comments", "actions": ["read", "write", "delete"]},
            {"key": "posts", "name": "Posts", "actions": ["read", "write", "delete", "publish"]}
        ],
        "roles": [
            {"key": "admin", "name": "Admin", "permissions": ["*"], "is_default": false, "grants": []},
            {"key": "editor", "name": "Editor", "permissions": [], "is_default": false, "grants": [
                {"resource": "posts", "actions": ["read", "write"]},
                {"resource": "posts", "actions": ["delete", "publish"], "condition": "resource.owner_id == user.id"},
                {"resource": "comments", "actions": ["*"]}
            ]},
            {"key": "viewer", "name": "Viewer", "permissions": ["comments:read"], "is_default": true, "grants": [
                {"resource": "posts", "actions": ["read"]}
            ]}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_example_answers_the_same_over_mcp_and_rest() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();

        // The prompt: "create org Acme Corp, add 3 members, resources posts
        // and comments, admin/editor/viewer roles with grants".
        let org = ok(c, "create_org", json!({"name": "Acme Corp"})).await["id"].clone();
        ok(c, "create_rbac_resource", json!({"key": "posts", "name": "Posts", "actions": ["read", "write", "delete", "publish"]})).await;
        ok(
            c,
            "create_rbac_resource",
            json!({"key": "comments", "name": "Comments", "actions": ["read", "write", "delete"]}),
        )
        .await;
        err(
            c,
            "create_rbac_resource",
            json!({"key": "posts", "actions": ["read"]}),
            "conflict",
        )
        .await;
        let listed = ok(c, "list_rbac_resources", json!({})).await;
        assert_eq!(listed["data"][1]["key"], "posts");
        assert_eq!(
            listed["data"][1]["actions"],
            json!(["read", "write", "delete", "publish"])
        );
        assert_eq!(listed["data"][0]["archived"], false);
        assert_eq!(
            err(
                c,
                "create_rbac_resource",
                json!({"key": "x", "actions": []}),
                "invalid_argument"
            )
            .await["field"],
            "actions"
        );
        ok(
            c,
            "create_role",
            json!({"key": "admin", "name": "Admin", "permissions": ["*"]}),
        )
        .await;
        let editor = ok(c, "create_rbac_role", json!({"key": "editor", "name": "Editor", "grants": [
            {"resource": "posts", "actions": ["read", "write"]},
            {"resource": "posts", "actions": ["delete", "publish"], "condition": "resource.owner_id == user.id"},
            {"resource": "comments", "actions": ["*"]}
        ]})).await;
        assert_eq!(
            editor["grants"][1]["condition"],
            "resource.owner_id == user.id"
        );
        ok(c, "create_rbac_role", json!({"key": "viewer", "name": "Viewer", "grants": [{"resource": "posts", "actions": ["read"]}]})).await;
        ok(
            c,
            "update_role",
            json!({"key": "viewer", "permissions": ["comments:read"], "is_default": true}),
        )
        .await;
        // Grants are checked when saved: (grant, field, message fragment).
        for (grant, field, fragment) in [
            (
                json!({"resource": "invoices", "actions": ["read"]}),
                Some("grants[0].resource"),
                None,
            ),
            (
                json!({"resource": "posts", "actions": ["fly"]}),
                Some("grants[0].actions[0]"),
                None,
            ),
            (
                json!({"resource": "posts", "actions": ["read"], "condition": "resource.owner_id =="}),
                Some("grants[0].condition"),
                Some("line 1"),
            ),
            (
                json!({"resource": "posts", "actions": ["read"], "condition": "secrets.x == 1"}),
                None,
                Some("secrets"),
            ),
        ] {
            let args = json!({"key": "bad", "grants": [grant]});
            let e = err(c, "create_rbac_role", args, "invalid_argument").await;
            if let Some(field) = field {
                assert_eq!(e["field"], field, "{grant}: {e}");
            }
            if let Some(fragment) = fragment {
                assert!(
                    e["message"].as_str().expect("m").contains(fragment),
                    "{grant}: {e}"
                );
            }
        }

        let mut members = Vec::new();
        for (name, role) in [("alice", "admin"), ("erin", "editor"), ("vic", "viewer")] {
            let u = sign_up(&url, &p, &format!("{name}@acme.com"), PASSWORD).await["id"]
                .as_str()
                .expect("id")
                .to_owned();
            ok(
                c,
                "add_org_member",
                json!({"org_id": org, "user_id": u, "role": role}),
            )
            .await;
            members.push(u);
        }
        let outsider = sign_up(&url, &p, "olga@else.com", PASSWORD).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let (alice, erin, vic) = (&members[0], &members[1], &members[2]);
        let own = json!({"resource": {"owner_id": erin}});
        let other = json!({"resource": {"owner_id": vic}});
        // (user, resource, action, context, allowed)
        let cases: Vec<(&str, &str, &str, Value, bool)> = vec![
            (alice, "posts", "delete", json!({}), true),
            (alice, "billing", "anything", json!({}), true),
            (erin, "posts", "write", json!({}), true),
            (erin, "posts", "delete", own.clone(), true),
            (erin, "posts", "delete", other.clone(), false),
            (erin, "posts", "publish", own.clone(), true),
            (erin, "posts", "delete", json!({}), false),
            (erin, "comments", "delete", json!({}), true),
            (vic, "posts", "read", json!({}), true),
            (vic, "posts", "write", json!({}), false),
            (vic, "comments", "read", json!({}), true),
            (vic, "comments", "write", json!({}), false),
            (&outsider, "posts", "read", json!({}), false),
        ];
        let key = gw.admin_key.clone();
        for (user, resource, action, context, allowed) in &cases {
            let args = json!({"user_id": user, "org_id": org, "resource": resource, "action": action, "context": context});
            let d = ok(c, "check_rbac_permission", args).await;
            assert_eq!(
                d["allowed"],
                json!(allowed),
                "{user} {action} {resource} {context}: {d}"
            );
            // The REST check with a key answers the same.
            let r = rest(reqwest::Method::POST, &url, "/api/v1/permissions/check", None, Some(&key), Some(json!({
                "user_id": user, "org_id": org, "resource": resource, "action": action, "context": context
            }))).await;
            assert_eq!(r.status, 200, "{r:?}");
            assert_eq!(r.body, d, "REST and MCP give the same decision");
        }
        let d = ok(c, "check_rbac_permission", json!({"user_id": erin, "org_id": org, "resource": "posts", "action": "delete", "context": own})).await;
        assert_eq!(d["role"], "editor");
        assert_eq!(
            d["matched_grant"]["condition"],
            "resource.owner_id == user.id"
        );
        let d = ok(
            c,
            "check_rbac_permission",
            json!({"user_id": outsider, "org_id": org, "resource": "posts", "action": "read"}),
        )
        .await;
        assert_eq!(d["role"], Value::Null);
        assert!(
            d["reason"].as_str().expect("r").contains("not a member"),
            "{d}"
        );
        // A condition that cannot be evaluated (no owner_id given) denies, with the reason.
        let d = ok(c, "check_rbac_permission", json!({"user_id": erin, "org_id": org, "resource": "posts", "action": "delete", "context": {"resource": {}}})).await;
        assert_eq!(d["allowed"], false);
        assert!(
            d["reason"]
                .as_str()
                .expect("r")
                .contains("could not be evaluated"),
            "{d}"
        );
        err(c, "check_rbac_permission", json!({"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "org_id": org, "resource": "posts", "action": "read"}), "not_found").await;

        // With the user's own access token: user and organization from the token.
        let token = common::access_token(&url, &p, "erin@acme.com", PASSWORD).await;
        let r = rest(
            reqwest::Method::POST,
            &url,
            "/api/v1/permissions/check",
            None,
            Some(&token),
            Some(json!({"resource": "posts", "action": "write"})),
        )
        .await;
        r.refused(412, "precondition_failed");
        let active = rest(
            reqwest::Method::POST,
            &url,
            "/api/v1/auth/active-org",
            None,
            Some(&token),
            Some(json!({"org_id": org})),
        )
        .await;
        let scoped = active.body["access_token"].as_str().expect("t").to_owned();
        let r = rest(reqwest::Method::POST, &url, "/api/v1/permissions/check", None, Some(&scoped), Some(json!({"resource": "posts", "action": "delete", "context": {"resource": {"owner_id": erin}}}))).await;
        assert_eq!(r.body["allowed"], true, "{r:?}");
        let r = rest(reqwest::Method::POST, &url, "/api/v1/permissions/check", None, Some(&scoped), Some(json!({"resource": "posts", "action": "delete", "context": {"resource": {"owner_id": vic}}}))).await;
        assert_eq!(r.body["allowed"], false);
        let r = rest(
            reqwest::Method::POST,
            &url,
            "/api/v1/permissions/check",
            None,
            Some(&scoped),
            Some(json!({"resource": "posts", "action": "read", "user_id": alice})),
        )
        .await;
        assert_eq!(r.refused(400, "invalid_argument")["field"], "user_id");
        // A read-scoped key may not call it.
        let read_key = ok(
            c,
            "create_api_key",
            json!({"name": "reader", "scopes": ["read"]}),
        )
        .await["key"]
            .as_str()
            .expect("key")
            .to_owned();
        let r = rest(
            reqwest::Method::POST,
            &url,
            "/api/v1/permissions/check",
            None,
            Some(&read_key),
            Some(json!({"user_id": erin, "org_id": org, "resource": "posts", "action": "read"})),
        )
        .await;
        r.refused(403, "permission_denied");

        // The sync document round-trips: applying the stored state changes nothing.
        let state = ok(c, "get_rbac_sync_state", json!({})).await;
        assert_eq!(
            state,
            seed_document(),
            "the stored configuration as one document"
        );
        let plan = ok(c, "apply_rbac_sync", json!({"state": state})).await["plan"].clone();
        assert_eq!(plan["created"], json!([]));
        assert_eq!(plan["updated"], json!([]));
        assert_eq!(plan["archived"], json!([]));
        assert_eq!(plan["unchanged"].as_array().map(Vec::len), Some(5));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_rbac_sync_creates_updates_archives_and_is_idempotent() {
    common::each_backend_with_client(&[], async |gw, c| {
        let doc = seed_document();
        let dry = ok(c, "apply_rbac_sync", json!({"state": doc, "dry_run": true})).await;
        assert_eq!(dry["dry_run"], true);
        assert_eq!(
            dry["plan"]["created"],
            json!([
                "resource:comments",
                "resource:posts",
                "role:admin",
                "role:editor",
                "role:viewer"
            ])
        );
        assert_eq!(
            ok(c, "get_rbac_sync_state", json!({})).await,
            json!({"resources": [], "roles": []}),
            "a dry run changes nothing"
        );
        let real = ok(c, "apply_rbac_sync", json!({"state": doc})).await;
        assert_eq!(real["plan"], dry["plan"]);
        let again = ok(c, "apply_rbac_sync", json!({"state": doc})).await["plan"].clone();
        assert_eq!(again["unchanged"].as_array().map(Vec::len), Some(5));
        assert_eq!(again["created"].as_array().map(Vec::len), Some(0));
        assert_eq!(ok(c, "get_rbac_sync_state", json!({})).await, doc);

        // Change one role, drop another and a resource.
        let mut next = doc.clone();
        next["roles"][1]["name"] = json!("Writer");
        next["roles"].as_array_mut().expect("roles").remove(0);
        next["resources"]
            .as_array_mut()
            .expect("resources")
            .remove(0);
        next["roles"][0]["grants"]
            .as_array_mut()
            .expect("grants")
            .retain(|g| g["resource"] != "comments");
        next["roles"][1]["permissions"] = json!([]);
        let plan = ok(c, "apply_rbac_sync", json!({"state": next})).await["plan"].clone();
        assert_eq!(plan["updated"], json!(["role:editor", "role:viewer"]));
        assert_eq!(plan["archived"], json!(["resource:comments", "role:admin"]));
        assert_eq!(ok(c, "get_rbac_sync_state", json!({})).await, next);
        let roles = ok(c, "list_rbac_roles", json!({})).await;
        let admin = roles["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|r| r["key"] == "admin")
            .expect("kept")
            .clone();
        assert_eq!(admin["archived"], true, "archived, not deleted");
        // An archived role cannot be assigned; one held by members cannot be archived.
        let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();
        let u = sign_up(&gw.url(), &gw.project_id, "ada@acme.com", PASSWORD).await["id"].clone();
        err(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": u, "role": "admin"}),
            "invalid_argument",
        )
        .await;
        ok(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": u, "role": "editor"}),
        )
        .await;
        let mut without_editor = next.clone();
        without_editor["roles"]
            .as_array_mut()
            .expect("roles")
            .remove(0);
        let e = err(
            c,
            "apply_rbac_sync",
            json!({"state": without_editor}),
            "conflict",
        )
        .await;
        assert!(
            e["message"]
                .as_str()
                .expect("m")
                .contains("1 organization member"),
            "{e}"
        );
        assert_eq!(
            ok(c, "get_rbac_sync_state", json!({})).await,
            next,
            "a refused sync changes nothing"
        );
        // Bad documents name the field.
        let mut bad = next.clone();
        bad["roles"][0]["grants"][0]["actions"] = json!(["fly"]);
        let e = err(
            c,
            "apply_rbac_sync",
            json!({"state": bad}),
            "invalid_argument",
        )
        .await;
        assert_eq!(e["field"], "state.roles[0].grants[0].actions[0]");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_resources_by_key_stay_in_their_project() {
    common::each_backend_with_client(&[], async |gw, a| {
        let (_, b_key) = common::second_project(gw, "Project B").await;
        let b = common::connect(&gw.mcp_url(), &b_key).await;
        ok(
            &b,
            "create_rbac_resource",
            json!({"key": "secrets", "actions": ["read"]}),
        )
        .await;
        ok(
            &b,
            "create_rbac_role",
            json!({"key": "b-only", "grants": [{"resource": "secrets", "actions": ["read"]}]}),
        )
        .await;
        // A sees none of B's keys, and acting on them is not_found.
        for tool in [
            "list_roles",
            "list_rbac_roles",
            "list_rbac_resources",
            "get_rbac_sync_state",
            "get_project_status",
        ] {
            let out = ok(a, tool, json!({})).await.to_string();
            assert!(
                !out.contains("b-only") && !out.contains("secrets"),
                "{tool}: {out}"
            );
        }
        for (tool, args) in [
            ("update_role", json!({"key": "b-only", "name": "x"})),
            ("delete_role", json!({"key": "b-only", "dry_run": true})),
            ("delete_role", json!({"key": "b-only"})),
        ] {
            err(a, tool, args, "not_found").await;
        }
        let e = err(
            a,
            "create_rbac_role",
            json!({"key": "x", "grants": [{"resource": "secrets", "actions": ["read"]}]}),
            "invalid_argument",
        )
        .await;
        assert_eq!(e["field"], "grants[0].resource");
        // The same key may exist in both projects, each its own.
        ok(
            a,
            "create_role",
            json!({"key": "b-only", "permissions": ["posts:read"]}),
        )
        .await;
        let b_role = ok(&b, "list_rbac_roles", json!({})).await;
        assert_eq!(
            b_role["data"][0]["grants"][0]["resource"], "secrets",
            "B's role is untouched"
        );
        let _ = b.cancel().await;
    })
    .await;
}

/// Security review 2, fault 7: a write key could save a condition of
/// nested comprehensions over literal lists (10⁸ steps), which then pinned
/// a worker on every check any end user could trigger. The hostile corpus
/// is refused at save, each answer within a second; a condition that is
/// fine to save but would cost too much over a check's values is denied
/// with `condition_budget_exceeded` without running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_conditions_are_refused_and_budgets_hold() {
    let list = format!(
        "[{}]",
        (0..60).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    );
    let corpus = [
        format!("{list}.all(a, {list}.all(b, {list}.all(c, a + b + c >= 0)))"),
        format!("{list}.map(a, {list}.filter(b, b > a)).size() > 0"),
        format!("{}true{}", "(".repeat(2000), ")".repeat(2000)),
        format!("{}user.id{} == ''", "size(".repeat(40), ")".repeat(40)),
        (0..300).map(|_| "user.id").collect::<Vec<_>>().join(" + ") + " == ''",
        format!("'{}' == user.id", "x".repeat(1500)),
    ];
    common::each_backend_with_client(&[], async |gw, c| {
        ok(c, "create_rbac_resource", json!({"key": "posts", "actions": ["read"]})).await;
        for condition in &corpus {
            let call = err(
                c,
                "create_rbac_role",
                json!({"key": "bomb", "grants": [{"resource": "posts", "actions": ["read"], "condition": condition}]}),
                "invalid_argument",
            );
            let e = tokio::time::timeout(std::time::Duration::from_secs(1), call)
                .await
                .unwrap_or_else(|_| panic!("no answer within 1 s to {}", &condition[..40]));
            assert_eq!(e["field"], "grants[0].condition", "{e}");
        }
        ok(c, "create_rbac_role", json!({"key": "member", "grants": [
            {"resource": "posts", "actions": ["read"], "condition": "context.groups.exists(g, g == 'readers')"}
        ]}))
        .await;
        let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();
        let user = common::sign_up(&gw.url(), &gw.project_id, "cel@example.com", "a fine password").await["id"].clone();
        ok(c, "add_org_member", json!({"org_id": org, "user_id": user, "role": "member"})).await;
        let check = async |groups: Vec<String>| {
            let args = json!({"user_id": user, "org_id": org, "resource": "posts", "action": "read", "context": {"groups": groups}});
            let call = ok(c, "check_rbac_permission", args);
            tokio::time::timeout(std::time::Duration::from_secs(1), call)
                .await
                .expect("answered within 1 s")
        };
        let d = check(vec!["staff".into(), "readers".into()]).await;
        assert_eq!(d["allowed"], true, "{d}");
        let many = (0..5000).map(|i| format!("g{i}")).collect();
        let d = check(many).await;
        assert_eq!(d["allowed"], false, "{d}");
        assert!(
            d["reason"].as_str().unwrap_or_default().contains("condition_budget_exceeded"),
            "{d}"
        );
    })
    .await;
}
