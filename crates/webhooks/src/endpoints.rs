//! Webhook endpoints: where a project's changes go, which changes, and the
//! signing secret (sealed with the server key; shown once, when made or
//! rotated). At most 20 a project.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use authgate_core::args::Cascade;
use authgate_core::changes::ChangeType;
use authgate_core::crypto;
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Conn, ErrorCode, Page, PageRequest, ToolError, new_id, with_conn};
use authgate_store::JsonText;
use authgate_store::schema::{webhook_deliveries, webhook_endpoints};

use crate::policy::check_url;
use crate::signing::new_secret;

/// The most endpoints a project may have.
pub const MAX_ENDPOINTS: i64 = 20;
/// How long the secret before a rotation still signs.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);
const MAX_DESCRIPTION: usize = 500;

/// An endpoint as tools show it (never its secret).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// Change types it receives; `["*"]` for all.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub disabled: bool,
    /// Why it was disabled: `gone` (the receiver answered 410),
    /// `failing` (only failures for 5 days) or `by_key`.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_...`: verify deliveries with it; it is not shown again.
    pub secret: String,
    /// Until when the previous secret also signs (after a rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = webhook_endpoints)]
pub(crate) struct EndpointRow {
    pub(crate) id: String,
    pub(crate) project_id: String,
    pub(crate) url: String,
    pub(crate) events: JsonText<Vec<String>>,
    pub(crate) description: Option<String>,
    pub(crate) secret_enc: String,
    pub(crate) previous_secret_enc: Option<String>,
    pub(crate) previous_until: Option<i64>,
    pub(crate) disabled: bool,
    pub(crate) disabled_reason: Option<String>,
    pub(crate) failing_since: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl EndpointRow {
    pub(crate) fn view(&self) -> WebhookEndpoint {
        WebhookEndpoint {
            id: self.id.clone(),
            url: self.url.clone(),
            events: self.events.0.clone(),
            description: self.description.clone(),
            disabled: self.disabled,
            disabled_reason: self.disabled_reason.clone(),
            created_at: from_micros(self.created_at),
        }
    }

    /// The secrets that sign a delivery at `now`: the current one, and the
    /// previous one during its overlap.
    pub(crate) fn secrets(&self, key: &[u8; 32], now: i64) -> Result<Vec<String>, ToolError> {
        let mut out = vec![crypto::decrypt(key, &aad(&self.id), &self.secret_enc)?];
        if let (Some(prev), Some(until)) = (&self.previous_secret_enc, self.previous_until)
            && until > now
        {
            out.push(crypto::decrypt(key, &aad(&self.id), prev)?);
        }
        Ok(out)
    }
}

/// Whether an endpoint subscribed to `events` receives changes of `change`.
pub(crate) fn listens(events: &[String], change: ChangeType) -> bool {
    events.iter().any(|e| e == "*" || e == change.name())
}

type OneEndpoint<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        webhook_endpoints::table,
        diesel::dsl::Eq<webhook_endpoints::project_id, &'a str>,
    >,
    diesel::dsl::Eq<webhook_endpoints::id, &'a str>,
>;

/// The row of one endpoint of one project, to read, update or delete.
pub(crate) fn one_endpoint<'a>(project_id: &'a str, id: &'a str) -> OneEndpoint<'a> {
    webhook_endpoints::table
        .filter(webhook_endpoints::project_id.eq(project_id))
        .filter(webhook_endpoints::id.eq(id))
}

fn aad(endpoint_id: &str) -> String {
    format!("webhook_endpoint:{endpoint_id}")
}

/// Checks a list of change names: each a type of [`ChangeType::ALL`], or
/// `"*"` alone.
pub fn check_events(field: &str, events: &[String]) -> Result<Vec<String>, ToolError> {
    if events.is_empty() {
        return Err(ToolError::invalid(
            field,
            format!("{field} must name at least one change type, or be [\"*\"] for all"),
        ));
    }
    if events.iter().any(|e| e == "*") {
        if events.len() > 1 {
            return Err(ToolError::invalid(
                field,
                format!("{field}: \"*\" stands alone"),
            ));
        }
        return Ok(vec!["*".into()]);
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        if ChangeType::parse(e).is_none() {
            let known: Vec<&str> = ChangeType::ALL.iter().map(|t| t.name()).collect();
            return Err(ToolError::invalid(
                format!("{field}[{i}]"),
                format!(
                    "'{}' is not a change type; use one of {}, or \"*\"",
                    authgate_core::truncate(e, 60),
                    known.join(", ")
                ),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

fn check_description(description: Option<String>) -> Result<Option<String>, ToolError> {
    let description = description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(ToolError::invalid(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(description)
}

fn not_found(id: &str) -> ToolError {
    ToolError::not_found(format!("no webhook endpoint {id} in this project"))
        .with_field("endpoint_id")
        .with_hint("list_webhook_endpoints shows this project's endpoints")
}

/// What a new endpoint is made of.
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// Creates an endpoint (at most [`MAX_ENDPOINTS`] a project).
pub async fn create_endpoint(
    conn: &mut Conn<'_>, key: &[u8; 32], project_id: &str, new: NewEndpoint, allow_loopback: bool,
    now: DateTime<Utc>,
) -> Result<EndpointWithSecret, ToolError> {
    let url = check_url("url", &new.url, allow_loopback)?;
    let events = check_events("events", &new.events)?;
    let description = check_description(new.description)?;
    conn.lock_project(project_id).await?;
    let count: i64 = with_conn!(conn, c => {
        webhook_endpoints::table
            .filter(webhook_endpoints::project_id.eq(project_id))
            .count()
            .get_result(c)
            .await?
    });
    if count >= MAX_ENDPOINTS {
        return Err(ToolError::new(
            ErrorCode::LimitExceeded,
            format!("this project has {count} webhook endpoints, the most allowed"),
        )
        .with_hint("delete an endpoint you no longer use (delete_webhook_endpoint)"));
    }
    let id = new_id("whe");
    let secret = new_secret();
    let at = to_micros(now);
    let row = EndpointRow {
        secret_enc: crypto::encrypt(key, &aad(&id), &secret)?,
        id,
        project_id: project_id.to_owned(),
        url: url.to_string(),
        events: JsonText(events),
        description,
        previous_secret_enc: None,
        previous_until: None,
        disabled: false,
        disabled_reason: None,
        failing_since: None,
        created_at: at,
        updated_at: at,
    };
    with_conn!(conn, c => {
        diesel::insert_into(webhook_endpoints::table).values(&row).execute(c).await?;
    });
    Ok(EndpointWithSecret {
        endpoint: row.view(),
        secret,
        previous_secret_expires_at: None,
    })
}

pub(crate) async fn load(
    conn: &mut Conn<'_>, project_id: &str, id: &str,
) -> Result<EndpointRow, ToolError> {
    let row: Option<EndpointRow> = with_conn!(conn, c => {
        one_endpoint(project_id, id)
            .select(EndpointRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    row.ok_or_else(|| not_found(id))
}

/// The project's endpoints, newest first.
pub async fn list_endpoints(
    conn: &mut Conn<'_>, project_id: &str, page: &PageRequest,
) -> Result<Page<WebhookEndpoint>, ToolError> {
    let rows: Vec<EndpointRow> = with_conn!(conn, c => {
        let mut q = webhook_endpoints::table
            .filter(webhook_endpoints::project_id.eq(project_id))
            .select(EndpointRow::as_select())
            .order(webhook_endpoints::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = &page.after {
            q = q.filter(webhook_endpoints::id.lt(after.clone()));
        }
        q.load(c).await?
    });
    let items = rows.iter().map(EndpointRow::view).collect();
    Ok(page.page(items, |e: &WebhookEndpoint| e.id.clone()))
}

/// What an update changes; `None` keeps a field.
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
}

/// Changes an endpoint. Disabling it fails its queued deliveries
/// (`endpoint_disabled`); enabling it clears the reason and its failure
/// streak.
pub async fn update_endpoint(
    conn: &mut Conn<'_>, project_id: &str, id: &str, change: EndpointChange, allow_loopback: bool,
    now: DateTime<Utc>,
) -> Result<WebhookEndpoint, ToolError> {
    let url = match &change.url {
        Some(u) => Some(check_url("url", u, allow_loopback)?.to_string()),
        None => None,
    };
    let events = match &change.events {
        Some(e) => Some(check_events("events", e)?),
        None => None,
    };
    let description = match change.description {
        Some(d) => Some(check_description(Some(d))?),
        None => None,
    };
    let mut row = load(conn, project_id, id).await?;
    if let Some(url) = url {
        row.url = url;
    }
    if let Some(events) = events {
        row.events = JsonText(events);
    }
    if let Some(description) = description {
        row.description = description;
    }
    match change.disabled {
        Some(true) if !row.disabled => {
            row.disabled = true;
            row.disabled_reason = Some("by_key".into());
        }
        Some(false) if row.disabled => {
            row.disabled = false;
            row.disabled_reason = None;
            row.failing_since = None;
        }
        _ => {}
    }
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(one_endpoint(project_id, id))
        .set((
            webhook_endpoints::url.eq(&row.url),
            webhook_endpoints::events.eq(&row.events),
            webhook_endpoints::description.eq(&row.description),
            webhook_endpoints::disabled.eq(row.disabled),
            webhook_endpoints::disabled_reason.eq(&row.disabled_reason),
            webhook_endpoints::failing_since.eq(row.failing_since),
            webhook_endpoints::updated_at.eq(at),
        ))
        .execute(c)
        .await?;
    });
    if row.disabled {
        fail_queued(conn, project_id, id, at).await?;
    }
    Ok(row.view())
}

/// Marks the endpoint's queued deliveries failed (`endpoint_disabled`).
pub(crate) async fn fail_queued(
    conn: &mut Conn<'_>, project_id: &str, endpoint_id: &str, at: i64,
) -> Result<usize, ToolError> {
    Ok(with_conn!(conn, c => {
        diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::project_id.eq(project_id))
                .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
                .filter(webhook_deliveries::status.eq("pending")),
        )
        .set((
            webhook_deliveries::status.eq("failed"),
            webhook_deliveries::last_error.eq(Some("endpoint_disabled")),
            webhook_deliveries::next_attempt_at.eq(None::<i64>),
            webhook_deliveries::claim.eq(None::<String>),
            webhook_deliveries::updated_at.eq(at),
        ))
        .execute(c)
        .await?
    }))
}

/// Deletes an endpoint with its deliveries (a dry run counts them).
pub async fn delete_endpoint(
    conn: &mut Conn<'_>, project_id: &str, id: &str, dry_run: bool,
) -> Result<(WebhookEndpoint, Cascade), ToolError> {
    let row = load(conn, project_id, id).await?;
    let deliveries: i64 = with_conn!(conn, c => {
        webhook_deliveries::table
            .filter(webhook_deliveries::project_id.eq(project_id))
            .filter(webhook_deliveries::endpoint_id.eq(id))
            .count()
            .get_result(c)
            .await?
    });
    if !dry_run {
        with_conn!(conn, c => {
            diesel::delete(one_endpoint(project_id, id))
            .execute(c)
            .await?;
        });
    }
    Ok((
        row.view(),
        [("webhook_deliveries".to_owned(), deliveries as u64)].into(),
    ))
}

/// Gives an endpoint a new secret; the current one keeps signing (beside
/// the new) for [`ROTATION_OVERLAP`].
pub async fn rotate_secret(
    conn: &mut Conn<'_>, key: &[u8; 32], project_id: &str, id: &str, now: DateTime<Utc>,
) -> Result<EndpointWithSecret, ToolError> {
    let row = load(conn, project_id, id).await?;
    let secret = new_secret();
    let until = now + ROTATION_OVERLAP;
    let at = to_micros(now);
    with_conn!(conn, c => {
        diesel::update(one_endpoint(project_id, id))
        .set((
            webhook_endpoints::secret_enc.eq(crypto::encrypt(key, &aad(id), &secret)?),
            webhook_endpoints::previous_secret_enc.eq(Some(&row.secret_enc)),
            webhook_endpoints::previous_until.eq(Some(to_micros(until))),
            webhook_endpoints::updated_at.eq(at),
        ))
        .execute(c)
        .await?;
    });
    Ok(EndpointWithSecret {
        endpoint: row.view(),
        secret,
        previous_secret_expires_at: Some(until),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn event_lists_name_known_types_or_all() {
        assert_eq!(check_events("events", &names(&["*"])).expect("all"), ["*"]);
        assert_eq!(
            check_events(
                "events",
                &names(&["user.created", "user.created", "user.deleted"])
            )
            .expect("deduplicated"),
            ["user.created", "user.deleted"]
        );
        let unknown = check_events("events", &names(&["user.created", "user.exploded"]))
            .expect_err("unknown");
        assert_eq!(unknown.field.as_deref(), Some("events[1]"));
        assert!(
            unknown.message.contains("membership.deleted"),
            "{}",
            unknown.message
        );
        let mixed = check_events("events", &names(&["*", "user.created"])).expect_err("mixed");
        assert_eq!(mixed.field.as_deref(), Some("events"));
        let empty = check_events("events", &[]).expect_err("empty");
        assert_eq!(empty.field.as_deref(), Some("events"));
    }
}
