//! Social sign-in (issue 21) against real identity providers' stand-in:
//! npm `oauth2-mock-server` 8.2.3, one server per provider, started by
//! `gateway/tests/idp/mock-idp.mjs` (it records every request; hooks bend
//! its answers). Each provider signs a user in end to end on both
//! backends; then the refusal table, the linking rules and the log scan.

use std::sync::Once;

use base64::Engine as _;
use http::Method;
use serde_json::{Value, json};

use crate::common::{self, Gateway, ok, query_n, rest};

const REDIRECT: &str = "https://app.test/auth/callback";
const PROVIDERS: [&str; 5] = ["google", "github", "discord", "azure", "apple"];
const TENANT: &str = "11111111-2222-3333-4444-555555555555";

// ------------------------------------------------------------- the mock IdP

/// The providers' stand-in, one per test (its hooks are process-wide).
pub struct Idp {
    node: common::NodeHelper,
    http: reqwest::Client,
}

fn idp_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

impl Idp {
    pub fn start() -> Idp {
        static NPM: Once = Once::new();
        let node =
            common::NodeHelper::start(&NPM, &idp_dir(), "oauth2-mock-server", "mock-idp.mjs", &[]);
        Idp {
            node,
            http: reqwest::Client::new(),
        }
    }

    /// What the stand-in printed when it started: each provider's base URL
    /// and Apple's key material.
    pub fn info(&self) -> &Value {
        &self.node.info
    }

    pub fn base(&self, provider: &str) -> String {
        self.info()[provider].as_str().expect("base").to_owned()
    }

    /// The gateway's environment pointing every provider here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AUTHGATE_OAUTH_GOOGLE_ISSUER".into(), self.base("google")),
            ("AUTHGATE_OAUTH_AZURE_ISSUER".into(), self.base("azure")),
            ("AUTHGATE_OAUTH_APPLE_ISSUER".into(), self.base("apple")),
            ("AUTHGATE_OAUTH_GITHUB_BASE_URL".into(), self.base("github")),
            (
                "AUTHGATE_OAUTH_GITHUB_API_URL".into(),
                format!("{}/api", self.base("github")),
            ),
            (
                "AUTHGATE_OAUTH_DISCORD_BASE_URL".into(),
                format!("{}/api", self.base("discord")),
            ),
        ]
    }

    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base("control"));
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
            .await
            .expect("control")
            .json()
            .await
            .expect("control JSON")
    }

    pub async fn hooks(&self, provider: &str, hooks: Value) {
        self.control(Method::POST, &format!("/hooks/{provider}"), Some(hooks))
            .await;
    }

    pub async fn reset(&self) {
        self.control(Method::POST, "/reset", Some(json!({}))).await;
    }

    pub async fn requests(&self, provider: &str) -> Vec<Value> {
        self.control(Method::GET, &format!("/requests/{provider}"), None)
            .await
            .as_array()
            .cloned()
            .expect("an array")
    }

    pub async fn verify_jwt(&self, token: &str, jwks_url: &str, issuer: &str) -> Value {
        let body = json!({"token": token, "jwks_url": jwks_url, "issuer": issuer});
        self.control(Method::POST, "/verify-jwt", Some(body)).await
    }

    pub async fn verify_apple_secret(&self, token: &str) -> Value {
        let body = json!({"token": token, "audience": "https://appleid.apple.com"});
        self.control(Method::POST, "/verify-apple-secret", Some(body))
            .await
    }
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

// ----------------------------------------------------------------- the flow

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(authgate_core::hash::sha256(verifier.as_bytes()))
}

fn location(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

fn query_of(url: &str) -> std::collections::BTreeMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Client id and secret of each provider, and its settings.
fn provider_change(idp: &Idp, provider: &str) -> Value {
    let mut change = json!({
        "provider": provider,
        "enabled": true,
        "client_id": format!("{provider}-client-id"),
        "client_secret": format!("{provider}-client-secret-{}", ulid::Ulid::new()),
    });
    match provider {
        "apple" => {
            change["client_secret"] = idp.info()["apple_p8"].clone();
            change["team_id"] = idp.info()["apple_team_id"].clone();
            change["key_id"] = idp.info()["apple_key_id"].clone();
        }
        "azure" => change["tenant"] = json!(TENANT),
        _ => {}
    }
    change
}

/// Every provider enabled on the project behind `c`, and the callback.
async fn configure(idp: &Idp, c: &common::Client) -> Vec<Value> {
    ok(c, "add_callback", json!({"url": REDIRECT})).await;
    let changes: Vec<Value> = PROVIDERS.iter().map(|p| provider_change(idp, p)).collect();
    ok(
        c,
        "configure_auth_providers",
        json!({"providers": changes.clone()}),
    )
    .await;
    changes
}

/// A started sign-in: where the browser goes, and its binding cookie.
struct Started {
    authorize: String,
    cookie: String,
}

async fn start(
    gw: &Gateway, project: &str, provider: &str, challenge: Option<&str>,
) -> reqwest::Response {
    let mut url =
        url::Url::parse(&format!("{}/api/v1/auth/oauth/{provider}/start", gw.url())).expect("url");
    url.query_pairs_mut()
        .append_pair("project_id", project)
        .append_pair("redirect_url", REDIRECT)
        .append_pair("state", "app-state-1");
    if let Some(c) = challenge {
        url.query_pairs_mut().append_pair("code_challenge", c);
    }
    no_redirects().get(url).send().await.expect("start")
}

async fn started(gw: &Gateway, project: &str, provider: &str, challenge: Option<&str>) -> Started {
    let res = start(gw, project, provider, challenge).await;
    assert_eq!(
        res.status(),
        302,
        "start of {provider}: {:?}",
        res.text().await
    );
    let cookie = res
        .headers()
        .get("set-cookie")
        .expect("a binding cookie")
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    Started {
        authorize: location(&res).expect("a Location"),
        cookie,
    }
}

/// The provider's answer to the browser: our callback URL with its code.
async fn authorize(s: &Started) -> String {
    let res = no_redirects()
        .get(&s.authorize)
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 302, "the mock authorize redirects");
    location(&res).expect("to our callback")
}

