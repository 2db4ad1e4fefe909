//! Webhooks (issue 22) to a real receiver on loopback that verifies every
//! delivery with npm `standardwebhooks` 1.1.1 (`interop/webhooks-receiver.mjs`):
//! the changes of a user's life, retries, 410 Gone, timeouts, rotation,
//! nothing sent for a failed or rolled-back change, the address policy,
//! and at-least-once across a kill -9 and two gateways on one PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use crate::common::{self, Client, ok, rest};

// ------------------------------------------------------------ the receiver

/// `interop/webhooks-receiver.mjs`: records and verifies deliveries.
pub struct Receiver {
    _node: common::NodeHelper,
    pub port: u16,
    http: reqwest::Client,
}

fn interop_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

impl Receiver {
    /// Starts one on a free port, or on `port`.
    pub fn start(port: Option<u16>) -> Receiver {
        static NPM: std::sync::Once = std::sync::Once::new();
        let env: Vec<(&str, String)> = port.map(|p| ("PORT", p.to_string())).into_iter().collect();
        let node = common::NodeHelper::start(
            &NPM,
            &interop_dir(),
            "standardwebhooks",
            "webhooks-receiver.mjs",
            &env,
        );
        Receiver {
            port: node.info["port"].as_u64().expect("port") as u16,
            _node: node,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every delivery received, in order.
    pub async fn log(&self) -> Vec<Value> {
        self.http
            .get(self.url("/_log"))
            .send()
            .await
            .expect("the receiver answers")
            .json()
            .await
            .expect("json")
    }

    /// For each delivery: whether `standardwebhooks` verified it with `secret`.
    pub async fn verify(&self, secret: &str) -> Vec<Value> {
        self.http
            .post(self.url("/_verify"))
            .json(&json!({ "secret": secret }))
            .send()
            .await
            .expect("the receiver answers")
            .json()
            .await
            .expect("json")
    }

    /// Waits until `done` holds for the log (at most `secs` seconds).
    pub async fn wait_for(
        &self, secs: u64, what: &str, done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log().await;
            if done(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the receiver has {log:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn payload(d: &Value) -> Value {
    serde_json::from_str(d["body"].as_str().expect("body")).expect("a JSON body")
}

fn types(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|d| payload(d)["type"].as_str().expect("type").to_owned())
        .collect()
}

fn of_type<'a>(log: &'a [Value], t: &str) -> Vec<&'a Value> {
    log.iter().filter(|d| payload(d)["type"] == t).collect()
}

const LOOPBACK: (&str, &str) = ("AUTHGATE_WEBHOOKS_ALLOW_LOOPBACK", "true");

async fn endpoint(c: &Client, url: &str, events: Value) -> Value {
    ok(
        c,
        "create_webhook_endpoint",
        json!({"url": url, "events": events}),
    )
    .await
}

/// Deliveries of the project matching `filter`, once `done` holds for them.
async fn deliveries_when(
    c: &Client, filter: Value, what: &str, done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = ok(c, "list_webhook_deliveries", filter.clone()).await;
        let items = page["data"].as_array().expect("items").clone();
        if done(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "{what}: {items:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------------- tests

/// A user's life reaches the app, each delivery verified by npm
/// `standardwebhooks`: sign-up → user.created (data = get_end_user),
/// verification → user.email_verified, a membership → membership.created
/// (org_id, role), a subscription → subscription.created, deletion →
/// user.deleted. No payload holds a hash, token or secret. Rotation: both
/// signatures for a day, each secret verifies. The status and /metrics
/// show the webhooks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_life_reaches_a_receiver_that_verifies_every_delivery() {
    let rx = Receiver::start(None);
    common::each_backend_with_client(&[LOOPBACK], async |gw, c| {
        let path = format!("/ok/{}", gw.backend);
        let ep = endpoint(c, &rx.url(&path), json!(["*"])).await;
        let secret = ep["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"), "{ep}");
        let listed = ok(c, "list_webhook_endpoints", json!({})).await;
        assert!(
            !listed.to_string().contains(&secret),
            "a listing never shows the secret"
        );
        let mine = |log: &[Value]| -> Vec<Value> {
            log.iter()
                .filter(|d| d["path"] == path.as_str())
                .cloned()
                .collect()
        };

        let (url, p) = (gw.url(), gw.project_id.clone());
        let user = common::sign_up(&url, &p, "ada@hooks.test", "correct horse battery").await;
        let user_id = user["id"].as_str().expect("id").to_owned();
        let created = rx
            .wait_for(15, "user.created", |l| {
                types(&mine(l)).contains(&"user.created".into())
            })
            .await;
        let read = ok(c, "get_end_user", json!({"user_id": user_id})).await;
        let first = payload(of_type(&mine(&created), "user.created")[0]);
        assert_eq!(
            first["data"], read,
            "user.created carries get_end_user's object"
        );
        assert_eq!(first["project_id"], p.as_str());
        assert!(
            first["timestamp"].as_str().expect("ts").ends_with('Z'),
            "{first}"
        );

        ok(
            c,
            "set_email_verified",
            json!({"user_id": user_id, "verified": true}),
        )
        .await;
        let org = ok(c, "create_org", json!({"name": "Hooks Inc"})).await;
        let role = crate::fixtures::new_role(c).await;
        ok(
            c,
            "add_org_member",
            json!({"org_id": org["id"], "user_id": user_id, "role": role}),
        )
        .await;
        let plan = ok(
            c,
            "create_billing_plan",
            json!({"name": "Pro", "monthly_price": 19}),
        )
        .await;
        let sub = rest(
            Method::POST,
            &url,
            "/api/v1/subscriptions",
            None,
            Some(&gw.admin_key),
            Some(json!({"user_id": user_id, "price_id": plan["prices"][0]["id"]})),
        )
        .await;
        assert_eq!(sub.status, 201, "{sub:?}");
        ok(c, "delete_end_user", json!({"user_id": user_id})).await;
        let want = [
            "user.created",
            "user.email_verified",
            "organization.created",
            "membership.created",
            "subscription.created",
            "user.deleted",
        ];
        let log = rx
            .wait_for(15, "the user's life", |l| {
                let t = types(&mine(l));
                want.iter().all(|w| t.contains(&w.to_string()))
            })
            .await;
        let log = mine(&log);
        let membership = payload(of_type(&log, "membership.created")[0]);
        assert_eq!(membership["data"]["org_id"], org["id"], "{membership}");
        assert!(membership["data"]["role"].is_string(), "{membership}");
        assert_eq!(
            payload(of_type(&log, "user.deleted")[0])["data"]["id"],
            user_id.as_str()
        );
        assert_eq!(
            payload(of_type(&log, "subscription.created")[0])["data"]["id"],
            sub.body["subscription"]["id"]
        );

        // Every delivery verifies with the endpoint's secret, and none with another.
        let checked = rx.verify(&secret).await;
        for (i, d) in rx.log().await.iter().enumerate() {
            if d["path"] != path.as_str() {
                continue;
            }
            assert_eq!(
                checked[i]["ok"], true,
                "delivery {i} verifies: {:?}",
                checked[i]
            );
            assert_eq!(d["headers"]["content-type"], "application/json");
            assert!(
                d["headers"]["user-agent"]
                    .as_str()
                    .expect("ua")
                    .starts_with("AuthGate")
            );
            assert!(
                d["headers"]["webhook-id"]
                    .as_str()
                    .expect("id")
                    .starts_with("msg_")
            );
            let body = d["body"].as_str().expect("body");
            for secretish in [
                "whsec_",
                "$argon2",
                "ag_live_",
                "password_hash",
                "refresh_token",
                "token_hash",
                "secret",
            ] {
                assert!(
                    !body.contains(secretish),
                    "a payload holds {secretish}: {body}"
                );
            }
        }
        let stranger = rx.verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await;
        assert!(
            stranger.iter().all(|r| r["ok"] == false),
            "another secret verifies nothing"
        );

        // Rotation: the next delivery carries both signatures; each secret verifies it.
        let rotated = ok(c, "rotate_webhook_secret", json!({"endpoint_id": ep["id"]})).await;
        let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
        assert_ne!(new_secret, secret);
        assert!(
            rotated["previous_secret_expires_at"].is_string(),
            "{rotated}"
        );
        let before = mine(&rx.log().await).len();
        ok(c, "create_org", json!({"name": "After rotation"})).await;
        let log = rx
            .wait_for(15, "after rotation", |l| mine(l).len() > before)
            .await;
        let last = log
            .iter()
            .rposition(|d| d["path"] == path.as_str())
            .expect("mine");
        let sig = log[last]["headers"]["webhook-signature"]
            .as_str()
            .expect("sig");
        assert_eq!(
            sig.split(' ').count(),
            2,
            "two signatures during the overlap: {sig}"
        );
        assert_eq!(
            rx.verify(&secret).await[last]["ok"],
            true,
            "the old secret verifies"
        );
        assert_eq!(
            rx.verify(&new_secret).await[last]["ok"],
            true,
            "the new secret verifies"
        );

        // The status and the metrics.
        let status = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["webhooks"]["endpoints"], 1, "{}", status["webhooks"]);
        assert_eq!(status["webhooks"]["failing_endpoints"], 0);
        let metrics = reqwest::get(format!("{url}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("authgate_webhook_deliveries_total{outcome=\"delivered\"}"),
            "{metrics}"
        );
        assert!(
            metrics.contains("authgate_webhook_queue_depth"),
            "{metrics}"
        );
    })
    .await;
}

/// A refused tool call (an organization's member limit) and a change whose
/// transaction rolls back (its audit record is refused) queue nothing and
/// send nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_and_a_rolled_back_change_send_nothing() {
    let rx = Receiver::start(None);
    common::each_backend_with_client(&[LOOPBACK], async |gw, c| {
        let path = format!("/nothing/{}", gw.backend);
        endpoint(
            c,
            &rx.url(&path),
            json!(["membership.created", "organization.created"]),
        )
        .await;
        let org = ok(c, "create_org", json!({"name": "Tiny", "member_limit": 1})).await;
        let a = common::signed_in_user(&gw.url(), c).await;
        let b = common::signed_in_user(&gw.url(), c).await;
        let role = crate::fixtures::new_role(c).await;
        ok(
            c,
            "add_org_member",
            json!({"org_id": org["id"], "user_id": a["user"]["id"], "role": role}),
        )
        .await;
        common::err(
            c,
            "add_org_member",
            json!({"org_id": org["id"], "user_id": b["user"]["id"], "role": role}),
            "limit_exceeded",
        )
        .await;

        common::refuse_audit_rows(gw.store()).await;
        common::err(c, "create_org", json!({"name": "Rolled back"}), "internal").await;
        common::allow_audit_rows(gw.store()).await;
        // A later change goes through, so the worker has had its chance.
        ok(c, "create_org", json!({"name": "Marker"})).await;
        let log = rx
            .wait_for(15, "the marker", |l| {
                l.iter()
                    .any(|d| d["path"] == path.as_str() && payload(d)["data"]["name"] == "Marker")
            })
            .await;
        let mine: Vec<Value> = log
            .iter()
            .filter(|d| d["path"] == path.as_str())
            .map(payload)
            .collect();
        let names: Vec<&Value> = mine.iter().map(|p| &p["data"]["name"]).collect();
        assert!(!names.contains(&&json!("Rolled back")), "{names:?}");
        let members = mine
            .iter()
            .filter(|p| p["type"] == "membership.created")
            .count();
        assert_eq!(members, 1, "only the member who fitted: {mine:#?}");
        let messages =
            common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM webhook_messages").await;
        assert_eq!(messages, mine.len() as i64, "nothing else was queued");
    })
    .await;
}

/// 500, 500, 200: three attempts with one webhook-id, delivered. 410: the
/// endpoint is disabled at once, an alert is listed and the disabling is
/// audited. A receiver that never answers: `timeout` recorded and retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_gone_and_timeouts() {
    let rx = Receiver::start(None);
    let overrides = [
        LOOPBACK,
        (
            "AUTHGATE_WEBHOOKS_RETRY_SCHEDULE",
            "200ms,200ms,200ms,200ms",
        ),
        ("AUTHGATE_WEBHOOKS_TIMEOUT", "1s"),
    ];
    common::each_backend_with_client(&overrides, async |gw, c| {
        let b = gw.backend;
        let flaky = endpoint(
            c,
            &rx.url(&format!("/seq/500-500-200/{b}")),
            json!(["organization.created"]),
        )
        .await;
        let gone = endpoint(
            c,
            &rx.url(&format!("/status/410/{b}")),
            json!(["organization.created"]),
        )
        .await;
        let hang = endpoint(
            c,
            &rx.url(&format!("/hang/{b}")),
            json!(["organization.created"]),
        )
        .await;
        ok(c, "create_org", json!({"name": "Retry me"})).await;

        let done = deliveries_when(c, json!({"endpoint_id": flaky["id"]}), "flaky", |d| {
            d.len() == 1 && d[0]["status"] == "delivered"
        })
        .await;
        assert_eq!(done[0]["attempts"], 3, "{done:?}");
        assert_eq!(done[0]["last_status_code"], 200);
        let seq = format!("/seq/500-500-200/{b}");
        let log = rx.log().await;
        let tries: Vec<&Value> = log.iter().filter(|d| d["path"] == seq.as_str()).collect();
        assert_eq!(tries.len(), 3);
        assert!(
            tries
                .iter()
                .all(|d| d["headers"]["webhook-id"] == done[0]["webhook_id"]),
            "one webhook-id"
        );

        let failed = deliveries_when(c, json!({"endpoint_id": gone["id"]}), "gone", |d| {
            d.len() == 1 && d[0]["status"] == "failed"
        })
        .await;
        assert_eq!(failed[0]["last_status_code"], 410);
        assert_eq!(failed[0]["attempts"], 1, "410 is not retried");
        let eps = ok(c, "list_webhook_endpoints", json!({})).await;
        let g = eps["data"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| e["id"] == gone["id"])
            .expect("listed")
            .clone();
        assert_eq!(g["disabled"], true);
        assert_eq!(g["disabled_reason"], "gone");
        let alerts = ok(c, "list_security_alerts", json!({})).await;
        assert!(
            alerts["data"]
                .as_array()
                .expect("items")
                .iter()
                .any(|a| a["rule"] == "webhook_endpoint_disabled"),
            "{alerts}"
        );
        let audit = ok(
            c,
            "list_audit_events",
            json!({"event_type": "webhook_endpoint.disabled"}),
        )
        .await;
        assert_eq!(audit["data"][0]["targets"][0], gone["id"], "{audit}");
        let status = ok(c, "get_project_status", json!({})).await;
        assert!(
            status["webhooks"]["failing_endpoints"].as_i64().expect("n") >= 1,
            "{}",
            status["webhooks"]
        );

        let timed_out = deliveries_when(c, json!({"endpoint_id": hang["id"]}), "timeout", |d| {
            d.len() == 1 && d[0]["attempts"].as_i64().unwrap_or(0) >= 2
        })
        .await;
        assert_eq!(timed_out[0]["last_error"], "timeout", "{timed_out:?}");
        assert!(timed_out[0]["last_status_code"].is_null());
        // Replaying the delivered one sends the same webhook-id again.
        let replay = ok(
            c,
            "replay_webhook_delivery",
            json!({"delivery_id": done[0]["id"]}),
        )
        .await;
        assert_eq!(replay["webhook_id"], done[0]["webhook_id"]);
        rx.wait_for(15, "the replay", |l| {
            l.iter().filter(|d| d["path"] == seq.as_str()).count() == 4
        })
        .await;
        common::err(
            c,
            "replay_webhook_delivery",
            json!({"delivery_id": failed[0]["id"]}),
            "precondition_failed",
        )
        .await;
        ok(
            c,
            "update_webhook_endpoint",
            json!({"endpoint_id": hang["id"], "disabled": true}),
        )
        .await;
    })
    .await;
}

// ------------------------------------------------------ the address policy

/// A loopback listener that counts the connections it accepts.
async fn counting_listener(addr: &str) -> Option<(u16, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.ok()?;
    let port = listener.local_addr().ok()?.port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    Some((port, count))
}

/// A name other than `localhost` that this machine's hosts file maps to
/// 127.0.0.1 (its host name).
fn name_for_loopback() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").expect("/etc/hosts");
    hosts
        .lines()
        .filter(|l| l.trim_start().starts_with("127.0.0.1"))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|n| !n.starts_with('#') && n != "localhost" && !n.ends_with(".localhost"))
        .expect("a name for 127.0.0.1 in /etc/hosts")
}

