//! The email template tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use authgate_core::args::ListArgs;
use authgate_core::{Page, Tool, ToolContext, ToolError, ToolKind, ToolMeta, ToolRegistry, groups};

use crate::kinds::EmailKind;
use crate::templates::{self, Rendered, Template};

pub fn register(registry: &mut ToolRegistry) {
    registry
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

pub struct ListEmailTemplates;

impl Tool for ListEmailTemplates {
    type Input = ListArgs;
    type Output = Page<TemplateSummary>;
    const META: ToolMeta = ToolMeta {
        name: "list_email_templates",
        title: "List email templates",
        description: "List the email templates (verification_otp, password_reset, magic_link, org_invitation, welcome): whether each is the project's own or the built-in default, and when it was last changed.",
        kind: ToolKind::Read,
        group: groups::EMAIL,
        idempotent: true,
        example: "{}",
    };

    async fn call(
        &self,
        ctx: &ToolContext,
        args: ListArgs,
    ) -> Result<Page<TemplateSummary>, ToolError> {
        let page = ctx.page_request("email_templates", args.limit, args.cursor.as_deref())?;
        let all = templates::list_templates(&ctx.store, &ctx.project_id).await?;
        let rows = all
            .into_iter()
            .map(|t| TemplateSummary {
                kind: t.kind,
                subject: t.subject,
                custom: t.custom,
                updated_at: t.updated_at,
            })
            .collect();
        ctx.cursors()
            .page_fixed(&page, &ctx.project_id, rows, |t| t.kind.as_str().to_owned())
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeArgs {
    /// verification_otp, password_reset, magic_link, org_invitation or welcome.
    #[serde(rename = "type")]
    pub kind: EmailKind,
}

pub struct GetEmailTemplate;

impl Tool for GetEmailTemplate {
    type Input = TypeArgs;
    type Output = Template;
    const META: ToolMeta = ToolMeta {
        name: "get_email_template",
        title: "Get email template",
        description: "Get one email template: its subject, its content as TipTap JSON, whether it is custom, and the variables it may use.",
        kind: ToolKind::Read,
        group: groups::EMAIL,
        idempotent: true,
        example: r#"{"type": "password_reset"}"#,
    };

    async fn call(&self, ctx: &ToolContext, args: TypeArgs) -> Result<Template, ToolError> {
        templates::get_template(&ctx.store, &ctx.project_id, args.kind).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertArgs {
    /// verification_otp, password_reset, magic_link, org_invitation or welcome.
    #[serde(rename = "type")]
    pub kind: EmailKind,
    /// Subject line; may use the template's variables, e.g. "Reset your {{project.name}} password".
    pub subject: String,
    /// TipTap JSON document ({"type": "doc", "content": [...]}), as an object or a JSON string. Nodes: paragraph, heading, text (marks bold, italic, underline, code, link), bulletList, orderedList, listItem, blockquote, hardBreak, horizontalRule, image, button.
    pub content: Value,
}

pub struct UpsertEmailTemplate;

impl Tool for UpsertEmailTemplate {
    type Input = UpsertArgs;
    type Output = Template;
    const META: ToolMeta = ToolMeta {
        name: "upsert_email_template",
        title: "Save email template",
        description: "Save the project's own version of an email template. It is rendered with sample variables first; a template that does not render (unknown node, unsafe link, a variable this type does not provide) is refused with the JSON path of the fault, and nothing is saved.",
        kind: ToolKind::Write,
        group: groups::EMAIL,
        idempotent: true,
        example: r#"{"type": "welcome", "subject": "Welcome to {{project.name}}", "content": {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi {{user.name}}, welcome aboard."}]}]}}"#,
    };

    async fn call(&self, ctx: &ToolContext, args: UpsertArgs) -> Result<Template, ToolError> {
        templates::upsert_template(
            &ctx.store,
            &ctx.project_id,
            args.kind,
            &args.subject,
            args.content,
            ctx.now(),
        )
        .await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewArgs {
    /// verification_otp, password_reset, magic_link, org_invitation or welcome.
    #[serde(rename = "type")]
    pub kind: EmailKind,
    /// Values to use instead of the samples, e.g. {"user": {"name": "Ada"}, "code": "123456"}.
    pub variables: Option<Value>,
}

pub struct PreviewEmailTemplate;

impl Tool for PreviewEmailTemplate {
    type Input = PreviewArgs;
    type Output = Rendered;
    const META: ToolMeta = ToolMeta {
        name: "preview_email_template",
        title: "Preview email template",
        description: "Render the project's current template of a type (its own or the default) with sample variables, or the variables given, and return the subject, HTML and text.",
        kind: ToolKind::Read,
        group: groups::EMAIL,
        idempotent: true,
        example: r#"{"type": "verification_otp", "variables": {"code": "123456"}}"#,
    };

    async fn call(&self, ctx: &ToolContext, args: PreviewArgs) -> Result<Rendered, ToolError> {
        let name = templates::project_name(&ctx.store, &ctx.project_id).await?;
        templates::preview(
            &ctx.store,
            &ctx.project_id,
            &name,
            args.kind,
            args.variables.as_ref(),
        )
        .await
    }
}

pub struct ResetEmailTemplate;

impl Tool for ResetEmailTemplate {
    type Input = TypeArgs;
    type Output = Template;
    const META: ToolMeta = ToolMeta {
        name: "reset_email_template",
        title: "Reset email template",
        description: "Drop the project's own version of an email template, so the built-in default applies again. Returns the default.",
        kind: ToolKind::Write,
        group: groups::EMAIL,
        idempotent: true,
        example: r#"{"type": "magic_link"}"#,
    };

    async fn call(&self, ctx: &ToolContext, args: TypeArgs) -> Result<Template, ToolError> {
        templates::reset_template(&ctx.store, &ctx.project_id, args.kind).await
    }
}