/// The browser arriving at our callback (Apple: a form POST with `user`).
async fn arrive(provider: &str, callback: &str, cookie: Option<&str>) -> reqwest::Response {
    let client = no_redirects();
    let req = if provider == "apple" {
        let q = query_of(callback);
        let base = callback.split('?').next().expect("base");
        let user = json!({"name": {"firstName": "Ada", "lastName": "Lovelace"}, "email": "ada@example.test"});
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "code",
                q.get("code").map(String::as_str).unwrap_or_default(),
            )
            .append_pair(
                "state",
                q.get("state").map(String::as_str).unwrap_or_default(),
            )
            .append_pair("user", &user.to_string())
            .finish();
        // As a browser sends it: a cross-site form POST from Apple's page.
        client
            .post(base)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://appleid.apple.com")
            .body(form)
    } else {
        client.get(callback)
    };
    let req = match cookie {
        Some(c) => req.header("cookie", c),
        None => req,
    };
    req.send().await.expect("callback")
}

/// The app's landing: the code (or the error) and the app's state.
async fn land(provider: &str, s: &Started) -> std::collections::BTreeMap<String, String> {
    let callback = authorize(s).await;
    let res = arrive(provider, &callback, Some(&s.cookie)).await;
    assert_eq!(
        res.status(),
        302,
        "{provider} callback: {:?}",
        res.text().await
    );
    let to = location(&res).expect("back to the app");
    assert!(to.starts_with(REDIRECT), "{to}");
    query_of(&to)
}

async fn redeem(gw: &Gateway, project: &str, code: &str, verifier: Option<&str>) -> common::Answer {
    let mut body = json!({"code": code, "redirect_url": REDIRECT});
    if let Some(v) = verifier {
        body["code_verifier"] = json!(v);
    }
    common::post(&gw.url(), "/api/v1/auth/oauth/token", Some(project), body).await
}

/// A whole sign-in with PKCE: the token answer.
async fn sign_in_with(gw: &Gateway, project: &str, provider: &str) -> Value {
    let verifier = format!("verifier-{}-{}", provider, ulid::Ulid::new());
    let s = started(gw, project, provider, Some(&s256(&verifier))).await;
    let landed = land(provider, &s).await;
    assert_eq!(landed.get("state").map(String::as_str), Some("app-state-1"));
    let code = landed
        .get("code")
        .unwrap_or_else(|| panic!("{provider}: {landed:?}"));
    let answer = redeem(gw, project, code, Some(&verifier)).await;
    assert_eq!(answer.status, 200, "{provider}: {}", answer.body);
    let mut body = answer.body;
    // For the log scan: the one-time code and the verifier are secrets too.
    body["test_secrets"] = json!([code, verifier]);
    body
}

async fn counts(gw: &Gateway) -> (i64, i64, i64) {
    let store = gw.store();
    (
        query_n(store, "SELECT COUNT(*) AS n FROM end_users").await,
        query_n(store, "SELECT COUNT(*) AS n FROM sessions").await,
        query_n(store, "SELECT COUNT(*) AS n FROM oauth_accounts").await,
    )
}

/// Runs `test` on each backend with the providers pointed at the mock,
/// every provider enabled on the gateway's project and the callback URL
/// registered.
async fn each_backend_with_providers(test: impl AsyncFn(&Gateway, &Idp, &common::Client)) {
    let idp = Idp::start();
    let env = idp.env();
    common::each_backend(&env_refs(&env), async |gw| {
        idp.reset().await;
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        configure(&idp, &c).await;
        test(gw, &idp, &c).await;
    })
    .await;
}