/// With the loopback setting off: literal loopback and unspecified
/// addresses and `localhost` are refused when the endpoint is saved; a
/// name that resolves to 127.0.0.1 is refused at delivery, and the refusal
/// is recorded. With it on, a 302 to a loopback address is not followed.
/// No listener is ever connected to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_without_a_connection() {
    let (port, v4) = counting_listener("127.0.0.1:0")
        .await
        .expect("a v4 listener");
    let v6 = counting_listener("[::1]:0").await;
    let port6 = v6.as_ref().map_or(port, |(p, _)| *p);
    let name = name_for_loopback();
    common::each_backend_with_client(&[], async |_gw, c| {
        for url in [
            format!("https://127.0.0.1:{port}/hook"),
            format!("https://[::1]:{port6}/hook"),
            format!("https://[::ffff:127.0.0.1]:{port}/hook"),
            format!("https://localhost:{port}/hook"),
            format!("https://0.0.0.0:{port}/hook"),
            format!("http://{name}:{port}/hook"),
        ] {
            let e = common::err(
                c,
                "create_webhook_endpoint",
                json!({"url": url, "events": ["*"]}),
                "invalid_argument",
            )
            .await;
            assert_eq!(e["field"], "url", "{url}: {e}");
        }
        let ep = endpoint(
            c,
            &format!("https://{name}:{port}/hook"),
            json!(["organization.created"]),
        )
        .await;
        ok(c, "create_org", json!({"name": "Probe"})).await;
        let refused = deliveries_when(c, json!({"endpoint_id": ep["id"]}), "refused", |d| {
            d.len() == 1 && d[0]["attempts"] == 1
        })
        .await;
        assert_eq!(
            refused[0]["last_error"], "refused: loopback address",
            "{refused:?}"
        );
        assert_eq!(
            refused[0]["status"], "pending",
            "a refusal is retried like any failure"
        );
    })
    .await;
    let rx = Receiver::start(None);
    common::each_backend_with_client(&[LOOPBACK], async |_gw, c| {
        let to = format!("http://127.0.0.1:{port}/stolen");
        let ep = endpoint(
            c,
            &rx.url(&format!("/redirect?to={to}")),
            json!(["organization.created"]),
        )
        .await;
        ok(c, "create_org", json!({"name": "Redirected"})).await;
        let d = deliveries_when(c, json!({"endpoint_id": ep["id"]}), "302", |d| {
            d.len() == 1 && d[0]["attempts"] == 1
        })
        .await;
        assert_eq!(d[0]["last_status_code"], 302, "{d:?}");
        assert_eq!(
            d[0]["status"], "pending",
            "a redirect is a failure, retried: {d:?}"
        );
    })
    .await;
    assert_eq!(
        v4.load(Ordering::SeqCst),
        0,
        "no connection to the IPv4 listener"
    );
    if let Some((_, n)) = v6 {
        assert_eq!(
            n.load(Ordering::SeqCst),
            0,
            "no connection to the IPv6 listener"
        );
    }
}

