//! Fixtures the registry-derived tests need, one arm per tool: the object a
//! tool with an id argument acts on, made in the caller's project. A new
//! tool with an id argument and no arm here fails those tests with its
//! name, so it cannot ship without a tenant-isolation check.

use serde_json::{Value, json};

use crate::common::{Client, ok, signed_in_user};

/// What a tool called with another project's object must do.
pub enum Expect {
    /// Refuse with not_found.
    NotFound,
    /// Answer, showing none of these (the other project's identifiers):
    /// tools whose id arguments are filters.
    Shows(Vec<String>),
}

pub struct Fixture {
    pub args: Value,
    pub expect: Expect,
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

/// Arguments naming an object made for `tool` in `client`'s project, or
/// `None` when no fixture exists for it. `own` are identifiers of that
/// project that another project must never see.
pub async fn fixture(tool: &str, client: &Client, url: &str, own: &[String]) -> Option<Fixture> {
    let not_found = |args: Value| {
        Some(Fixture {
            args,
            expect: Expect::NotFound,
        })
    };
    match tool {
        "remove_callback" => {
            let url = format!("https://fixture.example.com/{}", ulid::Ulid::new());
            let cb = ok(client, "add_callback", json!({ "url": url })).await;
            not_found(json!({"callback_id": id(&cb)}))
        }
        "update_webhook_endpoint" | "delete_webhook_endpoint" | "rotate_webhook_secret" => {
            let (ep, _) = crate::webhooks::fixture_endpoint(client).await;
            not_found(json!({"endpoint_id": id(&ep)}))
        }
        "replay_webhook_delivery" => {
            let (_, delivery) = crate::webhooks::fixture_endpoint(client).await;
            not_found(json!({"delivery_id": id(&delivery)}))
        }
        "list_webhook_deliveries" => {
            // A filter: the other project's endpoint has no delivery here.
            let (ep, _) = crate::webhooks::fixture_endpoint(client).await;
            Some(Fixture {
                args: json!({"endpoint_id": id(&ep), "limit": 100}),
                expect: Expect::Shows(own.to_vec()),
            })
        }
        "revoke_api_key" => {
            let key = ok(client, "create_api_key", json!({"name": "fixture"})).await;
            not_found(json!({"key_id": id(&key)}))
        }
        "acknowledge_security_alert" | "resolve_security_alert" => {
            not_found(json!({"alert_id": open_alert(client, url).await}))
        }
        "list_audit_events" => {
            // Filters: an id of the other project matches nothing of it.
            let me = ok(client, "whoami", json!({})).await;
            Some(Fixture {
                args: json!({"actor_id": id(&me), "limit": 100}),
                expect: Expect::Shows(own.to_vec()),
            })
        }
        "get_end_user"
        | "delete_end_user"
        | "remove_user_mfa"
        | "send_password_reset"
        | "resend_verification_email" => {
            let s = signed_in_user(url, client).await;
            not_found(json!({"user_id": s["user"]["id"]}))
        }
        "set_email_verified" => {
            let s = signed_in_user(url, client).await;
            not_found(json!({"user_id": s["user"]["id"], "verified": true}))
        }
        "get_session" | "revoke_session" => {
            let s = signed_in_user(url, client).await;
            not_found(json!({"session_id": s["session_id"]}))
        }
        "list_sessions" => {
            // A filter: the other project's user has no session here.
            let s = signed_in_user(url, client).await;
            Some(Fixture {
                args: json!({"user_id": s["user"]["id"], "limit": 100}),
                expect: Expect::Shows(own.to_vec()),
            })
        }
        "get_org" | "delete_org" | "list_org_members" | "list_org_invitations" => {
            let org = new_org(client).await;
            not_found(json!({"org_id": org}))
        }
        "update_org" => {
            let org = new_org(client).await;
            not_found(json!({"org_id": org, "name": "Renamed"}))
        }
        "list_user_memberships" => {
            let (_, user, _) = org_with_member(client, url).await;
            not_found(json!({"user_id": user}))
        }
        "check_rbac_permission" => {
            let (org, user, _) = org_with_member(client, url).await;
            not_found(
                json!({"user_id": user, "org_id": org, "resource": "posts", "action": "read"}),
            )
        }
        "get_user_entitlements" | "get_usage_summary" | "export_user_data" => {
            let s = signed_in_user(url, client).await;
            not_found(json!({"user_id": s["user"]["id"]}))
        }
        "create_billing_migration" => {
            let (from, to) = two_plans(client).await;
            not_found(json!({"from_plan_id": from, "to_plan_id": to}))
        }
        "get_billing_migration" | "execute_billing_migration" => {
            let migration = migration_with_one_subscription(client, url).await;
            not_found(json!({"migration_id": migration}))
        }
        "invite_org_member" => {
            let (org, role) = (new_org(client).await, new_role(client).await);
            not_found(
                json!({"org_id": org, "email": format!("{}@example.com", unique("inv")), "role": role}),
            )
        }
        "revoke_org_invitation" => {
            let (org, role) = (new_org(client).await, new_role(client).await);
            let email = format!("{}@example.com", unique("inv"));
            let invitation = ok(
                client,
                "invite_org_member",
                json!({"org_id": org, "email": email, "role": role}),
            )
            .await;
            not_found(json!({"invitation_id": id(&invitation)}))
        }
        "add_org_member" => {
            let (org, role) = (new_org(client).await, new_role(client).await);
            let s = signed_in_user(url, client).await;
            not_found(json!({"org_id": org, "user_id": s["user"]["id"], "role": role}))
        }
        "update_org_member_role" | "remove_org_member" => {
            let (org, user, role) = org_with_member(client, url).await;
            let mut args = json!({"org_id": org, "user_id": user});
            if tool == "update_org_member_role" {
                args["role"] = json!(role);
            }
            not_found(args)
        }
        _ => None,
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A new role of `client`'s project: its key.
pub async fn new_role(client: &Client) -> String {
    let role = ok(
        client,
        "create_role",
        json!({"key": unique("fx-"), "permissions": ["posts:read"]}),
    )
    .await;
    role["key"].as_str().expect("key").to_owned()
}

/// A new organization of `client`'s project: its id.
pub async fn new_org(client: &Client) -> String {
    let org = ok(client, "create_org", json!({"name": unique("Fixture ")})).await;
    id(&org)
}

/// An organization with one member: (org id, user id, role key).
pub async fn org_with_member(client: &Client, url: &str) -> (String, String, String) {
    let (org, role) = (new_org(client).await, new_role(client).await);
    let s = signed_in_user(url, client).await;
    let user = s["user"]["id"].as_str().expect("user").to_owned();
    ok(
        client,
        "add_org_member",
        json!({"org_id": org, "user_id": user, "role": role}),
    )
    .await;
    (org, user, role)
}

/// Arguments for a danger tool's call: its fixture's, or none when it acts
/// on the whole project.
pub async fn danger_args(
    tool: &str, client: &Client, url: &str, has_id_arguments: bool,
) -> Option<Value> {
    // Danger tools that name their target without an id.
    if tool == "delete_role" {
        return Some(json!({"key": new_role(client).await}));
    }
    if !has_id_arguments {
        return Some(json!({}));
    }
    fixture(tool, client, url, &[]).await.map(|f| f.args)
}

/// Two plans with monthly USD prices: (from, to).
pub async fn two_plans(client: &Client) -> (String, String) {
    let from = ok(
        client,
        "create_billing_plan",
        json!({"name": unique("Old "), "monthly_price": 10}),
    )
    .await;
    let to = ok(
        client,
        "create_billing_plan",
        json!({"name": unique("New "), "monthly_price": 12}),
    )
    .await;
    (id(&from), id(&to))
}

/// A migration of one subscription (made through REST with a write key).
pub async fn migration_with_one_subscription(client: &Client, url: &str) -> String {
    let (from, to) = two_plans(client).await;
    let plans = ok(client, "list_billing_plans", json!({"limit": 100})).await;
    let price = plans["data"]
        .as_array()
        .expect("plans")
        .iter()
        .find(|p| p["id"] == json!(from))
        .expect("from plan")["prices"][0]["id"]
        .clone();
    let key = ok(
        client,
        "create_api_key",
        json!({"name": "billing", "scopes": ["write"]}),
    )
    .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let s = signed_in_user(url, client).await;
    let sub = crate::common::rest(
        reqwest::Method::POST,
        url,
        "/api/v1/subscriptions",
        None,
        Some(&key),
        Some(json!({"user_id": s["user"]["id"], "price_id": price})),
    )
    .await;
    assert_eq!(sub.status, 201, "{sub:?}");
    let m = ok(
        client,
        "create_billing_migration",
        json!({"from_plan_id": from, "to_plan_id": to}),
    )
    .await;
    id(&m)
}

/// An open security alert in `client`'s project: a revoked key used again.
pub async fn open_alert(client: &Client, url: &str) -> String {
    let key = ok(client, "create_api_key", json!({"name": "leaked"})).await;
    ok(client, "revoke_api_key", json!({"key_id": key["id"]})).await;
    let secret = key["key"].as_str().expect("the key").to_owned();
    let resp = crate::common::post_raw(
        &format!("{url}/api/mcp"),
        Some(&secret),
        crate::common::initialize_body(),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 401);
    let open = ok(
        client,
        "list_security_alerts",
        json!({"status": "open", "limit": 100}),
    )
    .await;
    open["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|a| a["subject"] == key["id"])
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .expect("an alert for the revoked key")
}
