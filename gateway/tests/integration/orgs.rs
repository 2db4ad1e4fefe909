//! Roles, organizations and members through the real MCP client, on every
//! backend.

use serde_json::{Value, json};

use crate::common::{self, err, ok, post, rest, sign_in, sign_up};

const PASSWORD: &str = "correct horse battery";

fn keys_of(list: &Value, field: &str) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v[field].as_str().expect("string").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_organizations_and_members_work_through_the_mcp_client() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();

        // Roles: one default at most, validated keys and permissions.
        ok(
            c,
            "create_role",
            json!({"key": "admin", "name": "Admin", "permissions": ["*"]}),
        )
        .await;
        let editor = ok(c, "create_role", json!({"key": "editor", "permissions": ["posts:read", "posts:write", "posts:read"], "is_default": true})).await;
        assert_eq!(editor["permissions"], json!(["posts:read", "posts:write"]));
        assert_eq!(editor["name"], "editor");
        ok(
            c,
            "create_role",
            json!({"key": "viewer", "permissions": ["posts:read", "comments:*"]}),
        )
        .await;
        for (args, code, field) in [
            (json!({"key": "admin"}), "conflict", None),
            (
                json!({"key": "x", "permissions": ["posts:read", "read"]}),
                "invalid_argument",
                Some("permissions[1]"),
            ),
            (json!({"key": "Bad Key"}), "invalid_argument", Some("key")),
        ] {
            let e = err(c, "create_role", args.clone(), code).await;
            if let Some(field) = field {
                assert_eq!(e["field"], field, "create_role({args})");
            }
        }
        ok(
            c,
            "update_role",
            json!({"key": "viewer", "is_default": true}),
        )
        .await;
        let roles = ok(c, "list_roles", json!({})).await;
        assert_eq!(keys_of(&roles, "key"), ["admin", "editor", "viewer"]);
        let defaults: Vec<&Value> = roles["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|r| r["is_default"] == true)
            .collect();
        assert_eq!(defaults.len(), 1, "one default: {roles}");
        assert_eq!(defaults[0]["key"], "viewer");
        err(
            c,
            "update_role",
            json!({"key": "nobody", "name": "x"}),
            "not_found",
        )
        .await;

        // Organizations: slugs from names, numbered when taken.
        let acme = ok(
            c,
            "create_org",
            json!({"name": "Acme Corp", "metadata": {"tier": "gold"}}),
        )
        .await;
        assert_eq!(acme["slug"], "acme-corp");
        assert_eq!(acme["metadata"]["tier"], "gold");
        let acme2 = ok(c, "create_org", json!({"name": "Acme Corp"})).await;
        assert_eq!(acme2["slug"], "acme-corp-2");
        for (args, code, field) in [
            (json!({"name": "Other", "slug": "acme-corp"}), "conflict", "slug"),
            (json!({"name": "X", "slug": "-x"}), "invalid_argument", "slug"),
            (json!({"name": "X", "metadata": [1]}), "invalid_argument", "metadata"),
        ] {
            let e = err(c, "create_org", args.clone(), code).await;
            assert_eq!(e["field"], field, "create_org({args})");
        }
        let org = acme["id"].as_str().expect("id").to_owned();

        // Members.
        let mut users = Vec::new();
        for name in ["ada", "bob", "cyd", "dan"] {
            let u = sign_up(&url, &p, &format!("{name}@acme.com"), PASSWORD).await;
            users.push(u["id"].as_str().expect("id").to_owned());
        }
        let m = ok(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": users[0]}),
        )
        .await;
        assert_eq!(m["role"], "viewer", "the default role");
        assert_eq!(m["email"], "ada@acme.com");
        ok(
            c,
            "add_org_member",
            json!({"org_id": "acme-corp", "user_id": users[1], "role": "admin"}),
        )
        .await;
        ok(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": users[2], "role": "editor"}),
        )
        .await;
        for (args, code, field) in [
            (
                json!({"org_id": org, "user_id": users[0]}),
                "conflict",
                None,
            ),
            (
                json!({"org_id": org, "user_id": users[3], "role": "owner"}),
                "invalid_argument",
                Some("role"),
            ),
            (
                json!({"org_id": org, "user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}),
                "not_found",
                None,
            ),
            (
                json!({"org_id": "no-such-org", "user_id": users[3]}),
                "not_found",
                None,
            ),
        ] {
            let e = err(c, "add_org_member", args.clone(), code).await;
            if let Some(field) = field {
                assert_eq!(e["field"], field, "add_org_member({args})");
            }
        }

        let page = ok(c, "list_org_members", json!({"org_id": org, "limit": 2})).await;
        assert_eq!(keys_of(&page, "user_id"), users[..2]);
        let rest_page = ok(
            c,
            "list_org_members",
            json!({"org_id": org, "limit": 2, "cursor": page["next_cursor"]}),
        )
        .await;
        assert_eq!(keys_of(&rest_page, "user_id"), users[2..3]);
        assert_eq!(rest_page["has_more"], false);
        let detail = ok(c, "get_org", json!({"org_id": "acme-corp"})).await;
        assert_eq!(detail["id"], json!(org));
        assert_eq!(detail["member_count"], 3);
        assert_eq!(detail["members"].as_array().map(Vec::len), Some(3));

        // The member limit: not below the count, and never passed.
        let e = err(
            c,
            "update_org",
            json!({"org_id": org, "member_limit": 2}),
            "conflict",
        )
        .await;
        assert_eq!(e["field"], "member_limit");
        let updated = ok(c, "update_org", json!({"org_id": org, "member_limit": 3, "name": "Acme Inc", "image_url": "https://cdn.acme.com/logo.png"})).await;
        assert_eq!(updated["name"], "Acme Inc");
        assert_eq!(updated["slug"], "acme-corp", "the slug stays unless given");
        err(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": users[3]}),
            "limit_exceeded",
        )
        .await;
        err(
            c,
            "update_org",
            json!({"org_id": org, "slug": "acme-corp-2"}),
            "conflict",
        )
        .await;

        // Roles held by members.
        let m = ok(
            c,
            "update_org_member_role",
            json!({"org_id": org, "user_id": users[0], "role": "editor"}),
        )
        .await;
        assert_eq!(m["role"], "editor");
        for (args, code) in [
            (
                json!({"org_id": org, "user_id": users[3], "role": "editor"}),
                "not_found",
            ),
            (
                json!({"org_id": org, "user_id": users[0], "role": "ghost"}),
                "invalid_argument",
            ),
        ] {
            err(c, "update_org_member_role", args, code).await;
        }
        let roles = ok(c, "list_roles", json!({})).await;
        let count_of = |key: &str| {
            roles["data"]
                .as_array()
                .expect("data")
                .iter()
                .find(|r| r["key"] == key)
                .expect("role")["member_count"]
                .clone()
        };
        assert_eq!(
            (count_of("admin"), count_of("editor"), count_of("viewer")),
            (json!(1), json!(2), json!(0))
        );
        let e = err(c, "delete_role", json!({"key": "admin"}), "conflict").await;
        assert!(
            e["message"]
                .as_str()
                .expect("m")
                .contains("1 organization member"),
            "{e}"
        );
        let dry = ok(
            c,
            "remove_org_member",
            json!({"org_id": org, "user_id": users[1], "dry_run": true}),
        )
        .await;
        assert_eq!(dry["member"]["role"], "admin");
        assert_eq!(
            ok(c, "get_org", json!({"org_id": org})).await["member_count"],
            3,
            "a dry run removes nothing"
        );
        ok(
            c,
            "remove_org_member",
            json!({"org_id": org, "user_id": users[1]}),
        )
        .await;
        err(
            c,
            "remove_org_member",
            json!({"org_id": org, "user_id": users[1]}),
            "not_found",
        )
        .await;
        let gone = ok(c, "delete_role", json!({"key": "admin"})).await;
        assert_eq!(gone["role"]["key"], "admin");

        // The user sees their organizations at GET /me.
        let s = sign_in(&url, &p, "ada@acme.com", PASSWORD).await;
        let me = rest(
            reqwest::Method::GET,
            &url,
            "/api/v1/me",
            None,
            s["access_token"].as_str(),
            None,
        )
        .await;
        assert_eq!(me.status, 200, "{me:?}");
        assert_eq!(
            me.body["memberships"],
            json!([{
                "org_id": org, "org_slug": "acme-corp", "org_name": "Acme Inc", "role": "editor",
                "joined_at": me.body["memberships"][0]["joined_at"],
            }])
        );

        // Project status lists real roles and organizations.
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["counts"]["organizations"], 2);
        assert_eq!(status["counts"]["roles"], 2);
        assert_eq!(
            status["organizations"][0]["slug"], "acme-corp-2",
            "newest first"
        );
        let role_keys: Vec<&str> = status["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .map(|r| r["key"].as_str().expect("key"))
            .collect();
        assert_eq!(role_keys, ["editor", "viewer"]);

        // list_orgs filters.
        let found = ok(c, "list_orgs", json!({"query": "INC"})).await;
        assert_eq!(keys_of(&found, "id"), std::slice::from_ref(&org));
        assert_eq!(found["data"][0]["member_count"], 2);
        assert_eq!(
            ok(c, "list_orgs", json!({"query": "%"})).await["data"],
            json!([])
        );

        // Deleting a member user, then the organization, cascades.
        let d = ok(
            c,
            "delete_end_user",
            json!({"user_id": users[2], "dry_run": true}),
        )
        .await;
        assert_eq!(d["cascade"]["memberships"], 1);
        let dry = ok(c, "delete_org", json!({"org_id": org, "dry_run": true})).await;
        assert_eq!(dry["cascade"]["memberships"], 2);
        let real = ok(c, "delete_org", json!({"org_id": org})).await;
        assert_eq!(real["cascade"], dry["cascade"]);
        err(c, "get_org", json!({"org_id": org}), "not_found").await;
        assert_eq!(
            ok(c, "list_roles", json!({})).await["data"][0]["member_count"],
            0
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_never_pass_the_member_limit() {
    common::each_backend(&[], async |gw| {
        let url = gw.url();
        let p = gw.project_id.clone();
        let c = std::sync::Arc::new(common::connect(&gw.mcp_url(), &gw.admin_key).await);
        ok(
            &c,
            "create_role",
            json!({"key": "member", "is_default": true}),
        )
        .await;
        let org = ok(
            &c,
            "create_org",
            json!({"name": "Small Team", "member_limit": 5}),
        )
        .await["id"]
            .clone();
        let mut users = Vec::new();
        for i in 0..20 {
            users.push(sign_up(&url, &p, &format!("u{i}@team.com"), PASSWORD).await["id"].clone());
        }
        let adds = users.iter().map(|u| {
            let (c, org, u) = (c.clone(), org.clone(), u.clone());
            tokio::spawn(async move {
                common::call_raw(&c, "add_org_member", json!({"org_id": org, "user_id": u})).await
            })
        });
        let results = futures::future::join_all(adds).await;
        let mut added = 0;
        for r in results {
            let r = r.expect("task");
            if r.is_error == Some(true) {
                let text = r
                    .content
                    .first()
                    .and_then(|b| b.as_text())
                    .map(|t| t.text.clone())
                    .unwrap_or_default();
                assert!(text.contains("limit_exceeded"), "{text}");
            } else {
                added += 1;
            }
        }
        assert_eq!(added, 5, "[{}]", gw.backend);
        assert_eq!(
            ok(&c, "get_org", json!({"org_id": org})).await["member_count"],
            5
        );
    })
    .await;
}

fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}

/// The newest mail to `to` that contains `needle` (waiting for it).
async fn mail(inbox: &authgate_email::testing::Inbox, to: &str, needle: &str) -> String {
    for _ in 0..100 {
        if let Some(text) = inbox
            .messages()
            .iter()
            .filter(|m| m.contains(&format!("To: {to}")))
            .map(|m| authgate_email::testing::part(m, "text/plain"))
            .rfind(|t| t.contains(needle))
        {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no mail to {to} with {needle}");
}

fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {text}"))
        + marker.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_and_the_active_organization_through_rest() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let url = gw.url();
        let p = gw.project_id.clone();
        ok(
            c,
            "create_role",
            json!({"key": "member", "is_default": true}),
        )
        .await;
        ok(
            c,
            "create_role",
            json!({"key": "admin", "permissions": ["*"]}),
        )
        .await;
        let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();

        // No callback URL yet: the link would lead nowhere.
        err(
            c,
            "invite_org_member",
            json!({"org_id": org, "email": "ada@acme.com"}),
            "precondition_failed",
        )
        .await;
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.acme.com/invite"}),
        )
        .await;
        let inv = ok(
            c,
            "invite_org_member",
            json!({"org_id": "acme", "email": "Ada@Acme.com", "role": "admin"}),
        )
        .await;
        assert_eq!(inv["email"], "ada@acme.com");
        assert_eq!(inv["status"], "pending");
        for (args, code, field) in [
            (
                json!({"org_id": org, "email": "ada@acme.com"}),
                "conflict",
                None,
            ),
            (
                json!({"org_id": org, "email": "nope"}),
                "invalid_argument",
                Some("email"),
            ),
        ] {
            let e = err(c, "invite_org_member", args.clone(), code).await;
            if let Some(field) = field {
                assert_eq!(e["field"], field, "invite_org_member({args})");
            }
        }
        let detail = ok(c, "get_org", json!({"org_id": org})).await;
        assert_eq!(detail["pending_invitations"][0]["id"], inv["id"]);
        let text = mail(inbox, "ada@acme.com", "invitation_token=").await;
        assert!(
            text.contains("https://app.acme.com/invite?invitation_token="),
            "{text}"
        );
        let token = after(&text, "invitation_token=").to_owned();
        assert!(
            !inv.to_string().contains(&token) && !detail.to_string().contains(&token),
            "no token in answers"
        );

        // Accepting needs the invited address, verified.
        sign_up(&url, &p, "ada@acme.com", PASSWORD).await;
        let ada = sign_in(&url, &p, "ada@acme.com", PASSWORD).await;
        let ada_token = ada["access_token"].as_str().expect("token").to_owned();
        let accept = async |bearer: &str, body: Value| {
            rest(
                reqwest::Method::POST,
                &url,
                "/api/v1/invitations/accept",
                None,
                Some(bearer),
                Some(body),
            )
            .await
        };
        accept(&ada_token, json!({"token": token}))
            .await
            .refused(403, "permission_denied");
        let code_mail = mail(inbox, "ada@acme.com", "code").await;
        let code: String = code_mail
            .split(|ch: char| !ch.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a code")
            .to_owned();
        let v = common::post(
            &url,
            "/api/v1/auth/verify-email",
            Some(&p),
            json!({"email": "ada@acme.com", "code": code}),
        )
        .await;
        assert_eq!(v.status, 200, "{v:?}");
        sign_up(&url, &p, "bob@acme.com", PASSWORD).await;
        let bob = common::access_token(&url, &p, "bob@acme.com", PASSWORD).await;
        accept(&bob, json!({"token": token}))
            .await
            .refused(403, "permission_denied");
        let a = accept(&ada_token, json!({"token": token})).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["membership"]["role"], "admin");
        accept(&ada_token, json!({"token": token}))
            .await
            .refused(400, "invalid_argument");
        let detail = ok(c, "get_org", json!({"org_id": org})).await;
        assert_eq!(detail["pending_invitations"], json!([]));
        assert_eq!(detail["member_count"], 1);

        // The active organization: a token carrying org_id and role.
        let set = async |bearer: &str, body: Value| {
            rest(
                reqwest::Method::POST,
                &url,
                "/api/v1/auth/active-org",
                None,
                Some(bearer),
                Some(body),
            )
            .await
        };
        let a = set(&ada_token, json!({"org_id": "acme"})).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["org_id"], org);
        assert_eq!(a.body["role"], "admin");
        let scoped = a.body["access_token"].as_str().expect("token").to_owned();
        let claims = claims_of(&scoped);
        assert_eq!(
            (claims["org_id"].clone(), claims["role"].clone()),
            (org.clone(), json!("admin"))
        );
        let v = ok(c, "verify_token", json!({"token": scoped})).await;
        assert_eq!(v["valid"], true);
        let me = rest(
            reqwest::Method::GET,
            &url,
            "/api/v1/me",
            None,
            Some(&scoped),
            None,
        )
        .await;
        assert_eq!(me.body["session"]["org_id"], org);
        set(&bob, json!({"org_id": org}))
            .await
            .refused(403, "permission_denied");
        set(&bob, json!({"org_id": "org_01JD8X3V9Q4K7M2N5P6R8S0T1W"}))
            .await
            .refused(404, "not_found");
        let cleared = set(&scoped, json!({"org_id": null})).await;
        assert_eq!(cleared.status, 200);
        assert!(
            claims_of(cleared.body["access_token"].as_str().expect("t"))
                .get("org_id")
                .is_none_or(Value::is_null)
        );

        // Deleting the organization takes its invitations along.
        ok(
            c,
            "invite_org_member",
            json!({"org_id": org, "email": "carl@acme.com"}),
        )
        .await;
        let dry = ok(c, "delete_org", json!({"org_id": org, "dry_run": true})).await;
        assert_eq!(dry["cascade"], json!({"memberships": 1, "invitations": 2}));
    })
    .await;
}

