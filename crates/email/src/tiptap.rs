//! TipTap (ProseMirror) JSON: parsed into a closed set of nodes and marks,
//! then rendered to email-safe HTML (inline styles, every piece of text
//! escaped, links only http(s) and mailto) and to plain text.
//!
//! Every string that reaches the output (text, link targets, image
//! sources, button labels) first goes through `interpolate`, the template
//! variable step, and is escaped afterwards: a variable's value can never
//! become markup.

use serde_json::Value;

use authgate_core::ToolError;

/// The node types a template may use.
pub const NODE_TYPES: &[&str] = &[
    "doc",
    "paragraph",
    "heading",
    "text",
    "bulletList",
    "orderedList",
    "listItem",
    "blockquote",
    "hardBreak",
    "horizontalRule",
    "image",
    "button",
];

/// The mark types text may carry.
pub const MARK_TYPES: &[&str] = &["bold", "italic", "underline", "code", "link"];

#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    Bold,
    Italic,
    Underline,
    Code,
    Link { href: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Paragraph(Vec<Node>),
    Heading { level: u8, content: Vec<Node> },
    Text { text: String, marks: Vec<Mark> },
    BulletList(Vec<Node>),
    OrderedList { start: u32, items: Vec<Node> },
    ListItem(Vec<Node>),
    Blockquote(Vec<Node>),
    HardBreak,
    HorizontalRule,
    Image { src: String, alt: String },
    Button { href: String, text: String },
}

/// A parsed document: the children of the root `doc` node.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc(pub Vec<Node>);

fn bad(path: &str, message: impl Into<String>) -> ToolError {
    let field = if path.is_empty() {
        "content".to_owned()
    } else {
        path.to_owned()
    };
    ToolError::invalid(field, message)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn string_attr(node: &Value, path: &str, name: &str, required: bool) -> Result<String, ToolError> {
    let attr_path = join(&join(path, "attrs"), name);
    match node.get("attrs").and_then(|a| a.get(name)) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err(bad(&attr_path, format!("{name} is required"))),
        Some(_) => Err(bad(&attr_path, format!("{name} must be a string"))),
    }
}

fn children(node: &Value, path: &str) -> Result<Vec<Node>, ToolError> {
    match node.get("content") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, child)| parse_node(child, &format!("{}[{i}]", join(path, "content"))))
            .collect(),
        Some(_) => Err(bad(
            &join(path, "content"),
            "content must be an array of nodes",
        )),
    }
}

fn parse_marks(node: &Value, path: &str) -> Result<Vec<Mark>, ToolError> {
    let Some(marks) = node.get("marks") else {
        return Ok(Vec::new());
    };
    let Value::Array(marks) = marks else {
        return Err(bad(&join(path, "marks"), "marks must be an array"));
    };
    marks
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let mark_path = format!("{}[{i}]", join(path, "marks"));
            let kind = mark.get("type").and_then(Value::as_str).unwrap_or_default();
            match kind {
                "bold" => Ok(Mark::Bold),
                "italic" => Ok(Mark::Italic),
                "underline" => Ok(Mark::Underline),
                "code" => Ok(Mark::Code),
                "link" => Ok(Mark::Link {
                    href: string_attr(mark, &mark_path, "href", true)?,
                }),
                other => Err(bad(
                    &join(&mark_path, "type"),
                    format!(
                        "unknown mark type '{}'; use one of: {}",
                        authgate_core::truncate(other, 40),
                        MARK_TYPES.join(", ")
                    ),
                )),
            }
        })
        .collect()
}

fn parse_node(node: &Value, path: &str) -> Result<Node, ToolError> {
    if !node.is_object() {
        return Err(bad(path, "a node must be an object with a type"));
    }
    let kind = node.get("type").and_then(Value::as_str).unwrap_or_default();
    Ok(match kind {
        "paragraph" => Node::Paragraph(children(node, path)?),
        "heading" => {
            let level = node
                .get("attrs")
                .and_then(|a| a.get("level"))
                .map(|l| l.as_u64().filter(|l| (1..=3).contains(l)))
                .unwrap_or(Some(1))
                .ok_or_else(|| {
                    bad(
                        &join(&join(path, "attrs"), "level"),
                        "heading level must be 1, 2 or 3",
                    )
                })?;
            Node::Heading {
                level: level as u8,
                content: children(node, path)?,
            }
        }
        "text" => {
            let text = node
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&join(path, "text"), "a text node needs a text string"))?;
            Node::Text {
                text: text.to_owned(),
                marks: parse_marks(node, path)?,
            }
        }
        "bulletList" => Node::BulletList(children(node, path)?),
        "orderedList" => {
            let start = node
                .get("attrs")
                .and_then(|a| a.get("start"))
                .and_then(Value::as_u64)
                .unwrap_or(1);
            Node::OrderedList {
                start: u32::try_from(start).unwrap_or(1),
                items: children(node, path)?,
            }
        }
        "listItem" => Node::ListItem(children(node, path)?),
        "blockquote" => Node::Blockquote(children(node, path)?),
        "hardBreak" => Node::HardBreak,
        "horizontalRule" => Node::HorizontalRule,
        "image" => Node::Image {
            src: string_attr(node, path, "src", true)?,
            alt: string_attr(node, path, "alt", false)?,
        },
        "button" => Node::Button {
            href: string_attr(node, path, "href", true)?,
            text: string_attr(node, path, "text", true)?,
        },
        "doc" => return Err(bad(&join(path, "type"), "doc may only be the root node")),
        other => {
            return Err(bad(
                &join(path, "type"),
                format!(
                    "unknown node type '{}'; use one of: {}",
                    authgate_core::truncate(other, 40),
                    NODE_TYPES.join(", ")
                ),
            ));
        }
    })
}

