//! What an attempt's answer does: 2xx delivers; 410 Gone fails the
//! delivery and disables its endpoint at once; anything else (another
//! status, a timeout, a refusal, a connection error) retries on the
//! schedule (with up to 10 % jitter) and fails after its last step. An
//! endpoint that has only failed for 5 days is disabled. Disabling fails
//! the endpoint's queued deliveries (`endpoint_disabled`) and records
//! `webhook_endpoint.disabled`, which the security rule of that name
//! raises as an alert.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use authgate_audit::NewAuditEvent;
use authgate_core::time::to_micros;
use authgate_core::{Conn, EventType, ToolError, with_conn};
use authgate_store::Store;
use authgate_store::schema::{webhook_deliveries, webhook_endpoints, webhook_messages};

use crate::client::Answer;
use crate::endpoints::one_endpoint;
use crate::settings::WorkerOptions;

/// A delivery a pass claimed.
#[derive(QueryableByName, Debug, Clone)]
pub(crate) struct Claimed {
    #[diesel(sql_type = Text)]
    pub(crate) id: String,
    #[diesel(sql_type = Text)]
    pub(crate) project_id: String,
    #[diesel(sql_type = Text)]
    pub(crate) endpoint_id: String,
    #[diesel(sql_type = Text)]
    pub(crate) message_id: String,
    #[diesel(sql_type = BigInt)]
    pub(crate) attempts: i64,
}

/// An endpoint that has only failed for this long is disabled.
const FAILING_FOR: chrono::Duration = chrono::Duration::days(5);

/// One attempt's result, waiting to be recorded.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The claim the row was attempted under.
    claim: std::sync::Arc<str>,
    row: Claimed,
    status_code: Option<i64>,
    response: Option<String>,
    error: Option<String>,
    /// Not attempted (its endpoint is disabled or gone).
    skipped: bool,
}

impl Outcome {
    pub(crate) fn skipped(claim: std::sync::Arc<str>, row: Claimed, why: &str) -> Outcome {
        Outcome {
            claim,
            row,
            status_code: None,
            response: None,
            error: Some(why.to_owned()),
            skipped: true,
        }
    }

    pub(crate) fn of(claim: std::sync::Arc<str>, row: Claimed, answer: Answer) -> Outcome {
        let (status_code, response, error) = match answer {
            Answer::Status(code, text) => (Some(i64::from(code)), Some(text), None),
            Answer::Error(e) => (None, None, Some(e)),
        };
        Outcome {
            claim,
            row,
            status_code,
            response,
            error,
            skipped: false,
        }
    }

    fn delivered(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }

    fn gone(&self) -> bool {
        self.status_code == Some(410)
    }
}

/// Records outcomes in one transaction, each only where the claim it was
/// attempted under still stands. Delivered rows are settled a group at a
/// time (one statement per distinct answer, usually one a pass), every
/// endpoint's state once a pass: the statements a pass costs do not grow
/// with its deliveries when they succeed.
pub(crate) async fn settle_batch(
    store: &Store, options: &WorkerOptions, outcomes: Vec<Outcome>,
) -> Result<(), ToolError> {
    let now = options.clock.now();
    type Answer<'a> = (&'a str, Option<i64>, Option<&'a str>);
    let mut delivered: BTreeMap<Answer<'_>, Vec<&str>> = BTreeMap::new();
    let mut others = Vec::new();
    let mut endpoints: BTreeMap<(&str, &str), EndpointAfter> = BTreeMap::new();
    for o in &outcomes {
        if o.delivered() {
            let key = (&*o.claim, o.status_code, o.response.as_deref());
            delivered.entry(key).or_default().push(o.row.id.as_str());
        } else {
            others.push(o);
        }
        let state = endpoints
            .entry((o.row.project_id.as_str(), o.row.endpoint_id.as_str()))
            .or_default();
        state.absorb(o);
    }
    let mut counts = [0u64; 3];
    store
        .write(async |conn| {
            counts = [outcomes.len() as u64 - others.len() as u64, 0, 0];
            for ((claim, code, response), ids) in &delivered {
                settle_delivered(conn, claim, ids, *code, *response, now).await?;
            }
            for o in &others {
                let kind = settle_one(conn, options, o, now).await?;
                counts[kind as usize] += 1;
            }
            for ((project_id, endpoint_id), state) in &endpoints {
                if let Some(reason) =
                    endpoint_after(conn, project_id, endpoint_id, state, now).await?
                {
                    disable(conn, project_id, endpoint_id, reason, now).await?;
                }
            }
            Ok::<_, ToolError>(())
        })
        .await?;
    for (i, outcome) in ["delivered", "retried", "failed"].iter().enumerate() {
        if counts[i] > 0 {
            metrics::counter!("authgate_webhook_deliveries_total", "outcome" => *outcome)
                .increment(counts[i]);
        }
    }
    Ok(())
}

/// What a pass's answers say of one endpoint.
#[derive(Default)]
struct EndpointAfter {
    succeeded: bool,
    failed: bool,
    gone: bool,
}

impl EndpointAfter {
    fn absorb(&mut self, o: &Outcome) {
        if o.skipped {
            return;
        }
        self.gone |= o.gone();
        self.succeeded |= o.delivered();
        self.failed |= !o.delivered();
    }
}

#[derive(Clone, Copy)]
enum Settled {
    Retried = 1,
    Failed = 2,
}

/// The wait before the next attempt after `attempts` failed ones, or
/// `None` when the schedule is spent.
fn next_wait(options: &WorkerOptions, attempts: i64) -> Option<chrono::Duration> {
    let step = options
        .settings
        .retry_schedule
        .get(usize::try_from(attempts - 1).ok()?)?;
    let jitter = 1.0 + rand::random::<f64>() * 0.1;
    chrono::Duration::from_std(step.mul_f64(jitter)).ok()
}

