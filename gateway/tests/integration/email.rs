//! The email template tools through the MCP client, on every backend.

use serde_json::{Value, json};

use crate::common::{self, err, ok};

fn doc(text: &str) -> Value {
    json!({"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Hello {{user.name}}"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": text},
            {"type": "hardBreak"},
            {"type": "text", "text": "docs", "marks": [{"type": "link", "attrs": {"href": "https://docs.example.com"}}, {"type": "underline"}]}
        ]},
        {"type": "orderedList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "step one"}]}]}]},
        {"type": "blockquote", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "quoted"}]}]},
        {"type": "horizontalRule"},
        {"type": "image", "attrs": {"src": "https://cdn.example.com/logo.png", "alt": "Logo"}}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_template_tools_work_and_stay_in_their_project() {
    common::each_backend_with_client(&[], async |gw, a| {
        let (_, b_key) = common::second_project(gw, "Project B").await;
        let b = common::connect(&gw.mcp_url(), &b_key).await;

        let list = ok(a, "list_email_templates", json!({})).await;
        let types: Vec<&str> = list["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|t| t["type"].as_str())
            .collect();
        assert_eq!(
            types,
            [
                "verification_otp",
                "password_reset",
                "magic_link",
                "org_invitation",
                "welcome",
                "email_change_notice"
            ]
        );
        assert!(
            list["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|t| t["custom"] == false)
        );
        let page = ok(a, "list_email_templates", json!({"limit": 2})).await;
        let rest = ok(
            a,
            "list_email_templates",
            json!({"limit": 5, "cursor": page["next_cursor"]}),
        )
        .await;
        assert_eq!(rest["data"][0]["type"], "magic_link");
        assert_eq!(rest["has_more"], false);

        let default = ok(a, "get_email_template", json!({"type": "welcome"})).await;
        assert_eq!(default["custom"], false);
        assert_eq!(default["content"]["type"], "doc");
        assert!(
            default["variables"]
                .as_array()
                .expect("variables")
                .contains(&json!("user.name"))
        );

        let preview = ok(
            a,
            "preview_email_template",
            json!({"type": "verification_otp", "variables": {"code": "777111"}}),
        )
        .await;
        assert_eq!(
            preview["subject"],
            "Your Project A verification code: 777111"
        );
        assert!(
            preview["html"]
                .as_str()
                .is_some_and(|h| h.contains("777111") && h.contains("<h1"))
        );
        assert!(
            preview["text"]
                .as_str()
                .is_some_and(|t| t.contains("777111"))
        );
        let escaped = ok(
            a,
            "preview_email_template",
            json!({"type": "welcome", "variables": {"user": {"name": "<script>x</script>"}}}),
        )
        .await;
        assert!(
            !escaped["html"]
                .as_str()
                .unwrap_or_default()
                .contains("<script>")
        );
        assert!(
            escaped["html"]
                .as_str()
                .unwrap_or_default()
                .contains("&lt;script&gt;")
        );

        let saved = ok(a, "upsert_email_template", json!({"type": "welcome", "subject": "Hi from {{project.name}}", "content": doc("Welcome aboard.")})).await;
        assert_eq!(saved["custom"], true);
        assert!(saved["updated_at"].is_string());
        // Content may also come as a JSON string.
        ok(a, "upsert_email_template", json!({"type": "magic_link", "subject": "Sign in", "content": doc("Use {{link}}").to_string()})).await;
        let custom = ok(a, "preview_email_template", json!({"type": "welcome"})).await;
        assert_eq!(custom["subject"], "Hi from Project A");
        let html = custom["html"].as_str().expect("html");
        for piece in [
            "<h2",
            "Hello Ada Lovelace",
            "<br>",
            "href=\"https://docs.example.com\"",
            "<u>docs</u>",
            "<ol",
            "<blockquote",
            "<hr",
            "src=\"https://cdn.example.com/logo.png\"",
        ] {
            assert!(html.contains(piece), "{piece} in {html}");
        }
        let text = custom["text"].as_str().expect("text");
        assert!(
            text.contains("docs (https://docs.example.com)")
                && text.contains("1. step one")
                && text.contains("> quoted"),
            "{text}"
        );
        let listed = ok(a, "list_email_templates", json!({})).await;
        let welcome = listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|t| t["type"] == "welcome")
            .expect("welcome")
            .clone();
        assert_eq!(welcome["custom"], true);

        // B sees only its own (default) templates.
        let b_welcome = ok(&b, "get_email_template", json!({"type": "welcome"})).await;
        assert_eq!(b_welcome["custom"], false);
        let b_preview = ok(&b, "preview_email_template", json!({"type": "welcome"})).await;
        assert_eq!(b_preview["subject"], "Welcome to Project B");
        let b_list = ok(&b, "list_email_templates", json!({})).await;
        assert!(
            b_list["data"]
                .as_array()
                .expect("data")
                .iter()
                .all(|t| t["custom"] == false)
        );
        // B resetting its welcome does not touch A's.
        ok(&b, "reset_email_template", json!({"type": "welcome"})).await;
        assert_eq!(
            ok(a, "get_email_template", json!({"type": "welcome"})).await["custom"],
            true
        );

        // Refusals name the field and save nothing.
        let cases = vec![
            (
                "upsert_email_template",
                json!({"type": "welcome", "subject": "x", "content": {"type": "doc", "content": [{"type": "paragraph"}, {"type": "paragraph", "content": [{"type": "video"}]}]}}),
                "content[1].content[0].type",
            ),
            (
                "upsert_email_template",
                json!({"type": "welcome", "subject": "x", "content": {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "go", "marks": [{"type": "link", "attrs": {"href": "javascript:alert(1)"}}]}]}]}}),
                "content[0].content[0].marks[0].attrs.href",
            ),
            (
                "upsert_email_template",
                json!({"type": "welcome", "subject": "Your code {{code}}", "content": {"type": "doc", "content": []}}),
                "subject",
            ),
            (
                "upsert_email_template",
                json!({"type": "welcome", "subject": "x", "content": "{not json"}),
                "content",
            ),
            (
                "upsert_email_template",
                json!({"type": "newsletter", "subject": "x", "content": {"type": "doc"}}),
                "type",
            ),
            (
                "upsert_email_template",
                json!({"type": "welcome", "subject": "", "content": {"type": "doc"}}),
                "subject",
            ),
            ("get_email_template", json!({}), "type"),
            (
                "preview_email_template",
                json!({"type": "welcome", "variables": {"code": "1"}}),
                "variables.code",
            ),
            ("reset_email_template", json!({"type": 5}), "type"),
            ("list_email_templates", json!({"limit": 0}), "limit"),
        ];
        for (tool, args, field) in cases {
            let e = err(a, tool, args.clone(), "invalid_argument").await;
            assert_eq!(e["field"], json!(field), "{tool}({args}): {e}");
        }
        let still = ok(a, "get_email_template", json!({"type": "welcome"})).await;
        assert_eq!(
            still["subject"], "Hi from {{project.name}}",
            "a refused upsert saved nothing"
        );

        let reset = ok(a, "reset_email_template", json!({"type": "welcome"})).await;
        assert_eq!(reset["custom"], false);
        assert_eq!(reset["subject"], default["subject"]);
        let events = ok(a, "list_audit_event_types", json!({})).await;
        assert!(
            events["data"]
                .as_array()
                .expect("data")
                .contains(&json!("tool.upsert_email_template"))
        );
    })
    .await;
}

