//! Plan migrations. Creating one snapshots every live subscription on the
//! source plan as an item mapped to the target plan's price with the same
//! interval and currency (or failed, with the reason). Executing moves the
//! pending items in batches; each item moves its subscription and is marked
//! completed in one transaction, guarded by the item still being pending, so
//! a run that is killed and run again never moves a subscription twice. A
//! subscription that changed price (or ended) since the migration was
//! planned is not moved: its item fails with that reason.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{ChangeType, Conn, ToolError, new_id, with_conn};
use authgate_store::Store;

use crate::mirror::{PaymentMirror, Proration, provider_price_id, within};
use authgate_store::schema::{
    billing_migration_items, billing_migrations, plans, prices, subscriptions,
};

/// The states of a subscription a migration moves.
const LIVE: [&str; 3] = ["active", "trialing", "past_due"];

/// Items moved per batch (each in its own transaction).
pub const BATCH: i64 = 100;
const SHOWN_PER_STATUS: i64 = 100;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MigrationItem {
    pub subscription_id: String,
    /// Whose subscription it is (absent if the user and their
    /// subscriptions were deleted since).
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub from_price_id: String,
    pub to_price_id: Option<String>,
    /// Why it cannot move (failed items).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Counts {
    pub pending: i64,
    pub completed: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Migration {
    pub id: String,
    pub from_plan_id: String,
    pub to_plan_id: String,
    /// How the payment provider bills a moved subscription's difference.
    pub proration: Proration,
    pub counts: Counts,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ItemsByStatus {
    /// The first 100 of each status.
    pub pending: Vec<MigrationItem>,
    pub completed: Vec<MigrationItem>,
    pub failed: Vec<MigrationItem>,
}

fn not_found(id: &str) -> ToolError {
    ToolError::not_found(format!("billing migration {id} not found in this project"))
        .with_field("migration_id")
}

async fn plan_exists(
    conn: &mut Conn<'_>, project_id: &str, field: &str, plan_id: &str,
) -> Result<(), ToolError> {
    authgate_core::require_id(field, "plan", plan_id)?;
    let n: i64 = with_conn!(conn, c => {
        plans::table
            .filter(plans::project_id.eq(project_id))
            .filter(plans::id.eq(plan_id))
            .count()
            .get_result(c)
            .await?
    });
    if n == 0 {
        return Err(
            ToolError::not_found(format!("plan {plan_id} not found in this project"))
                .with_field(field),
        );
    }
    Ok(())
}

async fn counts(
    conn: &mut Conn<'_>, project_id: &str, migration_id: &str,
) -> Result<Counts, ToolError> {
    let rows: Vec<(String, i64)> = with_conn!(conn, c => {
        billing_migration_items::table
            .filter(billing_migration_items::project_id.eq(project_id))
            .filter(billing_migration_items::migration_id.eq(migration_id))
            .group_by(billing_migration_items::status)
            .select((billing_migration_items::status, diesel::dsl::count_star()))
            .load(c)
            .await?
    });
    let mut out = Counts::default();
    for (status, n) in rows {
        match status.as_str() {
            "pending" => out.pending = n,
            "completed" => out.completed = n,
            _ => out.failed = n,
        }
    }
    Ok(out)
}

pub async fn get_migration(
    conn: &mut Conn<'_>, project_id: &str, id: &str,
) -> Result<Migration, ToolError> {
    authgate_core::require_id("migration_id", "mig", id)?;
    let row: Option<(String, String, String, i64, Option<i64>, String)> = with_conn!(conn, c => {
        billing_migrations::table
            .filter(billing_migrations::project_id.eq(project_id))
            .filter(billing_migrations::id.eq(id))
            .select((
                billing_migrations::id,
                billing_migrations::from_plan_id,
                billing_migrations::to_plan_id,
                billing_migrations::created_at,
                billing_migrations::completed_at,
                billing_migrations::proration,
            ))
            .first(c)
            .await
            .optional()?
    });
    let (id, from_plan_id, to_plan_id, created, completed, proration) =
        row.ok_or_else(|| not_found(id))?;
    let counts = counts(conn, project_id, &id).await?;
    Ok(Migration {
        id,
        from_plan_id,
        to_plan_id,
        proration: Proration::parse(&proration).unwrap_or_default(),
        counts,
        created_at: from_micros(created),
        completed_at: completed.map(from_micros),
    })
}

pub async fn migration_items(
    conn: &mut Conn<'_>, project_id: &str, migration_id: &str,
) -> Result<ItemsByStatus, ToolError> {
    let mut out = ItemsByStatus {
        pending: Vec::new(),
        completed: Vec::new(),
        failed: Vec::new(),
    };
    for status in ["pending", "completed", "failed"] {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = with_conn!(conn, c => {
            billing_migration_items::table
                .filter(billing_migration_items::project_id.eq(project_id))
                .filter(billing_migration_items::migration_id.eq(migration_id))
                .filter(billing_migration_items::status.eq(status))
                .select((
                    billing_migration_items::subscription_id,
                    billing_migration_items::from_price_id,
                    billing_migration_items::to_price_id,
                    billing_migration_items::reason,
                ))
                .order(billing_migration_items::id.asc())
                .limit(SHOWN_PER_STATUS)
                .load(c)
                .await?
        });
        let sub_ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
        let owners: std::collections::HashMap<String, String> = with_conn!(conn, c => {
            subscriptions::table
                .filter(subscriptions::project_id.eq(project_id))
                .filter(subscriptions::id.eq_any(&sub_ids))
                .select((subscriptions::id, subscriptions::user_id))
                .load::<(String, String)>(c)
                .await?
                .into_iter()
                .collect()
        });
        let user_ids: Vec<String> = owners.values().cloned().collect();
        let emails = authgate_identity::emails_of(conn, project_id, &user_ids).await?;
        let list: Vec<MigrationItem> = rows
            .into_iter()
            .map(|(subscription_id, from_price_id, to_price_id, reason)| {
                let user_id = owners.get(&subscription_id).cloned();
                MigrationItem {
                    email: user_id.as_ref().and_then(|u| emails.get(u).cloned()),
                    user_id,
                    subscription_id,
                    from_price_id,
                    to_price_id,
                    reason,
                }
            })
            .collect();
        match status {
            "pending" => out.pending = list,
            "completed" => out.completed = list,
            _ => out.failed = list,
        }
    }
    Ok(out)
}

// A migration with its counts and items grouped by status.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MigrationDetail {
    #[serde(flatten)]
    pub migration: Migration,
    pub items: ItemsByStatus,
}

/// A migration with its items (the first 100 of each status).
pub async fn migration_detail(
    conn: &mut Conn<'_>, project_id: &str, id: &str,
) -> Result<MigrationDetail, ToolError> {
    let migration = get_migration(conn, project_id, id).await?;
    let items = migration_items(conn, project_id, &migration.id).await?;
    Ok(MigrationDetail { migration, items })
}

/// Snapshots the live subscriptions on `from` as items mapped to `to`.
pub async fn create_migration(
    conn: &mut Conn<'_>, project_id: &str, from: &str, to: &str, proration: Proration,
    now: DateTime<Utc>,
) -> Result<Migration, ToolError> {
    plan_exists(conn, project_id, "from_plan_id", from).await?;
    plan_exists(conn, project_id, "to_plan_id", to).await?;
    if from == to {
        return Err(ToolError::invalid(
            "to_plan_id",
            "the target plan must differ from the source plan",
        ));
    }
    let at = to_micros(now);
    let id = new_id("mig");
    with_conn!(conn, c => {
        diesel::insert_into(billing_migrations::table)
            .values((
                billing_migrations::id.eq(&id),
                billing_migrations::project_id.eq(project_id),
                billing_migrations::from_plan_id.eq(from),
                billing_migrations::to_plan_id.eq(to),
                billing_migrations::created_at.eq(at),
                billing_migrations::proration.eq(proration.as_str()),
            ))
            .execute(c)
            .await?;
    });
    plan_items(conn, project_id, &id, from, to).await?;
    get_migration(conn, project_id, &id).await
}

/// One item per live subscription on `from`: mapped to `to`'s price of
/// the same interval and currency, or failed with the reason.
async fn plan_items(
    conn: &mut Conn<'_>, project_id: &str, migration_id: &str, from: &str, to: &str,
) -> Result<(), ToolError> {
    // The target's live prices by (interval, currency).
    let targets: Vec<(String, String, String)> = with_conn!(conn, c => {
        prices::table
            .filter(prices::project_id.eq(project_id))
            .filter(prices::plan_id.eq(to))
            .filter(prices::archived_at.is_null())
            .select((prices::id, prices::interval, prices::currency))
            .load(c)
            .await?
    });
    let subs: Vec<(String, String, String, String)> = with_conn!(conn, c => {
        subscriptions::table
            .inner_join(prices::table)
            .filter(subscriptions::project_id.eq(project_id))
            .filter(prices::project_id.eq(project_id))
            .filter(subscriptions::plan_id.eq(from))
            .filter(subscriptions::status.eq_any(LIVE))
            .select((subscriptions::id, subscriptions::price_id, prices::interval, prices::currency))
            .order(subscriptions::id.asc())
            .load(c)
            .await?
    });
    for (sub_id, price_id, interval, currency) in subs {
        let target = targets
            .iter()
            .find(|(_, i, c)| *i == interval && *c == currency);
        let (to_price, status, reason) = match target {
            Some((p, _, _)) => (Some(p.clone()), "pending", None),
            None => (
                None,
                "failed",
                Some(format!(
                    "the target plan has no {interval} price in {currency}"
                )),
            ),
        };
        with_conn!(conn, c => {
            diesel::insert_into(billing_migration_items::table)
                .values((
                    billing_migration_items::id.eq(new_id("mit")),
                    billing_migration_items::project_id.eq(project_id),
                    billing_migration_items::migration_id.eq(migration_id),
                    billing_migration_items::subscription_id.eq(&sub_id),
                    billing_migration_items::from_price_id.eq(&price_id),
                    billing_migration_items::to_price_id.eq(&to_price),
                    billing_migration_items::status.eq(status),
                    billing_migration_items::reason.eq(&reason),
                ))
                .execute(c)
                .await?;
        });
    }
    Ok(())
}

/// What moving one item came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Moved,
    /// It cannot move (the reason is on the item).
    Failed,
    /// No longer pending: a concurrent or earlier run settled it.
    Settled,
}

