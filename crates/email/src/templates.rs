//! Templates: the built-in default of each kind, a project's custom ones,
//! and rendering (handlebars variables in strict mode, then TipTap).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use handlebars::Handlebars;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use authgate_core::ToolError;
use authgate_core::time::{from_micros, to_micros};
use authgate_store::schema::email_templates;
use authgate_store::{Conn, JsonText, Store, with_conn};

use crate::defaults::default_template;
use crate::kinds::{EmailKind, merge};
use crate::tiptap::{self, Interpolate};

const MAX_SUBJECT: usize = 200;
const MAX_CONTENT_BYTES: usize = 100 * 1024;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Template {
    #[serde(rename = "type")]
    pub kind: EmailKind,
    pub subject: String,
    /// TipTap JSON document.
    pub content: Value,
    /// True when the project has its own version; false for the built-in default.
    pub custom: bool,
    pub updated_at: Option<DateTime<Utc>>,
    /// The variables this template may use, e.g. user.name.
    pub variables: Vec<String>,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = email_templates)]
pub(crate) struct TemplateRow {
    pub(crate) project_id: String,
    pub(crate) kind: String,
    pub(crate) subject: String,
    pub(crate) content: JsonText<Value>,
    pub(crate) updated_at: i64,
}

/// The most one rendered part (subject, HTML or text) may hold.
pub const MAX_RENDERED_BYTES: usize = 512 * 1024;

/// The one Handlebars registry: strict (a variable the kind does not
/// provide is an error that names it), no escaping (that happens once, in
/// the HTML renderer; the text part is plain), and of the helpers only the
/// blocks [`crate::syntax`] allows.
fn handlebars() -> &'static Handlebars<'static> {
    static HB: std::sync::OnceLock<Handlebars<'static>> = std::sync::OnceLock::new();
    HB.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        for helper in [
            "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len",
        ] {
            hb.unregister_helper(helper);
        }
        hb.register_escape_fn(handlebars::no_escape);
        hb
    })
}

/// Handlebars over one set of variables.
struct Vars<'a> {
    values: &'a Value,
    kind: EmailKind,
}

impl Interpolate for Vars<'_> {
    fn interpolate(&self, template: &str, path: &str) -> Result<String, ToolError> {
        if !template.contains("{{") {
            return Ok(template.to_owned());
        }
        crate::syntax::check(template, path)?;
        let out = handlebars()
            .render_template(template, self.values)
            .map_err(|e| {
                let reason = e.reason().to_string();
                let missing = reason
                    .split('"')
                    .nth(1)
                    .filter(|_| reason.contains("strict mode"))
                    .map(str::to_owned);
                match missing {
                    Some(var) => ToolError::invalid(
                        path,
                        format!("{} emails have no variable '{var}'", self.kind.as_str()),
                    )
                    .with_hint(format!("use: {}", self.kind.variables().join(", "))),
                    None => ToolError::invalid(path, format!("template error: {reason}")),
                }
            })?;
        too_large(path, out.len())?;
        Ok(out)
    }
}