/// Bad input is refused naming the field and writes nothing; a project has
/// at most 20 endpoints. (The hosts resolve to loopback through this
/// machine's hosts file and the loopback setting is off: no delivery could
/// leave the machine, and no change is made that would queue one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_validated_and_capped() {
    let host = name_for_loopback();
    common::each_backend_with_client(&[], async |gw, c| {
        let url = |i: usize| format!("https://{host}:9/hook/{i}");
        for (args, field) in [
            (
                json!({"url": url(0), "events": ["user.exploded"]}),
                "events[0]",
            ),
            (json!({"url": url(0), "events": []}), "events"),
            (
                json!({"url": url(0), "events": ["*", "user.created"]}),
                "events",
            ),
            (
                json!({"url": "ftp://example.com/x", "events": ["*"]}),
                "url",
            ),
            (
                json!({"url": url(0), "events": ["*"], "description": "x".repeat(501)}),
                "description",
            ),
        ] {
            let e = common::err(
                c,
                "create_webhook_endpoint",
                args.clone(),
                "invalid_argument",
            )
            .await;
            assert_eq!(e["field"], field, "{args}: {e}");
        }
        let n = || common::query_n(gw.store(), "SELECT COUNT(*) AS n FROM webhook_endpoints");
        assert_eq!(n().await, 0, "nothing written");
        for i in 0..20 {
            endpoint(c, &url(i), json!(["user.created"])).await;
        }
        let e = common::err(
            c,
            "create_webhook_endpoint",
            json!({"url": url(20), "events": ["*"]}),
            "limit_exceeded",
        )
        .await;
        assert!(
            e["message"].as_str().expect("message").contains("20"),
            "{e}"
        );
        assert_eq!(n().await, 20);
        let page = ok(c, "list_webhook_endpoints", json!({"limit": 100})).await;
        assert_eq!(page["data"].as_array().expect("data").len(), 20);
        assert!(
            !page.to_string().contains("whsec_"),
            "no secret in a listing"
        );
        let e = common::err(
            c,
            "update_webhook_endpoint",
            json!({"endpoint_id": page["data"][0]["id"], "events": ["nope"]}),
            "invalid_argument",
        )
        .await;
        assert_eq!(e["field"], "events[0]");
        let dry = ok(
            c,
            "delete_webhook_endpoint",
            json!({"endpoint_id": page["data"][0]["id"], "dry_run": true}),
        )
        .await;
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["cascade"]["webhook_deliveries"], 0);
        assert_eq!(n().await, 20, "a dry run deletes nothing");
    })
    .await;
}

