//! SMS sign-in (issue 21) through a Twilio stand-in of the tests: a
//! loopback HTTP server that implements the Messages endpoint and records
//! each message. Both backends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use base64::Engine as _;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{self, Gateway, ok, post, rest};

/// One message Twilio was asked to send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub account: String,
    pub authorization: String,
    pub form: BTreeMap<String, String>,
}

/// The stand-in: `POST /2010-04-01/Accounts/{sid}/Messages.json`.
pub struct Twilio {
    pub base: String,
    pub sent: Arc<Mutex<Vec<Sent>>>,
}

type Log = Arc<Mutex<Vec<Sent>>>;

async fn messages(
    State(log): State<Log>, Path(account): Path<String>, headers: HeaderMap, body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let form = url::form_urlencoded::parse(&body).into_owned().collect();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    log.lock().expect("log").push(Sent {
        account,
        authorization,
        form,
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"})),
    )
}

impl Twilio {
    pub async fn start() -> Twilio {
        let sent: Log = Arc::default();
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                axum::routing::post(messages),
            )
            .with_state(sent.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Twilio { base, sent }
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().expect("log").clone()
    }

    /// The code in the last message to `to`.
    pub fn code_for(&self, to: &str) -> String {
        let sent = self.sent();
        let last = sent
            .iter()
            .rev()
            .find(|m| m.form.get("To").map(String::as_str) == Some(to))
            .unwrap_or_else(|| panic!("no SMS to {to}: {sent:?}"));
        common::six_digits(&last.form["Body"])
    }
}

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const SENDER: &str = "+15005550006";

fn token() -> String {
    format!("twilio-token-{}", ulid::Ulid::new())
}

async fn enable_sms(c: &common::Client, token: &str, countries: Option<&[&str]>) {
    let mut change = json!({
        "provider": "sms", "enabled": true,
        "client_id": SID, "client_secret": token, "sender": SENDER,
    });
    if let Some(list) = countries {
        change["allowed_countries"] = json!(list);
    }
    ok(
        c,
        "configure_auth_providers",
        json!({"providers": [change]}),
    )
    .await;
}

async fn request(gw: &Gateway, phone: &str) -> common::Answer {
    post(
        &gw.url(),
        "/api/v1/auth/sms/request",
        Some(&gw.project_id),
        json!({"phone": phone}),
    )
    .await
}

async fn verify(gw: &Gateway, phone: &str, code: &str) -> common::Answer {
    let body = json!({"phone": phone, "code": code});
    post(
        &gw.url(),
        "/api/v1/auth/sms/verify",
        Some(&gw.project_id),
        body,
    )
    .await
}

/// request → the recorded message → verify → signed in; the first verify
/// makes a phone user, and two spellings of one number are one user, shown
/// and filtered by the tools. Enabling needs the Twilio credentials and a
/// sender. No auth token or code reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_by_sms_signs_the_number_in() {
    let twilio = Twilio::start().await;
    let env = [("AUTHGATE_SMS_TWILIO_BASE_URL", twilio.base.as_str())];
    common::each_backend(&env, async |gw| {
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let refused = common::err(
            &c,
            "configure_auth_providers",
            json!({"providers": [{"provider": "sms", "enabled": true, "client_id": SID, "client_secret": "t"}]}),
            "precondition_failed",
        )
        .await;
        assert_eq!(refused["field"], json!("providers[0].sender"), "{refused}");
        let token = token();
        enable_sms(&c, &token, None).await;
        let before = twilio.sent().len();

        assert_eq!(request(gw, "+1 (415) 555-0100").await.status, 202);
        let sent = twilio.sent();
        assert_eq!(sent.len(), before + 1);
        let m = sent.last().expect("a message");
        assert_eq!(m.account, SID);
        assert_eq!(m.form["To"], "+14155550100");
        assert_eq!(m.form["From"], SENDER);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{token}"));
        assert_eq!(m.authorization, format!("Basic {basic}"));
        let code = twilio.code_for("+14155550100");

        let first = verify(gw, "+14155550100", &code).await;
        assert_eq!(first.status, 200, "{:?}", first.body);
        let user = &first.body["user"];
        assert_eq!(user["phone"], json!("+14155550100"));
        assert_eq!(user["phone_verified"], json!(true));
        assert_eq!(user["email"], Value::Null);
        let token_a = first.body["access_token"].as_str().expect("token");
        let me = rest(Method::GET, &gw.url(), "/api/v1/me", None, Some(token_a), None).await;
        assert_eq!(me.status, 200, "{:?}", me.body);
        assert_eq!(me.body["user"]["id"], user["id"]);

        // The other spelling is the same number, so the same user.
        assert_eq!(request(gw, "+14155550100").await.status, 202);
        let again = verify(gw, "+1 415-555-0100", &twilio.code_for("+14155550100")).await;
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(again.body["user"]["id"], user["id"]);

        let listed = ok(&c, "list_end_users", json!({"phone": "+1 (415) 555 0100"})).await;
        assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
        assert_eq!(listed["data"][0]["id"], user["id"]);
        let none = ok(&c, "list_end_users", json!({"phone": "+14155550199"})).await;
        assert_eq!(none["data"].as_array().map(Vec::len), Some(0));
        let export = ok(&c, "export_user_data", json!({"user_id": user["id"]})).await;
        assert!(export.to_string().contains("+14155550100"), "the export shows the phone");
        let signups = ok(&c, "list_audit_events", json!({"event_type": "sign_up"})).await;
        assert_eq!(signups["data"][0]["metadata"]["method"], json!("sms"));
        let sends = ok(&c, "list_audit_events", json!({"event_type": "sms.code_sent"})).await;
        assert_eq!(sends["data"].as_array().map(Vec::len), Some(2));

        // No enumeration: a number with no account is asked for the same way.
        assert_eq!(request(gw, "+442079460958").await.status, 202);
        let log = common::logs();
        assert!(!log.contains(&token), "the auth token is in the log");
        for m in twilio.sent() {
            let code = common::six_digits(&m.form["Body"]);
            assert!(!log.contains(&format!("\"{code}\"")), "an SMS code is in the log");
            assert!(!log.contains(&m.form["Body"]), "an SMS body is in the log");
        }
    })
    .await;
}

