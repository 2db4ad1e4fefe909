//! Security review 2, faults 4 and 10: account takeover through links.
//!
//! Fault 4, pre-account hijacking: sign-in did not need a verified address,
//! and proving the address later kept what a squatter had set on it. Now a
//! link that proves an unverified account's address drops the password,
//! sessions and second factors set before (`account.claimed`), and a
//! magic-link request for an unknown address no longer stands in the
//! owner's way.
//!
//! Fault 10: reset and magic links outlived their purpose. A newer link of
//! the same kind, a completed reset and an email change now void the older
//! ones.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    self, Gateway, confirm_reset, link_token, mail_to, ok, post, requested, rest, sign_in, sign_up,
    verify_link,
};

const OWNER: &str = "owner password 1";
const SQUATTER: &str = "squatter password 1";

async fn me(gw: &Gateway, token: &str) -> u16 {
    rest(
        Method::GET,
        &gw.url(),
        "/api/v1/me",
        None,
        Some(token),
        None,
    )
    .await
    .status
}

/// A squatter's account on `email`: signed in, with a TOTP factor on.
async fn squat(gw: &Gateway, email: &str) -> String {
    let (url, p) = (gw.url(), gw.project_id.clone());
    sign_up(&url, &p, email, SQUATTER).await;
    let access = common::access_token(&url, &p, email, SQUATTER).await;
    let e = rest(
        Method::POST,
        &url,
        "/api/v1/auth/mfa/totp/enroll",
        None,
        Some(&access),
        Some(json!({"password": SQUATTER})),
    )
    .await;
    assert_eq!(e.status, 200, "{e:?}");
    let totp = totp_rs::Totp::from_url(e.body["otpauth_uri"].as_str().expect("uri")).expect("uri");
    let code = totp.generate_current().to_string();
    let v = rest(
        Method::POST,
        &url,
        "/api/v1/auth/mfa/totp/verify",
        None,
        Some(&access),
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(v.status, 200, "{v:?}");
    access
}

async fn claimed_events(gw: &Gateway) -> Vec<Value> {
    common::stored_events(gw, Default::default())
        .await
        .into_iter()
        .filter(|e| e.event_type == "account.claimed")
        .map(|e| serde_json::to_value(e.metadata).expect("json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proving_an_unverified_address_drops_what_a_squatter_set() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        common::enable_links(c).await;

        // By a magic link.
        let squatter = squat(gw, "victim@example.com").await;
        requested(
            &url,
            &p,
            "/api/v1/auth/magic-link/request",
            "victim@example.com",
        )
        .await;
        let link = link_token(&mail_to(inbox, "victim@example.com", "token=", 1).await);
        let signed = verify_link(&url, &p, &link).await;
        assert_eq!(
            signed.status, 200,
            "the owner needs no squatter's code: {signed:?}"
        );
        assert_eq!(me(gw, &squatter).await, 401, "the squatter's session ended");
        post(
            &url,
            "/api/v1/auth/sign-in",
            Some(&p),
            json!({"email": "victim@example.com", "password": SQUATTER}),
        )
        .await
        .refused(401, "unauthenticated");
        let owner = signed.body["user"]["id"].clone();
        let detail = ok(c, "get_end_user", json!({"user_id": owner})).await;
        assert_eq!(detail["mfa"]["enrolled"], false, "{detail}");
        let events = claimed_events(gw).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["method"], "magic_link");
        assert_eq!(events[0]["password_dropped"], true);
        assert_eq!(events[0]["factors_removed"], 1);

        // By a password reset.
        let squatter = squat(gw, "victim2@example.com").await;
        requested(
            &url,
            &p,
            "/api/v1/auth/password-reset/request",
            "victim2@example.com",
        )
        .await;
        let token = link_token(&mail_to(inbox, "victim2@example.com", "token=", 1).await);
        let a = confirm_reset(&url, &p, &token, OWNER).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(me(gw, &squatter).await, 401);
        let signed = sign_in(&url, &p, "victim2@example.com", OWNER).await;
        assert!(
            signed["access_token"].is_string(),
            "no squatter's second factor asked: {signed}"
        );
        assert_eq!(claimed_events(gw).await.len(), 2);

        // A verified account is not claimed by a link.
        requested(
            &url,
            &p,
            "/api/v1/auth/magic-link/request",
            "victim2@example.com",
        )
        .await;
        let link = link_token(&mail_to(inbox, "victim2@example.com", "token=", 2).await);
        let a = verify_link(&url, &p, &link).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(claimed_events(gw).await.len(), 2);
        sign_in(&url, &p, "victim2@example.com", OWNER).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magic_link_request_for_an_unknown_address_blocks_no_one() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        common::enable_links(c).await;
        for email in ["later@example.com", "resets@example.com"] {
            requested(&url, &p, "/api/v1/auth/magic-link/request", email).await;
        }
        // The owner signs up with a password (before the fix: 409 taken).
        let user = sign_up(&url, &p, "later@example.com", OWNER).await;
        assert_eq!(user["email"], "later@example.com");
        sign_in(&url, &p, "later@example.com", OWNER).await;
        // Or resets, which gives the account its first password.
        requested(
            &url,
            &p,
            "/api/v1/auth/password-reset/request",
            "resets@example.com",
        )
        .await;
        let token =
            link_token(&mail_to(inbox, "resets@example.com", "Reset your password", 1).await);
        let a = confirm_reset(&url, &p, &token, OWNER).await;
        assert_eq!(a.status, 200, "{a:?}");
        sign_in(&url, &p, "resets@example.com", OWNER).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_links_completed_resets_and_email_changes_void_older_links() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        common::enable_links(c).await;
        sign_up(&url, &p, "links@example.com", OWNER).await;
        let reset = async || {
            requested(
                &url,
                &p,
                "/api/v1/auth/password-reset/request",
                "links@example.com",
            )
            .await;
        };
        let confirm =
            async |token: &str, password: &str| confirm_reset(&url, &p, token, password).await;
        // A newer reset link voids the older.
        reset().await;
        let first =
            link_token(&mail_to(inbox, "links@example.com", "Reset your password", 1).await);
        reset().await;
        let second =
            link_token(&mail_to(inbox, "links@example.com", "Reset your password", 2).await);
        confirm(&first, "new password 1")
            .await
            .refused(400, "invalid_argument");
        // A magic link asked for before the reset completes dies with it.
        requested(
            &url,
            &p,
            "/api/v1/auth/magic-link/request",
            "links@example.com",
        )
        .await;
        let magic = link_token(&mail_to(inbox, "links@example.com", "No password needed", 1).await);
        assert_eq!(confirm(&second, "new password 2").await.status, 200);
        verify_link(&url, &p, &magic)
            .await
            .refused(400, "invalid_argument");
        // An email change voids the links mailed to the old address.
        reset().await;
        let third =
            link_token(&mail_to(inbox, "links@example.com", "Reset your password", 3).await);
        let access = common::access_token(&url, &p, "links@example.com", "new password 2").await;
        let changed = rest(
            Method::POST,
            &url,
            "/api/v1/auth/change-email",
            None,
            Some(&access),
            Some(json!({"new_email": "moved@example.com", "password": "new password 2"})),
        )
        .await;
        assert_eq!(changed.status, 200, "{changed:?}");
        confirm(&third, "new password 3")
            .await
            .refused(400, "invalid_argument");
    })
    .await;
}