/// Why an item's subscription cannot move now, if it cannot: it is gone,
/// no longer live, or on another price than when the migration was made.
async fn cannot_move(
    conn: &mut Conn<'_>, project_id: &str, sub_id: &str, from_price: &str,
) -> Result<Option<String>, ToolError> {
    let now: Option<(String, String)> = with_conn!(conn, c => {
        subscriptions::table
            .filter(subscriptions::project_id.eq(project_id))
            .filter(subscriptions::id.eq(sub_id))
            .select((subscriptions::price_id, subscriptions::status))
            .first(c)
            .await
            .optional()?
    });
    Ok(match now {
        None => Some("the subscription no longer exists".to_owned()),
        Some((_, status)) if !LIVE.contains(&status.as_str()) => {
            Some(format!("the subscription is {status} now"))
        }
        Some((price, _)) if price != from_price => Some(format!(
            "the subscription changed price since the migration was planned (now on {price})"
        )),
        Some(_) => None,
    })
}

/// Settles one item: its subscription onto the target price (published as
/// `subscription.updated`) and the item completed, both or neither; or,
/// when the subscription cannot move any more, the item failed with the
/// reason. An item no longer pending (a concurrent or earlier run settled
/// it) is left alone.
async fn move_item(
    conn: &mut Conn<'_>, project_id: &str, to_plan: &str, item: &(String, String, String, String),
    now: DateTime<Utc>,
) -> Result<Outcome, ToolError> {
    let (item_id, sub_id, from_price, to_price) = item;
    let at = to_micros(now);
    let the_item = || {
        billing_migration_items::table
            .filter(billing_migration_items::project_id.eq(project_id))
            .filter(billing_migration_items::id.eq(item_id))
    };
    let claimed = with_conn!(conn, c => {
        diesel::update(the_item().filter(billing_migration_items::status.eq("pending")))
            .set((billing_migration_items::status.eq("completed"), billing_migration_items::moved_at.eq(Some(at))))
            .execute(c)
            .await?
    });
    if claimed == 0 {
        return Ok(Outcome::Settled);
    }
    let moved = with_conn!(conn, c => {
        diesel::update(
            subscriptions::table
                .filter(subscriptions::project_id.eq(project_id))
                .filter(subscriptions::id.eq(sub_id))
                .filter(subscriptions::price_id.eq(from_price))
                .filter(subscriptions::status.eq_any(LIVE)),
        )
        .set((
            subscriptions::price_id.eq(to_price),
            subscriptions::plan_id.eq(to_plan),
            subscriptions::updated_at.eq(at),
        ))
        .execute(c)
        .await?
    });
    if moved == 1 {
        let change = ChangeType::SubscriptionUpdated;
        crate::subscriptions::announce(conn, project_id, change, sub_id, now).await?;
        return Ok(Outcome::Moved);
    }
    let reason = cannot_move(conn, project_id, sub_id, from_price)
        .await?
        .unwrap_or_else(|| "the subscription could not be moved".to_owned());
    with_conn!(conn, c => {
        diesel::update(the_item())
            .set((
                billing_migration_items::status.eq("failed"),
                billing_migration_items::reason.eq(Some(reason)),
                billing_migration_items::moved_at.eq(None::<i64>),
            ))
            .execute(c)
            .await?;
    });
    Ok(Outcome::Failed)
}