/// Security review 2, fault 1: refresh copied `org_id` and `role` from the
/// session row, written once at active-org, so a removed admin kept minting
/// `role: admin` tokens for the refresh lifetime. Refresh now reads the
/// membership: a changed role is the new one, a removed member or a
/// deleted organization has no organization claims, and `/me` says so at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_claims_follow_the_membership_at_refresh() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let p = gw.project_id.clone();
        ok(
            c,
            "create_role",
            json!({"key": "admin", "permissions": ["*"]}),
        )
        .await;
        ok(
            c,
            "create_role",
            json!({"key": "viewer", "permissions": ["posts:read"]}),
        )
        .await;
        let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();
        let user = sign_up(&url, &p, "mallory@acme.com", PASSWORD).await["id"].clone();
        ok(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": user, "role": "admin"}),
        )
        .await;
        let signed = sign_in(&url, &p, "mallory@acme.com", PASSWORD).await;
        let chosen = rest(
            reqwest::Method::POST,
            &url,
            "/api/v1/auth/active-org",
            None,
            signed["access_token"].as_str(),
            Some(json!({"org_id": org})),
        )
        .await;
        assert_eq!(chosen.status, 200, "{chosen:?}");
        let mut refresh_token = chosen.body["refresh_token"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| signed["refresh_token"].as_str().expect("r").to_owned());
        let refresh = async |token: &str| {
            let a = post(
                &url,
                "/api/v1/auth/refresh",
                Some(&p),
                json!({"refresh_token": token}),
            )
            .await;
            assert_eq!(a.status, 200, "{a:?}");
            let claims = claims_of(a.body["access_token"].as_str().expect("access"));
            (
                a.body["refresh_token"]
                    .as_str()
                    .expect("refresh")
                    .to_owned(),
                claims,
                a.body["access_token"].as_str().expect("a").to_owned(),
            )
        };
        let (next, claims, _) = refresh(&refresh_token).await;
        assert_eq!(
            (claims["org_id"].clone(), claims["role"].clone()),
            (org.clone(), json!("admin"))
        );
        refresh_token = next;

        // The role changes: the next token carries the new one.
        ok(
            c,
            "update_org_member_role",
            json!({"org_id": org, "user_id": user, "role": "viewer"}),
        )
        .await;
        let (next, claims, _) = refresh(&refresh_token).await;
        assert_eq!(claims["role"], "viewer", "{claims}");
        refresh_token = next;

        // Removed: no organization claims, and /me shows none.
        ok(
            c,
            "remove_org_member",
            json!({"org_id": org, "user_id": user}),
        )
        .await;
        let (next, claims, access) = refresh(&refresh_token).await;
        assert!(
            claims.get("role").is_none_or(Value::is_null),
            "a removed member keeps no role: {claims}"
        );
        assert!(claims.get("org_id").is_none_or(Value::is_null), "{claims}");
        let me = rest(
            reqwest::Method::GET,
            &url,
            "/api/v1/me",
            None,
            Some(&access),
            None,
        )
        .await;
        assert_eq!(me.body["session"]["org_id"], Value::Null, "{me:?}");
        refresh_token = next;

        // Added back and chosen again, then the organization is deleted.
        ok(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": user, "role": "admin"}),
        )
        .await;
        let chosen = rest(
            reqwest::Method::POST,
            &url,
            "/api/v1/auth/active-org",
            None,
            Some(&access),
            Some(json!({"org_id": org})),
        )
        .await;
        assert_eq!(chosen.status, 200, "{chosen:?}");
        ok(c, "delete_org", json!({"org_id": org})).await;
        let (_, claims, _) = refresh(&refresh_token).await;
        assert!(
            claims.get("role").is_none_or(Value::is_null),
            "a deleted organization gives no role: {claims}"
        );
    })
    .await;
}