/// Marks delivered the claimed rows `ids`, which got the same answer.
async fn settle_delivered(
    conn: &mut Conn<'_>, claim: &str, ids: &[&str], code: Option<i64>, response: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq_any(ids))
                .filter(webhook_deliveries::claim.eq(claim)),
        )
        .set((
            webhook_deliveries::status.eq("delivered"),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_status_code.eq(code),
            webhook_deliveries::last_response.eq(response),
            webhook_deliveries::last_error.eq(None::<String>),
            webhook_deliveries::next_attempt_at.eq(None::<i64>),
            webhook_deliveries::claim.eq(None::<String>),
            webhook_deliveries::updated_at.eq(to_micros(now)),
        ))
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Settles one attempt that did not deliver: retried on the schedule, or
/// failed (410, skipped, the schedule spent).
async fn settle_one(
    conn: &mut Conn<'_>, options: &WorkerOptions, o: &Outcome, now: DateTime<Utc>,
) -> Result<Settled, ToolError> {
    let attempts = o.row.attempts + i64::from(!o.skipped);
    let (kind, status, next) = if o.gone() || o.skipped {
        (Settled::Failed, "failed", None)
    } else {
        match next_wait(options, attempts) {
            Some(wait) => (Settled::Retried, "pending", Some(to_micros(now + wait))),
            None => (Settled::Failed, "failed", None),
        }
    };
    let error = if o.gone() {
        Some("gone".to_owned())
    } else {
        o.error.clone()
    };
    with_conn!(conn, c => {
        diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(&o.row.id))
                .filter(webhook_deliveries::claim.eq(&*o.claim)),
        )
        .set((
            webhook_deliveries::status.eq(status),
            webhook_deliveries::attempts.eq(attempts),
            webhook_deliveries::last_status_code.eq(o.status_code),
            webhook_deliveries::last_response.eq(&o.response),
            webhook_deliveries::last_error.eq(&error),
            webhook_deliveries::next_attempt_at.eq(next),
            webhook_deliveries::claim.eq(None::<String>),
            webhook_deliveries::updated_at.eq(to_micros(now)),
        ))
        .execute(c)
        .await?;
    });
    Ok(kind)
}

/// Updates an endpoint's failure streak from a pass's answers (a success
/// ends it; a failure starts it); says why to disable it, if so: 410, or
/// only failures for 5 days.
async fn endpoint_after(
    conn: &mut Conn<'_>, project_id: &str, endpoint_id: &str, state: &EndpointAfter,
    now: DateTime<Utc>,
) -> Result<Option<&'static str>, ToolError> {
    if state.gone {
        return Ok(Some("gone"));
    }
    let one = one_endpoint(project_id, endpoint_id);
    if state.succeeded {
        with_conn!(conn, c => {
            diesel::update(one.filter(webhook_endpoints::failing_since.is_not_null()))
                .set(webhook_endpoints::failing_since.eq(None::<i64>))
                .execute(c)
                .await?;
        });
        return Ok(None);
    }
    if !state.failed {
        return Ok(None);
    }
    let at = to_micros(now);
    let since: Option<Option<i64>> = with_conn!(conn, c => {
        diesel::update(one.filter(webhook_endpoints::failing_since.is_null()))
            .set(webhook_endpoints::failing_since.eq(Some(at)))
            .execute(c)
            .await?;
        one.select(webhook_endpoints::failing_since).first(c).await.optional()?
    });
    let failing_since = since.flatten().unwrap_or(at);
    Ok((failing_since <= to_micros(now - FAILING_FOR)).then_some("failing"))
}

/// Disables an endpoint (`gone` or `failing`), fails its queued
/// deliveries and records `webhook_endpoint.disabled`.
async fn disable(
    conn: &mut Conn<'_>, project_id: &str, endpoint_id: &str, reason: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    let at = to_micros(now);
    let changed = with_conn!(conn, c => {
        diesel::update(
            one_endpoint(project_id, endpoint_id).filter(webhook_endpoints::disabled.eq(false)),
        )
        .set((
            webhook_endpoints::disabled.eq(true),
            webhook_endpoints::disabled_reason.eq(Some(reason)),
            webhook_endpoints::updated_at.eq(at),
        ))
        .execute(c)
        .await?
    });
    if changed == 0 {
        return Ok(());
    }
    crate::endpoints::fail_queued(conn, project_id, endpoint_id, at).await?;
    tracing::warn!(endpoint_id, reason, project_id, "webhook endpoint disabled");
    NewAuditEvent::new(project_id, EventType::WebhookEndpointDisabled)
        .target(endpoint_id)
        .meta("reason", reason)
        .record(conn, now)
        .await?;
    Ok(())
}

/// Removes messages older than the retention none of whose deliveries is
/// still pending (their deliveries go with them). Maintenance across
/// projects.
pub(crate) async fn purge(store: &Store, options: &WorkerOptions) -> Result<usize, ToolError> {
    let retention = chrono::Duration::from_std(options.settings.retention).unwrap_or_default();
    let cutoff = to_micros(options.clock.now() - retention);
    store
        .write(async |conn| {
            Ok(with_conn!(conn, c => {
                let pending = webhook_deliveries::table
                    .filter(webhook_deliveries::message_id.eq(webhook_messages::id))
                    .filter(webhook_deliveries::status.eq("pending"));
                diesel::delete(
                    webhook_messages::table
                        .filter(webhook_messages::created_at.lt(cutoff))
                        .filter(diesel::dsl::not(diesel::dsl::exists(pending))),
                )
                .execute(c)
                .await?
            }))
        })
        .await
}