// ------------------------------------------------------------------- tests

/// Each provider, on each backend: start → the provider → callback (Apple:
/// a form POST with `user`) → code → session; `GET /me` works and npm jose
/// verifies the access token against our JWKS. The provider saw S256,
/// a nonce (OpenID ones), our state and its scopes; Apple's client secret
/// verifies with jose against the developer's key. Nothing secret reaches
/// the log at trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_signs_a_user_in_end_to_end() {
    let idp = Idp::start();
    let env = idp.env();
    common::each_backend(&env_refs(&env), async |gw| {
        idp.reset().await;
        // The project admits one Microsoft tenant: the mock signs for it.
        idp.hooks(
            "azure",
            json!({"claims": {"tid": TENANT, "xms_edov": true}}),
        )
        .await;
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let changes = configure(&idp, &c).await;
        let project = gw.project_id.as_str();
        let listed = ok(&c, "list_auth_providers", json!({})).await;
        for row in listed["data"].as_array().expect("rows") {
            let p = row["provider"].as_str().expect("name");
            if PROVIDERS.contains(&p) {
                assert_eq!(
                    row["redirect_uri"],
                    json!(format!("{}/api/v1/auth/oauth/{p}/callback", gw.url()))
                );
                assert_eq!(row["has_client_secret"], json!(true));
                assert!(!row.to_string().contains("client-secret"), "{row}");
            }
        }
        let mut secrets: Vec<String> = changes
            .iter()
            .map(|c| c["client_secret"].as_str().expect("secret").to_owned())
            .collect();
        for provider in PROVIDERS {
            // Each provider gives its own subject for the same person.
            let answer = sign_in_with(gw, project, provider).await;
            assert_eq!(answer["provider"], json!(provider));
            for s in answer["test_secrets"].as_array().expect("secrets") {
                secrets.push(s.as_str().expect("text").to_owned());
            }
            let token = answer["access_token"].as_str().expect("access token");
            secrets.push(token.to_owned());
            secrets.push(
                answer["refresh_token"]
                    .as_str()
                    .expect("refresh")
                    .to_owned(),
            );
            let me = rest(
                Method::GET,
                &gw.url(),
                "/api/v1/me",
                None,
                Some(token),
                None,
            )
            .await;
            assert_eq!(me.status, 200, "{provider}: {}", me.body);
            assert_eq!(me.body["user"]["email"], json!("ada@example.test"));
            assert_eq!(me.body["user"]["email_verified"], json!(true));
            let jwks = format!("{}/api/v1/projects/{project}/jwks.json", gw.url());
            let verified = idp.verify_jwt(token, &jwks, &gw.url()).await;
            assert_eq!(verified["ok"], json!(true), "jose: {verified}");

            let seen = idp.requests(provider).await;
            let authorize = seen
                .iter()
                .find(|r| r["path"].as_str().is_some_and(|p| p.ends_with("authorize")))
                .expect("an authorize request");
            let q = &authorize["query"];
            assert_eq!(q["code_challenge_method"], json!("S256"), "{provider}");
            assert_eq!(q["code_challenge"].as_str().map(str::len), Some(43));
            assert!(q["state"].as_str().is_some_and(|s| s.len() >= 43), "{q}");
            assert_eq!(
                q["redirect_uri"],
                json!(format!(
                    "{}/api/v1/auth/oauth/{provider}/callback",
                    gw.url()
                ))
            );
            let oidc = ["google", "azure", "apple"].contains(&provider);
            assert_eq!(
                q["nonce"].as_str().is_some_and(|n| n.len() >= 43),
                oidc,
                "{q}"
            );
            let scopes = match provider {
                "github" => "read:user user:email",
                "discord" => "identify email",
                "apple" => "openid name email",
                _ => "openid email profile",
            };
            assert_eq!(q["scope"], json!(scopes));
            let token_req = seen
                .iter()
                .find(|r| r["method"] == json!("POST"))
                .expect("a token request");
            let form = &token_req["form"];
            assert_eq!(form["grant_type"], json!("authorization_code"));
            assert_eq!(
                form["code_verifier"].as_str().map(s256),
                q["code_challenge"].as_str().map(str::to_owned)
            );
            if provider == "apple" {
                let secret = form["client_secret"].as_str().expect("a client secret JWT");
                let v = idp.verify_apple_secret(secret).await;
                assert_eq!(v["ok"], json!(true), "{v}");
                assert_eq!(v["header"]["kid"], idp.info()["apple_key_id"]);
                assert_eq!(v["payload"]["iss"], idp.info()["apple_team_id"]);
                assert_eq!(v["payload"]["sub"], json!("apple-client-id"));
                secrets.push(secret.to_owned());
            }
            if let Some(auth) = seen
                .iter()
                .filter_map(|r| r["headers"]["authorization"].as_str())
                .find(|a| a.starts_with("Bearer "))
            {
                secrets.push(auth.trim_start_matches("Bearer ").to_owned());
            }
            secrets.push(q["state"].as_str().expect("state").to_owned());
        }
        // One user, five linked accounts: the first provider made the user
        // (verified address) and each later one linked to it.
        assert_eq!(counts(gw).await, (1, 5, 5));
        let users = ok(&c, "list_end_users", json!({})).await;
        let id = users["data"][0]["id"].as_str().expect("id").to_owned();
        let detail = ok(&c, "get_end_user", json!({"user_id": id})).await;
        let linked: Vec<&str> = detail["linked_accounts"]
            .as_array()
            .expect("linked")
            .iter()
            .map(|a| a["provider"].as_str().expect("provider"))
            .collect();
        assert_eq!(linked.len(), 5, "{linked:?}");
        let events = ok(&c, "list_audit_events", json!({"event_type": "sign_up"})).await;
        assert_eq!(
            events["data"][0]["metadata"]["method"],
            json!("oauth:google"),
            "{events}"
        );
        let sign_ins = ok(
            &c,
            "list_audit_events",
            json!({"event_type": "sign_in.succeeded"}),
        )
        .await;
        let mut methods: Vec<&str> = sign_ins["data"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["metadata"]["method"].as_str().expect("method"))
            .collect();
        methods.sort();
        assert_eq!(
            methods,
            [
                "oauth:apple",
                "oauth:azure",
                "oauth:discord",
                "oauth:github",
                "oauth:google"
            ]
        );
        let export = ok(&c, "export_user_data", json!({"user_id": id})).await;
        assert!(
            export.to_string().contains("\"provider\":\"apple\""),
            "the export shows linked accounts"
        );
        let linked_events = ok(
            &c,
            "list_audit_events",
            json!({"event_type": "account.linked"}),
        )
        .await;
        assert_eq!(linked_events["data"].as_array().map(Vec::len), Some(5));

        secrets.push(
            idp.info()["apple_p8"]
                .as_str()
                .expect("p8")
                .lines()
                .nth(1)
                .expect("key body")
                .to_owned(),
        );
        let log = common::logs();
        for s in &secrets {
            assert!(
                !log.contains(s.as_str()),
                "a secret is in the log: {:.12}…",
                s
            );
        }
    })
    .await;
}

