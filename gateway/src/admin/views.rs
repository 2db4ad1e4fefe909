//! What a page is made of: the layout (project, navigation, CSRF token,
//! asset names) and sections (headings, notices, a secret shown once,
//! fields, tables with paging and row actions, forms). One template
//! renders any page from these (`templates/dashboard/page.html`), and the
//! table partial answers htmx's fragment requests, so no page needs markup
//! of its own and every value passes askama's HTML escaping.

use askama::Template;
use serde_json::Value;

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct Layout {
    pub project_id: String,
    pub project_name: String,
    pub environment: String,
    pub csrf: String,
    /// An operator's projects to switch between: (id, label, current).
    pub projects: Vec<(String, String, bool)>,
    pub css: &'static str,
    pub htmx: &'static str,
    pub nav: Vec<NavItem>,
}

pub enum Field {
    Hidden(String, String),
    Text(String, String, String),
    /// name, label, options (value, label, selected)
    Select(String, String, Vec<(String, String, bool)>),
    /// name, label, options (value, label, checked)
    Checks(String, String, Vec<(String, String, bool)>),
}

pub struct Form {
    pub action: String,
    pub method: &'static str,
    pub fields: Vec<Field>,
    pub submit: String,
    pub danger: bool,
    pub inline: bool,
}

impl Form {
    pub fn post(action: impl Into<String>, submit: impl Into<String>) -> Form {
        Form {
            action: action.into(),
            method: "post",
            fields: Vec::new(),
            submit: submit.into(),
            danger: false,
            inline: true,
        }
    }

    pub fn get(action: impl Into<String>, submit: impl Into<String>) -> Form {
        Form {
            method: "get",
            inline: false,
            ..Form::post(action, submit)
        }
    }

    pub fn field(mut self, field: Field) -> Form {
        self.fields.push(field);
        self
    }

    pub fn danger(mut self) -> Form {
        self.danger = true;
        self
    }
}

pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub form: Option<Form>,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: None,
            form: None,
        }
    }

    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            href: Some(href.into()),
            ..Cell::text(text)
        }
    }

    pub fn action(form: Form) -> Cell {
        Cell {
            form: Some(form),
            ..Cell::text("")
        }
    }
}

pub struct Table {
    pub id: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    pub next: Option<String>,
}

pub enum Section {
    Heading(String),
    /// kind (`ok`, `warn`, `error`), text
    Notice(&'static str, String),
    /// A secret shown this once: label, value.
    Secret(String, String),
    Fields(Vec<(String, String)>),
    Table(Table),
    Form(Form),
}

#[derive(Template)]
#[template(path = "dashboard/page.html")]
pub struct Page {
    pub layout: Layout,
    pub title: String,
    pub sections: Vec<Section>,
}

/// The page's title and sections without the frame: what an htmx request
/// (a filter form) swaps into `<main>`.
#[derive(Template)]
#[template(path = "dashboard/fragment.html")]
pub struct Fragment {
    pub layout: Layout,
    pub title: String,
    pub sections: Vec<Section>,
}

/// A value of a tool's answer as text: strings bare, null as `–`, the
/// rest as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "–".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The named member of an answer as text.
pub fn at(v: &Value, name: &str) -> String {
    text(v.get(name).unwrap_or(&Value::Null))
}

/// The rows of a list tool's page (`data`).
pub fn items(page: &Value) -> &[Value] {
    page.get("data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The link to a list's next page, if it has one: `here` with the filters
/// in `kept` and the answer's `next_cursor`.
pub fn next_page(page: &Value, here: &str, kept: &[(&str, &str)]) -> Option<String> {
    let cursor = page.get("next_cursor")?.as_str()?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .append_pair("cursor", cursor)
        .finish();
    Some(format!("{here}?{query}"))
}
