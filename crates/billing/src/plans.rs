//! Plans and their prices: a plan's features (with a limit, a meter) and
//! its monthly and yearly prices in integer minor units.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, ToolError, insert_new, new_id, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::{plans, prices};

use crate::money::{Amount, amount};

const MAX_FEATURES: usize = 100;
const MAX_LIMIT: i64 = 1_000_000_000_000;

/// A feature of a plan; with a limit it is a meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// a-z, 0-9, _ and -, up to 64 (e.g. api_calls).
    pub key: String,
    /// Units per billing period; absent: unlimited (a plain feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Price {
    pub id: String,
    /// `month`, `year` or `one_time`.
    pub interval: String,
    #[serde(flatten)]
    pub amount: Amount,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Plan {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub features: Vec<Feature>,
    /// No price: a free plan.
    pub prices: Vec<Price>,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = plans)]
pub(crate) struct PlanRow {
    pub(crate) id: String,
    project_id: String,
    pub(crate) key: String,
    pub(crate) name: String,
    description: Option<String>,
    pub(crate) features: JsonText<Vec<Feature>>,
    archived_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl PlanRow {
    pub(crate) fn feature_list(&self) -> Vec<Feature> {
        self.features.0.clone()
    }
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = prices, treat_none_as_default_value = false)]
pub(crate) struct PriceRow {
    pub(crate) id: String,
    project_id: String,
    pub(crate) plan_id: String,
    pub(crate) amount_cents: i64,
    pub(crate) currency: String,
    pub(crate) interval: String,
    archived_at: Option<i64>,
    created_at: i64,
}

impl PriceRow {
    fn view(&self) -> Price {
        Price {
            id: self.id.clone(),
            interval: self.interval.clone(),
            amount: amount(self.amount_cents, &self.currency),
        }
    }
}

pub fn validate_key(field: &str, key: &str) -> Result<(), ToolError> {
    authgate_core::text::require_key(field, key, "pro")
}

/// The key a name gives (`Pro Plan` → `pro-plan`).
fn key_from_name(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut key = out.trim_matches('-').to_owned();
    key.truncate(64);
    if key.is_empty() { "plan".into() } else { key }
}

fn validate_features(features: &[Feature]) -> Result<Vec<Feature>, ToolError> {
    if features.len() > MAX_FEATURES {
        return Err(ToolError::invalid(
            "features",
            format!("a plan has at most {MAX_FEATURES} features"),
        ));
    }
    let mut out: Vec<Feature> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        validate_key(&format!("features[{i}].key"), &f.key)?;
        if out.iter().any(|g| g.key == f.key) {
            return Err(ToolError::invalid(
                format!("features[{i}].key"),
                format!("feature '{}' is listed twice", f.key),
            ));
        }
        if let Some(l) = f.limit
            && !(0..=MAX_LIMIT).contains(&l)
        {
            return Err(ToolError::invalid(
                format!("features[{i}].limit"),
                format!("limit must be a whole number from 0 to {MAX_LIMIT}"),
            ));
        }
        out.push(f.clone());
    }
    Ok(out)
}

/// Plans with their prices, oldest first.
pub async fn list_plans(
    conn: &mut Conn<'_>, project_id: &str, include_archived: bool,
) -> Result<Vec<Plan>, ToolError> {
    // One statement: the plans with their live prices joined, in plan
    // then price order (a plan without a live price comes once, with none).
    let rows: Vec<(PlanRow, Option<PriceRow>)> = with_conn!(conn, c => {
        let mut q = plans::table
            .left_join(
                prices::table.on(prices::plan_id
                    .eq(plans::id)
                    .and(prices::project_id.eq(project_id))
                    .and(prices::archived_at.is_null())),
            )
            .filter(plans::project_id.eq(project_id))
            .select((PlanRow::as_select(), Option::<PriceRow>::as_select()))
            .order((plans::id.asc(), prices::id.asc()))
            .into_boxed();
        if !include_archived {
            q = q.filter(plans::archived_at.is_null());
        }
        q.load(c).await?
    });
    let mut out: Vec<Plan> = Vec::new();
    for (plan, price) in rows {
        if out.last().is_none_or(|last| last.id != plan.id) {
            out.push(Plan {
                features: plan.feature_list(),
                archived: plan.archived_at.is_some(),
                created_at: from_micros(plan.created_at),
                id: plan.id,
                key: plan.key,
                name: plan.name,
                description: plan.description,
                prices: Vec::new(),
            });
        }
        if let (Some(price), Some(last)) = (price, out.last_mut()) {
            last.prices.push(price.view());
        }
    }
    Ok(out)
}

