//! What billing contributes: the live plans to get_project_status, and
//! subscriptions and usage as a user-data section.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use authgate_core::args::Cascade;
use authgate_core::status::StatusSection;
use authgate_core::{
    Conn, ToolContext, ToolError, ToolRegistry, UserDataSection, UserRef, with_conn,
};
use authgate_store::schema::{subscriptions, usage_events};

use crate::plans::Plan;
use crate::subscriptions::{Pending, live_of_user};
use crate::usage;

pub(crate) fn register(registry: &mut ToolRegistry) {
    registry
        .status_section(BillingStatus)
        .user_data(BillingData);
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BillingStatusOutput {
    /// The project's live plans with their prices.
    pub billing_plans: Vec<Plan>,
}

pub struct BillingStatus;

impl StatusSection for BillingStatus {
    type Output = BillingStatusOutput;

    async fn read(
        &self, ctx: &ToolContext, conn: &mut Conn<'_>,
    ) -> Result<BillingStatusOutput, ToolError> {
        let mut plans = crate::plans::list_plans(conn, ctx.project_id(), false).await?;
        plans.truncate(50);
        Ok(BillingStatusOutput {
            billing_plans: plans,
        })
    }
}

/// Subscriptions and usage are a user's data.
pub struct BillingData;

impl UserDataSection for BillingData {
    const NAME: &'static str = "billing";
    const TABLES: &'static [&'static str] = &["subscriptions", "usage_events"];

    async fn count(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Cascade, ToolError> {
        let project_id = user.project_id.as_str();
        let (subs, events): (i64, i64) = with_conn!(conn, c => {
            let subs = subscriptions::table
                .filter(subscriptions::project_id.eq(project_id))
                .filter(subscriptions::user_id.eq(&user.id))
                .count()
                .get_result(c)
                .await?;
            let events = usage_events::table
                .filter(usage_events::project_id.eq(project_id))
                .filter(usage_events::user_id.eq(&user.id))
                .count()
                .get_result(c)
                .await?;
            (subs, events)
        });
        Ok(Cascade::from([
            ("subscriptions".to_owned(), subs as u64),
            ("usage_events".to_owned(), events as u64),
        ]))
    }

    async fn export(&self, conn: &mut Conn<'_>, user: &UserRef) -> Result<Value, ToolError> {
        let (project_id, now) = (user.project_id.as_str(), user.at);
        let sub = live_of_user(conn, project_id, &user.id, Pending::Excluded, now).await?;
        let (from, to) = usage::calendar_month(now);
        let usage = usage::totals(conn, project_id, Some(&user.id), None, from, to).await?;
        Ok(serde_json::json!({
            "subscription": sub,
            "usage_this_month": usage.into_iter().map(|(_, m, n)| serde_json::json!({"meter": m, "quantity": n})).collect::<Vec<_>>(),
        }))
    }
}