async fn failures(gw: &Gateway, reason: &str) -> i64 {
    query_n(
        gw.store(),
        &format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE event_type = 'sign_in.failed' \
             AND metadata LIKE '%\"reason\":\"{reason}\"%'"
        ),
    )
    .await
}

/// A sign-in that should come back to the app with `error=`.
async fn refused_with(gw: &Gateway, idp: &Idp, provider: &str, hooks: Value, error: &str) {
    idp.hooks(provider, hooks.clone()).await;
    let before = (counts(gw).await, failures(gw, error).await);
    let s = started(gw, &gw.project_id, provider, None).await;
    let landed = land(provider, &s).await;
    assert_eq!(
        landed.get("error").map(String::as_str),
        Some(error),
        "{provider} with {hooks}: {landed:?}"
    );
    assert_eq!(landed.get("state").map(String::as_str), Some("app-state-1"));
    assert!(!landed.contains_key("code"), "{landed:?}");
    assert_eq!(
        counts(gw).await,
        before.0,
        "{provider} {hooks}: nothing is made"
    );
    assert_eq!(
        failures(gw, error).await,
        before.1 + 1,
        "{provider} {hooks}: audited as {error}"
    );
    idp.hooks(provider, json!({})).await;
}

/// A callback that is refused outright: 400, no Location, nothing made.
async fn refused_outright(
    gw: &Gateway, res: reqwest::Response, before: (i64, i64, i64), what: &str,
) {
    assert_eq!(res.status(), 400, "{what}");
    assert!(location(&res).is_none(), "{what}: no Location");
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["error"]["field"], json!("state"), "{what}: {body}");
    assert_eq!(counts(gw).await, before, "{what}: nothing is made");
}