/// Five wrong codes kill the code: the right one then fails too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_codes_kill_the_code() {
    let twilio = Twilio::start().await;
    let env = [("AUTHGATE_SMS_TWILIO_BASE_URL", twilio.base.as_str())];
    common::each_backend(&env, async |gw| {
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        enable_sms(&c, &token(), None).await;
        let phone = "+14155550123";
        assert_eq!(request(gw, phone).await.status, 202);
        let code = twilio.code_for(phone);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            verify(gw, phone, wrong)
                .await
                .refused(400, "invalid_argument");
        }
        let failed = ok(
            &c,
            "list_audit_events",
            json!({"event_type": "sign_in.failed"}),
        )
        .await;
        assert_eq!(
            failed["data"].as_array().map(Vec::len),
            Some(5),
            "each wrong code is audited"
        );
        assert_eq!(failed["data"][0]["metadata"]["method"], json!("sms"));
        let late = verify(gw, phone, &code).await;
        assert_eq!(late.status, 400, "the code died: {:?}", late.body);
        // A fresh code works.
        assert_eq!(request(gw, phone).await.status, 202);
        assert_eq!(verify(gw, phone, &twilio.code_for(phone)).await.status, 200);
    })
    .await;
}

async fn alerts_of(c: &common::Client) -> Vec<Value> {
    ok(c, "list_security_alerts", json!({})).await["data"]
        .as_array()
        .cloned()
        .expect("alerts")
}

/// The per-number cap (3 per 10 minutes) and the daily cap answer 429 with
/// Retry-After and raise the sms_pumping alert; a number outside
/// `allowed_countries`, or one that does not parse, is 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_refuse_and_raise_the_alert() {
    let twilio = Twilio::start().await;
    let env = [
        ("AUTHGATE_SMS_TWILIO_BASE_URL", twilio.base.as_str()),
        ("AUTHGATE_SMS_DAILY_CAP", "5"),
    ];
    common::each_backend(&env, async |gw| {
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        enable_sms(&c, &token(), None).await;
        let sent = twilio.sent().len();
        for _ in 0..3 {
            assert_eq!(request(gw, "+14155550100").await.status, 202);
        }
        let capped = request(gw, "+14155550100").await;
        capped.refused(429, "rate_limited");
        assert!(capped.headers.get("retry-after").is_some(), "Retry-After");
        assert_eq!(
            twilio.sent().len(),
            sent + 3,
            "the capped request sent nothing"
        );
        let limited = ok(
            &c,
            "list_audit_events",
            json!({"event_type": "sms.limited"}),
        )
        .await;
        assert_eq!(limited["data"][0]["metadata"]["cap"], json!("number"));
        let alerts = alerts_of(&c).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0]["rule"], json!("sms_pumping"));
        assert!(
            alerts[0]["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("number:"))
        );

        // The day's cap: two more numbers reach 5, the next is refused.
        assert_eq!(request(gw, "+14155550101").await.status, 202);
        assert_eq!(request(gw, "+14155550102").await.status, 202);
        let daily = request(gw, "+14155550103").await;
        daily.refused(429, "rate_limited");
        assert!(daily.headers.get("retry-after").is_some());
        let alerts = alerts_of(&c).await;
        assert!(
            alerts
                .iter()
                .any(|a| a["subject"] == json!("daily:sms:daily")),
            "{alerts:?}"
        );

        // Countries, and numbers that are not numbers.
        let (other, other_key) = common::second_project(gw, "Other").await;
        let c2 = common::connect(&gw.mcp_url(), &other_key).await;
        enable_sms(&c2, &token(), Some(&["GB"])).await;
        let us = post(
            &gw.url(),
            "/api/v1/auth/sms/request",
            Some(&other),
            json!({"phone": "+14155550100"}),
        )
        .await;
        assert_eq!(us.refused(400, "invalid_argument")["field"], json!("phone"));
        let gb = post(
            &gw.url(),
            "/api/v1/auth/sms/request",
            Some(&other),
            json!({"phone": "+44 20 7946 0958"}),
        )
        .await;
        assert_eq!(gb.status, 202);
        for bad in ["4155550100", "+1 415", "not a number"] {
            let a = post(
                &gw.url(),
                "/api/v1/auth/sms/request",
                Some(&other),
                json!({"phone": bad}),
            )
            .await;
            assert_eq!(
                a.refused(400, "invalid_argument")["field"],
                json!("phone"),
                "{bad}"
            );
        }
    })
    .await;
}