/// Security review 2, fault 6: TOTP enrollment and removal took an access
/// token alone, so a stolen 15-minute token could turn two-step
/// verification on with the thief's app and lock the owner out for good.
/// Both now need the current password (or, without one, a sign-in of the
/// last five minutes); remove_user_mfa lets an admin recover a user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_access_token_cannot_change_the_second_factor() {
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        let (url, p) = (gw.url(), gw.project_id.clone());
        let user = sign_up(&url, &p, "owner@example.com", OWNER).await["id"].clone();
        let stolen = common::access_token(&url, &p, "owner@example.com", OWNER).await;
        let enroll = async |body: Option<Value>| {
            rest(
                Method::POST,
                &url,
                "/api/v1/auth/mfa/totp/enroll",
                None,
                Some(&stolen),
                body,
            )
            .await
        };
        let e = enroll(None).await;
        assert_eq!(
            e.refused(401, "unauthenticated")["field"],
            "password",
            "{e:?}"
        );
        let e = enroll(Some(json!({"password": "a guess"}))).await;
        assert_eq!(e.refused(401, "unauthenticated")["field"], "password");
        let e = enroll(Some(json!({"password": OWNER}))).await;
        assert_eq!(e.status, 200, "{e:?}");
        let totp =
            totp_rs::Totp::from_url(e.body["otpauth_uri"].as_str().expect("uri")).expect("uri");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let v = rest(
            Method::POST,
            &url,
            "/api/v1/auth/mfa/totp/verify",
            None,
            Some(&stolen),
            Some(json!({"code": totp.generate(now).to_string()})),
        )
        .await;
        assert_eq!(v.status, 200, "{v:?}");
        // Removal: a code alone is not enough either.
        let next = totp.generate(now + 30).to_string();
        let r = rest(
            Method::POST,
            &url,
            "/api/v1/auth/mfa/totp/remove",
            None,
            Some(&stolen),
            Some(json!({"code": next})),
        )
        .await;
        assert_eq!(r.refused(401, "unauthenticated")["field"], "password");

        // The admin's recovery: a dry run counts, the run removes and signs out.
        let dry = ok(
            c,
            "remove_user_mfa",
            json!({"user_id": user, "dry_run": true}),
        )
        .await;
        assert_eq!(dry["cascade"]["mfa_factors"], 1, "{dry}");
        assert_eq!(dry["cascade"]["sessions"], 1, "{dry}");
        let done = ok(c, "remove_user_mfa", json!({"user_id": user})).await;
        assert_eq!(done["dry_run"], false);
        assert_eq!(me(gw, &stolen).await, 401, "sessions ended with the factor");
        let signed = sign_in(&url, &p, "owner@example.com", OWNER).await;
        assert!(signed["access_token"].is_string(), "no code asked any more");
        let types: Vec<String> = common::stored_events(gw, Default::default())
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert!(types.iter().any(|t| t == "mfa.removed"), "{types:?}");

        // Without a password: a recent sign-in (a link) instead.
        common::enable_links(c).await;
        post(
            &url,
            "/api/v1/auth/magic-link/request",
            Some(&p),
            json!({"email": "linked@example.com"}),
        )
        .await;
        let link = link_token(&mail_to(inbox, "linked@example.com", "token=", 1).await);
        let signed = verify_link(&url, &p, &link).await;
        let access = signed.body["access_token"].as_str().expect("a").to_owned();
        let e = rest(
            Method::POST,
            &url,
            "/api/v1/auth/mfa/totp/enroll",
            None,
            Some(&access),
            None,
        )
        .await;
        assert_eq!(e.status, 200, "a fresh sign-in suffices: {e:?}");
        common::run_sql(
            gw.store(),
            &["UPDATE sessions SET created_at = created_at - 600000000"],
        )
        .await;
        let e = rest(
            Method::POST,
            &url,
            "/api/v1/auth/mfa/totp/enroll",
            None,
            Some(&access),
            None,
        )
        .await;
        let refused = e.refused(401, "unauthenticated");
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or_default()
                .contains("5 minutes"),
            "{refused}"
        );
    })
    .await;
}