/// The refusal table: each refusal makes no user, session or link, and is
/// audited (`sign_in.failed` with its reason) where its project is known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_make_nothing_and_are_audited() {
    each_backend_with_providers(async |gw, idp, c| {
        let project = gw.project_id.as_str();
        let now = chrono::Utc::now().timestamp();

        // ID tokens (Google; Microsoft for its tenant).
        for hooks in [
            json!({"claims": {"nonce": "not-this-sign-ins-nonce"}}),
            json!({"claims": {"aud": "another-client"}}),
            json!({"claims": {"iss": "https://evil.test"}}),
            json!({"claims": {"exp": now - 3600, "iat": now - 7200}}),
            json!({"id_token": "none"}),
            json!({"id_token": "hs256_public_jwk"}),
            json!({"header": {"kid": "a-key-nobody-published"}}),
        ] {
            refused_with(gw, idp, "google", hooks, "provider_error").await;
        }
        let other_tenant = "99999999-2222-3333-4444-555555555555";
        refused_with(gw, idp, "azure", json!({"claims": {"tid": other_tenant, "xms_edov": true}}), "provider_error").await;

        // The token endpoint (GitHub; its errors may come as 200).
        for hooks in [
            json!({"token_response": {"status": 400, "json": {"error": "bad_verification_code"}}}),
            json!({"token_response": {"status": 500, "raw": "upstream broke"}}),
            json!({"token_response": {"status": 200, "json": {"error": "bad_verification_code"}}}),
            json!({"token_response": {"status": 200, "raw": "<html>not json</html>"}}),
            // No answer: the 10 s budget ends the call.
            json!({"token_response": {"hang_ms": 12000}}),
        ] {
            refused_with(gw, idp, "github", hooks, "provider_error").await;
        }
        // The user said no at the provider.
        refused_with(gw, idp, "discord", json!({"authorize_error": "access_denied"}), "access_denied").await;
        // No address at all.
        refused_with(gw, idp, "google", json!({"claims": {"email": null}}), "email_not_verified").await;

        // An address the provider does not vouch for, equal to a user's.
        common::sign_up(&gw.url(), project, "ada@example.test", "correct horse battery 9").await;
        let tid = json!({"tid": TENANT});
        for (provider, hooks) in [
            ("google", json!({"claims": {"email_verified": false}})),
            ("apple", json!({"claims": {"email_verified": "false"}})),
            ("azure", json!({"claims": tid})),
            ("github", json!({"emails": [{"email": "ada@example.test", "primary": true, "verified": false}]})),
            ("discord", json!({"user": {"id": "42", "username": "ada", "email": "ada@example.test", "verified": false}})),
        ] {
            refused_with(gw, idp, provider, hooks, "account_conflict").await;
        }

        // The state and its cookie: 400 with nowhere to go.
        idp.hooks("google", json!({"claims": {"nonce": "spoiled"}})).await;
        let s = started(gw, project, "google", None).await;
        let callback = authorize(&s).await;
        let first = arrive("google", &callback, Some(&s.cookie)).await;
        assert_eq!(first.status(), 302);
        let before = counts(gw).await;
        let replays = failures(gw, "invalid_state").await;
        let replay = arrive("google", &callback, Some(&s.cookie)).await;
        refused_outright(gw, replay, before, "a replayed callback").await;
        assert_eq!(failures(gw, "invalid_state").await, replays + 1, "the replay is audited");

        let s = started(gw, project, "google", None).await;
        let callback = authorize(&s).await;
        let bindings = failures(gw, "binding_cookie").await;
        refused_outright(gw, arrive("google", &callback, None).await, before, "no cookie").await;
        let s2 = started(gw, project, "google", None).await;
        let name = s.cookie.split('=').next().expect("name");
        let other_value = s2.cookie.split_once('=').expect("pair").1;
        let s = started(gw, project, "google", None).await;
        let callback = authorize(&s).await;
        let name_now = s.cookie.split('=').next().expect("name");
        assert_ne!(name, name_now, "each sign-in has its own cookie");
        let foreign = format!("{name_now}={other_value}; {}", s2.cookie);
        refused_outright(gw, arrive("google", &callback, Some(&foreign)).await, before, "a foreign cookie").await;
        assert_eq!(failures(gw, "binding_cookie").await, bindings + 2, "cookie refusals are audited");

        let s = started(gw, project, "google", None).await;
        let callback = authorize(&s).await;
        common::run_sql(gw.store(), &["UPDATE oauth_states SET expires_at = 0 WHERE used_at IS NULL"]).await;
        refused_outright(gw, arrive("google", &callback, Some(&s.cookie)).await, before, "an expired state").await;
        idp.hooks("google", json!({})).await;

        // Crafted redirect URLs: 400 naming it, and no Location.
        for evil in [
            "//evil.test",
            "https://app.test.evil.test/auth/callback",
            "https://app.test@evil.test/auth/callback",
            "https://app.test\\@evil.test/auth/callback",
            "javascript:alert(1)",
            "https://app.test/auth/callback/../../x",
        ] {
            let mut url = url::Url::parse(&format!("{}/api/v1/auth/oauth/google/start", gw.url())).expect("url");
            url.query_pairs_mut().append_pair("project_id", project).append_pair("redirect_url", evil);
            let res = no_redirects().get(url).send().await.expect("start");
            assert_eq!(res.status(), 400, "{evil}");
            assert!(location(&res).is_none(), "{evil}");
            let body: Value = res.json().await.expect("JSON");
            assert_eq!(body["error"]["field"], json!("redirect_url"), "{evil}: {body}");
        }
        assert!(failures(gw, "invalid_redirect_url").await >= 6, "crafted redirect URLs are audited");
        assert_eq!(counts(gw).await, before, "nothing is made");

        // A Google Workspace domain: an account of another domain is refused.
        ok(c, "configure_auth_providers", json!({"providers": [{"provider": "google", "enabled": true, "hosted_domain": "example.test"}]})).await;
        refused_with(gw, idp, "google", json!({"claims": {"hd": "elsewhere.test"}}), "provider_error").await;
        let s = started(gw, project, "google", None).await;
        let hd = query_of(&s.authorize);
        assert_eq!(hd.get("hd").map(String::as_str), Some("example.test"), "hd is sent");

        // A provider that is not enabled: 412.
        ok(c, "configure_auth_providers", json!({"providers": [{"provider": "discord", "enabled": false}]})).await;
        let res = start(gw, project, "discord", None).await;
        assert_eq!(res.status(), 412);
        assert!(location(&res).is_none());
    })
    .await;
}

