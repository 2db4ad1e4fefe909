//! What an operator reads when a request fails: an internal error names
//! its request id to the client, and the log line that explains it carries
//! the same id (the request's and the tool call's tracing spans). A stored
//! JSON value that does not parse is such an internal error, never an
//! empty default.

use serde_json::json;

use crate::common::{self, ok};

/// The log lines at WARN or ERROR that mention `request_id`.
fn loud_lines_of(request_id: &str) -> Vec<String> {
    common::logs()
        .lines()
        .filter(|l| l.contains(request_id) && (l.contains(" ERROR ") || l.contains(" WARN ")))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_json_column_is_an_internal_error_logged_with_the_request_id() {
    common::each_backend_with_client(&[], async |gw, c| {
        let org = ok(
            c,
            "create_org",
            json!({"name": "Acme", "metadata": {"tier": "gold"}}),
        )
        .await;
        let id = org["id"].as_str().expect("org id").to_owned();
        common::run_sql(
            gw.store(),
            &[&format!(
                "UPDATE organizations SET metadata = '{{\"tier\": ' WHERE id = '{id}'"
            )],
        )
        .await;
        let error = common::err(c, "get_org", json!({"org_id": id}), "internal").await;
        let request_id = error["request_id"].as_str().expect("a request id");
        assert!(
            !error["message"]
                .as_str()
                .unwrap_or_default()
                .contains("parse"),
            "no internals reach the client: {error}"
        );
        let lines = loud_lines_of(request_id);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("does not parse") && l.contains("tool=get_org")),
            "{}: the error line names the request, the tool and the fault: {lines:?}",
            gw.backend
        );
        // Mended, the same row reads again: the error was the value's.
        common::run_sql(
            gw.store(),
            &[&format!(
                "UPDATE organizations SET metadata = '{{}}' WHERE id = '{id}'"
            )],
        )
        .await;
        ok(c, "get_org", json!({"org_id": id})).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_rest_request_logs_its_request_id_on_the_error_line() {
    common::each_backend_with_client(&[], async |gw, c| {
        let url = gw.url();
        let signed = common::signed_in_user(&url, c).await;
        let user = signed["user"]["id"].as_str().expect("user id").to_owned();
        let token = signed["access_token"].as_str().expect("token").to_owned();
        common::run_sql(
            gw.store(),
            &[&format!(
                "UPDATE end_users SET metadata = '[1, 2' WHERE id = '{user}'"
            )],
        )
        .await;
        let a = common::rest(
            reqwest::Method::GET,
            &url,
            "/api/v1/me",
            None,
            Some(&token),
            None,
        )
        .await;
        let error = a.refused(500, "internal");
        let request_id = error["request_id"].as_str().expect("a request id");
        assert_eq!(
            a.headers.get("x-request-id").and_then(|v| v.to_str().ok()),
            Some(request_id),
            "the body and the header name the same request"
        );
        let lines = loud_lines_of(request_id);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("does not parse") && l.contains("route=/api/v1/me")),
            "{}: {lines:?}",
            gw.backend
        );
    })
    .await;
}
