//! The billing tools.

use schemars::JsonSchema;
use serde::Deserialize;

use authgate_core::args::DangerResult;
use authgate_core::{
    Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, require_id, tool,
};

use crate::entitlements::{self, Entitlements, UsageSummary};
use crate::flows::{self, ExecutedMigration, PlanRequest};
use crate::migrations::{self, Migration, MigrationDetail};
use crate::mirror::{BillingSettings, Proration};
use crate::plans::{self, Plan};
use crate::usage::{self, Report, UsageEvent};

pub const BILLING: &str = "billing";

pub fn register(registry: &mut ToolRegistry) {
    crate::sections::register(registry);
    registry
        .group(ToolGroup {
            name: BILLING,
            summary: "plans and prices, end users' subscriptions and entitlements, metered usage",
        })
        .register(ListBillingPlans)
        .register(CreateBillingPlan)
        .register(GetUserEntitlements)
        .register(ReportUsage)
        .register(GetUsageSummary)
        .register(CreateBillingMigration)
        .register(GetBillingMigration)
        .register(ExecuteBillingMigration);
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListBillingPlansArgs {
    /// Also show archived plans.
    #[serde(default)]
    pub include_archived: bool,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// next_cursor from the previous page.
    pub cursor: Option<String>,
}

/// List the project's plans, oldest first, with their prices and features.
#[tool(read, group = BILLING, title = "List billing plans", example = r#"{}"#)]
pub async fn list_billing_plans(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ListBillingPlansArgs,
) -> Result<Page<Plan>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    let plans = plans::list_plans(conn, ctx.project_id(), args.include_archived).await?;
    page.page_fixed(plans, |p: &Plan| p.id.clone())
}

/// Create a plan with monthly and/or yearly prices (none: free) and features.
/// Amounts are exact, in the currency's decimals. With Stripe configured it
/// also becomes a Stripe product with prices, or nothing is created.
#[tool(
    write,
    group = BILLING,
    title = "Create billing plan",
    example = r#"{"name": "Pro", "monthly_price": 19, "yearly_price": "190.00", "features": [{"key": "api_calls", "limit": 10000}, {"key": "sso"}]}"#
)]
pub async fn create_billing_plan(ctx: &ToolContext, args: PlanRequest) -> Result<Plan, ToolError> {
    let settings = ctx.setting::<BillingSettings>();
    flows::create_billing_plan(&ctx.store, ctx.project_id(), &args, &settings, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIdArgs {
    /// The end user (usr_...).
    pub user_id: String,
}

/// What a user may use now: the live subscription, its plan's features, and
/// each limit's use and remainder this period.
#[tool(read, group = BILLING, title = "Get user entitlements", example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn get_user_entitlements(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: UserIdArgs,
) -> Result<Entitlements, ToolError> {
    require_id("user_id", "usr", &args.user_id)?;
    entitlements::user_entitlements(conn, ctx.project_id(), &args.user_id, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportUsageArgs {
    /// 1 to 1,000 events.
    pub events: Vec<UsageEvent>,
}

/// Report metered usage: 1 to 1,000 events. An idempotency_key counts once per
/// project, forever: retry with the same keys (counted ones come back as
/// duplicates). Bad events are rejected by index; the rest count.
#[tool(
    write,
    group = BILLING,
    title = "Report usage",
    idempotent,
    example = r#"{"events": [{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "meter": "api_calls", "quantity": 3, "idempotency_key": "req-7f3a-0001"}]}"#
)]
pub async fn report_usage(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: ReportUsageArgs,
) -> Result<Report, ToolError> {
    usage::report(conn, ctx.project_id(), &args.events, ctx.now()).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetUsageSummaryArgs {
    /// One user's usage, in their subscription's current period.
    pub user_id: Option<String>,
    /// One meter.
    pub meter: Option<String>,
}

/// Usage totals per meter for the current period: the project's calendar month
/// (UTC), or with user_id that user's subscription period, per user.
#[tool(read, group = BILLING, title = "Get usage summary", example = r#"{"meter": "api_calls"}"#)]
pub async fn get_usage_summary(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: GetUsageSummaryArgs,
) -> Result<UsageSummary, ToolError> {
    if let Some(u) = &args.user_id {
        require_id("user_id", "usr", u)?;
    }
    entitlements::usage_summary(
        conn,
        ctx.project_id(),
        args.user_id.as_deref(),
        args.meter.as_deref(),
        ctx.now(),
    )
    .await
}

// ------------------------------------------------------------ migrations

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBillingMigrationArgs {
    /// The plan subscriptions move from (plan_...).
    pub from_plan_id: String,
    /// The plan they move to (plan_...).
    pub to_plan_id: String,
    /// How Stripe bills a mid-period move (default none: the new price from the
    /// next invoice).
    #[serde(default)]
    pub proration: Proration,
}

/// Plan moving every live subscription from one plan to another: one item per
/// subscription, mapped to the target's price of the same interval and currency,
/// or failed with the reason. Nothing moves until execute_billing_migration.
#[tool(
    write,
    group = BILLING,
    title = "Create billing migration",
    example = r#"{"from_plan_id": "plan_01JD8X3V9Q4K7M2N5P6R8S0T1W", "to_plan_id": "plan_01JD8X3V9Q4K7M2N5P6R8S0T1X"}"#
)]
pub async fn create_billing_migration(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: CreateBillingMigrationArgs,
) -> Result<Migration, ToolError> {
    migrations::create_migration(
        conn,
        ctx.project_id(),
        &args.from_plan_id,
        &args.to_plan_id,
        args.proration,
        ctx.now(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationIdArgs {
    /// The migration (mig_...).
    pub migration_id: String,
}

/// A migration with its counts and items grouped by status (pending,
/// completed, failed; the first 100 of each).
#[tool(read, group = BILLING, title = "Get billing migration", example = r#"{"migration_id": "mig_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn get_billing_migration(
    ctx: &ToolContext, conn: &mut Conn<'_>, args: MigrationIdArgs,
) -> Result<MigrationDetail, ToolError> {
    migrations::migration_detail(conn, ctx.project_id(), &args.migration_id).await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBillingMigrationArgs {
    /// The migration (mig_...).
    pub migration_id: String,
    /// Show how many subscriptions would move, without moving them.
    #[serde(default)]
    pub dry_run: bool,
}

/// Move a migration's pending subscriptions to their target prices in batches of
/// 100, with progress notifications (with Stripe, Stripe first). Items whose price
/// changed since planning fail. Safe to rerun: it resumes, moving none twice.
#[tool(
    danger,
    group = BILLING,
    title = "Execute billing migration",
    example = r#"{"migration_id": "mig_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn execute_billing_migration(
    ctx: &ToolContext, args: ExecuteBillingMigrationArgs,
) -> Result<DangerResult<ExecutedMigration>, ToolError> {
    let settings = ctx.setting::<BillingSettings>();
    flows::execute_billing_migration(
        &ctx.store,
        &settings,
        ctx.project_id(),
        &args.migration_id,
        args.dry_run,
        || ctx.now(),
        |done, total| ctx.progress(done, total, "subscriptions moved"),
    )
    .await
}
