//! Billing: plans (features with optional limits) and their prices in
//! integer minor units, subscriptions of end users, and metered usage. A
//! feature with a limit is a meter: usage is reported against its key.
//! Without Stripe, this local ledger is the source of truth.

mod entitlements;
mod flows;
mod migrations;
mod mirror;
mod money;
mod plans;
mod sections;
mod subscriptions;
mod tools;
mod usage;

pub use entitlements::{Entitlement, Entitlements, UsageSummary, user_entitlements};
pub use flows::{NewSubscription, PlanRequest, cancel, create_billing_plan, subscribe};
pub use migrations::{Migration, MigrationDetail, create_migration, execute_migration};
pub use mirror::{
    BillingSettings, MirroredPlan, MirroredSubscription, PENDING_FOR, PROVIDER_TIMEOUT,
    PaymentMirror, Proration, ProviderUpdate, SubscriptionRequest, apply_provider_update,
    provider_customer_id, provider_price_id, provider_subscription_id, reconcile_pending,
    set_plan_ids,
};
pub use money::{Amount, amount, parse_amount, validate_currency};
pub use plans::{Feature, NewPlan, Plan, Price, create_plan, list_plans};
pub use subscriptions::{Subscription, cancel_subscription, create_subscription};
pub use tools::{BILLING, register};
pub use usage::{Rejected, Report, UsageEvent, report as report_usage};
