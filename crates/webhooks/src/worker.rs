//! The delivery worker every gateway runs. A pass claims up to a batch of
//! due deliveries in one statement (PostgreSQL `FOR UPDATE SKIP LOCKED`,
//! so gateways sharing a database never claim one row twice; SQLite's one
//! writer), sends them concurrently, signed afresh, and records every
//! outcome in one transaction, only where its claim still stands. A claim
//! moves the row's `next_attempt_at` past a lease: a worker that dies
//! mid-pass leaves its rows to fall due again when the lease ends (at
//! least once; receivers dedupe on `webhook-id`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use authgate_core::time::to_micros;
use authgate_core::{ToolError, new_id, with_conn};
use authgate_store::schema::{webhook_endpoints, webhook_messages};
use authgate_store::{Backend, Store};

use crate::client::{Answer, Deliverer};
use crate::endpoints::EndpointRow;
use crate::settings::WorkerOptions;
use crate::settle::{Claimed, Outcome, settle_batch};

const CLAIM_PG: &str = "UPDATE webhook_deliveries SET next_attempt_at = $1, claim = $2 \
    WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
    ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
    RETURNING id, project_id, endpoint_id, message_id, attempts";
const CLAIM_SQLITE: &str = "UPDATE webhook_deliveries SET next_attempt_at = ?, claim = ? \
    WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? \
    ORDER BY next_attempt_at LIMIT ?) \
    RETURNING id, project_id, endpoint_id, message_id, attempts";

/// Claims up to `batch` due deliveries for `claim`.
async fn claim(
    store: &Store, claim: &str, now: i64, lease_end: i64, batch: i64,
) -> Result<Vec<Claimed>, ToolError> {
    let sql = match store.backend() {
        Backend::Postgres => CLAIM_PG,
        Backend::Sqlite => CLAIM_SQLITE,
    };
    store
        .autocommit(async |conn| {
            Ok(with_conn!(conn, c => {
                diesel::sql_query(sql)
                    .bind::<BigInt, _>(lease_end)
                    .bind::<Text, _>(claim)
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(batch)
                    .load::<Claimed>(c)
                    .await?
            }))
        })
        .await
}

/// The payloads and endpoints a batch needs, read at once.
async fn load_batch(
    store: &Store, rows: &[Claimed],
) -> Result<(HashMap<String, String>, HashMap<String, EndpointRow>), ToolError> {
    let mut message_ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    message_ids.sort_unstable();
    message_ids.dedup();
    let mut endpoint_ids: Vec<&str> = rows.iter().map(|r| r.endpoint_id.as_str()).collect();
    endpoint_ids.sort_unstable();
    endpoint_ids.dedup();
    store
        .autocommit(async |conn| {
            Ok(with_conn!(conn, c => {
                let messages: Vec<(String, String)> = webhook_messages::table
                    .filter(webhook_messages::id.eq_any(&message_ids))
                    .select((webhook_messages::id, webhook_messages::payload))
                    .load(c)
                    .await?;
                let endpoints: Vec<EndpointRow> = webhook_endpoints::table
                    .filter(webhook_endpoints::id.eq_any(&endpoint_ids))
                    .select(EndpointRow::as_select())
                    .load(c)
                    .await?;
                (
                    messages.into_iter().collect(),
                    endpoints.into_iter().map(|e| (e.id.clone(), e)).collect(),
                )
            }))
        })
        .await
}

/// One pass: claims, sends and settles up to a batch. Returns how many
/// deliveries it attempted.
pub async fn deliver_due(
    store: &Store, client: &Deliverer, options: &WorkerOptions,
) -> Result<usize, ToolError> {
    let now = options.clock.now();
    let lease_end = now + chrono::Duration::from_std(options.settings.lease()).unwrap_or_default();
    let me = new_id("clm");
    let rows = claim(
        store,
        &me,
        to_micros(now),
        to_micros(lease_end),
        options.batch,
    )
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (messages, endpoints) = load_batch(store, &rows).await?;
    let outcomes: Vec<Outcome> = futures::stream::iter(rows)
        .map(|row| {
            let payload = messages.get(&row.message_id).cloned();
            let endpoint = endpoints.get(&row.endpoint_id).cloned();
            attempt(client, options, row, payload, endpoint)
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let n = outcomes.len();
    settle_batch(store, options, &me, outcomes).await?;
    Ok(n)
}

/// Sends one delivery, signed at the attempt's time.
async fn attempt(
    client: &Deliverer, options: &WorkerOptions, row: Claimed, payload: Option<String>,
    endpoint: Option<EndpointRow>,
) -> Outcome {
    let (Some(payload), Some(endpoint)) = (payload, endpoint) else {
        return Outcome::skipped(row, "endpoint_disabled");
    };
    if endpoint.disabled {
        return Outcome::skipped(row, "endpoint_disabled");
    }
    let at: DateTime<Utc> = options.clock.now();
    let timestamp = at.timestamp();
    let signature = endpoint
        .secrets(&options.encryption_key, to_micros(at))
        .and_then(|secrets| {
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            crate::signing::signature(&refs, &row.message_id, timestamp, payload.as_bytes())
        });
    let answer = match signature {
        Ok(signature) => {
            let headers = [
                ("webhook-id", row.message_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ];
            client
                .post(&endpoint.url, &headers, bytes::Bytes::from(payload))
                .await
        }
        Err(e) => Answer::Error(format!("could not sign: {}", e.message)),
    };
    Outcome::of(row, answer)
}

/// How often a worker purges settled messages past their retention.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Runs the delivery loop until `shutdown`.
pub async fn run_worker(store: Store, options: WorkerOptions, shutdown: CancellationToken) {
    let client = Deliverer::new(options.settings.allow_loopback, options.settings.timeout);
    let mut queued = crate::outbox::wake().subscribe();
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        queued.mark_unchanged();
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(std::time::Instant::now());
            match crate::settle::purge(&store, &options).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged settled webhook messages"),
                Err(e) => tracing::warn!(error = %e, "could not purge webhook messages"),
            }
        }
        let attempted = tokio::select! {
            () = shutdown.cancelled() => return,
            n = deliver_due(&store, &client, &options) => n.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "webhook delivery pass failed");
                0
            }),
        };
        if attempted as i64 == options.batch {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = queued.changed() => {}
            () = tokio::time::sleep(options.poll_interval) => {}
        }
    }
}