/// Moves an item's subscription at the payment provider first, outside
/// any transaction, when it has one there: `Some(reason)` when the provider
/// refused (the item fails), an error when it could not be reached (the run
/// stops; the item stays pending for the next run). A subscription that
/// cannot move any more is left for [`move_item`] to fail.
async fn move_at_provider(
    store: &Store, project_id: &str, mirror: &dyn PaymentMirror, proration: Proration,
    item: &(String, String, String, String),
) -> Result<Option<String>, ToolError> {
    let (_, sub_id, from_price, to_price) = item;
    let at_provider = store
        .read(async |conn| {
            if cannot_move(conn, project_id, sub_id, from_price)
                .await?
                .is_some()
            {
                return Ok(None);
            }
            let Some(subscription) =
                crate::mirror::provider_subscription_id(conn, project_id, sub_id).await?
            else {
                return Ok(None);
            };
            let price = provider_price_id(conn, project_id, to_price).await?;
            Ok::<_, ToolError>(Some((subscription, price)))
        })
        .await?;
    let Some((subscription, price)) = at_provider else {
        return Ok(None);
    };
    let Some(price) = price else {
        return Ok(Some(
            "the target price has no Stripe price (made before Stripe was configured)".to_owned(),
        ));
    };
    let what = "move the subscription to its new price";
    match within(
        what,
        mirror.subscription_repriced(&subscription, &price, proration),
    )
    .await
    {
        Ok(()) => Ok(None),
        Err(e) if e.retryable || e.code == authgate_core::ErrorCode::Unavailable => Err(e),
        Err(e) => Ok(Some(e.message)),
    }
}