/// The one-time code: single use, 60 s, bound to its project and
/// redirect URL, redeemed only with the verifier of the challenge sent at
/// start, or (no challenge) only from a server with a write-scoped key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_single_use_short_lived_and_bound() {
    each_backend_with_providers(async |gw, _, c| {
        let project = gw.project_id.as_str();
        let code_with = async |verifier: Option<&str>| -> String {
            let s = started(gw, project, "google", verifier.map(s256).as_deref()).await;
            land("google", &s).await.get("code").cloned().expect("a code")
        };
        let verifier = "v".repeat(50);
        // Reused.
        let code = code_with(Some(&verifier)).await;
        assert_eq!(redeem(gw, project, &code, Some(&verifier)).await.status, 200);
        redeem(gw, project, &code, Some(&verifier)).await.refused(400, "invalid_argument");
        // A wrong verifier spends it: the right one then fails too.
        let code = code_with(Some(&verifier)).await;
        redeem(gw, project, &code, Some(&"w".repeat(50))).await.refused(400, "invalid_argument");
        redeem(gw, project, &code, Some(&verifier)).await.refused(400, "invalid_argument");
        // No verifier when a challenge was sent.
        let code = code_with(Some(&verifier)).await;
        redeem(gw, project, &code, None).await.refused(400, "invalid_argument");
        // Late.
        let code = code_with(Some(&verifier)).await;
        common::run_sql(gw.store(), &["UPDATE oauth_codes SET expires_at = 0 WHERE used_at IS NULL"]).await;
        redeem(gw, project, &code, Some(&verifier)).await.refused(400, "invalid_argument");
        // Another project, another redirect URL.
        let (other, _) = common::second_project(gw, "Other").await;
        let code = code_with(Some(&verifier)).await;
        redeem(gw, &other, &code, Some(&verifier)).await.refused(400, "invalid_argument");
        let code = code_with(Some(&verifier)).await;
        let wrong_url = json!({"code": code, "redirect_url": "https://app.test/other", "code_verifier": verifier});
        common::post(&gw.url(), "/api/v1/auth/oauth/token", Some(project), wrong_url).await.refused(400, "invalid_argument");
        // No challenge: a browser cannot redeem it; a write-scoped key can.
        let code = code_with(None).await;
        redeem(gw, project, &code, None).await.refused(401, "unauthenticated");
        let code = code_with(None).await;
        let read_key = ok(c, "create_api_key", json!({"name": "read", "scopes": ["read"]})).await["key"]
            .as_str()
            .expect("key")
            .to_owned();
        let body = json!({"code": code, "redirect_url": REDIRECT});
        let as_reader = rest(Method::POST, &gw.url(), "/api/v1/auth/oauth/token", Some(project), Some(&read_key), Some(body.clone())).await;
        assert_eq!(as_reader.status, 403, "{}", as_reader.body);
        let code = code_with(None).await;
        let body = json!({"code": code, "redirect_url": REDIRECT});
        let as_server = rest(Method::POST, &gw.url(), "/api/v1/auth/oauth/token", Some(project), Some(&gw.admin_key), Some(body)).await;
        assert_eq!(as_server.status, 200, "{}", as_server.body);
        assert_eq!(as_server.body["is_new_user"], json!(false));
        assert_eq!(as_server.body["provider"], json!("google"));
        // Two redemptions made sessions; every refusal was audited.
        assert_eq!(counts(gw).await.1, 2, "only the two good redemptions made sessions");
        assert_eq!(failures(gw, "invalid_code").await, 4, "reused, spent, late, other project");
        assert_eq!(failures(gw, "wrong_code_verifier").await, 2);
        assert_eq!(failures(gw, "wrong_redirect_url").await, 1);
        assert_eq!(failures(gw, "wrong_authorization").await, 1);
    })
    .await;
}

