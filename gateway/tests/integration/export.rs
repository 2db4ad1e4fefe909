//! export_user_data through the real MCP client, on every backend.

use reqwest::Method;
use serde_json::json;

use crate::common::{self, err, ok, rest, sign_in, sign_up};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_everything_about_the_user_and_nothing_of_another() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.acme.com/cb"}),
        )
        .await;
        ok(
            c,
            "create_role",
            json!({"key": "member", "is_default": true}),
        )
        .await;
        let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();
        let plan = ok(c, "create_billing_plan", json!({"name": "Pro", "monthly_price": 19, "features": [{"key": "api_calls", "limit": 100}]})).await;
        let mut ids = Vec::new();
        for (i, email) in ["ada@acme.com", "bob@acme.com"].iter().enumerate() {
            let u = sign_up(&url, &p, email, PASSWORD).await["id"]
                .as_str()
                .expect("id")
                .to_owned();
            sign_in(&url, &p, email, PASSWORD).await;
            ok(c, "add_org_member", json!({"org_id": org, "user_id": u})).await;
            let s = rest(
                Method::POST,
                &url,
                "/api/v1/subscriptions",
                None,
                Some(&gw.admin_key),
                Some(json!({"user_id": u, "price_id": plan["prices"][0]["id"]})),
            )
            .await;
            assert_eq!(s.status, 201);
            ok(c, "report_usage", json!({"events": [{"user_id": u, "meter": "api_calls", "quantity": 7 + i, "idempotency_key": format!("x{i}")}]})).await;
            ids.push((u, email.to_string()));
        }
        ok(c, "invite_org_member", json!({"org_id": ok(c, "create_org", json!({"name": "Other"})).await["id"], "email": "ada@acme.com"})).await;
        let (ada, bob) = (&ids[0], &ids[1]);
        let out = ok(c, "export_user_data", json!({"user_id": ada.0})).await;
        assert_eq!(out["email"], "ada@acme.com");
        let data = &out["data"];
        assert_eq!(data["identity"]["profile"]["id"], json!(ada.0));
        assert_eq!(data["identity"]["password"]["set"], true);
        assert_eq!(data["sessions"].as_array().map(Vec::len), Some(1), "{data}");
        assert_eq!(data["organizations"]["memberships"][0]["org_id"], org);
        assert_eq!(
            data["organizations"]["invitations_to_email"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(data["billing"]["subscription"]["plan_id"], plan["id"]);
        assert_eq!(
            data["billing"]["usage_this_month"],
            json!([{"meter": "api_calls", "quantity": 7}])
        );
        let types: Vec<&str> = out["audit_events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["type"].as_str().expect("type"))
            .collect();
        for t in ["sign_up", "sign_in.succeeded", "subscription.created"] {
            assert!(types.contains(&t), "{t} in {types:?}");
        }
        // Nothing of the other user, and no secret.
        let text = out.to_string();
        assert!(
            !text.contains(&bob.0) && !text.contains(&bob.1),
            "another user's data leaked"
        );
        assert!(!text.contains("argon2") && !text.contains(PASSWORD));
        err(
            c,
            "export_user_data",
            json!({"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}),
            "not_found",
        )
        .await;
    })
    .await;
}
