//! The built-in template of each kind: a subject and a TipTap document.

use serde_json::{Value, json};

use crate::EmailKind;

fn p(text: &str) -> Value {
    json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
}

fn muted(text: &str) -> Value {
    json!({"type": "paragraph", "content": [{"type": "text", "text": text, "marks": [{"type": "italic"}]}]})
}

fn heading(text: &str) -> Value {
    json!({"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": text}]})
}

fn button(text: &str) -> Value {
    json!({"type": "button", "attrs": {"href": "{{link}}", "text": text}})
}

fn link_fallback() -> Value {
    json!({"type": "paragraph", "content": [
        {"type": "text", "text": "Or open this link: "},
        {"type": "text", "text": "{{link}}", "marks": [{"type": "link", "attrs": {"href": "{{link}}"}}]}
    ]})
}

fn doc(content: Vec<Value>) -> Value {
    json!({"type": "doc", "content": content})
}

/// The built-in (subject, content) of a kind.
pub fn default_template(kind: EmailKind) -> (&'static str, Value) {
    match kind {
        EmailKind::VerificationOtp => (
            "Your {{project.name}} verification code: {{code}}",
            doc(vec![
                heading("Verify your email"),
                p("Hi {{user.name}},"),
                p("Enter this code to verify your email address for {{project.name}}:"),
                json!({"type": "heading", "attrs": {"level": 2}, "content": [
                    {"type": "text", "text": "{{code}}", "marks": [{"type": "code"}]}
                ]}),
                p("The code expires in {{expires_in}}. Any earlier code no longer works."),
                muted("If you did not create an account, you can ignore this email."),
            ]),
        ),
        EmailKind::PasswordReset => (
            "Reset your {{project.name}} password",
            doc(vec![
                heading("Reset your password"),
                p("Hi {{user.name}},"),
                p(
                    "Someone asked to reset the password of your {{project.name}} account ({{user.email}}). To choose a new one, use the button below.",
                ),
                button("Reset password"),
                link_fallback(),
                p("The link works once and expires in {{expires_in}}."),
                muted(
                    "If you did not ask for this, ignore this email: your password stays as it is.",
                ),
            ]),
        ),
        EmailKind::MagicLink => (
            "Your sign-in link for {{project.name}}",
            doc(vec![
                heading("Sign in to {{project.name}}"),
                p("Hi {{user.name}},"),
                p("Use the button below to sign in. No password needed."),
                button("Sign in"),
                link_fallback(),
                p("The link works once and expires in {{expires_in}}."),
                muted("If you did not try to sign in, you can ignore this email."),
            ]),
        ),
        EmailKind::OrgInvitation => (
            "{{inviter.name}} invited you to {{org.name}} on {{project.name}}",
            doc(vec![
                heading("Join {{org.name}}"),
                p("Hi {{user.name}},"),
                json!({"type": "paragraph", "content": [
                    {"type": "text", "text": "{{inviter.name}}", "marks": [{"type": "bold"}]},
                    {"type": "text", "text": " invited you to join "},
                    {"type": "text", "text": "{{org.name}}", "marks": [{"type": "bold"}]},
                    {"type": "text", "text": " on {{project.name}}."}
                ]}),
                button("Accept invitation"),
                link_fallback(),
                p("The invitation expires in {{expires_in}}."),
                muted("If you were not expecting this invitation, you can ignore this email."),
            ]),
        ),
        EmailKind::Welcome => (
            "Welcome to {{project.name}}",
            doc(vec![
                heading("Welcome, {{user.name}}!"),
                p("Your {{project.name}} account is ready. You signed up with {{user.email}}."),
                json!({"type": "bulletList", "content": [
                    {"type": "listItem", "content": [p("Sign in any time with your email and password.")]},
                    {"type": "listItem", "content": [p("Keep your email verified so you can always recover your account.")]}
                ]}),
                { json!({"type": "horizontalRule"}) },
                muted(
                    "You are receiving this email because you created an account on {{project.name}}.",
                ),
            ]),
        ),
        EmailKind::EmailChangeNotice => (
            "Your {{project.name}} email address is being changed",
            doc(vec![
                heading("Email change requested"),
                p("Hi {{user.name}},"),
                p(
                    "Someone signed in to your {{project.name}} account asked to change its email address from {{user.email}} to {{new_email}}. The change takes effect once the new address is verified with the code sent to it.",
                ),
                muted(
                    "If this was not you, sign in and change your password now: until the new address is verified, your account keeps this one.",
                ),
            ]),
        ),
    }
}
