//! The email template tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use authgate_core::args::ListArgs;
use authgate_core::{Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, tool};

use crate::kinds::EmailKind;
use crate::templates::{self, Rendered, Template};

pub const EMAIL: &str = "email";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: EMAIL,
            summary: "the templates of the mail AuthGate sends (TipTap JSON with variables)",
        })
        .register(ListEmailTemplates)
        .register(GetEmailTemplate)
        .register(UpsertEmailTemplate)
        .register(PreviewEmailTemplate)
        .register(ResetEmailTemplate);
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateSummary {
    #[serde(rename = "type")]
    pub kind: EmailKind,
    pub subject: String,
    /// True when the project has its own version; false for the built-in default.
    pub custom: bool,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// List the email templates: whether each is the project's own or the built-in
/// default, and when it was last changed.
#[tool(read, group = EMAIL, title = "List email templates")]
pub async fn list_email_templates(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<TemplateSummary>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    let all = templates::list_templates(conn, ctx.project_id()).await?;
    let rows = all
        .into_iter()
        .map(|t| TemplateSummary {
            kind: t.kind,
            subject: t.subject,
            custom: t.custom,
            updated_at: t.updated_at,
        })
        .collect();
    page.page_fixed(rows, |t| t.kind.as_str().to_owned())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeArgs {
    /// Which mail.
    #[serde(rename = "type")]
    pub kind: EmailKind,
}

/// Get one email template: subject, TipTap content, whether it is custom, and
/// its variables.
#[tool(read, group = EMAIL, title = "Get email template", example = r#"{"type": "password_reset"}"#)]
pub async fn get_email_template(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: TypeArgs,
) -> Result<Template, ToolError> {
    templates::get_template(conn, ctx.project_id(), args.kind).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertArgs {
    /// Which mail.
    #[serde(rename = "type")]
    pub kind: EmailKind,
    /// Subject; may use the template's variables.
    pub subject: String,
    /// TipTap JSON document (object or JSON string): paragraph, heading, text
    /// (bold, italic, underline, code, link), bulletList, orderedList,
    /// listItem, blockquote, hardBreak, horizontalRule, image, button.
    pub content: Value,
}

/// Save the project's own version of an email template. It is rendered with
/// sample variables first; one that does not render is refused with the JSON
/// path of the fault, and nothing is saved.
#[tool(
    write,
    group = EMAIL,
    title = "Save email template",
    idempotent,
    example = r#"{"type": "welcome", "subject": "Welcome to {{project.name}}", "content": {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi {{user.name}}, welcome aboard."}]}]}}"#
)]
pub async fn upsert_email_template(
    ctx: &ToolContext, args: UpsertArgs,
) -> Result<Template, ToolError> {
    templates::upsert_template(
        &ctx.store,
        ctx.project_id(),
        args.kind,
        &args.subject,
        args.content,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewArgs {
    /// Which mail.
    #[serde(rename = "type")]
    pub kind: EmailKind,
    /// Variables to use instead of the samples, e.g. {"user": {"name": "Ada"}}.
    pub variables: Option<Value>,
}

/// Render the project's current template of a type with sample (or given)
/// variables: subject, HTML and text.
#[tool(
    read,
    group = EMAIL,
    title = "Preview email template",
    example = r#"{"type": "verification_otp", "variables": {"code": "123456"}}"#
)]
pub async fn preview_email_template(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: PreviewArgs,
) -> Result<Rendered, ToolError> {
    templates::preview(
        conn,
        ctx.project_id(),
        &ctx.caller.project.name,
        args.kind,
        args.variables.as_ref(),
    )
    .await
}

/// Drop the project's own version of an email template; the built-in default
/// applies again.
#[tool(
    write,
    group = EMAIL,
    title = "Reset email template",
    idempotent,
    example = r#"{"type": "magic_link"}"#
)]
pub async fn reset_email_template(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: TypeArgs,
) -> Result<Template, ToolError> {
    templates::reset_template(conn, ctx.project_id(), args.kind).await
}