/// Linking: an address the provider vouches for signs in (and links) the
/// user who has it; an unverified holder of that address is claimed first
/// (the squatter's password and sessions go); a known subject signs in
/// its user whatever its address is now; a second provider links to the
/// same user; an unvouched address that is free makes an unverified user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_follows_the_rules() {
    each_backend_with_providers(async |gw, idp, c| {
        let (url, project) = (gw.url(), gw.project_id.clone());
        let pw = "correct horse battery 9";

        // A verified user: the provider's verified address links to it.
        let owner = common::sign_up(&url, &project, "owner@example.test", pw).await;
        let owner_id = owner["id"].as_str().expect("id").to_owned();
        ok(c, "set_email_verified", json!({"user_id": owner_id, "verified": true})).await;
        idp.hooks("google", json!({"claims": {"sub": "g-owner", "email": "Owner@Example.test"}})).await;
        let answer = sign_in_with(gw, &project, "google").await;
        assert_eq!(answer["user"]["id"], json!(owner_id));
        assert_eq!(answer["is_new_user"], json!(false));
        // The password still works for a verified owner.
        common::sign_in(&url, &project, "owner@example.test", pw).await;

        // A squatter's unverified account with the victim's address.
        let squatter = common::sign_up(&url, &project, "victim@example.test", pw).await;
        let squatter_session = common::sign_in(&url, &project, "victim@example.test", pw).await;
        idp.hooks("google", json!({"claims": {"sub": "g-victim", "email": "victim@example.test"}})).await;
        let answer = sign_in_with(gw, &project, "google").await;
        assert_eq!(answer["user"]["id"], squatter["id"], "the address's account is claimed");
        assert_eq!(answer["user"]["email_verified"], json!(true));
        assert_eq!(answer["user"]["has_password"], json!(false), "the squatter's password is gone");
        common::post(&url, "/api/v1/auth/sign-in", Some(&project), json!({"email": "victim@example.test", "password": pw}))
            .await
            .refused(401, "unauthenticated");
        let refresh = json!({"refresh_token": squatter_session["refresh_token"]});
        let r = common::post(&url, "/api/v1/auth/refresh", Some(&project), refresh).await;
        assert_eq!(r.status, 401, "the squatter's session is revoked: {:?}", r.body);
        let claimed = ok(c, "list_audit_events", json!({"event_type": "account.claimed"})).await;
        assert_eq!(claimed["data"][0]["metadata"]["method"], json!("oauth:google"));

        // The subject wins over a changed address.
        idp.hooks("google", json!({"claims": {"sub": "g-victim", "email": "renamed@example.test"}})).await;
        let again = sign_in_with(gw, &project, "google").await;
        assert_eq!(again["user"]["id"], squatter["id"]);
        assert_eq!(again["user"]["email"], json!("victim@example.test"), "the user's address is kept");

        // A second provider with the verified address links to that user.
        idp.hooks("github", json!({"emails": [{"email": "victim@example.test", "primary": true, "verified": true}]})).await;
        let github = sign_in_with(gw, &project, "github").await;
        assert_eq!(github["user"]["id"], squatter["id"]);
        let detail = ok(c, "get_end_user", json!({"user_id": squatter["id"]})).await;
        let mut providers: Vec<&str> = detail["linked_accounts"].as_array().expect("linked").iter().map(|a| a["provider"].as_str().expect("p")).collect();
        providers.sort();
        assert_eq!(providers, ["github", "google"]);

        // An unvouched address that is free: a new, unverified user.
        idp.hooks("discord", json!({"user": {"id": "777", "username": "newbie", "email": "newbie@example.test", "verified": false}})).await;
        let newbie = sign_in_with(gw, &project, "discord").await;
        assert_eq!(newbie["is_new_user"], json!(true));
        assert_eq!(newbie["user"]["email"], json!("newbie@example.test"));
        assert_eq!(newbie["user"]["email_verified"], json!(false));
        assert_eq!(newbie["user"]["name"], json!("newbie"));
    })
    .await;
}

