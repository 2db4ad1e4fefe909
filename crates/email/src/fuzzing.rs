//! Fuzz harness body for templates' TipTap documents (issue 25), driven by
//! `fuzz/` under libFuzzer and replayed on stable from
//! `fuzz/corpus/tiptap_render`.

use authgate_core::ToolError;

use crate::tiptap::{Interpolate, parse, render};

/// Every variable's value is markup, to be escaped like any text.
struct Hostile;

impl Interpolate for Hostile {
    fn interpolate(&self, template: &str, _path: &str) -> Result<String, ToolError> {
        Ok(template.replace("{{name}}", "<script>alert(1)</script><img src=x onerror=y>"))
    }
}

/// The elements the renderer writes; nothing else may open in its HTML.
const TAGS: &[&str] = &[
    "!DOCTYPE",
    "html",
    "head",
    "meta",
    "body",
    "div",
    "p",
    "strong",
    "em",
    "u",
    "code",
    "a",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "blockquote",
    "hr",
    "img",
];

/// A document the parser accepts renders to HTML whose every `<` opens or
/// closes one of the renderer's own elements, and whose links are http(s)
/// or mailto: no text, attribute or variable becomes markup.
pub fn tiptap_render(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(doc) = parse(&value) else {
        return;
    };
    let Ok((html, _text)) = render(&doc, &Hostile) else {
        return;
    };
    for (at, _) in html.match_indices('<') {
        let rest = html[at + 1..].trim_start_matches('/');
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        assert!(TAGS.contains(&name.as_str()), "<{name} in {html}");
    }
    for (at, _) in html.match_indices("href=\"") {
        let target = html[at + 6..].to_ascii_lowercase();
        assert!(
            ["https://", "http://", "mailto:"]
                .iter()
                .any(|s| target.starts_with(s)),
            "{html}"
        );
    }
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_corpus_replays() {
        let n = authgate_core::fuzzing::replay("tiptap_render", super::tiptap_render);
        assert!(n >= 5, "{n} files");
    }
}