fn too_large(path: &str, bytes: usize) -> Result<(), ToolError> {
    if bytes > MAX_RENDERED_BYTES {
        return Err(ToolError::invalid(
            path,
            format!(
                "the rendered mail would be larger than {} KiB",
                MAX_RENDERED_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

/// Renders `subject` and `content` with `values`.
pub fn render(
    kind: EmailKind, subject: &str, content: &Value, values: &Value,
) -> Result<Rendered, ToolError> {
    let doc = tiptap::parse(content)?;
    let vars = Vars { values, kind };
    let subject = vars.interpolate(subject, "subject")?;
    let subject = subject.replace(['\r', '\n'], " ");
    let (html, text) = tiptap::render(&doc, &vars)?;
    too_large("content", html.len().max(text.len()))?;
    Ok(Rendered {
        subject,
        html,
        text,
    })
}

fn template_from(kind: EmailKind, row: Option<TemplateRow>) -> Template {
    let variables = kind.variables().into_iter().map(str::to_owned).collect();
    match row {
        Some(row) => Template {
            kind,
            subject: row.subject,
            content: row.content.0,
            custom: true,
            updated_at: Some(from_micros(row.updated_at)),
            variables,
        },
        None => {
            let (subject, content) = default_template(kind);
            Template {
                kind,
                subject: subject.to_owned(),
                content,
                custom: false,
                updated_at: None,
                variables,
            }
        }
    }
}

/// A project's template of `kind`: its custom one, else the default.
pub async fn get_template(
    conn: &mut Conn<'_>, project_id: &str, kind: EmailKind,
) -> Result<Template, ToolError> {
    let row: Option<TemplateRow> = with_conn!(conn, c => {
        email_templates::table
            .filter(email_templates::project_id.eq(project_id))
            .filter(email_templates::kind.eq(kind.as_str()))
            .select(TemplateRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    Ok(template_from(kind, row))
}

/// Every kind's template for the project, in kind order.
pub async fn list_templates(
    conn: &mut Conn<'_>, project_id: &str,
) -> Result<Vec<Template>, ToolError> {
    let rows: Vec<TemplateRow> = with_conn!(conn, c => {
        email_templates::table
            .filter(email_templates::project_id.eq(project_id))
            .select(TemplateRow::as_select())
            .load(c)
            .await?
    });
    let mut rows: Vec<Option<TemplateRow>> = rows.into_iter().map(Some).collect();
    Ok(crate::kinds::ALL_KINDS
        .iter()
        .map(|kind| {
            let row = rows
                .iter_mut()
                .find(|r| r.as_ref().is_some_and(|r| r.kind == kind.as_str()))
                .and_then(Option::take);
            template_from(*kind, row)
        })
        .collect())
}

/// Accepts `content` as a JSON object or a string holding one.
pub fn content_value(content: Value) -> Result<Value, ToolError> {
    match content {
        Value::String(s) => serde_json::from_str(&s).map_err(|e| {
            ToolError::invalid("content", format!("content is not valid JSON: {e}"))
                .with_hint("pass a TipTap document object: {\"type\": \"doc\", \"content\": [...]}")
        }),
        other => Ok(other),
    }
}

/// Validates by rendering with the kind's sample variables (on a blocking
/// thread, before any transaction opens, within [`RENDER_BUDGET`]), then
/// saves in a write unit of its own.
pub async fn upsert_template(
    store: &Store, project_id: &str, kind: EmailKind, subject: &str, content: Value,
    now: DateTime<Utc>,
) -> Result<Template, ToolError> {
    let subject = subject.trim().to_owned();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT {
        return Err(ToolError::invalid(
            "subject",
            format!("subject must be 1 to {MAX_SUBJECT} characters"),
        ));
    }
    let content = content_value(content)?;
    if content.to_string().len() > MAX_CONTENT_BYTES {
        return Err(ToolError::invalid(
            "content",
            "content is larger than 100 KiB",
        ));
    }
    let (subject, content) = within_budget(move || {
        render(kind, &subject, &content, &kind.sample_variables())?;
        Ok((subject, content))
    })
    .await?;
    let row = TemplateRow {
        project_id: project_id.to_owned(),
        kind: kind.as_str().to_owned(),
        subject,
        content: JsonText(content),
        updated_at: to_micros(now),
    };
    store
        .write(async |conn| {
            with_conn!(conn, c => {
                diesel::insert_into(email_templates::table)
                    .values(&row)
                    .on_conflict((email_templates::project_id, email_templates::kind))
                    .do_update()
                    .set((
                        email_templates::subject.eq(&row.subject),
                        email_templates::content.eq(&row.content),
                        email_templates::updated_at.eq(row.updated_at),
                    ))
                    .execute(c)
                    .await?;
            });
            Ok::<_, ToolError>(())
        })
        .await?;
    Ok(template_from(kind, Some(row)))
}

/// How long rendering one template may take.
pub const RENDER_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `work` (a render) on a blocking thread and waits at most
/// [`RENDER_BUDGET`] for it.
pub async fn within_budget<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    match tokio::time::timeout(RENDER_BUDGET, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(ToolError::internal(format!("rendering failed: {e}"))),
        Err(_) => Err(ToolError::invalid(
            "content",
            format!(
                "the template took longer than {} s to render",
                RENDER_BUDGET.as_secs()
            ),
        )),
    }
}

/// Drops the project's custom template: the default applies again.
pub async fn reset_template(
    conn: &mut Conn<'_>, project_id: &str, kind: EmailKind,
) -> Result<Template, ToolError> {
    with_conn!(conn, c => {
        diesel::delete(
            email_templates::table
                .filter(email_templates::project_id.eq(project_id))
                .filter(email_templates::kind.eq(kind.as_str())),
        )
        .execute(c)
        .await?;
    });
    Ok(template_from(kind, None))
}

/// Renders the project's template with sample variables overlaid by `overrides`.
pub async fn preview(
    conn: &mut Conn<'_>, project_id: &str, project_name: &str, kind: EmailKind,
    overrides: Option<&Value>,
) -> Result<Rendered, ToolError> {
    let template = get_template(conn, project_id, kind).await?;
    let mut vars = kind.sample_variables();
    merge(
        &mut vars,
        &serde_json::json!({"project": {"name": project_name}}),
    );
    if let Some(o) = overrides {
        crate::kinds::check_variables(kind, o, "variables")?;
        merge(&mut vars, o);
    }
    within_budget(move || render(kind, &template.subject, &template.content, &vars)).await
}
