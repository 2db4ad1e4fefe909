//! Billing through the real MCP client and the REST API, on every backend.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, err, ok, rest, run_sql, sign_up};

const PASSWORD: &str = "correct horse battery";

fn cents(plan: &Value) -> Vec<i64> {
    plan["prices"]
        .as_array()
        .expect("prices")
        .iter()
        .map(|p| p["amount_cents"].as_i64().expect("cents"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_subscriptions_usage_and_entitlements() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();

        // The seed: Free, Pro ($19/mo) and Enterprise ($99/mo).
        ok(
            c,
            "create_billing_plan",
            json!({"name": "Free", "features": [{"key": "api_calls", "limit": 100}]}),
        )
        .await;
        let pro = ok(c, "create_billing_plan", json!({"name": "Pro", "monthly_price": 19, "yearly_price": "190.00", "features": [{"key": "api_calls", "limit": 10000}, {"key": "sso"}]})).await;
        ok(c, "create_billing_plan", json!({"name": "Enterprise", "monthly_price": "99", "features": [{"key": "api_calls"}, {"key": "sso"}]})).await;
        let plans = ok(c, "list_billing_plans", json!({})).await;
        let keys: Vec<&str> = plans["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|p| p["key"].as_str().expect("key"))
            .collect();
        assert_eq!(keys, ["free", "pro", "enterprise"]);
        assert_eq!(
            cents(&plans["data"][0]),
            Vec::<i64>::new(),
            "free: no price"
        );
        assert_eq!(cents(&plans["data"][1]), [1900, 19000]);
        assert_eq!(cents(&plans["data"][2]), [9900]);
        assert_eq!(plans["data"][1]["prices"][0]["amount"], "19.00");
        assert_eq!(plans["data"][1]["prices"][0]["interval"], "month");
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["billing_plans"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            status["billing_plans"], plans["data"],
            "the status lists the same plans with the same prices"
        );

        // Money is exact and named when wrong.
        for (field, value) in [
            ("monthly_price", json!(19.999)),
            ("monthly_price", json!(-1)),
            ("yearly_price", json!("ten")),
            ("monthly_price", json!("1e3")),
        ] {
            let e = err(
                c,
                "create_billing_plan",
                json!({"name": "Bad", field: value}),
                "invalid_argument",
            )
            .await;
            assert_eq!(e["field"], field, "{value}");
        }
        for (args, code, field) in [
            (
                json!({"name": "Bad", "currency": "xyz"}),
                "invalid_argument",
                "currency",
            ),
            (json!({"name": "Pro"}), "conflict", "key"),
            (
                json!({"name": "B", "features": [{"key": "a", "limit": -1}]}),
                "invalid_argument",
                "features[0].limit",
            ),
        ] {
            let e = err(c, "create_billing_plan", args.clone(), code).await;
            assert_eq!(e["field"], field, "{args}");
        }
        let yen = ok(
            c,
            "create_billing_plan",
            json!({"name": "Tokyo", "monthly_price": 1000, "currency": "JPY"}),
        )
        .await;
        assert_eq!(yen["prices"][0]["amount"], "1000");

        // Subscriptions through REST with a key.
        let ada = sign_up(&url, &p, "ada@acme.com", PASSWORD).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let bob = sign_up(&url, &p, "bob@acme.com", PASSWORD).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let monthly = pro["prices"][0]["id"].clone();
        let subscribe = async |user: &str, price: &Value, key: &str| {
            rest(
                Method::POST,
                &url,
                "/api/v1/subscriptions",
                None,
                Some(key),
                Some(json!({"user_id": user, "price_id": price})),
            )
            .await
        };
        let s = subscribe(&ada, &monthly, &gw.admin_key).await;
        assert_eq!(s.status, 201, "{s:?}");
        let sub = s.body["subscription"].clone();
        assert_eq!(sub["status"], "active");
        assert_eq!(sub["price"]["amount_cents"], 1900);
        subscribe(&ada, &monthly, &gw.admin_key)
            .await
            .refused(409, "conflict");
        subscribe(
            &bob,
            &json!("price_01JD8X3V9Q4K7M2N5P6R8S0T1W"),
            &gw.admin_key,
        )
        .await
        .refused(404, "not_found");
        assert_eq!(
            subscribe(&bob, &json!("nope"), &gw.admin_key)
                .await
                .refused(400, "invalid_argument")["field"],
            "price_id"
        );
        let read_key = ok(
            c,
            "create_api_key",
            json!({"name": "reader", "scopes": ["read"]}),
        )
        .await["key"]
            .as_str()
            .expect("key")
            .to_owned();
        subscribe(&bob, &monthly, &read_key)
            .await
            .refused(403, "permission_denied");
        rest(
            Method::POST,
            &url,
            "/api/v1/subscriptions",
            None,
            None,
            Some(json!({})),
        )
        .await
        .refused(401, "unauthenticated");

        // Usage: accepted, duplicates, and rejections by index.
        let events = json!([
            {"user_id": ada, "meter": "api_calls", "quantity": 40, "idempotency_key": "e1"},
            {"user_id": ada, "meter": "api_calls", "quantity": 2, "idempotency_key": "e2", "timestamp": chrono::Utc::now().to_rfc3339()},
            {"user_id": ada, "meter": "sso", "quantity": 1, "idempotency_key": "e3"},
            {"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "meter": "api_calls", "quantity": 1, "idempotency_key": "e4"},
            {"user_id": ada, "meter": "api_calls", "quantity": 0, "idempotency_key": "e5"},
            {"user_id": ada, "meter": "api_calls", "quantity": 40, "idempotency_key": "e1"},
            {"user_id": bob, "meter": "api_calls", "quantity": 5, "idempotency_key": "e6"}
        ]);
        let r = ok(c, "report_usage", json!({"events": events})).await;
        assert_eq!(
            (r["accepted"].clone(), r["duplicates"].clone()),
            (json!(3), json!(1)),
            "{r}"
        );
        let rejected: Vec<(i64, String)> = r["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .map(|x| {
                (
                    x["index"].as_i64().expect("i"),
                    x["code"].as_str().expect("c").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            rejected,
            [
                (2, "invalid_argument".to_owned()),
                (3, "not_found".to_owned()),
                (4, "invalid_argument".to_owned())
            ]
        );
        // A retry counts nothing twice; a key reused for another event is a conflict.
        let again = ok(
            c,
            "report_usage",
            json!({"events": [
                {"user_id": ada, "meter": "api_calls", "quantity": 40, "idempotency_key": "e1"},
                {"user_id": ada, "meter": "api_calls", "quantity": 41, "idempotency_key": "e2"}
            ]}),
        )
        .await;
        assert_eq!(again["accepted"], 0);
        assert_eq!(again["duplicates"], 1);
        assert_eq!(again["rejected"][0]["code"], "conflict");
        err(
            c,
            "report_usage",
            json!({"events": []}),
            "invalid_argument",
        )
        .await;

        let ent = ok(c, "get_user_entitlements", json!({"user_id": ada})).await;
        assert_eq!(ent["plan"]["key"], "pro");
        let api = ent["entitlements"]
            .as_array()
            .expect("e")
            .iter()
            .find(|e| e["feature"] == "api_calls")
            .expect("api")
            .clone();
        assert_eq!(
            (
                api["limit"].clone(),
                api["used"].clone(),
                api["remaining"].clone()
            ),
            (json!(10000), json!(42), json!(9958))
        );
        let sso = ent["entitlements"]
            .as_array()
            .expect("e")
            .iter()
            .find(|e| e["feature"] == "sso")
            .expect("sso")
            .clone();
        assert_eq!(sso["limit"], Value::Null);
        let none = ok(c, "get_user_entitlements", json!({"user_id": bob})).await;
        assert_eq!(none["subscription"], Value::Null);
        assert_eq!(none["entitlements"], json!([]));
        let summary = ok(c, "get_usage_summary", json!({})).await;
        assert_eq!(
            summary["meters"],
            json!([{"meter": "api_calls", "quantity": 47}])
        );
        let mine = ok(
            c,
            "get_usage_summary",
            json!({"user_id": ada, "meter": "api_calls"}),
        )
        .await;
        assert_eq!(
            mine["users"],
            json!([{"user_id": ada, "meter": "api_calls", "quantity": 42}])
        );
        err(
            c,
            "get_usage_summary",
            json!({"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}),
            "not_found",
        )
        .await;

        // Cancel at period end, then now.
        let id = sub["id"].as_str().expect("id").to_owned();
        let del = |q: &str| format!("/api/v1/subscriptions/{id}{q}");
        let later = rest(
            Method::DELETE,
            &url,
            &del(""),
            None,
            Some(&gw.admin_key),
            None,
        )
        .await;
        assert_eq!(later.status, 200, "{later:?}");
        assert_eq!(later.body["subscription"]["cancel_at_period_end"], true);
        assert_eq!(later.body["subscription"]["status"], "active");
        let now = rest(
            Method::DELETE,
            &url,
            &del("?immediately=true"),
            None,
            Some(&gw.admin_key),
            None,
        )
        .await;
        assert_eq!(now.body["subscription"]["status"], "canceled");
        rest(
            Method::DELETE,
            &url,
            &del("?immediately=true"),
            None,
            Some(&gw.admin_key),
            None,
        )
        .await
        .refused(409, "conflict");
        assert_eq!(
            ok(c, "get_user_entitlements", json!({"user_id": ada})).await["subscription"],
            Value::Null
        );
        let events = common::stored_events(gw, Default::default()).await;
        assert!(
            events
                .iter()
                .any(|e| e.event_type == "subscription.created")
        );
        assert!(
            events
                .iter()
                .any(|e| e.event_type == "subscription.canceled")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_of_the_same_events_count_once() {
    common::each_backend(&[], async |gw| {
        let url = gw.url();
        let p = gw.project_id.clone();
        let c = Arc::new(common::connect(&gw.mcp_url(), &gw.admin_key).await);
        ok(&c, "create_billing_plan", json!({"name": "Metered", "features": [{"key": "api_calls", "limit": 1000000000}, {"key": "storage", "limit": 1000000000}]})).await;
        let mut users = Vec::new();
        for i in 0..4 {
            users.push(
                sign_up(&url, &p, &format!("u{i}@acme.com"), PASSWORD).await["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            );
        }
        // 10,000 events in 10 batches of 1,000, the same for every reporter.
        let batches: Arc<Vec<Value>> = Arc::new(
            (0..10)
                .map(|b| {
                    Value::Array(
                        (0..1000)
                            .map(|i| {
                                let n = b * 1000 + i;
                                json!({
                                    "user_id": users[n % 4],
                                    "meter": if n % 3 == 0 { "storage" } else { "api_calls" },
                                    "quantity": 1 + n % 7,
                                    "timestamp": "2026-11-27T00:00:00Z",
                                    "idempotency_key": format!("evt-{n}"),
                                })
                            })
                            .collect(),
                    )
                })
                .collect(),
        );
        let expected: i64 = (0..10_000).map(|n| 1 + (n % 7) as i64).sum();
        let reporters = (0..8).map(|r| {
            let (c, batches) = (c.clone(), batches.clone());
            tokio::spawn(async move {
                let (mut accepted, mut duplicates) = (0, 0);
                for k in 0..10 {
                    // Each reporter walks the batches in its own order.
                    let batch = &batches[(k + r) % 10];
                    let out = ok(&c, "report_usage", json!({"events": batch})).await;
                    assert_eq!(out["rejected"], json!([]), "{out}");
                    accepted += out["accepted"].as_i64().expect("accepted");
                    duplicates += out["duplicates"].as_i64().expect("duplicates");
                }
                (accepted, duplicates)
            })
        });
        let results = futures::future::join_all(reporters).await;
        let accepted: i64 = results.iter().map(|r| r.as_ref().expect("task").0).sum();
        let duplicates: i64 = results.iter().map(|r| r.as_ref().expect("task").1).sum();
        assert_eq!(accepted, 10_000, "each event counted once [{}]", gw.backend);
        assert_eq!(duplicates, 70_000);
        // The stored total equals one report's.
        let counted = common::query_n(
            gw.store(),
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS n FROM usage_events",
        )
        .await;
        assert_eq!(counted, expected, "[{}]", gw.backend);
        // The same key with another quantity is a conflict.
        let clash = ok(&c, "report_usage", json!({"events": [{"user_id": users[0], "meter": "api_calls", "quantity": 999, "timestamp": "2026-11-27T00:00:00Z", "idempotency_key": "evt-0"}]})).await;
        assert_eq!(clash["rejected"][0]["code"], "conflict");
    })
    .await;
}

/// Raw Streamable HTTP: a session, then a tools/call with a progressToken;
/// the whole SSE answer as text.
async fn call_with_progress(gw: &common::Gateway, tool: &str, args: Value) -> String {
    let init = common::post_raw(
        &gw.mcp_url(),
        Some(&gw.admin_key),
        common::initialize_body(),
        &[],
    )
    .await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .expect("session")
        .to_owned();
    let _ = init.text().await;
    let extra = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let _ = common::post_raw(
        &gw.mcp_url(),
        Some(&gw.admin_key),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        &extra,
    )
    .await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args, "_meta": {"progressToken": "mig-progress"}}});
    let resp = common::post_raw(&gw.mcp_url(), Some(&gw.admin_key), call.to_string(), &extra).await;
    resp.text().await.expect("body")
}

/// `n` end users made directly in the database (sign-ups from one address
/// are throttled): their ids.
pub(crate) async fn bulk_users(
    store: &authgate_store::Store, project: &str, prefix: &str, n: usize,
) -> Vec<String> {
    use authgate_store::with_conn;
    use diesel_async::RunQueryDsl;
    let ids: Vec<String> = (0..n).map(|_| authgate_core::new_id("usr")).collect();
    let at = authgate_core::time::to_micros(chrono::Utc::now());
    store
        .write(async |conn| {
            for (i, id) in ids.iter().enumerate() {
                let q = format!(
                    "INSERT INTO end_users (id, project_id, email, name, email_verified, metadata, created_at, updated_at) \
                     VALUES ('{id}', '{project}', '{prefix}{i}@bulk.example.com', NULL, TRUE, '{{}}', {at}, {at})"
                );
                with_conn!(conn, c => { diesel::sql_query(q.as_str()).execute(c).await?; });
            }
            Ok::<_, authgate_core::ToolError>(())
        })
        .await
        .expect("users");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_migrations_map_prices_and_report_progress() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let old = ok(
            c,
            "create_billing_plan",
            json!({"name": "Old", "monthly_price": 10, "yearly_price": 100}),
        )
        .await;
        let new = ok(
            c,
            "create_billing_plan",
            json!({"name": "New", "monthly_price": 12}),
        )
        .await;
        let users = bulk_users(gw.store(), &gw.project_id, "m", 250).await;
        for (i, u) in users.iter().enumerate() {
            // Every 50th on the yearly price, which the new plan lacks.
            let price = if i % 50 == 0 {
                &old["prices"][1]["id"]
            } else {
                &old["prices"][0]["id"]
            };
            let s = rest(
                Method::POST,
                &url,
                "/api/v1/subscriptions",
                None,
                Some(&gw.admin_key),
                Some(json!({"user_id": u, "price_id": price})),
            )
            .await;
            assert_eq!(s.status, 201, "{s:?}");
        }
        let m = ok(
            c,
            "create_billing_migration",
            json!({"from_plan_id": old["id"], "to_plan_id": new["id"]}),
        )
        .await;
        assert_eq!(
            m["counts"],
            json!({"pending": 245, "completed": 0, "failed": 5})
        );
        let detail = ok(c, "get_billing_migration", json!({"migration_id": m["id"]})).await;
        assert!(
            detail["items"]["failed"][0]["reason"]
                .as_str()
                .expect("reason")
                .contains("year"),
            "{detail}"
        );
        // Each item names whose subscription it is.
        let first = &detail["items"]["pending"][0];
        let owner = ok(c, "get_end_user", json!({"user_id": first["user_id"]})).await;
        assert_eq!(first["email"], owner["email"], "{first}");
        assert!(users.iter().any(|u| *u == first["user_id"]), "{first}");
        // One subscription changes price after the migration was planned.
        let changed = &users[2];
        run_sql(
            gw.store(),
            &[&format!(
                "UPDATE subscriptions SET price_id = '{}' WHERE user_id = '{changed}'",
                old["prices"][1]["id"].as_str().expect("yearly")
            )],
        )
        .await;
        err(
            c,
            "create_billing_migration",
            json!({"from_plan_id": old["id"], "to_plan_id": old["id"]}),
            "invalid_argument",
        )
        .await;
        let dry = ok(
            c,
            "execute_billing_migration",
            json!({"migration_id": m["id"], "dry_run": true}),
        )
        .await;
        assert_eq!(dry["cascade"]["subscriptions"], 245);
        let text = call_with_progress(
            gw,
            "execute_billing_migration",
            json!({"migration_id": m["id"]}),
        )
        .await;
        assert!(
            text.matches("notifications/progress").count() >= 3,
            "progress for each batch: {text}"
        );
        assert!(text.contains("\"subscriptions\":244"), "{text}");
        let done = ok(c, "get_billing_migration", json!({"migration_id": m["id"]})).await;
        assert_eq!(
            done["counts"],
            json!({"pending": 0, "completed": 244, "failed": 6})
        );
        let failed_changed = done["items"]["failed"]
            .as_array()
            .expect("failed")
            .iter()
            .find(|i| i["user_id"] == json!(changed))
            .unwrap_or_else(|| panic!("the changed subscription's item failed: {done}"));
        assert!(
            failed_changed["reason"]
                .as_str()
                .expect("reason")
                .contains("changed price since the migration was planned"),
            "{failed_changed}"
        );
        let stayed = ok(c, "get_user_entitlements", json!({"user_id": changed})).await;
        assert_eq!(stayed["plan"]["id"], old["id"], "not moved: {stayed}");
        assert!(done["completed_at"].is_string());
        // Running it again moves nothing; the moved users are on the new plan.
        let again = ok(
            c,
            "execute_billing_migration",
            json!({"migration_id": m["id"]}),
        )
        .await;
        assert_eq!(again["cascade"]["subscriptions"], 0);
        let ent = ok(c, "get_user_entitlements", json!({"user_id": users[1]})).await;
        assert_eq!(ent["plan"]["id"], new["id"]);
        assert_eq!(ent["subscription"]["price"]["amount_cents"], 1200);
        let kept = ok(c, "get_user_entitlements", json!({"user_id": users[0]})).await;
        assert_eq!(kept["plan"]["id"], old["id"], "a failed item stays");
    })
    .await;
}

/// The real binary is killed (SIGKILL) while it executes a migration of
/// 2,000 subscriptions; run again, it moves exactly the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_killed_midway_resumes_and_moves_each_subscription_once() {
    use crate::cli::{first_run_key, free_port, serve};
    for db in common::databases().await {
        let dir = std::env::temp_dir().join(format!("authgate-mig-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("dir");
        let env_for = |port: u16| crate::cli::server_env(&db, port);
        let port = free_port();
        let (running, lines) = serve(&dir, &env_for(port), port);
        let key = first_run_key(&lines);
        let url = format!("http://127.0.0.1:{port}/api/mcp");
        let c = Arc::new(common::connect(&url, &key).await);
        let project = ok(&c, "whoami", json!({})).await["project"]["id"]
            .as_str()
            .expect("project")
            .to_owned();
        let store = match db.backend {
            authgate_store::Backend::Postgres => db.store().await,
            authgate_store::Backend::Sqlite => authgate_store::Store::open(
                &format!("sqlite://{}", dir.join("data/authgate.db").display()),
                authgate_store::StoreOptions::default(),
            )
            .await
            .expect("the server's database"),
        };
        let old = ok(
            &c,
            "create_billing_plan",
            json!({"name": "Old", "monthly_price": 10}),
        )
        .await;
        let new = ok(
            &c,
            "create_billing_plan",
            json!({"name": "New", "monthly_price": 12}),
        )
        .await;
        let (from_price, to_price) = (
            old["prices"][0]["id"].as_str().expect("p").to_owned(),
            new["prices"][0]["id"].as_str().expect("p").to_owned(),
        );
        let users = bulk_users(&store, &project, "k", 2000).await;
        {
            use authgate_store::with_conn;
            use diesel_async::RunQueryDsl;
            let (plan, at) = (
                old["id"].as_str().expect("id").to_owned(),
                authgate_core::time::to_micros(chrono::Utc::now()),
            );
            let end = at + 30 * 86_400_000_000;
            store
                .write(async |conn| {
                    for u in &users {
                        let q = format!(
                            "INSERT INTO subscriptions (id, project_id, user_id, plan_id, price_id, status, current_period_start, current_period_end, cancel_at_period_end, canceled_at, created_at, updated_at) \
                             VALUES ('{}', '{project}', '{u}', '{plan}', '{from_price}', 'active', {at}, {end}, FALSE, NULL, {at}, {at})",
                            authgate_core::new_id("sub")
                        );
                        with_conn!(conn, c => { diesel::sql_query(q.as_str()).execute(c).await?; });
                    }
                    Ok::<_, authgate_core::ToolError>(())
                })
                .await
                .expect("subscriptions");
        }
        let m = ok(
            &c,
            "create_billing_migration",
            json!({"from_plan_id": old["id"], "to_plan_id": new["id"]}),
        )
        .await;
        assert_eq!(m["counts"]["pending"], 2000);
        let id = m["id"].as_str().expect("id").to_owned();
        let completed = format!(
            "SELECT COUNT(*) AS n FROM billing_migration_items WHERE migration_id = '{id}' AND status = 'completed'"
        );

        // Execute, and kill the process once some items have moved.
        let runner = {
            let (c, id) = (c.clone(), id.clone());
            tokio::spawn(async move {
                common::call_raw_result(
                    &c,
                    "execute_billing_migration",
                    json!({"migration_id": id}),
                )
                .await
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while common::query_n(&store, &completed).await < 100 {
            assert!(
                std::time::Instant::now() < deadline,
                "the migration did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(running);
        // The client may keep trying to resume the dead stream: stop it.
        runner.abort();
        let before = common::query_n(&store, &completed).await;
        assert!(
            before < 2000,
            "killed midway ({before} moved) [{}]",
            db.backend.name()
        );
        let moved_subs = format!(
            "SELECT COUNT(*) AS n FROM subscriptions WHERE project_id = '{project}' AND price_id = '{to_price}'"
        );
        assert_eq!(
            common::query_n(&store, &moved_subs).await,
            before,
            "every completed item moved its subscription, and only those"
        );

        // Run again on a fresh process: it moves exactly the rest.
        let port2 = free_port();
        let (_running2, _) = serve(&dir, &env_for(port2), port2);
        let c2 = common::connect(&format!("http://127.0.0.1:{port2}/api/mcp"), &key).await;
        let out = ok(
            &c2,
            "execute_billing_migration",
            json!({"migration_id": id}),
        )
        .await;
        assert_eq!(
            out["cascade"]["subscriptions"],
            json!(2000 - before),
            "[{}]",
            db.backend.name()
        );
        assert_eq!(
            out["migration"]["counts"],
            json!({"pending": 0, "completed": 2000, "failed": 0})
        );
        assert_eq!(common::query_n(&store, &moved_subs).await, 2000);
        let _ = c2.cancel().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