/// Security review 2, fault 9: an invitation could not be revoked, and a
/// pending one survived its invitee being added and removed directly, so
/// an old admin invitation still worked afterwards. Adding or removing a
/// member now voids their pending invitations; revoke_org_invitation stops
/// a link at once; list_org_invitations shows every state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_revocable_and_voided_by_direct_membership_changes() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let url = gw.url();
        let p = gw.project_id.clone();
        ok(
            c,
            "create_role",
            json!({"key": "admin", "permissions": ["*"]}),
        )
        .await;
        ok(
            c,
            "create_role",
            json!({"key": "viewer", "permissions": ["posts:read"], "is_default": true}),
        )
        .await;
        ok(
            c,
            "add_callback",
            json!({"url": "https://app.acme.com/invite"}),
        )
        .await;
        let org = ok(c, "create_org", json!({"name": "Acme"})).await["id"].clone();

        // An admin invitation, then the person added and removed directly.
        let old = ok(
            c,
            "invite_org_member",
            json!({"org_id": org, "email": "eve@acme.com", "role": "admin"}),
        )
        .await;
        let token = after(
            &mail(inbox, "eve@acme.com", "invitation_token=").await,
            "invitation_token=",
        )
        .to_owned();
        let eve = sign_up(&url, &p, "eve@acme.com", PASSWORD).await["id"].clone();
        let code_mail = mail(inbox, "eve@acme.com", "code").await;
        let code = common::six_digits(&code_mail);
        let v = post(
            &url,
            "/api/v1/auth/verify-email",
            Some(&p),
            json!({"email": "eve@acme.com", "code": code}),
        )
        .await;
        assert_eq!(v.status, 200, "{v:?}");
        ok(
            c,
            "add_org_member",
            json!({"org_id": org, "user_id": eve, "role": "viewer"}),
        )
        .await;
        ok(
            c,
            "remove_org_member",
            json!({"org_id": org, "user_id": eve}),
        )
        .await;
        let access = common::access_token(&url, &p, "eve@acme.com", PASSWORD).await;
        let accept = async |body: Value| {
            rest(
                reqwest::Method::POST,
                &url,
                "/api/v1/invitations/accept",
                None,
                Some(&access),
                Some(body),
            )
            .await
        };
        accept(json!({"token": token}))
            .await
            .refused(400, "invalid_argument");
        let members = ok(c, "list_org_members", json!({"org_id": org})).await;
        assert_eq!(
            members["data"],
            json!([]),
            "the old admin invitation brought no one back"
        );
        let voided = ok(
            c,
            "list_org_invitations",
            json!({"org_id": org, "status": "voided"}),
        )
        .await;
        assert_eq!(voided["data"][0]["id"], old["id"], "{voided}");

        // A pending invitation revoked: its link stops at once.
        let second = ok(
            c,
            "invite_org_member",
            json!({"org_id": org, "email": "eve@acme.com", "role": "viewer"}),
        )
        .await;
        let token = nth_invitation_token(inbox, "eve@acme.com", 2).await;
        let revoked = ok(
            c,
            "revoke_org_invitation",
            json!({"invitation_id": second["id"]}),
        )
        .await;
        assert_eq!(revoked["status"], "revoked");
        let again = ok(
            c,
            "revoke_org_invitation",
            json!({"invitation_id": second["id"]}),
        )
        .await;
        assert_eq!(again["status"], "revoked", "revoking twice changes nothing");
        accept(json!({"token": token}))
            .await
            .refused(400, "invalid_argument");

        // An accepted invitation cannot be revoked.
        let third = ok(
            c,
            "invite_org_member",
            json!({"org_id": org, "email": "eve@acme.com"}),
        )
        .await;
        let token = nth_invitation_token(inbox, "eve@acme.com", 3).await;
        assert_eq!(accept(json!({"token": token})).await.status, 200);
        err(
            c,
            "revoke_org_invitation",
            json!({"invitation_id": third["id"]}),
            "conflict",
        )
        .await;
        let all = ok(c, "list_org_invitations", json!({"org_id": org})).await;
        let states: Vec<&str> = all["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|i| i["status"].as_str())
            .collect();
        assert_eq!(states, ["accepted", "revoked", "voided"], "newest first");
        let pending = ok(
            c,
            "list_org_invitations",
            json!({"org_id": org, "status": "pending"}),
        )
        .await;
        assert_eq!(pending["data"], json!([]));
    })
    .await;
}

