//! What the webhooks domain adds to get_project_status (its endpoints,
//! the failing ones, the queued deliveries) and to /metrics (the queue
//! depth).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::status::StatusSection;
use authgate_core::{Conn, ToolContext, ToolError, ToolRegistry, with_conn};
use authgate_store::Store;
use authgate_store::schema::{webhook_deliveries, webhook_endpoints};

pub(crate) fn register(registry: &mut ToolRegistry) {
    registry.status_section(WebhooksSection);
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WebhooksStatus {
    /// Endpoints of the project.
    pub endpoints: i64,
    /// Endpoints whose latest attempts failed, or that deliveries disabled.
    pub failing_endpoints: i64,
    /// Deliveries waiting for an attempt or a retry.
    pub queued_deliveries: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WebhooksStatusOutput {
    pub webhooks: WebhooksStatus,
}

pub struct WebhooksSection;

impl StatusSection for WebhooksSection {
    type Output = WebhooksStatusOutput;

    async fn read(
        &self, ctx: &ToolContext, conn: &mut Conn<'_>,
    ) -> Result<WebhooksStatusOutput, ToolError> {
        let project_id = ctx.project_id();
        let (endpoints, failing_endpoints, queued_deliveries) = with_conn!(conn, c => {
            let of_project = webhook_endpoints::table
                .filter(webhook_endpoints::project_id.eq(project_id));
            let endpoints: i64 = of_project.count().get_result(c).await?;
            let failing: i64 = of_project
                .filter(
                    webhook_endpoints::failing_since
                        .is_not_null()
                        .or(webhook_endpoints::disabled_reason.eq_any(["gone", "failing"])),
                )
                .count()
                .get_result(c)
                .await?;
            let queued: i64 = webhook_deliveries::table
                .filter(webhook_deliveries::project_id.eq(project_id))
                .filter(webhook_deliveries::status.eq("pending"))
                .count()
                .get_result(c)
                .await?;
            (endpoints, failing, queued)
        });
        Ok(WebhooksStatusOutput {
            webhooks: WebhooksStatus {
                endpoints,
                failing_endpoints,
                queued_deliveries,
            },
        })
    }
}

/// Deliveries waiting, across projects (the metrics' queue depth).
pub async fn queue_depth(store: &Store) -> Result<i64, ToolError> {
    store
        .autocommit(async |conn| {
            Ok(with_conn!(conn, c => {
                webhook_deliveries::table
                    .filter(webhook_deliveries::status.eq("pending"))
                    .count()
                    .get_result(c)
                    .await?
            }))
        })
        .await
}
