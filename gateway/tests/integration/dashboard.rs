//! The admin dashboard (issue 24) over real HTTP on both backends: the
//! headers of signed-in pages and assets, a key made and revoked through
//! the pages (shown once; the revocation confirmed by its dry run; the key
//! dead at once), CSRF and Origin refusals, a read session with no write
//! control whose forged writes are refused, escaping of end-user text, and
//! a session that dies with its key.

use serde_json::json;

use crate::common::{self, Gateway};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn sign_in(gw: &Gateway, key: &str) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("api_key", key)
        .finish();
    let resp = http()
        .post(format!("{}/admin/login", gw.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/admin");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

async fn get(gw: &Gateway, cookie: &str, path: &str) -> reqwest::Response {
    http()
        .get(format!("{}{path}", gw.url()))
        .header("cookie", cookie)
        .send()
        .await
        .expect("answered")
}

async fn post(
    gw: &Gateway, cookie: &str, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)],
) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut req = http()
        .post(format!("{}{path}", gw.url()))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("answered")
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF field");
    let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn key_in(html: &str) -> Option<String> {
    let at = html.find("ag_live_")?;
    Some(html[at..at + "ag_live_".len() + 40].to_owned())
}

async fn mcp_status(gw: &Gateway, key: &str) -> u16 {
    common::post_raw(&gw.mcp_url(), Some(key), common::initialize_body(), &[])
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_headers_keys_csrf_and_sessions() {
    common::each_backend_with_client(&[], async |gw, c| {
        // No session: the sign-in page, coming back here.
        let resp = http().get(format!("{}/admin/keys", gw.url())).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        assert_eq!(resp.headers()["location"], "/admin/login?return_to=%2Fadmin%2Fkeys");

        common::sign_up(&gw.url(), &gw.project_id, "xss@example.com", "correct horse battery staple").await;
        let users = common::ok(c, "list_end_users", json!({})).await;
        let uid = users["data"][0]["id"].as_str().unwrap().to_owned();
        common::run_sql(gw.store(), &[&format!("UPDATE end_users SET name = '<img src=x onerror=alert(1)>' WHERE id = '{uid}'")]).await;

        let cookie = sign_in(gw, &gw.admin_key).await;
        let page = get(gw, &cookie, "/admin").await;
        assert_eq!(page.status().as_u16(), 200);
        let h = page.headers().clone();
        assert_eq!(
            h["content-security-policy"],
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        );
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let html = page.text().await.unwrap();
        let status = common::ok(c, "get_project_status", json!({})).await;
        assert!(html.contains(&format!("<dt>End users</dt><dd>{}</dd>", status["counts"]["end_users"])), "{html}");
        assert!(html.contains(&format!("<dt>Organizations</dt><dd>{}</dd>", status["counts"]["organizations"])));
        // Assets: content-hashed names, cached for a year, no inline script or style.
        assert!(!html.contains("<script>") && !html.contains("<style>") && !html.contains(" style="));
        for prefix in ["/admin/assets/htmx-4.0.1.", "/admin/assets/dashboard."] {
            let at = html.find(prefix).expect(prefix);
            let path = &html[at..at + html[at..].find('"').unwrap()];
            let asset = get(gw, &cookie, path).await;
            assert_eq!(asset.status().as_u16(), 200, "{path}");
            assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
        }

        // End-user text is escaped.
        let users_page = get(gw, &cookie, "/admin/users").await.text().await.unwrap();
        let detail = get(gw, &cookie, &format!("/admin/users/{uid}")).await.text().await.unwrap();
        for html in [&users_page, &detail] {
            assert!(!html.contains("<img src=x"), "raw markup from a user's name");
        }
        assert!(detail.contains("&lt;img src=x onerror=alert(1)&gt;") || detail.contains("&#60;img"), "{detail}");

        // Create a write key limited to billing: shown once, in the POST's answer.
        let keys_page = get(gw, &cookie, "/admin/keys").await.text().await.unwrap();
        let csrf = csrf_of(&keys_page);
        let fields = [("name", "billing bot"), ("scopes", "write"), ("tools", "group:billing"), ("csrf_token", csrf.as_str())];
        let made = post(gw, &cookie, "/admin/keys", &fields, &[]).await;
        assert_eq!(made.status().as_u16(), 200);
        assert!(made.headers().get("location").is_none());
        let made_html = made.text().await.unwrap();
        let key = key_in(&made_html).expect("the new key in the answer");
        let again = get(gw, &cookie, "/admin/keys").await.text().await.unwrap();
        assert!(!again.contains(&key), "the key is never shown again");
        let bot = common::connect(&gw.mcp_url(), &key).await;
        common::ok(&bot, "list_billing_plans", json!({})).await;
        common::err(&bot, "whoami", json!({}), "permission_denied").await;
        let _ = bot.cancel().await;
        let listed = common::ok(c, "list_api_keys", json!({"limit": 100})).await;
        let made_key = listed["data"].as_array().unwrap().iter().find(|k| k["name"] == "billing bot").expect("listed").clone();
        assert_eq!(made_key["scopes"], json!(["write"]));
        assert_eq!(made_key["tools"], json!(["group:billing"]));
        let key_id = made_key["id"].as_str().unwrap().to_owned();

        // CSRF: no token, a foreign Origin, a cross-site fetch: 403, nothing done.
        let revoke = format!("/admin/keys/{key_id}/revoke");
        let with_token = [("confirm", "yes"), ("csrf_token", csrf.as_str())];
        assert_eq!(post(gw, &cookie, &revoke, &[("confirm", "yes")], &[]).await.status().as_u16(), 403);
        assert_eq!(post(gw, &cookie, &revoke, &with_token, &[("origin", "http://127.0.0.2:9")]).await.status().as_u16(), 403);
        assert_eq!(post(gw, &cookie, &revoke, &with_token, &[("sec-fetch-site", "cross-site")]).await.status().as_u16(), 403);
        // A withheld Origin (`null`, under no-referrer) needs Sec-Fetch-Site: same-origin.
        assert_eq!(post(gw, &cookie, &revoke, &with_token, &[("origin", "null")]).await.status().as_u16(), 403);
        assert_eq!(post(gw, &cookie, &revoke, &with_token, &[("origin", "null"), ("sec-fetch-site", "same-site")]).await.status().as_u16(), 403);
        assert_eq!(mcp_status(gw, &key).await, 200, "the key still works");
        // The dry run first, then the revocation.
        let browser = [("origin", "null"), ("sec-fetch-site", "same-origin")];
        let dry = post(gw, &cookie, &revoke, &[("csrf_token", csrf.as_str())], &browser).await.text().await.unwrap();
        assert!(dry.contains("Revoke a key?") && dry.contains(&key_id));
        assert_eq!(mcp_status(gw, &key).await, 200, "a dry run revokes nothing");
        let done = post(gw, &cookie, &revoke, &with_token, &[]).await;
        assert_eq!(done.status().as_u16(), 200);
        assert_eq!(mcp_status(gw, &key).await, 401, "revoked at once");
        let audited = common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM audit_events WHERE tool = 'revoke_api_key' AND client_name = 'authgate-dashboard'").await;
        assert_eq!(audited, 2, "the dry run and the revocation, audited as the dashboard's calls");

        // A read session: no write control; its forged writes are refused.
        let reader = common::ok(c, "create_api_key", json!({"name": "reader", "scopes": ["read"]})).await;
        let reader_key = reader["key"].as_str().unwrap().to_owned();
        let read_cookie = sign_in(gw, &reader_key).await;
        let page = get(gw, &read_cookie, "/admin/keys").await.text().await.unwrap();
        assert!(!page.contains("Create key") && !page.contains("Revoke"), "no write control for a read session");
        let read_csrf = csrf_of(&page);
        let forged = post(gw, &read_cookie, "/admin/keys", &[("name", "x"), ("scopes", "read"), ("csrf_token", read_csrf.as_str())], &[]).await;
        assert_eq!(forged.status().as_u16(), 403);
        assert!(key_in(&forged.text().await.unwrap()).is_none());
        // The session dies with its key.
        common::ok(c, "revoke_api_key", json!({"key_id": reader["id"]})).await;
        let after = get(gw, &read_cookie, "/admin").await;
        assert_eq!(after.status().as_u16(), 303);
        assert!(after.headers()["location"].to_str().unwrap().starts_with("/admin/login"));

        // Sign-out ends the session on the server.
        let out = post(gw, &cookie, "/admin/logout", &[("csrf_token", csrf.as_str())], &[]).await;
        assert_eq!(out.status().as_u16(), 303);
        assert_eq!(get(gw, &cookie, "/admin").await.status().as_u16(), 303);
    })
    .await;
}

/// An operator's link session switches projects; a key's session stays on
/// its own; failed sign-ins spend the address's failed-auth budget (429)
/// and never echo the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_switch_projects_and_sign_ins_are_limited() {
    common::each_backend(
        &[("AUTHGATE_AUTH_FAILURE_LIMIT", "1/s burst 2")],
        async |gw| {
            let (other_project, _) = common::second_project(gw, "Project B").await;
            let now = chrono::Utc::now();
            let token = authgate_oauth::flows::create_link(gw.store(), None, now)
                .await
                .expect("link");
            let link = http()
                .get(format!("{}/admin/login?token={token}", gw.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(link.status().as_u16(), 303);
            let cookie = link.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let page = get(gw, &cookie, "/admin").await.text().await.unwrap();
            assert!(
                page.contains(&format!("<code>{}</code>", gw.project_id)),
                "the first project"
            );
            assert!(
                page.contains(&format!("value=\"{other_project}\"")),
                "the switcher lists the other project"
            );
            let csrf = csrf_of(&page);
            let switched = post(
                gw,
                &cookie,
                "/admin/project",
                &[
                    ("project", other_project.as_str()),
                    ("csrf_token", csrf.as_str()),
                ],
                &[],
            )
            .await;
            assert_eq!(switched.status().as_u16(), 303);
            let chosen = switched.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                chosen.contains("HttpOnly") && chosen.contains("SameSite=Lax"),
                "{chosen}"
            );
            let both = format!("{cookie}; {}", chosen.split(';').next().unwrap());
            let page = get(gw, &both, "/admin").await.text().await.unwrap();
            assert!(
                page.contains(&format!("<code>{other_project}</code>")),
                "now on the other project"
            );

            // A key's session cannot switch.
            let key_cookie = sign_in(gw, &gw.admin_key).await;
            let page = get(gw, &key_cookie, "/admin").await.text().await.unwrap();
            assert!(
                !page.contains("action=\"/admin/project\""),
                "no switcher for a key session"
            );
            let csrf = csrf_of(&page);
            let refused = post(
                gw,
                &key_cookie,
                "/admin/project",
                &[
                    ("project", other_project.as_str()),
                    ("csrf_token", csrf.as_str()),
                ],
                &[],
            )
            .await;
            assert_eq!(refused.status().as_u16(), 403);

            // Failed sign-ins: 401 without the key echoed, then 429.
            let wrong = "ag_live_1111111111111111111111111111111111111111";
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let resp = http()
                    .post(format!("{}/admin/login", gw.url()))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("api_key={wrong}"))
                    .send()
                    .await
                    .unwrap();
                statuses.push(resp.status().as_u16());
                assert!(
                    !resp.text().await.unwrap().contains(wrong),
                    "the key is never echoed"
                );
            }
            assert_eq!(statuses, [401, 401, 429]);
        },
    )
    .await;
}