/// The token of the `n`th invitation mailed to `to` (waiting for it).
async fn nth_invitation_token(
    inbox: &authgate_email::testing::Inbox, to: &str, n: usize,
) -> String {
    for _ in 0..100 {
        let texts: Vec<String> = inbox
            .messages()
            .iter()
            .filter(|m| m.contains(&format!("To: {to}")))
            .map(|m| authgate_email::testing::part(m, "text/plain"))
            .filter(|t| t.contains("invitation_token="))
            .collect();
        if let Some(text) = texts.get(n - 1) {
            return after(text, "invitation_token=").to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no invitation number {n} to {to}");
}

/// list_user_memberships: the organizations a user belongs to, with the
/// role in each; another project's (or no) user is not_found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_memberships_list_with_their_roles() {
    common::each_backend_with_client(&[], async |gw, c| {
        let (org, user, role) = crate::fixtures::org_with_member(c, &gw.url()).await;
        let page = ok(c, "list_user_memberships", json!({"user_id": user})).await;
        let data = page["data"].as_array().expect("data");
        assert_eq!(data.len(), 1, "{page}");
        assert_eq!(data[0]["org_id"], json!(org));
        assert_eq!(data[0]["role"], json!(role));
        assert_eq!(page["has_more"], json!(false));
        err(
            c,
            "list_user_memberships",
            json!({"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}),
            "not_found",
        )
        .await;
    })
    .await;
}