// ------------------------------------------------- crashes and two gateways

/// Deliveries queued when the gateway is killed (SIGKILL) are all
/// delivered after a restart; on PostgreSQL two gateways then share the
/// queue and the receiver gets each webhook-id exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_loses_nothing_and_two_gateways_send_each_once() {
    use crate::cli::{first_run_key, free_port, serve};
    const EVENTS: usize = 60;
    for db in common::databases().await {
        let dir = std::env::temp_dir().join(format!("authgate-hooks-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("dir");
        let env_for = |port: u16| {
            let mut env = crate::cli::server_env(&db, port);
            env.extend([
                ("AUTHGATE_WEBHOOKS_ALLOW_LOOPBACK", "true".to_owned()),
                ("AUTHGATE_WEBHOOKS_RETRY_SCHEDULE", vec!["1s"; 20].join(",")),
                ("AUTHGATE_WEBHOOKS_TIMEOUT", "1s".to_owned()),
            ]);
            env
        };
        let port = free_port();
        let (first, lines) = serve(&dir, &env_for(port), port);
        let key = first_run_key(&lines);
        let c = common::connect(&format!("http://127.0.0.1:{port}/api/mcp"), &key).await;
        // The receiver is not up yet: every attempt is refused and retried.
        let rx_port = free_port();
        let url = format!("http://127.0.0.1:{rx_port}/ok");
        endpoint(&c, &url, json!(["organization.created"])).await;
        for i in 0..EVENTS {
            ok(&c, "create_org", json!({"name": format!("Org {i}")})).await;
        }
        let _ = c.cancel().await;
        drop(first); // SIGKILL
        let rx = Receiver::start(Some(rx_port));
        let mut running = Vec::new();
        let gateways = if db.backend == authgate_store::Backend::Postgres {
            2
        } else {
            1
        };
        for _ in 0..gateways {
            let p = free_port();
            running.push(serve(&dir, &env_for(p), p).0);
        }
        let log = rx
            .wait_for(60, "every event after the restart", |l| {
                let ids: std::collections::HashSet<&str> = l
                    .iter()
                    .filter_map(|d| d["headers"]["webhook-id"].as_str())
                    .collect();
                ids.len() == EVENTS
            })
            .await;
        // Let any duplicate arrive before counting.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let log = if rx.log().await.len() > log.len() {
            rx.log().await
        } else {
            log
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for d in &log {
            *counts
                .entry(d["headers"]["webhook-id"].as_str().expect("id").to_owned())
                .or_default() += 1;
        }
        assert_eq!(counts.len(), EVENTS, "{} backend", db.backend.name());
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{} backend: delivered more than once: {twice:?}",
            db.backend.name()
        );
        drop(running);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// An endpoint for the tool fixtures, with one delivery queued: its host
/// resolves (through this machine's hosts file) to loopback, so the
/// delivery is refused at resolution and nothing leaves the machine.
pub async fn fixture_endpoint(c: &Client) -> (Value, Value) {
    let url = format!("https://{}:9/authgate", name_for_loopback());
    let ep = endpoint(c, &url, json!(["organization.created"])).await;
    ok(
        c,
        "create_org",
        json!({"name": format!("Hook {}", ulid::Ulid::new())}),
    )
    .await;
    let d = deliveries_when(
        c,
        json!({"endpoint_id": ep["id"]}),
        "a fixture delivery",
        |d| !d.is_empty(),
    )
    .await;
    (ep, d[0].clone())
}

/// A receiver that never answers holds only its endpoint's share of the
/// worker (32 attempts in flight of 128): with 40 of its deliveries
/// hanging, another endpoint's delivery still arrives at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_does_not_hold_up_other_endpoints() {
    let rx = Receiver::start(None);
    let overrides = [LOOPBACK, ("AUTHGATE_WEBHOOKS_TIMEOUT", "20s")];
    common::each_backend_with_client(&overrides, async |gw, c| {
        let b = gw.backend;
        endpoint(
            c,
            &rx.url(&format!("/hang/many/{b}")),
            json!(["organization.created"]),
        )
        .await;
        for i in 0..40 {
            ok(c, "create_org", json!({"name": format!("Hung {i}")})).await;
        }
        let hung = format!("/hang/many/{b}");
        rx.wait_for(15, "the hanging endpoint's share in flight", |l| {
            l.iter().filter(|d| d["path"] == hung.as_str()).count() >= 32
        })
        .await;
        let fast = format!("/ok/fast/{b}");
        endpoint(c, &rx.url(&fast), json!(["user.created"])).await;
        common::sign_up(
            &gw.url(),
            &gw.project_id,
            "fast@hooks.test",
            "correct horse battery",
        )
        .await;
        // Within 10 s, while the hanging attempts wait for their 20 s limit.
        rx.wait_for(10, "the other endpoint's delivery", |l| {
            l.iter().any(|d| d["path"] == fast.as_str())
        })
        .await;
        let log = rx.log().await;
        let in_flight = log.iter().filter(|d| d["path"] == hung.as_str()).count();
        assert!(
            in_flight <= 32,
            "at most 32 attempts to one endpoint at once: {in_flight}"
        );
    })
    .await;
}
