//! OAuth 2.1 for MCP clients (issue 23): discovery documents pinned, the
//! 401 challenge, Dynamic Client Registration, the admin sign-in and the
//! consent page over real HTTP, the code exchange with PKCE, grants that
//! are keys (`kind: oauth`) used by the real rmcp client, refresh rotation
//! and reuse, revocation, and every refusal the issue lists, on both
//! backends.

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::common::{self, Gateway};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_form(
    url: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("answered")
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .expect("absolute")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A PKCE pair: a verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!("v{}{}", ulid::Ulid::new(), ulid::Ulid::new());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn register(gw: &Gateway, body: Value) -> (u16, Value) {
    let resp = http()
        .post(format!("{}/oauth/register", gw.url()))
        .json(&body)
        .send()
        .await
        .expect("answered");
    json_of(resp).await
}

async fn public_client(gw: &Gateway, redirect: &str) -> String {
    let (status, body) = register(
        gw,
        json!({"client_name": "Test Client", "redirect_uris": [redirect],
               "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["client_id"].as_str().expect("client_id").to_owned()
}

/// Signs in at /admin/login with a key: the session cookie.
async fn sign_in(gw: &Gateway, key: &str) -> String {
    let resp = post_form(
        &format!("{}/admin/login", gw.url()),
        &[("api_key", key)],
        &[],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains(key), "the key never goes into the cookie");
    cookie.split(';').next().expect("name=value").to_owned()
}

struct Authz {
    client_id: String,
    redirect: String,
    challenge: String,
    resource: Option<String>,
}

impl Authz {
    fn query(&self) -> Vec<(&str, &str)> {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect.as_str()),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st-123"),
            ("scope", "read write"),
        ];
        if let Some(r) = &self.resource {
            q.push(("resource", r.as_str()));
        }
        q
    }
}

async fn authorize_page(
    gw: &Gateway, cookie: Option<&str>, query: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = http().get(format!("{}/oauth/authorize?{}", gw.url(), form(query)));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.expect("answered")
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF field");
    let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

/// Consents with `scopes` (and `extra` fields): the redirect's Location.
async fn consent(gw: &Gateway, cookie: &str, authz: &Authz, scopes: &[&str]) -> String {
    let page = authorize_page(gw, Some(cookie), &authz.query()).await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("page");
    let csrf = csrf_of(&html);
    let mut fields = authz.query();
    fields.retain(|(k, _)| *k != "scope");
    fields.push(("csrf_token", &csrf));
    fields.push(("decision", "allow"));
    for s in scopes {
        fields.push(("scope", s));
    }
    let resp = post_form(
        &format!("{}/oauth/authorize", gw.url()),
        &fields,
        &[("cookie", cookie)],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303, "consent redirects");
    location(&resp).expect("Location")
}

async fn exchange(
    gw: &Gateway, client_id: &str, code: &str, redirect: &str, verifier: &str,
) -> (u16, Value) {
    let resp = post_form(
        &format!("{}/oauth/token", gw.url()),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
        &[],
    )
    .await;
    json_of(resp).await
}

async fn refresh(gw: &Gateway, client_id: &str, token: &str) -> (u16, Value) {
    let resp = post_form(
        &format!("{}/oauth/token", gw.url()),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ],
        &[],
    )
    .await;
    json_of(resp).await
}

/// A whole authorization: client, consent with `scopes`, tokens.
async fn grant(gw: &Gateway, scopes: &[&str]) -> (String, Value) {
    let redirect = "http://127.0.0.1:4567/callback";
    let client_id = public_client(gw, redirect).await;
    let cookie = sign_in(gw, &gw.admin_key).await;
    let (verifier, challenge) = pkce();
    let authz = Authz {
        client_id: client_id.clone(),
        redirect: redirect.into(),
        challenge,
        resource: Some(gw.mcp_url()),
    };
    let back = consent(gw, &cookie, &authz, scopes).await;
    let q = query_of(&back);
    assert!(q.contains_key("code"), "{back}");
    let (status, tokens) = exchange(gw, &client_id, &q["code"], redirect, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    (client_id, tokens)
}

/// A status-only MCP request with a bearer: initialize.
async fn mcp_status(gw: &Gateway, token: &str) -> (u16, Option<String>) {
    let resp = common::post_raw(&gw.mcp_url(), Some(token), common::initialize_body(), &[]).await;
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (resp.status().as_u16(), challenge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents_and_the_401_challenge() {
    common::each_backend(&[], async |gw| {
        let base = gw.url();
        let get = async |path: &str| {
            let resp = http().get(format!("{base}{path}")).send().await.expect("answered");
            assert_eq!(
                resp.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
                Some("*"),
                "{path}"
            );
            json_of(resp).await
        };
        let prm = |endpoint: &str| {
            json!({
                "resource": format!("{base}{endpoint}"),
                "authorization_servers": [base],
                "scopes_supported": ["read", "write", "admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "AuthGate",
                "resource_documentation": "https://github.com/authgate/authgate/blob/main/docs/oauth.md",
            })
        };
        assert_eq!(get("/.well-known/oauth-protected-resource").await, (200, prm("/api/mcp")));
        assert_eq!(get("/.well-known/oauth-protected-resource/api/mcp").await, (200, prm("/api/mcp")));
        assert_eq!(get("/.well-known/oauth-protected-resource/api/sse").await, (200, prm("/api/sse")));
        let methods = json!(["none", "client_secret_basic", "client_secret_post"]);
        let server = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "registration_endpoint": format!("{base}/oauth/register"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "scopes_supported": ["read", "write", "admin"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "code_challenge_methods_supported": ["S256"],
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        });
        assert_eq!(get("/.well-known/oauth-authorization-server").await, (200, server.clone()));
        assert_eq!(get("/.well-known/openid-configuration").await, (200, server));

        // The Host header never decides a URL.
        let spoofed = http()
            .get(format!("{base}/.well-known/oauth-authorization-server"))
            .header("host", "evil.example")
            .send()
            .await
            .expect("answered");
        let (_, doc) = json_of(spoofed).await;
        assert_eq!(doc["issuer"], json!(base));

        // A browser's preflight of the token endpoint.
        let pre = http()
            .request(reqwest::Method::OPTIONS, format!("{base}/oauth/token"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .expect("answered");
        assert_eq!(pre.status().as_u16(), 204);
        assert_eq!(pre.headers()["access-control-allow-origin"], "*");
        assert!(pre.headers().get("access-control-allow-credentials").is_none());

        // No token: the challenge names the metadata and the scopes.
        let resp = common::post_raw(&gw.mcp_url(), None, common::initialize_body(), &[]).await;
        assert_eq!(resp.status().as_u16(), 401);
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert_eq!(
            challenge,
            format!("Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/api/mcp\", scope=\"read write\"")
        );
        let body: Value = resp.json().await.expect("JSON-RPC error");
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["error"]["code"], -32001);
        // A bad token: invalid_token as well.
        for bad in ["ag_oat_nope", "ag_live_nope"] {
            let (status, challenge) = mcp_status(gw, bad).await;
            assert_eq!(status, 401);
            let c = challenge.expect("challenge");
            assert!(c.starts_with("Bearer resource_metadata=") && c.contains("error=\"invalid_token\""), "{c}");
        }
        // Registration: 16 KB at most, 20 an hour from one address.
        let big = json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(17 * 1024)});
        let (status, body) = register(gw, big).await;
        assert_eq!((status, body["error"].as_str()), (413, Some("invalid_client_metadata")));
        for i in 1..20 {
            let (status, _) = register(gw, json!({"redirect_uris": ["https://a.example/cb"]})).await;
            assert_eq!(status, 201, "registration {}", i + 1);
        }
        let resp = http().post(format!("{base}/oauth/register")).json(&json!({"redirect_uris": ["https://a.example/cb"]})).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 429, "the 21st registration in an hour");
        assert!(resp.headers().contains_key("retry-after"));
        let sse = http().get(format!("{base}/api/sse")).send().await.expect("answered");
        assert!(sse.headers()["www-authenticate"].to_str().unwrap().contains("/.well-known/oauth-protected-resource/api/sse"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_makes_a_grant_that_is_a_key_in_all_else() {
    common::each_backend(&[("AUTHGATE_REFRESH_REUSE_INTERVAL", "0s")], async |gw| {
        // Cursor's real registration: three redirect URIs at once.
        let (status, cursor) = register(
            gw,
            json!({"client_name": "Cursor", "redirect_uris": [
                "cursor://anysphere.cursor-mcp/oauth/callback",
                "https://www.cursor.com/agents/mcp/oauth/callback",
                "http://127.0.0.1:54321/callback"],
                "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"]}),
        )
        .await;
        assert_eq!(status, 201, "{cursor}");
        assert!(cursor.get("client_secret").is_none(), "a public client gets no secret");

        let redirect = "http://127.0.0.1:4567/callback";
        let client_id = public_client(gw, redirect).await;
        let (verifier, challenge) = pkce();
        let authz = Authz {
            client_id: client_id.clone(),
            redirect: redirect.into(),
            challenge,
            resource: None,
        };
        // No session: the sign-in page, which comes back here.
        let resp = authorize_page(gw, None, &authz.query()).await;
        assert_eq!(resp.status().as_u16(), 303);
        let to_login = location(&resp).expect("Location");
        assert!(to_login.starts_with("/admin/login?return_to=%2Foauth%2Fauthorize%3F"), "{to_login}");
        // A wrong key: 401, the key not echoed.
        let wrong = "ag_live_0000000000000000000000000000000000000000";
        let resp = post_form(&format!("{}/admin/login", gw.url()), &[("api_key", wrong)], &[]).await;
        assert_eq!(resp.status().as_u16(), 401);
        assert!(!resp.text().await.unwrap().contains(wrong));

        let cookie = sign_in(gw, &gw.admin_key).await;
        let page = authorize_page(gw, Some(&cookie), &authz.query()).await;
        assert_eq!(page.status().as_u16(), 200);
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        let html = page.text().await.unwrap();
        assert!(html.contains("<strong>127.0.0.1</strong>"), "the client is named by its redirect host");
        assert!(html.contains("loopback"), "a loopback redirect is warned about");
        assert!(html.contains("name=\"groups\" value=\"group:billing\""));

        let back = consent(gw, &cookie, &authz, &["read"]).await;
        assert!(back.starts_with(redirect), "{back}");
        let q = query_of(&back);
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], gw.url());
        let (status, tokens) = exchange(gw, &client_id, &q["code"], redirect, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "read");
        assert_eq!(tokens["expires_in"], 3600);
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        assert!(access.starts_with("ag_oat_") && refresh_token.starts_with("ag_ort_"));

        // The real rmcp client with the access token: a read grant.
        let c = common::connect(&gw.mcp_url(), &access).await;
        let me = common::ok(&c, "whoami", json!({})).await;
        assert_eq!(me["kind"], "oauth");
        assert_eq!(me["client_name"], "Test Client");
        assert_eq!(me["scopes"], json!(["read"]));
        let mut listed: Vec<String> = c.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        listed.sort();
        let mut reads: Vec<String> = common::tools_of(authgate_core::ToolKind::Read).into_iter().map(str::to_owned).collect();
        reads.sort();
        assert_eq!(listed, reads, "tools/list is exactly the read tools");
        // Step-up: a write tool answers 403 with what to ask for.
        let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                          "params": {"name": "create_org", "arguments": {"name": "Nope"}}});
        let resp = common::post_raw(&gw.mcp_url(), Some(&access), call.to_string(), &[]).await;
        assert_eq!(resp.status().as_u16(), 403);
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"read write\""), "{challenge}");
        assert!(challenge.contains(&format!("resource_metadata=\"{}/.well-known/oauth-protected-resource/api/mcp\"", gw.url())));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["id"], 7);
        assert_eq!(common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM organizations").await, 0);
        let _ = c.cancel().await;

        // The grant is a key: listed with its kind and client name.
        let admin = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let keys = common::ok(&admin, "list_api_keys", json!({})).await;
        let listed = keys["data"].as_array().unwrap().iter().find(|k| k["kind"] == "oauth").expect("the grant").clone();
        assert_eq!(listed["client_name"], "Test Client");
        assert_eq!(listed["scopes"], json!(["read"]));
        let created = common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM audit_events WHERE event_type = 'oauth.grant_created'").await;
        assert_eq!(created, 1);

        // Refresh rotates; the spent one presented again ends the grant.
        let (status, next) = refresh(gw, &client_id, &refresh_token).await;
        assert_eq!(status, 200, "{next}");
        assert_eq!(next["scope"], "read");
        let next_access = next["access_token"].as_str().unwrap().to_owned();
        assert_eq!(mcp_status(gw, &next_access).await.0, 200);
        let (status, reused) = refresh(gw, &client_id, &refresh_token).await;
        assert_eq!((status, reused["error"].as_str()), (400, Some("invalid_grant")));
        let (status, challenge) = mcp_status(gw, &next_access).await;
        assert_eq!(status, 401, "a reused refresh token revokes the grant");
        assert!(challenge.unwrap().contains("resource_metadata="));

        // A re-consent makes a new grant; revoke_api_key ends it at once.
        let (granted_client, tokens) = grant(gw, &["read", "write"]).await;
        let client_id_of = |_: &Value| granted_client.clone();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        assert_eq!(tokens["scope"], "read write");
        let c = common::connect(&gw.mcp_url(), &access).await;
        let me = common::ok(&c, "whoami", json!({})).await;
        common::ok(&admin, "revoke_api_key", json!({"key_id": me["id"]})).await;
        assert_eq!(mcp_status(gw, &access).await.0, 401, "a revoked grant answers 401 on the next call");
        let (status, after) = refresh(gw, &client_id_of(&tokens), tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!((status, after["error"].as_str()), (400, Some("invalid_grant")), "its refresh token died with it");
        let _ = c.cancel().await;

        // /oauth/revoke with the refresh token ends the grant, access included.
        let (client_id, tokens) = grant(gw, &["read"]).await;
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(mcp_status(gw, access).await.0, 200);
        let resp = post_form(
            &format!("{}/oauth/revoke", gw.url()),
            &[("client_id", &client_id), ("token", tokens["refresh_token"].as_str().unwrap())],
            &[],
        )
        .await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(mcp_status(gw, access).await.0, 401);
        let (status, _) = refresh(gw, &client_id, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 400);
        let _ = admin.cancel().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    common::each_backend(&[], async |gw| {
        // DCR: dangerous or malformed redirect URIs.
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://app.example/cb#frag",
            "https://*.example/cb",
            "file:///etc/passwd",
        ] {
            let (status, body) = register(
                gw,
                json!({"redirect_uris": [bad], "token_endpoint_auth_method": "none"}),
            )
            .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_redirect_uri")),
                "{bad}"
            );
        }
        let (status, body) = register(
            gw,
            json!({"redirect_uris": ["https://a.example/cb"], "application_type": "desktop"}),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client_metadata"))
        );
        let n = common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM mcp_clients").await;
        assert_eq!(n, 0, "no refused registration was stored");
        // A confidential client gets its secret once, and must use it.
        let (status, conf) = register(
            gw,
            json!({"client_name": "Web", "redirect_uris": ["https://app.example/cb"]}),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(conf["token_endpoint_auth_method"], "client_secret_basic");
        assert!(
            conf["client_secret"]
                .as_str()
                .unwrap()
                .starts_with("ag_ocs_")
        );

        let redirect = "http://127.0.0.1:5000/callback";
        let client_id = public_client(gw, redirect).await;
        let other_client = public_client(gw, redirect).await;
        let cookie = sign_in(gw, &gw.admin_key).await;
        let (verifier, challenge) = pkce();
        let authz = |redirect: &str, challenge: &str| Authz {
            client_id: client_id.clone(),
            redirect: redirect.into(),
            challenge: challenge.into(),
            resource: None,
        };

        // Pages, never redirects: unknown client, unregistered redirect URI.
        let q_authz = authz(redirect, &challenge);
        let mut q = q_authz.query();
        q.retain(|(k, _)| *k != "client_id");
        q.push(("client_id", "mcpc_01JUNKJUNKJUNKJUNKJUNKJUNK"));
        let resp = authorize_page(gw, Some(&cookie), &q).await;
        assert_eq!(resp.status().as_u16(), 400);
        assert!(location(&resp).is_none());
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("invalid_client") && text.contains("connect again"),
            "{text}"
        );
        let resp = authorize_page(
            gw,
            Some(&cookie),
            &authz("https://evil.example/cb", &challenge).query(),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 400);
        assert!(
            location(&resp).is_none(),
            "an unregistered redirect URI is never redirected to"
        );
        assert!(resp.text().await.unwrap().contains("invalid_redirect_uri"));

        // Back to the client: PKCE plain or absent, a foreign resource.
        let plain_authz = authz(redirect, &challenge);
        let mut plain = plain_authz.query();
        plain.retain(|(k, _)| *k != "code_challenge_method");
        plain.push(("code_challenge_method", "plain"));
        for q in [plain, authz(redirect, "").query()] {
            let resp = authorize_page(gw, Some(&cookie), &q).await;
            assert_eq!(resp.status().as_u16(), 303);
            let back = query_of(&location(&resp).unwrap());
            assert_eq!(back["error"], "invalid_request");
            assert_eq!(back["state"], "st-123");
            assert_eq!(back["iss"], gw.url());
        }
        let mut foreign = authz(redirect, &challenge);
        foreign.resource = Some("https://other.example/mcp".into());
        let resp = authorize_page(gw, Some(&cookie), &foreign.query()).await;
        assert_eq!(
            query_of(&location(&resp).unwrap())["error"],
            "invalid_target"
        );

        // The consent form: CSRF token and Origin.
        let page = authorize_page(gw, Some(&cookie), &authz(redirect, &challenge).query())
            .await
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        let fields_authz = authz(redirect, &challenge);
        let mut fields = fields_authz.query();
        fields.retain(|(k, _)| *k != "scope");
        fields.extend([("decision", "allow"), ("scope", "read")]);
        let consent_url = format!("{}/oauth/authorize", gw.url());
        let resp = post_form(&consent_url, &fields, &[("cookie", &cookie)]).await;
        assert_eq!(resp.status().as_u16(), 403, "no CSRF token");
        let mut with_csrf = fields.clone();
        with_csrf.push(("csrf_token", &csrf));
        let resp = post_form(
            &consent_url,
            &with_csrf,
            &[("cookie", &cookie), ("origin", "https://evil.example")],
        )
        .await;
        assert_eq!(resp.status().as_u16(), 403, "another Origin");
        let resp = post_form(
            &consent_url,
            &with_csrf,
            &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
        )
        .await;
        assert_eq!(
            resp.status().as_u16(),
            403,
            "a cross-site POST without Origin"
        );
        let n = common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM mcp_codes").await;
        assert_eq!(n, 0, "nothing was issued");
        // Deny: access_denied with state and iss.
        let mut deny = with_csrf.clone();
        deny.retain(|(k, _)| *k != "decision");
        deny.push(("decision", "deny"));
        let resp = post_form(&consent_url, &deny, &[("cookie", &cookie)]).await;
        let back = query_of(&location(&resp).unwrap());
        assert_eq!(
            (
                back["error"].as_str(),
                back["state"].as_str(),
                back["iss"].as_str()
            ),
            ("access_denied", "st-123", gw.url().as_str())
        );

        // Codes: a loopback port change is accepted; then every misuse.
        let moved = "http://127.0.0.1:61234/callback";
        let back = consent(gw, &cookie, &authz(moved, &challenge), &["read"]).await;
        assert!(back.starts_with(moved), "{back}");
        let code = query_of(&back)["code"].clone();
        let url = format!("{}/oauth/token", gw.url());
        let try_code = async |client: &str, redirect: &str, verifier: Option<&str>| {
            let mut f = vec![
                ("grant_type", "authorization_code"),
                ("client_id", client),
                ("code", code.as_str()),
                ("redirect_uri", redirect),
            ];
            if let Some(v) = verifier {
                f.push(("code_verifier", v));
            }
            json_of(post_form(&url, &f, &[]).await).await
        };
        assert_eq!(
            try_code(&client_id, moved, None).await.1["error"],
            "invalid_request",
            "no verifier"
        );
        let (wrong_verifier, _) = pkce();
        assert_eq!(
            try_code(&client_id, moved, Some(&wrong_verifier)).await.1["error"],
            "invalid_grant"
        );
        assert_eq!(
            try_code(&other_client, moved, Some(&verifier)).await.1["error"],
            "invalid_grant",
            "another client"
        );
        assert_eq!(
            try_code(&client_id, redirect, Some(&verifier)).await.1["error"],
            "invalid_grant",
            "another redirect_uri"
        );
        let (status, first) = try_code(&client_id, moved, Some(&verifier)).await;
        assert_eq!(status, 200, "{first}");
        let access = first["access_token"].as_str().unwrap().to_owned();
        assert_eq!(mcp_status(gw, &access).await.0, 200);
        let (status, again) = try_code(&client_id, moved, Some(&verifier)).await;
        assert_eq!(
            (status, again["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(
            mcp_status(gw, &access).await.0,
            401,
            "a reused code revokes what it issued"
        );
        let reasons = common::query_texts(
            gw.store(),
            "SELECT metadata AS s FROM audit_events WHERE event_type = 'oauth.grant_revoked'",
        )
        .await;
        assert!(
            reasons.iter().any(|m| m.contains("code_reused")),
            "{reasons:?}"
        );

        // A late code.
        let (verifier, challenge) = pkce();
        let back = consent(gw, &cookie, &authz(redirect, &challenge), &["read"]).await;
        let code = query_of(&back)["code"].clone();
        common::run_sql(
            gw.store(),
            &["UPDATE mcp_codes SET expires_at = 0 WHERE used_at IS NULL"],
        )
        .await;
        let (status, late) = exchange(gw, &client_id, &code, redirect, &verifier).await;
        assert_eq!(
            (status, late["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert!(
            late["error_description"]
                .as_str()
                .unwrap()
                .contains("expired")
        );

        // A metadata document on a loopback address, with the test setting off.
        let q_authz = authz(redirect, &challenge);
        let mut q = q_authz.query();
        q.retain(|(k, _)| *k != "client_id");
        q.push(("client_id", "https://127.0.0.1:9/client.json"));
        let resp = authorize_page(gw, Some(&cookie), &q).await;
        assert_eq!(resp.status().as_u16(), 400);
        assert!(location(&resp).is_none());
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("invalid_client") && text.contains("refused"),
            "{text}"
        );

        // A registration unused for 30 days is unknown: the page says to start over.
        common::run_sql(
            gw.store(),
            &[&format!(
                "UPDATE mcp_clients SET last_used_at = 0 WHERE id = '{other_client}'"
            )],
        )
        .await;
        let stale_authz = authz(redirect, &challenge);
        let mut q = stale_authz.query();
        q.retain(|(k, _)| *k != "client_id");
        q.push(("client_id", other_client.as_str()));
        let resp = authorize_page(gw, Some(&cookie), &q).await;
        assert_eq!(resp.status().as_u16(), 400);
        assert!(resp.text().await.unwrap().contains("invalid_client"));

        // A key of read scope cannot consent to write.
        let reader = common::ok(
            &common::connect(&gw.mcp_url(), &gw.admin_key).await,
            "create_api_key",
            json!({"name": "r", "scopes": ["read"]}),
        )
        .await;
        let reader_cookie = sign_in(gw, reader["key"].as_str().unwrap()).await;
        let page = authorize_page(
            gw,
            Some(&reader_cookie),
            &authz(redirect, &challenge).query(),
        )
        .await
        .text()
        .await
        .unwrap();
        assert!(
            !page.contains("value=\"write\""),
            "no wider scope is offered"
        );
        let f_authz = authz(redirect, &challenge);
        let mut f = f_authz.query();
        let csrf = csrf_of(&page);
        f.retain(|(k, _)| *k != "scope");
        f.extend([
            ("decision", "allow"),
            ("scope", "write"),
            ("csrf_token", csrf.as_str()),
        ]);
        let resp = post_form(&consent_url, &f, &[("cookie", &reader_cookie)]).await;
        assert_eq!(resp.status().as_u16(), 403);
        assert!(location(&resp).is_none());
    })
    .await;
}

/// What a person does with an authorization URL a client opened: sign in,
/// tick `scopes`, allow. The Location the browser is sent to.
async fn browser(gw: &Gateway, auth_url: &str, scopes: &[&str]) -> String {
    let resp = http().get(auth_url).send().await.expect("answered");
    assert_eq!(resp.status().as_u16(), 303, "no session: the sign-in page");
    let cookie = sign_in(gw, &gw.admin_key).await;
    let page = http()
        .get(auth_url)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answered");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut rest = html.as_str();
    while let Some(at) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[at + "<input type=\"hidden\" name=\"".len()..];
        let name = &rest[..rest.find('"').unwrap()];
        let vstart = rest.find("value=\"").unwrap() + "value=\"".len();
        let value = &rest[vstart..vstart + rest[vstart..].find('"').unwrap()];
        fields.push((name.to_owned(), value.replace("&amp;", "&")));
    }
    let mut pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("decision", "allow"));
    for s in scopes {
        pairs.push(("scope", s));
    }
    let resp = post_form(
        &format!("{}/oauth/authorize", gw.url()),
        &pairs,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303);
    location(&resp).expect("Location")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_auth_client_runs_the_flow() {
    use rmcp::ServiceExt as _;
    use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    common::each_backend(&[], async |gw| {
        let redirect = "http://127.0.0.1:47111/callback";
        let mut state = OAuthState::new(gw.mcp_url(), None).await.expect("manager");
        state
            .start_authorization(
                AuthorizationRequest::new(redirect)
                    .with_client_name("rmcp auth client")
                    .with_scopes(["read", "write"]),
            )
            .await
            .expect("discovery and registration");
        let OAuthState::Session(session) = &state else {
            panic!("a session")
        };
        let auth_url = session.get_authorization_url().to_owned();
        assert!(
            auth_url.starts_with(&format!("{}/oauth/authorize?", gw.url())),
            "{auth_url}"
        );
        let back = browser(gw, &auth_url, &["read", "write"]).await;
        session
            .handle_callback_url(&back)
            .await
            .expect("code exchanged, iss checked");
        state.complete_authorization().await.expect("authorized");
        let OAuthState::Authorized(manager) = state else {
            panic!("authorized")
        };
        let client = AuthClient::new(reqwest::Client::default(), manager);
        let transport = rmcp::transport::StreamableHttpClientTransport::with_client(
            client,
            StreamableHttpClientTransportConfig::with_uri(gw.mcp_url()),
        );
        let c = common::client_info(rmcp::model::ProtocolVersion::LATEST_WITH_INITIALIZE)
            .serve(transport)
            .await
            .expect("connects with the OAuth token");
        let me = common::ok(&c, "whoami", json!({})).await;
        assert_eq!(me["kind"], "oauth");
        assert_eq!(me["client_name"], "rmcp auth client");
        assert_eq!(me["scopes"], json!(["read", "write"]));
        let org = common::ok(&c, "create_org", json!({"name": "Made over OAuth"})).await;
        assert!(org["id"].as_str().unwrap().starts_with("org_"));
        let _ = c.cancel().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_endpoints_spend_the_public_budget() {
    common::each_backend(
        &[("AUTHGATE_PUBLIC_RATE_LIMIT", "1/s burst 2")],
        async |gw| {
            let mut statuses = Vec::new();
            for _ in 0..4 {
                let resp = http()
                    .get(format!(
                        "{}/.well-known/oauth-authorization-server",
                        gw.url()
                    ))
                    .send()
                    .await
                    .expect("answered");
                statuses.push(resp.status().as_u16());
            }
            assert_eq!(&statuses[..2], &[200, 200]);
            assert!(statuses.contains(&429), "{statuses:?}");
        },
    )
    .await;
}
