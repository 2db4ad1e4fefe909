//! The kinds of mail AuthGate sends, the variables each provides to its
//! template, and sample values for previews and save-time checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use authgate_core::ToolError;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    VerificationOtp,
    PasswordReset,
    MagicLink,
    OrgInvitation,
    Welcome,
    // To the old address when an email change is asked for.
    EmailChangeNotice,
}

pub const ALL_KINDS: &[EmailKind] = &[
    EmailKind::VerificationOtp,
    EmailKind::PasswordReset,
    EmailKind::MagicLink,
    EmailKind::OrgInvitation,
    EmailKind::Welcome,
    EmailKind::EmailChangeNotice,
];

/// Variables every kind provides.
const COMMON: &[&str] = &["user.name", "user.email", "project.name"];

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::VerificationOtp => "verification_otp",
            EmailKind::PasswordReset => "password_reset",
            EmailKind::MagicLink => "magic_link",
            EmailKind::OrgInvitation => "org_invitation",
            EmailKind::Welcome => "welcome",
            EmailKind::EmailChangeNotice => "email_change_notice",
        }
    }

    pub fn parse(s: &str) -> Option<EmailKind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == s)
    }

    /// The variables this kind's template may use, as dotted paths.
    pub fn variables(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            EmailKind::VerificationOtp => &["code", "expires_in"],
            EmailKind::PasswordReset | EmailKind::MagicLink => &["link", "expires_in"],
            EmailKind::OrgInvitation => &["link", "org.name", "inviter.name", "expires_in"],
            EmailKind::Welcome => &[],
            EmailKind::EmailChangeNotice => &["new_email"],
        };
        COMMON.iter().chain(own).copied().collect()
    }

    /// Values for previews and for the check run before a template is saved.
    pub fn sample_variables(self) -> Value {
        let mut vars = json!({
            "user": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "project": {"name": "Acme"},
        });
        let own = match self {
            EmailKind::VerificationOtp => json!({"code": "482913", "expires_in": "15 minutes"}),
            EmailKind::PasswordReset => json!({
                "link": "https://app.example.com/reset?token=sample", "expires_in": "1 hour"
            }),
            EmailKind::MagicLink => json!({
                "link": "https://app.example.com/magic?token=sample", "expires_in": "15 minutes"
            }),
            EmailKind::OrgInvitation => json!({
                "link": "https://app.example.com/invite?token=sample",
                "org": {"name": "Analytical Engines"},
                "inviter": {"name": "Charles Babbage"},
                "expires_in": "7 days"
            }),
            EmailKind::Welcome => json!({}),
            EmailKind::EmailChangeNotice => json!({"new_email": "ada@newmail.example"}),
        };
        merge(&mut vars, &own);
        vars
    }
}

/// Deep-merges `overlay` into `base` (objects merge, anything else replaces).
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Checks caller-given variables: every leaf must be a variable the kind
/// provides, and a string or number.
pub fn check_variables(kind: EmailKind, vars: &Value, field: &str) -> Result<(), ToolError> {
    let allowed = kind.variables();
    fn walk(
        v: &Value, path: &str, allowed: &[&str], field: &str, kind: EmailKind,
    ) -> Result<(), ToolError> {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(child, &p, allowed, field, kind)?;
                }
                Ok(())
            }
            Value::String(_) | Value::Number(_) if allowed.contains(&path) => Ok(()),
            Value::String(_) | Value::Number(_) => Err(ToolError::invalid(
                format!("{field}.{path}"),
                format!("{} emails have no variable '{path}'", kind.as_str()),
            )
            .with_hint(format!("use: {}", allowed.join(", ")))),
            _ => Err(ToolError::invalid(
                format!("{field}.{path}"),
                "variable values must be strings or numbers",
            )),
        }
    }
    if !vars.is_object() {
        return Err(ToolError::invalid(
            field,
            "variables must be an object such as {\"user\": {\"name\": \"Ada\"}}",
        ));
    }
    walk(vars, "", &allowed, field, kind)
}
