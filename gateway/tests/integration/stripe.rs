//! The Stripe path against a real stateful stand-in, `localstripe` (pip
//! `localstripe==1.15.10`, started here on loopback): a plan becomes a
//! product with its prices, a REST subscription becomes a Stripe
//! subscription, and webhooks signed as Stripe signs them update the
//! ledger once; a bad signature is 400 and changes nothing.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{self, Gateway, ok, rest, sign_up};

const KEY: &str = "sk_test_authgate";
const WEBHOOK_SECRET: &str = "whsec_authgate_test";

struct LocalStripe {
    child: std::process::Child,
    base: String,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn localstripe() -> LocalStripe {
    let port = crate::cli::free_port();
    let child = std::process::Command::new("localstripe")
        // From scratch: otherwise it loads /tmp/localstripe.pickle, which
        // the other Stripe test's instance may be writing at that moment.
        .args(["--port", &port.to_string(), "--from-scratch"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("localstripe did not start ({e}); install it: pip install localstripe==1.15.10")
        });
    let mut ls = LocalStripe {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    // Python starts slowly on a busy machine (the whole suite runs beside
    // it): up to a minute.
    for _ in 0..1200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return ls;
        }
        if let Ok(Some(status)) = ls.child.try_wait() {
            panic!("localstripe exited before it listened: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("localstripe did not listen on {port} within a minute");
}

/// An object as localstripe holds it.
async fn stripe_get(ls: &LocalStripe, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/{path}", ls.base))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("localstripe answers");
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("JSON")
}

/// `t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">`, as Stripe signs.
fn sign(payload: &str, secret: &str) -> String {
    let t = chrono::Utc::now().timestamp();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{payload}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

async fn deliver(gw: &Gateway, payload: &str, signature: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/stripe", gw.url()))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(payload.to_owned())
        .send()
        .await
        .expect("answered");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn text(gw: &Gateway, sql: &str) -> String {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    let sql = sql.to_owned();
    gw.store()
        .read(async |c| {
            let rows: Vec<T> = authgate_store::with_conn!(c, c => {
                diesel::sql_query(&sql).load(c).await?
            });
            Ok::<_, authgate_core::ToolError>(rows)
        })
        .await
        .expect("query")
        .into_iter()
        .next()
        .map(|r| r.t)
        .unwrap_or_else(|| panic!("no row: {sql}"))
}

/// The ids, here and at Stripe, of the subscription a REST subscribe made
/// (it must answer 201).
async fn made(gw: &Gateway, a: common::Answer) -> (String, String) {
    assert_eq!(a.status, 201, "{a:?}");
    let id = a.body["subscription"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let stripe_id = text(
        gw,
        &format!("SELECT stripe_subscription_id AS t FROM subscriptions WHERE id = '{id}'"),
    )
    .await;
    (id, stripe_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_subscriptions_and_webhooks_follow_stripe() {
    for db in common::databases().await {
        let ls = localstripe().await;
        let gw = common::start(
            &db,
            &[
                ("STRIPE_SECRET_KEY", KEY),
                ("STRIPE_API_BASE", &ls.base),
                ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ],
        )
        .await;
        let url = gw.url();
        let p = gw.project_id.clone();
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;

        // A plan: a product with the project in its metadata, and its prices.
        let plan = ok(
            &c,
            "create_billing_plan",
            json!({"name": "Pro", "monthly_price": 1900, "yearly_price": 19000}),
        )
        .await;
        let plan_id = plan["id"].as_str().expect("id").to_owned();
        let product_id = text(
            &gw,
            &format!("SELECT stripe_product_id AS t FROM plans WHERE id = '{plan_id}'"),
        )
        .await;
        let product = stripe_get(&ls, &format!("products/{product_id}")).await;
        assert_eq!(product["name"], "Pro");
        assert_eq!(product["metadata"]["authgate_project_id"], p);
        assert_eq!(product["metadata"]["authgate_plan_id"], plan_id);
        for price in plan["prices"].as_array().expect("prices") {
            let local = price["id"].as_str().expect("id");
            let stripe_id = text(
                &gw,
                &format!("SELECT stripe_price_id AS t FROM prices WHERE id = '{local}'"),
            )
            .await;
            let remote = stripe_get(&ls, &format!("plans/{stripe_id}")).await;
            assert_eq!(remote["amount"], price["amount_cents"]);
            assert_eq!(remote["currency"], "usd");
            assert_eq!(remote["interval"], price["interval"]);
            assert_eq!(remote["product"], product_id.as_str());
            assert_eq!(remote["metadata"]["authgate_price_id"], local);
        }

        // A subscription through REST appears in Stripe.
        let user =
            sign_up(&url, &p, "ada@example.com", "correct horse battery").await["id"].clone();
        let monthly = plan["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .find(|x| x["interval"] == "month")
            .expect("monthly")["id"]
            .clone();
        // The card the app collected with Stripe Elements.
        let card = reqwest::Client::new()
            .post(format!("{}/v1/payment_methods", ls.base))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123",
            )
            .send()
            .await
            .expect("answered")
            .json::<Value>()
            .await
            .expect("JSON")["id"]
            .clone();
        let subscribe = async |pm: &Value| {
            rest(
                Method::POST,
                &url,
                "/api/v1/subscriptions",
                None,
                Some(&gw.admin_key),
                Some(json!({"user_id": user, "price_id": monthly, "payment_method": pm})),
            )
            .await
        };
        let bad = subscribe(&json!("card_4242")).await;
        assert_eq!(
            bad.refused(400, "invalid_argument")["field"],
            "payment_method"
        );
        // A subscription made with a card: its id here and its Stripe id.
        let subscribed = async |pm: &Value| made(&gw, subscribe(pm).await).await;
        let (sub, stripe_sub) = subscribed(&card).await;
        let remote = stripe_get(&ls, &format!("subscriptions/{stripe_sub}")).await;
        assert_eq!(remote["metadata"]["authgate_subscription_id"], sub);
        assert_eq!(remote["metadata"]["authgate_project_id"], p);
        let customer = stripe_get(
            &ls,
            &format!(
                "customers/{}",
                remote["customer"].as_str().expect("customer")
            ),
        )
        .await;
        assert_eq!(customer["email"], "ada@example.com");
        assert_eq!(customer["metadata"]["authgate_user_id"], user);
        assert_eq!(customer["invoice_settings"]["default_payment_method"], card);

        // Webhooks: a bad signature is 400 and changes nothing.
        let period_end = chrono::Utc::now().timestamp() + 40 * 86_400;
        let event = json!({
            "id": format!("evt_{}", ulid::Ulid::new()),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": chrono::Utc::now().timestamp(),
            "livemode": false,
            "pending_webhooks": 1,
            "type": "customer.subscription.updated",
            "data": {"object": {
                "id": stripe_sub,
                "object": "subscription",
                "status": "past_due",
                "cancel_at_period_end": true,
                "items": {"object": "list", "data": [{
                    "current_period_start": chrono::Utc::now().timestamp(),
                    "current_period_end": period_end
                }]}
            }}
        })
        .to_string();
        let status_of = async || {
            text(
                &gw,
                &format!("SELECT status AS t FROM subscriptions WHERE id = '{sub}'"),
            )
            .await
        };
        for bad in [
            sign(&event, "whsec_someone_else"),
            sign(&format!("{event} "), WEBHOOK_SECRET),
            "t=1,v1=00".to_owned(),
        ] {
            let (status, body) = deliver(&gw, &event, &bad).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"]["field"], "stripe-signature");
            assert_eq!(status_of().await, "active");
        }
        // Signed as Stripe signs: applied once, audited; a replay changes nothing.
        let signature = sign(&event, WEBHOOK_SECRET);
        let (status, body) = deliver(&gw, &event, &signature).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["subscription_id"], sub);
        assert_eq!(status_of().await, "past_due");
        let ends = text(
            &gw,
            &format!("SELECT CASE WHEN cancel_at_period_end THEN 'yes' ELSE 'no' END AS t FROM subscriptions WHERE id = '{sub}'"),
        )
        .await;
        assert_eq!(ends, "yes");
        let synced = ok(
            &c,
            "list_audit_events",
            json!({"event_type": "subscription.synced", "target_id": sub}),
        )
        .await;
        assert_eq!(synced["data"].as_array().map(Vec::len), Some(1));
        let (status, body) = deliver(&gw, &event, &signature).await;
        assert_eq!(status, 200);
        assert_eq!(body["replayed"], true);
        let synced = ok(
            &c,
            "list_audit_events",
            json!({"event_type": "subscription.synced", "target_id": sub}),
        )
        .await;
        assert_eq!(
            synced["data"].as_array().map(Vec::len),
            Some(1),
            "a replay applies nothing"
        );

        // Canceling now through REST cancels in Stripe too.
        let a = rest(
            Method::DELETE,
            &url,
            &format!("/api/v1/subscriptions/{sub}?immediately=true"),
            None,
            Some(&gw.admin_key),
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{a:?}");
        let remote = stripe_get(&ls, &format!("subscriptions/{stripe_sub}")).await;
        assert_eq!(remote["status"], "canceled");
        // Subscribing again keeps the user's one customer.
        let (_, stripe_again) = subscribed(&card).await;
        let second = stripe_get(&ls, &format!("subscriptions/{stripe_again}")).await;
        assert_eq!(second["customer"], customer["id"]);
        c.cancel().await.ok();
        gw.server.stop().await;
    }
}

/// A card payment method, as Stripe Elements would make one.
async fn card(ls: &LocalStripe) -> Value {
    reqwest::Client::new()
        .post(format!("{}/v1/payment_methods", ls.base))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123")
        .send()
        .await
        .expect("answered")
        .json::<Value>()
        .await
        .expect("JSON")["id"]
        .clone()
}

/// A signed subscription event of Stripe's, made at `created` (unix).
fn subscription_event(
    kind: &str, stripe_id: &str, status: &str, created: i64, metadata: Value,
) -> String {
    json!({
        "id": format!("evt_{}", ulid::Ulid::new()),
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": {
            "id": stripe_id,
            "object": "subscription",
            "status": status,
            "customer": "cus_webhook",
            "cancel_at_period_end": false,
            "metadata": metadata,
        }}
    })
    .to_string()
}

/// Security review 2, fault 13: webhook updates applied in arrival order
/// (a late `updated(active)` revived a canceled subscription); Stripe was
/// called inside the write transaction without a timeout (a slow Stripe
/// froze SQLite's writes); a crash between Stripe's answer and the commit
/// lost the link. Now events older than the newest applied are ignored and
/// a canceled subscription stays canceled; Stripe is called outside any
/// transaction within 10 s, its failure undoing the local change; a
/// pending subscription is confirmed by Stripe's webhook or canceled by the
/// sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_events_apply_in_order_and_stripe_never_holds_a_transaction() {
    for db in common::databases().await {
        let ls = localstripe().await;
        let stripe = [
            ("STRIPE_SECRET_KEY", KEY),
            ("STRIPE_API_BASE", ls.base.as_str()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ];
        let gw = common::start(&db, &stripe).await;
        let (url, p) = (gw.url(), gw.project_id.clone());
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let plan = ok(
            &c,
            "create_billing_plan",
            json!({"name": "Pro", "monthly_price": 1900}),
        )
        .await;
        let price = plan["prices"][0]["id"].clone();
        let user = sign_up(&url, &p, "order@example.com", "a fine password").await["id"].clone();
        let pm = card(&ls).await;
        let a = rest(
            Method::POST,
            &url,
            "/api/v1/subscriptions",
            None,
            Some(&gw.admin_key),
            Some(json!({"user_id": user, "price_id": price, "payment_method": pm})),
        )
        .await;
        let (sub, stripe_sub) = made(&gw, a).await;
        let status = async || {
            text(
                &gw,
                &format!("SELECT status AS t FROM subscriptions WHERE id = '{sub}'"),
            )
            .await
        };
        let now = chrono::Utc::now().timestamp();
        let send = async |kind: &str, st: &str, created: i64| {
            let event = subscription_event(kind, &stripe_sub, st, created, json!({}));
            deliver(&gw, &event, &sign(&event, WEBHOOK_SECRET)).await
        };
        let (code, body) = send("customer.subscription.deleted", "canceled", now + 100).await;
        assert_eq!(
            (code, body["subscription_id"].as_str()),
            (200, Some(sub.as_str()))
        );
        assert_eq!(status().await, "canceled");
        // Delivered late, an older "active" is not applied over it...
        let (code, body) = send("customer.subscription.updated", "active", now + 50).await;
        assert_eq!(code, 200);
        assert!(body.get("subscription_id").is_none(), "ignored: {body}");
        assert_eq!(status().await, "canceled");
        // ...nor does anything bring a canceled subscription back.
        send("customer.subscription.updated", "active", now + 200).await;
        assert_eq!(status().await, "canceled");

        // A subscription a crash left pending: Stripe's webhook confirms it.
        let second =
            sign_up(&url, &p, "pending@example.com", "a fine password").await["id"].clone();
        let price_id = price.as_str().expect("price").to_owned();
        // What subscribe writes before it calls Stripe.
        let pending_for = async |user: &Value| {
            gw.store()
                .write(async |conn| {
                    authgate_billing::create_subscription(
                        conn,
                        &p,
                        user.as_str().expect("u"),
                        &price_id,
                        true,
                        chrono::Utc::now(),
                    )
                    .await
                })
                .await
                .expect("a pending subscription")
        };
        let pending = pending_for(&second).await;
        let entitled = ok(&c, "get_user_entitlements", json!({"user_id": second})).await;
        assert_eq!(
            entitled["subscription"],
            Value::Null,
            "pending grants nothing: {entitled}"
        );
        let event = subscription_event(
            "customer.subscription.created",
            "sub_from_stripe",
            "active",
            now,
            json!({"authgate_subscription_id": pending.id}),
        );
        let (code, body) = deliver(&gw, &event, &sign(&event, WEBHOOK_SECRET)).await;
        assert_eq!(
            (code, body["subscription_id"].as_str()),
            (200, Some(pending.id.as_str()))
        );
        let linked = text(
            &gw,
            &format!(
                "SELECT stripe_subscription_id AS t FROM subscriptions WHERE id = '{}'",
                pending.id
            ),
        )
        .await;
        assert_eq!(linked, "sub_from_stripe");
        // One Stripe never confirms: the sweep cancels it after an hour.
        let third = sign_up(&url, &p, "lost@example.com", "a fine password").await["id"].clone();
        let lost = pending_for(&third).await;
        let later =
            chrono::Utc::now() + authgate_billing::PENDING_FOR + chrono::Duration::minutes(1);
        assert_eq!(
            authgate_billing::reconcile_pending(gw.store(), later)
                .await
                .expect("sweep"),
            1
        );
        assert_eq!(
            text(
                &gw,
                &format!(
                    "SELECT status AS t FROM subscriptions WHERE id = '{}'",
                    lost.id
                )
            )
            .await,
            "canceled"
        );
        c.cancel().await.ok();
        gw.server.stop().await;

        // A Stripe that never answers: the write lock is not held meanwhile.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let silent_base = format!("http://{}", silent.local_addr().expect("addr"));
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                open.push(socket);
            }
        });
        let gw = common::start(
            &db,
            &[
                ("STRIPE_SECRET_KEY", KEY),
                ("STRIPE_API_BASE", silent_base.as_str()),
                ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ],
        )
        .await;
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let slow_url = gw.url();
        let answered = {
            let plan = common::call_raw(
                &c,
                "create_billing_plan",
                json!({"name": "Slow", "monthly_price": 100}),
            );
            let other_write = sign_up(
                &slow_url,
                &gw.project_id,
                "meanwhile@example.com",
                "a fine password",
            );
            tokio::pin!(plan);
            tokio::select! {
                _ = other_write => {}
                _ = &mut plan => panic!("the Stripe call ended before another write could commit"),
            }
            plan.await
        };
        assert_eq!(answered.is_error, Some(true));
        let err = answered.structured_content.clone().unwrap_or_else(|| {
            serde_json::from_str(&answered.content[0].as_text().expect("text").text).expect("json")
        });
        assert_eq!(err["error"]["code"], "unavailable", "{err}");
        let plans = ok(&c, "list_billing_plans", json!({})).await;
        assert_eq!(plans["data"], json!([]), "the plan was undone");
        c.cancel().await.ok();
        gw.server.stop().await;
        held.abort();
    }
}

/// A loopback proxy in front of localstripe that speaks today's Stripe
/// parameter for proration: localstripe 1.15.10 predates
/// `proration_behavior` (it takes the older `prorate` and answers 500 to
/// the newer one), so the proxy rewrites it, and keeps every body it
/// forwarded so a test can see what AuthGate sent.
struct ProrationProxy {
    base: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ProrationProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proration_proxy(upstream: &str) -> ProrationProxy {
    use axum::body::Bytes;
    use axum::extract::Request;
    use axum::response::IntoResponse;
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (seen, upstream) = (bodies.clone(), upstream.to_owned());
    let app = axum::Router::new().fallback(async move |req: Request| {
        let (parts, body) = req.into_parts();
        let body: Bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let sent = String::from_utf8_lossy(&body).into_owned();
        seen.lock().expect("lock").push(sent.clone());
        let older = sent
            .replace("proration_behavior=none", "prorate=false")
            .replace("proration_behavior=create_prorations", "prorate=true")
            .replace("proration_behavior=always_invoice", "prorate=true");
        let target = format!(
            "{upstream}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let mut forward = reqwest::Client::new()
            .request(parts.method, target)
            .body(older);
        for name in ["authorization", "content-type", "stripe-version"] {
            if let Some(v) = parts.headers.get(name) {
                forward = forward.header(name, v);
            }
        }
        let answer = forward.send().await.expect("localstripe answers");
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        (status, [("content-type", "application/json")], text).into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    ProrationProxy { base, bodies, task }
}

/// With Stripe configured, executing a billing migration moves the Stripe
/// subscription's item to the new plan's Stripe price (without proration
/// unless the migration asks for it) before the item counts as completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_migration_moves_the_stripe_subscription_to_the_new_price() {
    for db in common::databases().await {
        let ls = localstripe().await;
        let proxy = proration_proxy(&ls.base).await;
        let gw = common::start(
            &db,
            &[("STRIPE_SECRET_KEY", KEY), ("STRIPE_API_BASE", &proxy.base)],
        )
        .await;
        let (url, p) = (gw.url(), gw.project_id.clone());
        let c = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let basic = ok(
            &c,
            "create_billing_plan",
            json!({"name": "Basic", "monthly_price": 1000}),
        )
        .await;
        let plus = ok(
            &c,
            "create_billing_plan",
            json!({"name": "Plus", "monthly_price": 2000}),
        )
        .await;
        let user =
            sign_up(&url, &p, "mover@example.com", "correct horse battery").await["id"].clone();
        let pm = card(&ls).await;
        let a = rest(
            Method::POST,
            &url,
            "/api/v1/subscriptions",
            None,
            Some(&gw.admin_key),
            Some(json!({"user_id": user, "price_id": basic["prices"][0]["id"], "payment_method": pm})),
        )
        .await;
        let (_, stripe_sub) = made(&gw, a).await;
        let stripe_price_of = async |plan: &Value| {
            text(
                &gw,
                &format!(
                    "SELECT stripe_price_id AS t FROM prices WHERE id = '{}'",
                    plan["prices"][0]["id"].as_str().expect("price")
                ),
            )
            .await
        };
        let remote = stripe_get(&ls, &format!("subscriptions/{stripe_sub}")).await;
        assert_eq!(
            remote["items"]["data"][0]["plan"]["id"],
            stripe_price_of(&basic).await.as_str()
        );
        let m = ok(
            &c,
            "create_billing_migration",
            json!({"from_plan_id": basic["id"], "to_plan_id": plus["id"]}),
        )
        .await;
        assert_eq!(m["proration"], "none");
        let done = ok(
            &c,
            "execute_billing_migration",
            json!({"migration_id": m["id"]}),
        )
        .await;
        assert_eq!(done["cascade"]["subscriptions"], 1, "{done}");
        let remote = stripe_get(&ls, &format!("subscriptions/{stripe_sub}")).await;
        assert_eq!(
            remote["items"]["data"][0]["plan"]["id"],
            stripe_price_of(&plus).await.as_str(),
            "{remote}"
        );
        let sent = proxy.bodies.lock().expect("lock").clone();
        assert!(
            sent.iter()
                .any(|b| b.contains("proration_behavior=none") && b.contains("items")),
            "AuthGate sent Stripe's proration_behavior: {sent:?}"
        );
        let ent = ok(&c, "get_user_entitlements", json!({"user_id": user})).await;
        assert_eq!(ent["plan"]["id"], plus["id"]);
        let detail = ok(
            &c,
            "get_billing_migration",
            json!({"migration_id": m["id"]}),
        )
        .await;
        assert_eq!(detail["counts"]["completed"], 1, "{detail}");
        let _ = c.cancel().await;
        gw.server.stop().await;
    }
}