/// configure_auth_providers: the seed's `magic-link` spelling; enabling an
/// OAuth provider without credentials names what is missing and the
/// redirect URI to register; a change that names some fields keeps the
/// stored others (credentials included); a setting of another provider is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_configuration_keeps_what_it_does_not_name() {
    common::each_backend(&[], async |gw| {
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let out = ok(&c, "configure_auth_providers", json!({"providers": [{"provider": "magic-link", "enabled": true}]})).await;
        let magic = out["providers"].as_array().expect("rows").iter().find(|p| p["provider"] == json!("magic_link")).cloned().expect("magic_link");
        assert_eq!(magic["enabled"], json!(true));

        let e = common::err(&c, "configure_auth_providers", json!({"providers": [{"provider": "google", "enabled": true}]}), "precondition_failed").await;
        assert_eq!(e["field"], json!("providers[0].client_id"), "{e}");
        let hint = e["hint"].as_str().expect("hint");
        assert!(hint.contains("client_id and client_secret"), "{hint}");
        assert!(hint.contains(&format!("{}/api/v1/auth/oauth/google/callback", gw.url())), "{hint}");
        let e = common::err(&c, "configure_auth_providers", json!({"providers": [{"provider": "apple", "enabled": true, "client_id": "com.example.web", "client_secret": "not a key"}]}), "invalid_argument").await;
        assert_eq!(e["field"], json!("providers[0].client_secret"), "{e}");
        let e = common::err(&c, "configure_auth_providers", json!({"providers": [{"provider": "github", "enabled": false, "tenant": "common"}]}), "invalid_argument").await;
        assert_eq!(e["field"], json!("providers[0].tenant"), "{e}");

        ok(&c, "configure_auth_providers", json!({"providers": [{"provider": "google", "enabled": true, "client_id": "g-id", "client_secret": "g-secret"}]})).await;
        let out = ok(&c, "configure_auth_providers", json!({"providers": [{"provider": "google", "enabled": true, "scopes": ["openid", "email"], "hosted_domain": "example.test"}]})).await;
        let google = out["providers"].as_array().expect("rows").iter().find(|p| p["provider"] == json!("google")).cloned().expect("google");
        assert_eq!(google["client_id"], json!("g-id"));
        assert_eq!(google["has_client_secret"], json!(true));
        assert_eq!(google["configured"], json!(true));
        assert_eq!(google["settings"]["scopes"], json!(["openid", "email"]));
        assert_eq!(google["settings"]["hosted_domain"], json!("example.test"));
        assert!(!out.to_string().contains("g-secret"));
    })
    .await;
}

/// The binding cookie and the redirect URI follow AUTHGATE_PUBLIC_URL: on
/// https the cookie is `SameSite=None; Secure` (Apple's cross-site form
/// POST carries it), on loopback http `SameSite=Lax` without `Secure`;
/// both HttpOnly, on the OAuth paths only, for the state's 10 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binding_cookie_follows_the_public_url() {
    let idp = Idp::start();
    let plain = idp.env();
    let mut public = idp.env();
    public.push((
        "AUTHGATE_PUBLIC_URL".into(),
        "https://auth.example.test".into(),
    ));
    for (env, base, secure) in [
        (&public, Some("https://auth.example.test"), true),
        (&plain, None, false),
    ] {
        common::each_backend(&env_refs(env), async |gw| {
            let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
            configure(&idp, &c).await;
            let res = start(gw, &gw.project_id, "apple", None).await;
            assert_eq!(res.status(), 302);
            let cookie = res
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .expect("a binding cookie")
                .to_owned();
            assert!(cookie.starts_with("ag_oauth_"), "{cookie}");
            for part in ["HttpOnly", "Path=/api/v1/auth/oauth", "Max-Age=600"] {
                assert!(cookie.contains(part), "{cookie}");
            }
            assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
            let site = if secure {
                "SameSite=None"
            } else {
                "SameSite=Lax"
            };
            assert!(cookie.contains(site), "{cookie}");
            let q = query_of(&location(&res).expect("to Apple"));
            let base = base.map(str::to_owned).unwrap_or_else(|| gw.url());
            assert_eq!(
                q.get("redirect_uri"),
                Some(&format!("{base}/api/v1/auth/oauth/apple/callback"))
            );
            assert_eq!(
                q.get("response_mode").map(String::as_str),
                Some("form_post")
            );
        })
        .await;
    }
}

/// Forged key ids cannot make AuthGate hammer a provider: the JWKS is read
/// once and an unknown `kid` refetches it at most once a minute. Social
/// sign-ups spend the client address's sign-up budget (20 an hour) like
/// every other sign-up: the 21st comes back as `access_denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_kids_and_sign_up_floods_are_bounded() {
    each_backend_with_providers(async |gw, idp, _| {
        let project = gw.project_id.as_str();
        sign_in_with(gw, project, "google").await;
        let jwks_reads = async || {
            idp.requests("google")
                .await
                .iter()
                .filter(|r| r["path"] == json!("/jwks"))
                .count()
        };
        let before = jwks_reads().await;
        assert!(before >= 1, "the first sign-in read the JWKS");
        for _ in 0..5 {
            refused_with(
                gw,
                idp,
                "google",
                json!({"header": {"kid": "forged"}}),
                "provider_error",
            )
            .await;
        }
        assert_eq!(jwks_reads().await, before, "no refetch within the minute");

        // 19 more new users from this address, then the budget is spent.
        for i in 1..20 {
            let claims =
                json!({"sub": format!("flood-{i}"), "email": format!("flood{i}@example.test")});
            idp.hooks("google", json!({"claims": claims})).await;
            let answer = sign_in_with(gw, project, "google").await;
            assert_eq!(answer["is_new_user"], json!(true), "sign-up {i}");
        }
        let claims = json!({"sub": "flood-21", "email": "flood21@example.test"});
        refused_with(
            gw,
            idp,
            "google",
            json!({"claims": claims}),
            "access_denied",
        )
        .await;
    })
    .await;
}