fn paragraph(text: &str) -> Value {
    json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// Security review 2, fault 2: full Handlebars ran templates, so one
/// upsert_email_template of an inline partial that includes itself
/// recursed until the stack overflowed and the process aborted, and nested
/// partials expanded geometrically. Every construct of the corpus is now
/// refused at save, naming it, each answer within a second; a bomb stored
/// before the rules (written past the tools) is refused by preview and
/// fails its mail at delivery; the process answers throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_templates_are_refused_and_the_process_survives() {
    let nest =
        |open: &str, close: &str, n: usize| format!("{}x{}", open.repeat(n), close.repeat(n));
    let geometric = (0..12).fold("{{> p0}}".to_owned(), |body, i| {
        format!(
            "{{{{#*inline \"p{}\"}}}}{{{{> p{i}}}}}{{{{> p{i}}}}}{{{{/inline}}}}{body}",
            i + 1
        )
    });
    let corpus: Vec<(String, &str)> = vec![
        (
            r#"{{#*inline "a"}}{{> a}}{{/inline}}{{> a}}"#.into(),
            "decorators",
        ),
        (geometric, "decorators"),
        ("{{> welcome}}".into(), "partials"),
        ("{{#> layout}}body{{/layout}}".into(), "partials"),
        ("{{lookup user 'name'}}".into(), "helpers"),
        ("{{log user}}".into(), "helpers"),
        (
            "{{#if (eq user.name 'x')}}x{{/if}}".into(),
            "subexpressions",
        ),
        (
            "{{#each user as |v k|}}{{k}}{{/each}}".into(),
            "block parameters",
        ),
        (
            "{{{{raw}}}}{{user.name}}{{{{/raw}}}}".into(),
            "the block 'raw'",
        ),
        (
            nest("{{#with user}}", "{{/with}}", 200),
            "nested more than 4",
        ),
        (
            nest("{{#each user}}", "{{/each}}", 50),
            "nested more than 4",
        ),
        // Too deep for the parser itself: refused as a syntax error.
        (nest("{{#if user}}", "{{/if}}", 5000), "template error"),
    ];
    common::each_backend_with_mail_and_client(&[], async |gw, c, inbox| {
        for (text, construct) in &corpus {
            let mut placings = vec![("Hi".to_owned(), paragraph(text))];
            if text.chars().count() <= 200 {
                placings.push((text.clone(), paragraph("Hi")));
            }
            for (subject, content) in placings {
                let call = err(
                    c,
                    "upsert_email_template",
                    json!({"type": "welcome", "subject": subject, "content": content}),
                    "invalid_argument",
                );
                let e = tokio::time::timeout(std::time::Duration::from_secs(1), call)
                    .await
                    .unwrap_or_else(|_| panic!("no answer within 1 s to {construct}"));
                assert!(
                    e["message"].as_str().unwrap_or_default().contains(construct),
                    "{construct}: {e}"
                );
                let field = e["field"].as_str().unwrap_or_default();
                assert!(field == "subject" || field.starts_with("content"), "{e}");
            }
        }
        let template = ok(c, "get_email_template", json!({"type": "welcome"})).await;
        assert_eq!(template["custom"], false, "nothing was saved");

        // A bomb saved before the rules existed.
        let bomb = serde_json::to_string(&paragraph(&corpus[0].0)).expect("json");
        let insert = format!(
            "INSERT INTO email_templates (project_id, kind, subject, content, updated_at) VALUES ('{}', 'welcome', 'Hi', '{}', 0)",
            gw.project_id,
            bomb.replace('\'', "''")
        );
        common::run_sql(gw.store(), &[&insert]).await;
        let e = err(c, "preview_email_template", json!({"type": "welcome"}), "invalid_argument").await;
        assert!(e["message"].as_str().unwrap_or_default().contains("decorators"), "{e}");
        // Its mail fails at delivery, rendered by the worker outside any
        // transaction; the verification mail of the same sign-up goes out.
        common::sign_up(&gw.url(), &gw.project_id, "bomb@example.com", "a fine password").await;
        common::mail_to(inbox, "bomb@example.com", "code", 1).await;
        let mut failed = 0;
        for _ in 0..100 {
            failed = common::query_n(
                gw.store(),
                "SELECT COUNT(*) AS n FROM email_outbox WHERE kind = 'welcome' AND status = 'failed' AND last_error LIKE '%could not be rendered%'",
            )
            .await;
            if failed == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(failed, 1, "the welcome mail failed at delivery");
        let who = ok(c, "whoami", json!({})).await;
        assert_eq!(who["project"]["id"], gw.project_id.as_str(), "the process answers");
    })
    .await;
}
