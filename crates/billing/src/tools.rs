//! The billing tools.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use authgate_core::args::{Cascade, DangerResult};
use authgate_core::status::StatusSection;
use authgate_core::time::to_micros;
use authgate_core::{
    Conn, Page, ToolContext, ToolError, ToolGroup, ToolRegistry, UserDataSection, UserRef,
    require_id, tool, with_conn,
};

use crate::money::{parse_amount, validate_currency};
use crate::subscriptions::{Subscription, live_of_user};
use crate::usage::{self, Report, UsageEvent};
use crate::{Feature, NewPlan, Plan};

pub const BILLING: &str = "billing";

pub fn register(registry: &mut ToolRegistry) {
    registry
        .group(ToolGroup {
            name: BILLING,
            summary: "plans and prices, end users' subscriptions and entitlements, metered usage",
        })
        .status_section(BillingStatus)
        .user_data(BillingData)
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

/// List the project's plans, oldest first, with their prices (amount in
/// major units as a string and amount_cents) and features.
#[tool(read, group = BILLING, title = "List billing plans", example = r#"{}"#)]
pub async fn list_billing_plans(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: ListBillingPlansArgs,
) -> Result<Page<Plan>, ToolError> {
    let page = ctx.page(args.limit, args.cursor.as_deref())?;
    let plans = crate::list(conn, ctx.project_id(), args.include_archived).await?;
    page.page_fixed(plans, |p: &Plan| p.id.clone())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBillingPlanArgs {
    pub name: String,
    /// a-z, 0-9, _ and - (default: made from the name).
    pub key: Option<String>,
    pub description: Option<String>,
    /// Per month, in major units: 19 or "19.00". No price: a free plan.
    pub monthly_price: Option<Value>,
    /// Per year, in major units.
    pub yearly_price: Option<Value>,
    /// ISO 4217 (default usd).
    pub currency: Option<String>,
    /// What the plan includes; a feature with a limit is a meter that
    /// usage is reported against.
    #[serde(default)]
    pub features: Vec<Feature>,
}

/// Create a plan with monthly and/or yearly prices (none: a free plan) and
/// features. Amounts are exact: at most the currency's decimals, never
/// negative. With Stripe configured the plan also becomes a Stripe product
/// with its prices (project id in their metadata), or nothing is created.
#[tool(
    write,
    group = BILLING,
    title = "Create billing plan",
    example = r#"{"name": "Pro", "monthly_price": 19, "yearly_price": "190.00", "features": [{"key": "api_calls", "limit": 10000}, {"key": "sso"}]}"#
)]
pub async fn create_billing_plan(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: CreateBillingPlanArgs,
) -> Result<Plan, ToolError> {
    let (currency, decimals) =
        validate_currency("currency", args.currency.as_deref().unwrap_or("usd"))?;
    let monthly = args
        .monthly_price
        .as_ref()
        .map(|v| parse_amount("monthly_price", v, decimals))
        .transpose()?;
    let yearly = args
        .yearly_price
        .as_ref()
        .map(|v| parse_amount("yearly_price", v, decimals))
        .transpose()?;
    let new = NewPlan {
        name: &args.name,
        key: args.key.as_deref(),
        description: args.description.as_deref(),
        monthly_cents: monthly,
        yearly_cents: yearly,
        currency: &currency,
        features: &args.features,
    };
    let plan = crate::create(conn, ctx.project_id(), new, ctx.now()).await?;
    // With Stripe configured, the plan becomes a product with its prices,
    // in this transaction: a Stripe failure leaves no local plan either.
    if let Some(mirror) = ctx.settings.get::<crate::mirror::BillingSettings>().mirror {
        let mirrored = mirror.plan_created(ctx.project_id(), &plan).await?;
        crate::mirror::set_plan_ids(conn, ctx.project_id(), &plan.id, &mirrored).await?;
    }
    Ok(plan)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIdArgs {
    /// The end user (usr_...).
    pub user_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Entitlement {
    pub feature: String,
    /// None: unlimited.
    pub limit: Option<i64>,
    /// Units used this period (meters only).
    pub used: Option<i64>,
    pub remaining: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Entitlements {
    pub user_id: String,
    /// The live subscription, if any.
    pub subscription: Option<Subscription>,
    pub plan: Option<Plan>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub entitlements: Vec<Entitlement>,
}

async fn require_user(
    conn: &mut Conn<'_>,
    project_id: &str,
    user_id: &str,
) -> Result<UserRef, ToolError> {
    use authgate_store::schema::end_users;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    require_id("user_id", "usr", user_id)?;
    let email: Option<String> = with_conn!(conn, c => {
        end_users::table
            .filter(end_users::project_id.eq(project_id))
            .filter(end_users::id.eq(user_id))
            .select(end_users::email)
            .first(c)
            .await
            .optional()?
    });
    let email = email.ok_or_else(|| {
        ToolError::not_found(format!("end user {user_id} not found in this project"))
            .with_field("user_id")
            .with_hint("list_end_users shows the users of this project")
    })?;
    Ok(UserRef {
        id: user_id.to_owned(),
        email,
    })
}

/// The period usage counts in: the live subscription's, else the calendar month.
fn period_of(sub: Option<&Subscription>, now: DateTime<Utc>) -> (i64, i64) {
    match sub {
        Some(s) => match s.current_period_end {
            Some(end) => (to_micros(s.current_period_start), to_micros(end)),
            None => usage::calendar_month(now),
        },
        None => usage::calendar_month(now),
    }
}

/// What a user may use now: the live subscription and its plan's
/// features, each with its limit, what was used this period and what
/// remains.
#[tool(read, group = BILLING, title = "Get user entitlements", example = r#"{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn get_user_entitlements(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: UserIdArgs,
) -> Result<Entitlements, ToolError> {
    let project = ctx.project_id();
    let now = ctx.now();
    require_user(conn, project, &args.user_id).await?;
    let sub = live_of_user(conn, project, &args.user_id, now).await?;
    let (from, to) = period_of(sub.as_ref(), now);
    let plan = match &sub {
        Some(s) => crate::list(conn, project, true)
            .await?
            .into_iter()
            .find(|p| p.id == s.plan_id),
        None => None,
    };
    let used = usage::totals(conn, project, Some(&args.user_id), None, from, to).await?;
    let entitlements = plan
        .as_ref()
        .map(|p| {
            p.features
                .iter()
                .map(|f| {
                    let u = f.limit.map(|_| {
                        used.iter()
                            .filter(|(_, m, _)| *m == f.key)
                            .map(|(_, _, n)| n)
                            .sum::<i64>()
                    });
                    Entitlement {
                        feature: f.key.clone(),
                        limit: f.limit,
                        used: u,
                        remaining: f.limit.zip(u).map(|(l, u)| (l - u).max(0)),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let (period_start, period_end) = usage::period_view(from, to);
    Ok(Entitlements {
        user_id: args.user_id,
        subscription: sub,
        plan,
        period_start,
        period_end,
        entitlements,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportUsageArgs {
    /// 1 to 1,000 events.
    pub events: Vec<UsageEvent>,
}

/// Report metered usage: 1 to 1,000 events, each {user_id, meter,
/// quantity, timestamp?, idempotency_key}. An idempotency key counts once
/// per project, forever: when retrying, send the same keys again and the
/// events already counted come back as duplicates. A key reused for a
/// different event is rejected (conflict). Bad events are rejected by
/// index; the others are counted.
#[tool(
    write,
    group = BILLING,
    title = "Report usage",
    idempotent,
    example = r#"{"events": [{"user_id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "meter": "api_calls", "quantity": 3, "idempotency_key": "req-7f3a-0001"}]}"#
)]
pub async fn report_usage(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: ReportUsageArgs,
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

#[derive(Debug, Serialize, JsonSchema)]
pub struct MeterTotal {
    pub meter: String,
    pub quantity: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserMeterTotal {
    pub user_id: String,
    pub meter: String,
    pub quantity: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UsageSummary {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Totals per meter.
    pub meters: Vec<MeterTotal>,
    /// Totals per user and meter, when a user was asked for.
    pub users: Option<Vec<UserMeterTotal>>,
}

/// Usage totals per meter for the current billing period: with user_id,
/// that user's subscription period (else the calendar month, UTC), with
/// per-user rows; without, the calendar month for the whole project.
#[tool(read, group = BILLING, title = "Get usage summary", example = r#"{"meter": "api_calls"}"#)]
pub async fn get_usage_summary(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: GetUsageSummaryArgs,
) -> Result<UsageSummary, ToolError> {
    let project = ctx.project_id();
    let now = ctx.now();
    if let Some(m) = &args.meter {
        crate::validate_key("meter", m)?;
    }
    let sub = match &args.user_id {
        Some(u) => {
            require_user(conn, project, u).await?;
            live_of_user(conn, project, u, now).await?
        }
        None => None,
    };
    let (from, to) = period_of(sub.as_ref(), now);
    let rows = usage::totals(
        conn,
        project,
        args.user_id.as_deref(),
        args.meter.as_deref(),
        from,
        to,
    )
    .await?;
    let mut meters: Vec<MeterTotal> = Vec::new();
    for (_, m, n) in &rows {
        match meters.iter_mut().find(|t| t.meter == *m) {
            Some(t) => t.quantity += n,
            None => meters.push(MeterTotal {
                meter: m.clone(),
                quantity: *n,
            }),
        }
    }
    meters.sort_by(|a, b| a.meter.cmp(&b.meter));
    let users = args.user_id.as_ref().map(|_| {
        let mut u: Vec<UserMeterTotal> = rows
            .iter()
            .map(|(u, m, n)| UserMeterTotal {
                user_id: u.clone(),
                meter: m.clone(),
                quantity: *n,
            })
            .collect();
        u.sort_by(|a, b| a.meter.cmp(&b.meter));
        u
    });
    let (period_start, period_end) = usage::period_view(from, to);
    Ok(UsageSummary {
        period_start,
        period_end,
        meters,
        users,
    })
}

// ------------------------------------------------------------ migrations

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBillingMigrationArgs {
    /// The plan subscriptions move from (plan_...).
    pub from_plan_id: String,
    /// The plan they move to (plan_...).
    pub to_plan_id: String,
}

/// Plan a move of every live subscription from one plan to another: one
/// item per subscription, mapped to the target plan's price with the same
/// interval and currency, or failed with the reason. Nothing moves until
/// execute_billing_migration.
#[tool(
    write,
    group = BILLING,
    title = "Create billing migration",
    example = r#"{"from_plan_id": "plan_01JD8X3V9Q4K7M2N5P6R8S0T1W", "to_plan_id": "plan_01JD8X3V9Q4K7M2N5P6R8S0T1X"}"#
)]
pub async fn create_billing_migration(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: CreateBillingMigrationArgs,
) -> Result<crate::migrations::Migration, ToolError> {
    crate::migrations::create(
        conn,
        ctx.project_id(),
        &args.from_plan_id,
        &args.to_plan_id,
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

#[derive(Debug, Serialize, JsonSchema)]
pub struct MigrationDetail {
    #[serde(flatten)]
    pub migration: crate::migrations::Migration,
    pub items: crate::migrations::ItemsByStatus,
}

/// A migration with its counts and items grouped by status (pending,
/// completed, failed; the first 100 of each).
#[tool(read, group = BILLING, title = "Get billing migration", example = r#"{"migration_id": "mig_01JD8X3V9Q4K7M2N5P6R8S0T1W"}"#)]
pub async fn get_billing_migration(
    ctx: &ToolContext,
    conn: &mut Conn<'_>,
    args: MigrationIdArgs,
) -> Result<MigrationDetail, ToolError> {
    let migration = crate::migrations::get(conn, ctx.project_id(), &args.migration_id).await?;
    let items = crate::migrations::items(conn, &migration.id).await?;
    Ok(MigrationDetail { migration, items })
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

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExecutedMigration {
    pub migration: crate::migrations::Migration,
}

/// Move every pending item of a migration: each subscription moves to its
/// target price in a transaction of its own, in batches of 100, with MCP
/// progress notifications when the client sends a progressToken. Running it
/// again resumes where a run stopped and never moves a subscription twice.
#[tool(
    danger,
    group = BILLING,
    title = "Execute billing migration",
    example = r#"{"migration_id": "mig_01JD8X3V9Q4K7M2N5P6R8S0T1W", "dry_run": true}"#
)]
pub async fn execute_billing_migration(
    ctx: &ToolContext,
    args: ExecuteBillingMigrationArgs,
) -> Result<DangerResult<ExecutedMigration>, ToolError> {
    let project = ctx.project_id();
    let moved = if args.dry_run {
        let m = ctx
            .store
            .read(async |conn| crate::migrations::get(conn, project, &args.migration_id).await)
            .await?;
        m.counts.pending as u64
    } else {
        crate::migrations::execute(
            &ctx.store,
            project,
            &args.migration_id,
            || ctx.now(),
            |done, total| ctx.progress(done, total, "subscriptions moved"),
        )
        .await?
    };
    let migration = ctx
        .store
        .read(async |conn| crate::migrations::get(conn, project, &args.migration_id).await)
        .await?;
    Ok(DangerResult {
        dry_run: args.dry_run,
        target: ExecutedMigration { migration },
        cascade: Cascade::from([("subscriptions".to_owned(), moved)]),
    })
}

// ------------------------------------------------------------ status

#[derive(Debug, Serialize, JsonSchema)]
pub struct BillingStatusOutput {
    /// The project's live plans with their prices.
    pub billing_plans: Vec<Plan>,
}

pub struct BillingStatus;

impl StatusSection for BillingStatus {
    type Output = BillingStatusOutput;

    async fn read(
        &self,
        ctx: &ToolContext,
        conn: &mut Conn<'_>,
    ) -> Result<BillingStatusOutput, ToolError> {
        let mut plans = crate::list(conn, ctx.project_id(), false).await?;
        plans.truncate(50);
        Ok(BillingStatusOutput {
            billing_plans: plans,
        })
    }
}

// ------------------------------------------------------------ user data

/// Subscriptions and usage are a user's data.
pub struct BillingData;

impl UserDataSection for BillingData {
    const NAME: &'static str = "billing";
    const TABLES: &'static [&'static str] = &["subscriptions", "usage_events"];

    async fn count(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        user: &UserRef,
    ) -> Result<Cascade, ToolError> {
        use authgate_store::schema::{subscriptions, usage_events};
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
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

    async fn export(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        user: &UserRef,
    ) -> Result<Value, ToolError> {
        let now = chrono::Utc::now();
        let sub = live_of_user(conn, project_id, &user.id, now).await?;
        let (from, to) = usage::calendar_month(now);
        let usage = usage::totals(conn, project_id, Some(&user.id), None, from, to).await?;
        Ok(serde_json::json!({
            "subscription": sub,
            "usage_this_month": usage.into_iter().map(|(_, m, n)| serde_json::json!({"meter": m, "quantity": n})).collect::<Vec<_>>(),
        }))
    }
}