/// Marks a pending item failed with `reason`.
async fn fail_item(
    store: &Store, project_id: &str, item_id: &str, reason: &str,
) -> Result<(), ToolError> {
    store
        .write(async |conn| {
            with_conn!(conn, c => {
                diesel::update(
                    billing_migration_items::table
                        .filter(billing_migration_items::project_id.eq(project_id))
                        .filter(billing_migration_items::id.eq(item_id))
                        .filter(billing_migration_items::status.eq("pending")),
                )
                .set((
                    billing_migration_items::status.eq("failed"),
                    billing_migration_items::reason.eq(Some(reason)),
                ))
                .execute(c)
                .await?;
            });
            Ok::<_, ToolError>(())
        })
        .await
}

/// Moves every pending item, a batch at a time, each item in a transaction
/// of its own; `report(done, total)` after each batch. Returns how many
/// items this run moved.
pub async fn execute_migration(
    store: &Store, project_id: &str, id: &str, mirror: Option<&dyn PaymentMirror>,
    now: impl Fn() -> DateTime<Utc>, report: impl Fn(u64, u64),
) -> Result<u64, ToolError> {
    let migration = store
        .read(async |conn| get_migration(conn, project_id, id).await)
        .await?;
    let total = (migration.counts.pending + migration.counts.completed) as u64;
    let mut done = migration.counts.completed as u64;
    let mut moved = 0u64;
    loop {
        let batch: Vec<(String, String, String, String)> = store
            .read(async |conn| {
                Ok::<_, ToolError>(with_conn!(conn, c => {
                    billing_migration_items::table
                        .filter(billing_migration_items::project_id.eq(project_id))
                        .filter(billing_migration_items::migration_id.eq(id))
                        .filter(billing_migration_items::status.eq("pending"))
                        .filter(billing_migration_items::to_price_id.is_not_null())
                        .select((
                            billing_migration_items::id,
                            billing_migration_items::subscription_id,
                            billing_migration_items::from_price_id,
                            billing_migration_items::to_price_id.assume_not_null(),
                        ))
                        .order(billing_migration_items::id.asc())
                        .limit(BATCH)
                        .load(c)
                        .await?
                }))
            })
            .await?;
        if batch.is_empty() {
            break;
        }
        for item in &batch {
            if let Some(mirror) = mirror
                && let Some(refused) =
                    move_at_provider(store, project_id, mirror, migration.proration, item).await?
            {
                fail_item(store, project_id, &item.0, &refused).await?;
                done += 1;
                continue;
            }
            let at = now();
            let outcome = store
                .write(async |conn| {
                    move_item(conn, project_id, &migration.to_plan_id, item, at).await
                })
                .await?;
            if outcome == Outcome::Moved {
                moved += 1;
            }
            done += 1;
        }
        report(done.min(total), total);
    }
    let at = to_micros(now());
    store
        .write(async |conn| {
            with_conn!(conn, c => {
                diesel::update(
                    billing_migrations::table
                        .filter(billing_migrations::project_id.eq(project_id))
                        .filter(billing_migrations::id.eq(id))
                        .filter(billing_migrations::completed_at.is_null()),
                )
                .set(billing_migrations::completed_at.eq(Some(at)))
                .execute(c)
                .await?;
            });
            Ok::<_, ToolError>(())
        })
        .await?;
    Ok(moved)
}
