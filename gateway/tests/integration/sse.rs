//! The legacy HTTP+SSE transport, driven by rmcp's client over a small
//! client-side SSE transport written here (rmcp 3.11 ships none).

use futures::StreamExt as _;
use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{self, err, ok};

struct SseClientTransport {
    http: reqwest::Client,
    endpoint: String,
    key: String,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
}

/// Opens `GET /api/sse` and reads events until the `endpoint` one.
async fn open_sse(base: &str, key: &str) -> Result<SseClientTransport, reqwest::Response> {
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{base}/api/sse"))
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("SSE stream opens");
    if resp.status() != 200 {
        return Err(resp);
    }
    let (tx, mut rx_events) = mpsc::channel::<(String, String)>(64);
    let mut body = resp.bytes_stream();
    tokio::spawn(async move {
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let mut event = "message".to_owned();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.trim_start().to_owned());
                    }
                }
                if !data.is_empty() && tx.send((event, data.join("\n"))).await.is_err() {
                    return;
                }
            }
        }
    });
    let (event, endpoint) = rx_events.recv().await.expect("first event");
    assert_eq!(event, "endpoint");
    assert!(
        endpoint.starts_with("/api/sse/messages?session_id="),
        "{endpoint}"
    );
    let (msg_tx, incoming) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some((event, data)) = rx_events.recv().await {
            if event == "message" {
                let msg: ServerJsonRpcMessage =
                    serde_json::from_str(&data).expect("server message");
                if msg_tx.send(msg).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(SseClientTransport {
        http,
        endpoint: format!("{base}{endpoint}"),
        key: key.to_owned(),
        incoming,
    })
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = std::io::Error;

    fn send(
        &mut self, item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let req = self
            .http
            .post(self.endpoint.clone())
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", "application/json")
            .body(serde_json::to_string(&item).unwrap_or_default());
        async move {
            let resp = req.send().await.map_err(std::io::Error::other)?;
            if resp.status() == 202 {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "POST answered {}",
                    resp.status()
                )))
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.incoming.close();
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_sse_transport_serves_the_same_tools() {
    common::each_backend(&[], async |gw| {
        let transport = open_sse(&gw.url(), &gw.admin_key)
            .await
            .unwrap_or_else(|_| panic!("SSE opens"));
        let client = common::client_info(rmcp::model::ProtocolVersion::V_2024_11_05)
            .serve(transport)
            .await
            .expect("initialize over SSE");
        let tools = client.list_all_tools().await.expect("tools/list over SSE");
        assert_eq!(tools.len(), common::registry().len());
        let me = ok(&client, "whoami", json!({})).await;
        assert_eq!(me["project"]["id"], json!(gw.project_id));
        let cb = ok(
            &client,
            "add_callback",
            json!({"url": "https://sse.example.com/cb"}),
        )
        .await;
        for (url, code) in [
            ("https://sse.example.com/cb", "conflict"),
            ("javascript:alert(1)", "invalid_argument"),
        ] {
            err(&client, "add_callback", json!({"url": url}), code).await;
        }
        let list = ok(&client, "list_callbacks", json!({})).await;
        assert_eq!(list["data"][0]["id"], cb["id"]);
        for tool in [
            "get_project_status",
            "list_auth_providers",
            "list_api_keys",
            "list_audit_events",
            "list_audit_event_types",
        ] {
            ok(&client, tool, json!({})).await;
        }
        let template = ok(&client, "get_email_template", json!({"type": "welcome"})).await;
        ok(&client, "list_email_templates", json!({})).await;
        ok(
            &client,
            "upsert_email_template",
            json!({"type": "welcome", "subject": "Hi", "content": template["content"]}),
        )
        .await;
        ok(
            &client,
            "preview_email_template",
            json!({"type": "welcome"}),
        )
        .await;
        ok(&client, "reset_email_template", json!({"type": "welcome"})).await;
        err(
            &client,
            "preview_email_template",
            json!({"type": "welcome", "variables": {"code": "1"}}),
            "invalid_argument",
        )
        .await;
        let created = ok(&client, "create_api_key", json!({"scopes": ["read"]})).await;
        ok(
            &client,
            "configure_auth_providers",
            json!({"providers": [{"provider": "magic_link", "enabled": true}]}),
        )
        .await;
        ok(
            &client,
            "revoke_api_key",
            json!({"key_id": created["id"], "dry_run": true}),
        )
        .await;
        ok(
            &client,
            "remove_callback",
            json!({"callback_id": cb["id"], "dry_run": true}),
        )
        .await;
        ok(&client, "regenerate_api_key", json!({"dry_run": true})).await;
        // The audit names the SSE client.
        let events = ok(
            &client,
            "list_audit_events",
            json!({"event_type": "tool.add_callback", "limit": 1}),
        )
        .await;
        assert_eq!(events["data"][0]["client"]["name"], "authgate-tests");
        let _ = client.cancel().await;

        // Unauthenticated, other project's, unknown session and malformed posts.
        let unauth = open_sse(&gw.url(), "ag_live_nope")
            .await
            .err()
            .expect("refused");
        assert_eq!(unauth.status(), 401);
        let (_, b_key) = common::second_project(gw, "B").await;
        let a_stream = open_sse(&gw.url(), &gw.admin_key)
            .await
            .unwrap_or_else(|_| panic!("opens"));
        let hijack = common::post_raw(
            &a_stream.endpoint,
            Some(&b_key),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string(),
            &[],
        )
        .await;
        assert_eq!(hijack.status(), 403);
        // Another key of the same project is refused too (finding 5).
        let admin = common::connect(&gw.mcp_url(), &gw.admin_key).await;
        let sibling = ok(&admin, "create_api_key", json!({"scopes": ["admin"]})).await;
        let sibling_post = common::post_raw(
            &a_stream.endpoint,
            sibling["key"].as_str(),
            json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string(),
            &[],
        )
        .await;
        assert_eq!(sibling_post.status(), 403);
        let refused = ok(
            &admin,
            "list_audit_events",
            json!({"event_type": "mcp.session_refused"}),
        )
        .await;
        let actors: Vec<&Value> = refused["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| &e["actor"]["id"])
            .collect();
        assert_eq!(
            actors.len(),
            2,
            "both attempts are in the owner's project: {refused}"
        );
        assert!(actors.contains(&&sibling["id"]));
        let garbage = common::post_raw(&a_stream.endpoint, Some(&gw.admin_key), "{nope", &[]).await;
        assert_eq!(garbage.status(), 400);
        let body: Value = garbage.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], -32700);
        let unknown = common::post_raw(
            &format!("{}/api/sse/messages?session_id=nope", gw.url()),
            Some(&gw.admin_key),
            "{}",
            &[],
        )
        .await;
        assert_eq!(unknown.status(), 404);
        let big = "x".repeat(2 * 1024 * 1024);
        let too_big = common::post_raw(&a_stream.endpoint, Some(&gw.admin_key), big, &[]).await;
        assert_eq!(too_big.status(), 413);
        drop(a_stream);
    })
    .await;
}
