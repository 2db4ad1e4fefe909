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
        "revoke_api_key" => {
            let key = ok(client, "create_api_key", json!({"name": "fixture"})).await;
            not_found(json!({"key_id": id(&key)}))
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
        _ => None,
    }
}

/// Arguments for a danger tool's call: its fixture's, or none when it acts
/// on the whole project.
pub async fn danger_args(
    tool: &str,
    client: &Client,
    url: &str,
    has_id_arguments: bool,
) -> Option<Value> {
    if !has_id_arguments {
        return Some(json!({}));
    }
    fixture(tool, client, url, &[]).await.map(|f| f.args)
}
