//! The webhook tools: endpoints (create, list, update, delete, rotate the
//! secret) and deliveries (list, replay).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::args::{DangerResult, ListArgs};
use authgate_core::changes::ChangeType;
use authgate_core::{
    Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, require_id, tool,
};

use crate::deliveries::{self, DeliveryFilter, WebhookDelivery};
use crate::endpoints::{self, EndpointChange, EndpointWithSecret, NewEndpoint, WebhookEndpoint};
use crate::settings::WebhookSettings;

pub const WEBHOOKS: &str = "webhooks";

pub fn register(registry: &mut ToolRegistry) {
    registry.group(ToolGroup {
        name: WEBHOOKS,
        summary: "signed webhooks to the app on user, session, org, membership, subscription and alert changes; deliveries and replays",
    });
    crate::sections::register(registry);
    registry
        .register(CreateWebhookEndpoint)
        .register(ListWebhookEndpoints)
        .register(UpdateWebhookEndpoint)
        .register(DeleteWebhookEndpoint)
        .register(RotateWebhookSecret)
        .register(ListWebhookDeliveries)
        .register(ReplayWebhookDelivery);
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointArgs {
    /// An https URL on the app.
    pub url: String,
    /// Change types (user.created, membership.deleted, ...) or ["*"].
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// Create a webhook endpoint (at most 20). Returns its signing secret
/// (whsec_...) once: deliveries are signed per Standard Webhooks.
#[tool(write, group = WEBHOOKS, title = "Create webhook endpoint",
       example = r#"{"url": "https://app.example.com/webhooks/authgate", "events": ["user.created", "user.deleted"]}"#)]
pub async fn create_webhook_endpoint(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CreateEndpointArgs,
) -> Result<EndpointWithSecret, ToolError> {
    let new = NewEndpoint {
        url: args.url,
        events: args.events,
        description: args.description,
    };
    let loopback = ctx.setting::<WebhookSettings>().allow_loopback;
    endpoints::create_endpoint(
        conn,
        &ctx.keys.encryption,
        ctx.project_id(),
        new,
        loopback,
        ctx.now(),
    )
    .await
}

/// List the project's webhook endpoints, newest first (no secrets).
#[tool(read, group = WEBHOOKS, title = "List webhook endpoints")]
pub async fn list_webhook_endpoints(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListArgs,
) -> Result<Page<WebhookEndpoint>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    endpoints::list_endpoints(conn, ctx.project_id(), &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointArgs {
    /// whe_...
    pub endpoint_id: String,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// true stops deliveries (queued ones fail); false resumes.
    pub disabled: Option<bool>,
}

/// Change a webhook endpoint; omitted fields stay.
#[tool(write, group = WEBHOOKS, title = "Update webhook endpoint", idempotent,
       example = r#"{"endpoint_id": "whe_01JD8X3V9Q4K7M2N5P6R8S0T1W", "disabled": false}"#)]
pub async fn update_webhook_endpoint(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UpdateEndpointArgs,
) -> Result<WebhookEndpoint, ToolError> {
    require_id("endpoint_id", "whe", &args.endpoint_id)?;
    let change = EndpointChange {
        url: args.url,
        events: args.events,
        description: args.description,
        disabled: args.disabled,
    };
    let loopback = ctx.setting::<WebhookSettings>().allow_loopback;
    endpoints::update_endpoint(
        conn,
        ctx.project_id(),
        &args.endpoint_id,
        change,
        loopback,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteEndpointArgs {
    /// whe_...
    pub endpoint_id: String,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedEndpoint {
    pub endpoint: WebhookEndpoint,
}

/// Delete a webhook endpoint with its delivery history.
#[tool(danger, group = WEBHOOKS, title = "Delete webhook endpoint",
       example = r#"{"endpoint_id": "whe_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#)]
pub async fn delete_webhook_endpoint(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: DeleteEndpointArgs,
) -> Result<DangerResult<DeletedEndpoint>, ToolError> {
    require_id("endpoint_id", "whe", &args.endpoint_id)?;
    let (endpoint, cascade) =
        endpoints::delete_endpoint(conn, ctx.project_id(), &args.endpoint_id, args.dry_run).await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: DeletedEndpoint { endpoint },
        cascade,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointIdArgs {
    /// whe_...
    pub endpoint_id: String,
}

/// Give an endpoint a new signing secret, shown once; for 24 h deliveries
/// carry signatures by both.
#[tool(write, group = WEBHOOKS, title = "Rotate webhook secret",
       example = r#"{"endpoint_id": "whe_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn rotate_webhook_secret(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: EndpointIdArgs,
) -> Result<EndpointWithSecret, ToolError> {
    require_id("endpoint_id", "whe", &args.endpoint_id)?;
    endpoints::rotate_secret(
        conn,
        &ctx.keys.encryption,
        ctx.project_id(),
        &args.endpoint_id,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDeliveriesArgs {
    /// whe_...
    pub endpoint_id: Option<String>,
    /// e.g. user.created
    pub event_type: Option<String>,
    pub status: Option<DeliveryStatus>,
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// List webhook deliveries, newest first: attempts, last status code and
/// answer (1 KiB), last error, next attempt.
#[tool(read, group = WEBHOOKS, title = "List webhook deliveries",
       example = r#"{"status": "failed", "limit": 20}"#)]
pub async fn list_webhook_deliveries(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListDeliveriesArgs,
) -> Result<Page<WebhookDelivery>, ToolError> {
    if let Some(e) = &args.endpoint_id {
        require_id("endpoint_id", "whe", e)?;
    }
    if let Some(t) = &args.event_type
        && ChangeType::parse(t).is_none()
    {
        return Err(ToolError::invalid(
            "event_type",
            "event_type must be a change type such as user.created (see create_webhook_endpoint)",
        ));
    }
    let filter = DeliveryFilter {
        endpoint_id: args.endpoint_id,
        event_type: args.event_type,
        status: args.status.map(|s| {
            match s {
                DeliveryStatus::Pending => "pending",
                DeliveryStatus::Delivered => "delivered",
                DeliveryStatus::Failed => "failed",
            }
            .to_owned()
        }),
    };
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    deliveries::list_deliveries(conn, ctx.project_id(), &filter, &page).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryIdArgs {
    /// whd_...
    pub delivery_id: String,
}

/// Send a delivery's message to its endpoint again, now, with the same
/// webhook-id. Returns the new delivery.
#[tool(write, group = WEBHOOKS, title = "Replay webhook delivery",
       example = r#"{"delivery_id": "whd_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn replay_webhook_delivery(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: DeliveryIdArgs,
) -> Result<WebhookDelivery, ToolError> {
    require_id("delivery_id", "whd", &args.delivery_id)?;
    deliveries::replay_delivery(conn, ctx.project_id(), &args.delivery_id, ctx.now()).await
}