/// What a new plan is made of; prices in minor units.
pub struct NewPlan<'a> {
    pub name: &'a str,
    pub key: Option<&'a str>,
    pub description: Option<&'a str>,
    pub monthly_cents: Option<i64>,
    pub yearly_cents: Option<i64>,
    pub currency: &'a str,
    pub features: &'a [Feature],
}

pub async fn create_plan(
    conn: &mut Conn<'_>, project_id: &str, new: NewPlan<'_>, now: DateTime<Utc>,
) -> Result<Plan, ToolError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            "name",
            "name must be 1 to 100 printable characters",
        ));
    }
    let key = new
        .key
        .map(str::to_owned)
        .unwrap_or_else(|| key_from_name(name));
    validate_key("key", &key)?;
    let description = new.description.map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > 1000) {
        return Err(ToolError::invalid(
            "description",
            "description must be at most 1000 characters",
        ));
    }
    let features = validate_features(new.features)?;
    let at = to_micros(now);
    let row = PlanRow {
        id: new_id("plan"),
        project_id: project_id.to_owned(),
        key: key.clone(),
        name: name.to_owned(),
        description: description.map(str::to_owned),
        features: JsonText(features.clone()),
        archived_at: None,
        created_at: at,
        updated_at: at,
    };
    if !insert_new!(conn, plans::table, &row) {
        return Err(
            ToolError::conflict(format!("a plan with key '{key}' already exists"))
                .with_field("key")
                .with_hint("choose another key (or name)"),
        );
    }
    let price_rows = insert_prices(conn, project_id, &row.id, &new, at).await?;
    Ok(Plan {
        id: row.id.clone(),
        key,
        name: row.name.clone(),
        description: row.description.clone(),
        features,
        prices: price_rows.iter().map(PriceRow::view).collect(),
        archived: false,
        created_at: from_micros(at),
    })
}

/// Deletes a plan made a moment ago, with its prices, when its provider
/// refused it (nothing can refer to it yet).
pub(crate) async fn delete_new_plan(
    conn: &mut Conn<'_>, project_id: &str, plan_id: &str,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::delete(prices::table.filter(prices::project_id.eq(project_id)).filter(prices::plan_id.eq(plan_id)))
            .execute(c)
            .await?;
        diesel::delete(plans::table.filter(plans::project_id.eq(project_id)).filter(plans::id.eq(plan_id)))
            .execute(c)
            .await?;
    });
    Ok(())
}

/// The plan's monthly and yearly prices, as `new` gives them.
async fn insert_prices(
    conn: &mut Conn<'_>, project_id: &str, plan_id: &str, new: &NewPlan<'_>, at: i64,
) -> Result<Vec<PriceRow>, ToolError> {
    let mut price_rows = Vec::new();
    for (cents, interval) in [(new.monthly_cents, "month"), (new.yearly_cents, "year")] {
        if let Some(cents) = cents {
            price_rows.push(PriceRow {
                id: new_id("price"),
                project_id: project_id.to_owned(),
                plan_id: plan_id.to_owned(),
                amount_cents: cents,
                currency: new.currency.to_owned(),
                interval: interval.to_owned(),
                archived_at: None,
                created_at: at,
            });
        }
    }
    for row in &price_rows {
        with_conn!(conn, c => {
            diesel::insert_into(prices::table).values(row).execute(c).await?;
        });
    }
    Ok(price_rows)
}

/// Keys of every meter (a feature with a limit) of the project's live plans.
pub async fn meters(conn: &mut Conn<'_>, project_id: &str) -> Result<Vec<String>, ToolError> {
    let rows: Vec<JsonText<Vec<Feature>>> = with_conn!(conn, c => {
        plans::table
            .filter(plans::project_id.eq(project_id))
            .filter(plans::archived_at.is_null())
            .select(plans::features)
            .load(c)
            .await?
    });
    let mut out: Vec<String> = Vec::new();
    for features in rows {
        for f in features.0 {
            if f.limit.is_some() && !out.contains(&f.key) {
                out.push(f.key);
            }
        }
    }
    Ok(out)
}

/// Whether a price lookup sees archived prices: a new subscription may not
/// use one, an existing subscription keeps its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Archived {
    Refused,
    Included,
}

pub(crate) async fn price(
    conn: &mut Conn<'_>, project_id: &str, price_id: &str, archived: Archived,
) -> Result<Option<(PriceRow, PlanRow)>, ToolError> {
    Ok(with_conn!(conn, c => {
        let mut q = prices::table
            .inner_join(plans::table)
            .filter(prices::project_id.eq(project_id))
            .filter(plans::project_id.eq(project_id))
            .filter(prices::id.eq(price_id))
            .select((PriceRow::as_select(), PlanRow::as_select()))
            .into_boxed();
        if archived == Archived::Refused {
            q = q.filter(prices::archived_at.is_null());
        }
        q.first(c).await.optional()?
    }))
}