/// Parses a TipTap document; errors name the JSON path of the fault.
pub fn parse(value: &Value) -> Result<Doc, ToolError> {
    if value.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(bad(
            "",
            "content must be a TipTap document: {\"type\": \"doc\", \"content\": [...]}",
        ));
    }
    Ok(Doc(children(value, "")?))
}

/// Turns a template string into output text (the variable step).
pub trait Interpolate {
    fn interpolate(&self, template: &str, path: &str) -> Result<String, ToolError>;
}

pub use authgate_core::text::escape_html;

/// Only http(s) and mailto targets survive into mail.
fn check_url(url: &str, path: &str, allow_mailto: bool) -> Result<String, ToolError> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    let ok = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (allow_mailto && lower.starts_with("mailto:"));
    if !ok {
        let allowed = if allow_mailto {
            "http(s) or mailto"
        } else {
            "http(s)"
        };
        return Err(bad(path, format!("link target must be an {allowed} URL")));
    }
    Ok(trimmed.to_owned())
}

const FONT: &str =
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif";

struct Renderer<'a, I: Interpolate> {
    vars: &'a I,
    html: String,
    text: String,
}

impl<I: Interpolate> Renderer<'_, I> {
    fn inline(&mut self, nodes: &[Node], path: &str) -> Result<(), ToolError> {
        for (i, node) in nodes.iter().enumerate() {
            let node_path = format!("{}[{i}]", join(path, "content"));
            match node {
                Node::Text { text, marks } => {
                    let value = self.vars.interpolate(text, &join(&node_path, "text"))?;
                    let mut open = String::new();
                    let mut close = Vec::new();
                    let mut link = None;
                    for (m, mark) in marks.iter().enumerate() {
                        let (o, c) = match mark {
                            Mark::Bold => ("<strong>".to_owned(), "</strong>"),
                            Mark::Italic => ("<em>".to_owned(), "</em>"),
                            Mark::Underline => ("<u>".to_owned(), "</u>"),
                            Mark::Code => (
                                "<code style=\"font-family:Menlo,Consolas,monospace;background:#f3f4f6;padding:2px 4px;border-radius:4px\">".to_owned(),
                                "</code>",
                            ),
                            Mark::Link { href } => {
                                let href_path = format!("{node_path}.marks[{m}].attrs.href");
                                let href = check_url(&self.vars.interpolate(href, &href_path)?, &href_path, true)?;
                                link = Some(href.clone());
                                (
                                    format!("<a href=\"{}\" style=\"color:#2563eb;text-decoration:underline\">", escape_html(&href)),
                                    "</a>",
                                )
                            }
                        };
                        open.push_str(&o);
                        close.push(c);
                    }
                    self.html.push_str(&open);
                    self.html.push_str(&escape_html(&value));
                    for c in close.iter().rev() {
                        self.html.push_str(c);
                    }
                    self.text.push_str(&value);
                    if let Some(href) = link
                        && href != value
                    {
                        self.text.push_str(&format!(" ({href})"));
                    }
                }
                Node::HardBreak => {
                    self.html.push_str("<br>");
                    self.text.push('\n');
                }
                other => self.block(other, &node_path, 0)?,
            }
        }
        Ok(())
    }

    fn blocks(&mut self, nodes: &[Node], path: &str, depth: usize) -> Result<(), ToolError> {
        for (i, node) in nodes.iter().enumerate() {
            self.block(node, &format!("{}[{i}]", join(path, "content")), depth)?;
        }
        Ok(())
    }

    fn end_block(&mut self) {
        while self.text.ends_with(' ') {
            self.text.pop();
        }
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            if self.text.ends_with('\n') {
                self.text.push('\n');
            } else {
                self.text.push_str("\n\n");
            }
        }
    }

    fn block(&mut self, node: &Node, path: &str, depth: usize) -> Result<(), ToolError> {
        match node {
            Node::Paragraph(content) => {
                self.html.push_str(&format!("<p style=\"margin:0 0 16px;font-size:16px;line-height:24px;color:#111827;{FONT}\">"));
                self.inline(content, path)?;
                self.html.push_str("</p>\n");
                self.end_block();
            }
            Node::Heading { level, content } => self.heading(*level, content, path)?,
            Node::Text { .. } | Node::HardBreak => {
                // Inline content directly in a block container: wrap it.
                self.inline(std::slice::from_ref(node), path)?;
            }
            Node::BulletList(items) => self.list(items, None, path, depth)?,
            Node::OrderedList { items, start } => self.list(items, Some(*start), path, depth)?,
            Node::ListItem(content) => self.list_item(content, path, depth + 1)?,
            Node::Blockquote(content) => self.blockquote(content, path, depth)?,
            Node::HorizontalRule => {
                self.html.push_str(
                    "<hr style=\"border:none;border-top:1px solid #e5e7eb;margin:24px 0\">\n",
                );
                self.end_block();
                self.text.push_str("----------\n\n");
            }
            Node::Image { src, alt } => self.image(src, alt, path)?,
            Node::Button { href, text } => self.button(href, text, path)?,
        }
        Ok(())
    }

    fn heading(&mut self, level: u8, content: &[Node], path: &str) -> Result<(), ToolError> {
        let size = match level {
            1 => 24,
            2 => 20,
            _ => 18,
        };
        self.html.push_str(&format!(
            "<h{level} style=\"margin:0 0 16px;font-size:{size}px;line-height:1.3;font-weight:700;color:#111827;{FONT}\">"
        ));
        self.inline(content, path)?;
        self.html.push_str(&format!("</h{level}>\n"));
        self.end_block();
        Ok(())
    }

    /// A bullet list (`start` none) or an ordered one.
    fn list(
        &mut self, items: &[Node], start: Option<u32>, path: &str, depth: usize,
    ) -> Result<(), ToolError> {
        let tag = if start.is_some() { "ol" } else { "ul" };
        match start {
            Some(s) if s != 1 => self.html.push_str(&format!(
                "<{tag} start=\"{s}\" style=\"margin:0 0 16px;padding-left:24px;{FONT}\">\n"
            )),
            _ => self.html.push_str(&format!(
                "<{tag} style=\"margin:0 0 16px;padding-left:24px;{FONT}\">\n"
            )),
        }
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{}[{i}]", join(path, "content"));
            let bullet = match start {
                Some(s) => format!("{}. ", u64::from(s) + i as u64),
                None => "- ".to_owned(),
            };
            self.text.push_str(&"  ".repeat(depth));
            self.text.push_str(&bullet);
            let content = match item {
                Node::ListItem(content) => content.as_slice(),
                other => std::slice::from_ref(other),
            };
            self.html.push_str(
                "<li style=\"margin:0 0 8px;font-size:16px;line-height:24px;color:#111827\">",
            );
            self.list_item(content, &item_path, depth + 1)?;
            self.html.push_str("</li>\n");
            while self.text.ends_with('\n') {
                self.text.pop();
            }
            self.text.push('\n');
        }
        self.html.push_str(&format!("</{tag}>\n"));
        self.text.push('\n');
        Ok(())
    }

    fn blockquote(&mut self, content: &[Node], path: &str, depth: usize) -> Result<(), ToolError> {
        self.html.push_str("<blockquote style=\"margin:0 0 16px;padding:0 0 0 16px;border-left:4px solid #e5e7eb;color:#4b5563\">\n");
        let before = self.text.len();
        self.blocks(content, path, depth)?;
        self.html.push_str("</blockquote>\n");
        let quoted: String = self.text[before..]
            .trim_end()
            .lines()
            .map(|l| {
                if l.is_empty() {
                    ">".to_owned()
                } else {
                    format!("> {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.text.truncate(before);
        self.text.push_str(&quoted);
        self.end_block();
        Ok(())
    }

    fn image(&mut self, src: &str, alt: &str, path: &str) -> Result<(), ToolError> {
        let src_path = format!("{path}.attrs.src");
        let src = check_url(&self.vars.interpolate(src, &src_path)?, &src_path, false)?;
        let alt = self.vars.interpolate(alt, &format!("{path}.attrs.alt"))?;
        self.html.push_str(&format!(
            "<p style=\"margin:0 0 16px\"><img src=\"{}\" alt=\"{}\" style=\"max-width:100%;height:auto;border:0\"></p>\n",
            escape_html(&src),
            escape_html(&alt)
        ));
        if !alt.is_empty() {
            self.text.push_str(&format!("[{alt}]"));
            self.end_block();
        }
        Ok(())
    }

    fn button(&mut self, href: &str, text: &str, path: &str) -> Result<(), ToolError> {
        let href_path = format!("{path}.attrs.href");
        let href = check_url(&self.vars.interpolate(href, &href_path)?, &href_path, true)?;
        let label = self.vars.interpolate(text, &format!("{path}.attrs.text"))?;
        self.html.push_str(&format!(
            "<p style=\"margin:0 0 24px\"><a href=\"{}\" style=\"display:inline-block;padding:12px 24px;background:#111827;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;font-size:16px;{FONT}\">{}</a></p>\n",
            escape_html(&href),
            escape_html(&label)
        ));
        self.text.push_str(&format!("{label}: {href}"));
        self.end_block();
        Ok(())
    }

    fn list_item(&mut self, content: &[Node], path: &str, depth: usize) -> Result<(), ToolError> {
        for (i, node) in content.iter().enumerate() {
            let node_path = format!("{}[{i}]", join(path, "content"));
            match node {
                // A paragraph in a list item renders without its own margins.
                Node::Paragraph(inline) => {
                    if i > 0 {
                        self.html.push_str("<br>");
                        self.text.push('\n');
                        self.text.push_str(&"  ".repeat(depth));
                    }
                    self.inline(inline, &node_path)?;
                }
                Node::BulletList(_) | Node::OrderedList { .. } => {
                    self.text.push('\n');
                    self.block(node, &node_path, depth)?;
                }
                other => self.block(other, &node_path, depth)?,
            }
        }
        Ok(())
    }
}

/// Renders a document to (HTML, text).
pub fn render<I: Interpolate>(doc: &Doc, vars: &I) -> Result<(String, String), ToolError> {
    let mut r = Renderer {
        vars,
        html: String::new(),
        text: String::new(),
    };
    r.html.push_str(&format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"></head>\n<body style=\"margin:0;padding:0;background:#f9fafb\">\n<div style=\"max-width:560px;margin:0 auto;padding:32px 24px;background:#ffffff;{FONT}\">\n"
    ));
    r.blocks(&doc.0, "", 0)?;
    r.html.push_str("</div>\n</body></html>\n");
    let text = r.text.trim_end().to_owned() + "\n";
    Ok((r.html, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Plain;
    impl Interpolate for Plain {
        fn interpolate(&self, template: &str, _path: &str) -> Result<String, ToolError> {
            Ok(template.replace("{{name}}", "<script>alert(1)</script>"))
        }
    }

    #[test]
    fn unknown_nodes_and_marks_name_their_path() {
        let doc = json!({"type": "doc", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "a"}]},
            {"type": "paragraph"},
            {"type": "paragraph", "content": [{"type": "video"}]}
        ]});
        let err = parse(&doc).expect_err("unknown node");
        assert_eq!(err.field.as_deref(), Some("content[2].content[0].type"));
        assert!(err.message.contains("video"));
        let doc = json!({"type": "doc", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "a", "marks": [{"type": "strike"}]}]}
        ]});
        let err = parse(&doc).expect_err("unknown mark");
        assert_eq!(
            err.field.as_deref(),
            Some("content[0].content[0].marks[0].type")
        );
        let err = parse(&json!({"type": "paragraph"})).expect_err("root must be doc");
        assert_eq!(err.field.as_deref(), Some("content"));
    }

    #[test]
    fn variables_are_escaped_and_unsafe_links_refused() {
        let doc = parse(&json!({"type": "doc", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Hi {{name}}", "marks": [{"type": "bold"}]}]}
        ]}))
        .expect("valid");
        let (html, text) = render(&doc, &Plain).expect("renders");
        assert!(
            html.contains("<strong>Hi &lt;script&gt;alert(1)&lt;/script&gt;</strong>"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert_eq!(text, "Hi <script>alert(1)</script>\n");
        for href in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,x",
            "/relative",
        ] {
            let doc = parse(&json!({"type": "doc", "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "x", "marks": [{"type": "link", "attrs": {"href": href}}]}]}
            ]}))
            .expect("parses");
            let err = render(&doc, &Plain).expect_err(href);
            assert_eq!(
                err.field.as_deref(),
                Some("content[0].content[0].marks[0].attrs.href")
            );
        }
        let doc = parse(&json!({"type": "doc", "content": [
            {"type": "button", "attrs": {"href": "javascript:x", "text": "Go"}}
        ]}))
        .expect("parses");
        assert_eq!(
            render(&doc, &Plain).expect_err("button").field.as_deref(),
            Some("content[0].attrs.href")
        );
    }
}
