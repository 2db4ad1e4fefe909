//! Small text rules every domain shares: machine keys, display names, and
//! LIKE patterns that match text literally.

use crate::ToolError;

/// The longest key (role, resource, plan, feature, meter keys).
pub const MAX_KEY: usize = 64;

/// Whether `s` is a key: 1 to 64 characters of a-z, 0-9, `_` and `-`.
pub fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_KEY
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Refuses anything but a key, naming `field` and showing `example`.
pub fn require_key(field: &str, key: &str, example: &str) -> Result<(), ToolError> {
    if is_key(key) {
        return Ok(());
    }
    Err(ToolError::invalid(
        field,
        format!("{field} must be 1 to {MAX_KEY} characters of a-z, 0-9, _ and - (e.g. {example})"),
    ))
}

/// A display name: trimmed, 1 to `max` printable characters.
pub fn display_name(field: &str, name: &str, max: usize) -> Result<String, ToolError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > max || name.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            field,
            format!("{field} must be 1 to {max} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A LIKE pattern that finds `needle` anywhere, literally: `%`, `_` and the
/// escape itself are escaped with `\` (use `ESCAPE '\'`).
pub fn like_contains(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Text made safe for HTML, in element content and quoted attributes
/// alike: the one escape of mail bodies and server-rendered pages.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_names_and_patterns() {
        assert!(
            is_key("org_admin-2") && !is_key("") && !is_key("Admin") && !is_key(&"a".repeat(65))
        );
        let err = require_key("key", "a b", "pro").expect_err("not a key");
        assert_eq!(err.field.as_deref(), Some("key"));
        assert_eq!(
            display_name("name", "  Acme  ", 10).ok().as_deref(),
            Some("Acme")
        );
        assert!(
            display_name("name", "", 10).is_err() && display_name("name", "a\u{7}", 10).is_err()
        );
        assert_eq!(like_contains("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
