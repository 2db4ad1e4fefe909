//! Golden renderings of the built-in templates, and the safety of variables.
//! `UPDATE_GOLDEN=1 cargo test -p authgate-email --test golden` rewrites the
//! files after a deliberate change; review the diff before committing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::json;

use authgate_core::ErrorCode;
use authgate_email::default_template;
use authgate_email::render;
use authgate_email::{ALL_KINDS, merge_variables as merge};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn default_templates_render_to_their_golden_html_and_text() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    for kind in ALL_KINDS {
        let (subject, content) = default_template(*kind);
        let rendered =
            render(*kind, subject, &content, &kind.sample_variables()).expect("default renders");
        let name = kind.as_str();
        let html_path = golden_dir().join(format!("{name}.html"));
        let text_path = golden_dir().join(format!("{name}.txt"));
        let text = format!("Subject: {}\n\n{}", rendered.subject, rendered.text);
        if update {
            std::fs::write(&html_path, &rendered.html).expect("write golden");
            std::fs::write(&text_path, &text).expect("write golden");
        }
        let want_html = std::fs::read_to_string(&html_path).expect("golden html exists");
        let want_text = std::fs::read_to_string(&text_path).expect("golden text exists");
        assert_eq!(rendered.html, want_html, "{name}.html changed");
        assert_eq!(text, want_text, "{name}.txt changed");
        // Every variable was substituted.
        assert!(
            !rendered.html.contains("{{") && !rendered.text.contains("{{"),
            "{name}"
        );
        assert!(!rendered.subject.contains("{{"), "{name}");
    }
}

#[test]
fn variables_cannot_inject_markup() {
    let kind = authgate_email::EmailKind::PasswordReset;
    let (subject, content) = default_template(kind);
    let mut vars = kind.sample_variables();
    merge(
        &mut vars,
        &json!({"user": {"name": "<script>alert('x')</script>"}, "project": {"name": "A&B \"Co\"\r\nBcc: evil@example.com"}}),
    );
    let r = render(kind, subject, &content, &vars).expect("renders");
    assert!(!r.html.contains("<script>"), "{}", r.html);
    assert!(
        r.html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
    );
    assert!(r.html.contains("A&amp;B &quot;Co&quot;"));
    assert!(
        r.text.contains("<script>alert('x')</script>"),
        "the text part is plain text"
    );
    assert!(
        !r.subject.contains('\n') && !r.subject.contains('\r'),
        "no header injection: {:?}",
        r.subject
    );
}

#[test]
fn a_link_variable_that_is_not_http_is_refused() {
    let kind = authgate_email::EmailKind::MagicLink;
    let (subject, content) = default_template(kind);
    let mut vars = kind.sample_variables();
    merge(&mut vars, &json!({"link": "javascript:alert(1)"}));
    let err = render(kind, subject, &content, &vars).expect_err("unsafe link");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(
        err.field
            .as_deref()
            .is_some_and(|f| f.ends_with("attrs.href")),
        "{err:?}"
    );
}

#[test]
fn a_variable_the_type_does_not_provide_is_named() {
    let kind = authgate_email::EmailKind::Welcome;
    // (subject, content, the field named, the variable named)
    for (subject, content, field, variable) in [
        (
            "Hi",
            json!({"type": "doc", "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Your code is {{code}}"}]}
            ]}),
            "content[0].content[0].text",
            "'code'",
        ),
        (
            "Join {{org.name}}",
            json!({"type": "doc", "content": []}),
            "subject",
            "'org.name'",
        ),
    ] {
        let err = render(kind, subject, &content, &kind.sample_variables())
            .expect_err("welcome has neither a code nor an org");
        assert_eq!(err.field.as_deref(), Some(field), "{subject}");
        assert!(err.message.contains(variable), "{}", err.message);
    }
}

/// A template cannot write what it renders to the server log: the
/// handlebars `{{log}}` helper, which would write every code and link a
/// template renders into the server log, does not exist here.
#[test]
fn templates_cannot_log_what_they_render() {
    let kind = authgate_email::EmailKind::VerificationOtp;
    let content = json!({"type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "{{log code}}Your code is {{code}}"}
    ]}]});
    let err = render(kind, "Code", &content, &kind.sample_variables()).expect_err("no log helper");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}
