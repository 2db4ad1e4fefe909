//! MCP resources and prompts (issue 23's first part) through the real rmcp
//! client: the tool reference, the project's status and the RBAC sync
//! schema; an unknown URI answers -32002 up to protocol 2025-11-25 and
//! -32602 from 2026-07-28 (SEP-2164); the public page's four example
//! prompts with their arguments.

use rmcp::ServiceError;
use rmcp::model::{
    GetPromptRequestParams, ProtocolVersion, ReadResourceRequestParams, ResourceContents,
};
use serde_json::{Value, json};

use crate::common::{self, Client, ok};

async fn read(c: &Client, uri: &str) -> Result<(String, Option<String>), ServiceError> {
    let got = c.read_resource(ReadResourceRequestParams::new(uri)).await?;
    assert_eq!(got.contents.len(), 1, "{uri}");
    match &got.contents[0] {
        ResourceContents::TextResourceContents {
            uri: u,
            mime_type,
            text,
            ..
        } => {
            assert_eq!(u, uri);
            Ok((text.clone(), mime_type.clone()))
        }
        other => panic!("{uri}: not text: {other:?}"),
    }
}

fn code_of(e: &ServiceError) -> i32 {
    match e {
        ServiceError::McpError(data) => data.code.0,
        other => panic!("not an MCP error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_read_with_the_callers_key_and_unknown_ones_answer_per_version() {
    common::each_backend_with_client(&[], async |gw, c| {
        let listed = c.list_all_resources().await.expect("resources/list");
        let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "authgate://docs/tools",
                "authgate://project/status",
                "authgate://rbac/sync-schema"
            ]
        );

        let (docs, mime) = read(c, "authgate://docs/tools").await.expect("docs");
        assert_eq!(mime.as_deref(), Some("text/markdown"));
        let file = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tools.md"),
        )
        .expect("docs/tools.md");
        assert_eq!(docs, file, "the resource is the generated reference");

        let (status, _) = read(c, "authgate://project/status").await.expect("status");
        let status: Value = serde_json::from_str(&status).expect("JSON");
        let direct = ok(c, "get_project_status", json!({})).await;
        assert_eq!(status["project"]["id"], gw.project_id.as_str(), "{status}");
        assert_eq!(status["project"], direct["project"]);

        let (schema, _) = read(c, "authgate://rbac/sync-schema")
            .await
            .expect("schema");
        let schema: Value = serde_json::from_str(&schema).expect("JSON");
        assert_eq!(schema["type"], "object", "{schema}");
        assert!(schema["properties"]["roles"].is_object(), "{schema}");
        assert!(schema["properties"]["resources"].is_object(), "{schema}");

        // A key that may not call get_project_status may not read it either.
        let narrow = ok(
            c,
            "create_api_key",
            json!({"name": "narrow", "scopes": ["read"], "tools": ["whoami"]}),
        )
        .await;
        let n = common::connect(&gw.mcp_url(), narrow["key"].as_str().expect("key")).await;
        let refused = read(&n, "authgate://project/status")
            .await
            .expect_err("refused");
        assert!(
            refused.to_string().contains("get_project_status"),
            "{refused}"
        );
        read(&n, "authgate://docs/tools")
            .await
            .expect("the reference is for every key");

        let old =
            common::connect_with(&gw.mcp_url(), &gw.admin_key, ProtocolVersion::V_2025_11_25).await;
        let e = read(&old, "authgate://nope").await.expect_err("unknown");
        assert_eq!(code_of(&e), -32002, "{e}");
        // 2026-07-28 has no initialize: one stateless request, its version
        // and client in `_meta` (as the Python SDK 2.x sends it).
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {
            "uri": "authgate://nope",
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1.0"},
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }});
        let answer = common::post_raw(
            &gw.mcp_url(),
            Some(&gw.admin_key),
            body.to_string(),
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "resources/read"),
                ("mcp-name", "authgate://nope"),
            ],
        )
        .await
        .text()
        .await
        .expect("text");
        let json = answer
            .lines()
            .find_map(|l| {
                l.strip_prefix("data:")
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
            })
            .unwrap_or(answer.as_str());
        let answer: Value = serde_json::from_str(json).expect("JSON-RPC");
        assert_eq!(answer["error"]["code"], -32602, "{answer}");
        for client in [n, old] {
            let _ = client.cancel().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_example_prompts_take_their_arguments() {
    common::each_backend_with_client(&[], async |_gw, c| {
        let prompts = c.list_all_prompts().await.expect("prompts/list");
        let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "set_up_project",
                "weekly_review",
                "set_up_organization",
                "gdpr_export"
            ]
        );
        let org = prompts
            .iter()
            .find(|p| p.name == "set_up_organization")
            .expect("listed");
        let required: Vec<&str> = org
            .arguments
            .iter()
            .flatten()
            .filter(|a| a.required == Some(true))
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(required, ["name"]);

        let args = json!({"name": "Acme Corp", "resources": "posts, comments and likes"});
        let Value::Object(args) = args else {
            unreachable!()
        };
        let got = c
            .get_prompt(GetPromptRequestParams::new("set_up_organization").with_arguments(args))
            .await
            .expect("prompt");
        let text = serde_json::to_string(&got.messages).expect("json");
        assert!(text.contains("'Acme Corp'"), "{text}");
        assert!(
            text.contains("posts, comments and likes resources"),
            "{text}"
        );
        assert!(
            text.contains("add 3 members"),
            "the default fills in: {text}"
        );

        let e = c
            .get_prompt(GetPromptRequestParams::new("set_up_organization"))
            .await
            .expect_err("name is required");
        assert_eq!(code_of(&e), -32602);
        assert!(e.to_string().contains("'name'"), "{e}");
        let e = c
            .get_prompt(GetPromptRequestParams::new("nope"))
            .await
            .expect_err("unknown");
        assert_eq!(code_of(&e), -32602);
    })
    .await;
}
