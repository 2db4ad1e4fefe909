//! The delivery worker every gateway runs. It claims due deliveries in one
//! statement (PostgreSQL `FOR UPDATE SKIP LOCKED`, so gateways sharing a
//! database never claim one row twice; SQLite's one writer), as many as it
//! has free permits (`concurrency`, 128), and starts each on a task of its
//! own, signed afresh; outcomes are recorded by a settler as they arrive,
//! up to a batch a transaction, each only where its claim still stands. One
//! endpoint has at most 32 attempts in flight, so a slow or hanging
//! receiver holds only its share of the permits. A claim
//! moves the row's `next_attempt_at` past a lease: a worker that dies leaves
//! its rows to fall due again when the lease ends (at least once; receivers
//! dedupe on `webhook-id`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use authgate_core::time::to_micros;
use authgate_core::{ToolError, new_id, with_conn};
use authgate_store::schema::{webhook_endpoints, webhook_messages};
use authgate_store::{Backend, Store};

use crate::client::{Answer, GuardedClient};
use crate::endpoints::EndpointRow;
use crate::settings::WorkerOptions;
use crate::settle::{Claimed, Outcome, settle_batch};

/// The claim statement: up to `$4` due rows, at most `room` of each
/// endpoint (its share less its attempts in flight), none of an endpoint
/// whose share is spent. PostgreSQL locks the due rows it looks at with
/// `FOR UPDATE SKIP LOCKED` (so gateways never claim a row twice); SQLite
/// has one writer. `busy` holds well-formed endpoint ids only (checked by
/// the caller), so they are written into the text.
fn claim_sql(backend: Backend, busy: &[(String, usize)]) -> String {
    let (p1, p2, p3, p4, lock) = match backend {
        Backend::Postgres => ("$1", "$2", "$3", "$4", " FOR UPDATE SKIP LOCKED"),
        Backend::Sqlite => ("?1", "?2", "?3", "?4", ""),
    };
    let full: Vec<String> = busy
        .iter()
        .filter(|(_, n)| *n >= PER_ENDPOINT)
        .map(|(id, _)| format!("'{id}'"))
        .collect();
    let exclude = if full.is_empty() {
        String::new()
    } else {
        format!(" AND endpoint_id NOT IN ({})", full.join(", "))
    };
    let partial: Vec<String> = busy
        .iter()
        .filter(|(_, n)| *n < PER_ENDPOINT)
        .map(|(id, n)| format!(" WHEN '{id}' THEN {}", PER_ENDPOINT - n))
        .collect();
    let room = if partial.is_empty() {
        PER_ENDPOINT.to_string()
    } else {
        format!(
            "CASE endpoint_id{} ELSE {PER_ENDPOINT} END",
            partial.concat()
        )
    };
    format!(
        "WITH due AS (SELECT id, endpoint_id, next_attempt_at FROM webhook_deliveries \
         WHERE status = 'pending' AND next_attempt_at <= {p3}{exclude} \
         ORDER BY next_attempt_at LIMIT {p4}{lock}), \
         ranked AS (SELECT id, endpoint_id, ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS r FROM due) \
         UPDATE webhook_deliveries SET next_attempt_at = {p1}, claim = {p2} \
         WHERE id IN (SELECT id FROM ranked WHERE r <= {room}) \
         RETURNING id, project_id, endpoint_id, message_id, attempts"
    )
}

/// Claims up to `batch` due deliveries for `claim`, within each endpoint's
/// room (`busy`: endpoints with attempts in flight, and how many).
async fn claim(
    store: &Store, claim: &str, now: i64, lease_end: i64, batch: i64, busy: &[(String, usize)],
) -> Result<Vec<Claimed>, ToolError> {
    let sql = claim_sql(store.backend(), busy);
    store
        .autocommit(async |conn| {
            Ok(with_conn!(conn, c => {
                diesel::sql_query(sql.as_str())
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

/// Where a batch's deliveries go: an endpoint as its attempts need it, its
/// secrets unsealed once for the batch, not once a delivery.
struct Target {
    url: String,
    disabled: bool,
    /// The secrets that sign now, or why they could not be read.
    secrets: Result<Vec<String>, String>,
}

/// The payloads (shared, not copied, by the batch's attempts) and targets
/// a batch needs, read at once.
async fn load_batch(
    store: &Store, rows: &[Claimed], key: &[u8; 32], now: i64,
) -> Result<(HashMap<String, bytes::Bytes>, HashMap<String, Arc<Target>>), ToolError> {
    let mut message_ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    message_ids.sort_unstable();
    message_ids.dedup();
    let mut endpoint_ids: Vec<&str> = rows.iter().map(|r| r.endpoint_id.as_str()).collect();
    endpoint_ids.sort_unstable();
    endpoint_ids.dedup();
    let (messages, endpoints): (Vec<(String, String)>, Vec<EndpointRow>) = store
        .autocommit(async |conn| {
            Ok::<_, ToolError>(with_conn!(conn, c => {
                let messages = webhook_messages::table
                    .filter(webhook_messages::id.eq_any(&message_ids))
                    .select((webhook_messages::id, webhook_messages::payload))
                    .load(c)
                    .await?;
                let endpoints = webhook_endpoints::table
                    .filter(webhook_endpoints::id.eq_any(&endpoint_ids))
                    .select(EndpointRow::as_select())
                    .load(c)
                    .await?;
                (messages, endpoints)
            }))
        })
        .await?;
    let targets = endpoints
        .into_iter()
        .map(|e| {
            let target = Target {
                secrets: e.secrets(key, now).map_err(|err| err.message),
                url: e.url,
                disabled: e.disabled,
            };
            (e.id, Arc::new(target))
        })
        .collect();
    let payloads = messages
        .into_iter()
        .map(|(id, payload)| (id, bytes::Bytes::from(payload)))
        .collect();
    Ok((payloads, targets))
}

/// The most attempts in flight to one endpoint: a hanging receiver holds
/// at most this many of the worker's permits.
const PER_ENDPOINT: usize = 32;

/// Attempts in flight, by endpoint.
type InFlight = Arc<std::sync::Mutex<HashMap<String, usize>>>;

/// Endpoints with attempts in flight, and how many (well-formed ids only).
fn busy(in_flight: &InFlight) -> Vec<(String, usize)> {
    let map = in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.iter()
        .filter(|(id, _)| authgate_core::is_valid_id("whe", id))
        .map(|(id, n)| (id.clone(), *n))
        .collect()
}

fn change_slots(in_flight: &InFlight, endpoint_id: &str, up: bool) {
    let mut map = in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let n = map.entry(endpoint_id.to_owned()).or_default();
    if up {
        *n += 1;
    } else {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(endpoint_id);
        }
    }
}

/// What the delivery loop works with.
struct Worker {
    store: Store,
    client: GuardedClient,
    options: Arc<WorkerOptions>,
    permits: Arc<Semaphore>,
    in_flight: InFlight,
    settled: mpsc::Sender<Outcome>,
    /// Rung when an attempt ends.
    freed: Arc<Notify>,
}

/// Claims up to `n` due deliveries (`n` is no more than the free permits),
/// within each endpoint's share of [`PER_ENDPOINT`] attempts, and starts
/// each on a task of its own holding one permit; each outcome goes to the
/// settler as soon as it is known, and a finished attempt rings `freed`.
/// A slow receiver holds only its own share: the rest of the queue keeps
/// moving.
async fn dispatch(w: &Worker, n: usize) -> Result<usize, ToolError> {
    let (store, options, permits, in_flight) = (&w.store, &w.options, &w.permits, &w.in_flight);
    let now = options.clock.now();
    let lease_end = now + chrono::Duration::from_std(options.settings.lease()).unwrap_or_default();
    let me: Arc<str> = Arc::from(new_id("clm"));
    let busy = busy(in_flight);
    let rows = claim(
        store,
        &me,
        to_micros(now),
        to_micros(lease_end),
        n as i64,
        &busy,
    )
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let claimed = rows.len();
    let (messages, endpoints) =
        load_batch(store, &rows, &options.encryption_key, to_micros(now)).await?;
    for row in rows {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        change_slots(in_flight, &row.endpoint_id, true);
        let payload = messages.get(&row.message_id).cloned();
        let endpoint = endpoints.get(&row.endpoint_id).cloned();
        let (client, options, settled, me, in_flight, freed) = (
            w.client.clone(),
            options.clone(),
            w.settled.clone(),
            me.clone(),
            in_flight.clone(),
            w.freed.clone(),
        );
        tokio::spawn(async move {
            let endpoint_id = row.endpoint_id.clone();
            let outcome = attempt(&client, &options, me, row, payload, endpoint).await;
            let _ = settled.send(outcome).await;
            change_slots(&in_flight, &endpoint_id, false);
            drop(permit);
            freed.notify_one();
        });
    }
    Ok(claimed)
}

/// How long the settler gathers outcomes after the first before it
/// records them: one transaction (one commit, one fsync on PostgreSQL)
/// for many outcomes, at the price of this much latency in the status.
const GATHER: Duration = Duration::from_millis(10);

/// Records outcomes as they arrive, up to a batch in one transaction.
async fn settler(store: Store, options: Arc<WorkerOptions>, mut settled: mpsc::Receiver<Outcome>) {
    let most = usize::try_from(options.batch).unwrap_or(200).max(1);
    while let Some(first) = settled.recv().await {
        let mut outcomes = vec![first];
        let until = tokio::time::Instant::now() + GATHER;
        while outcomes.len() < most {
            match tokio::time::timeout_at(until, settled.recv()).await {
                Ok(Some(o)) => outcomes.push(o),
                _ => break,
            }
        }
        if let Err(e) = settle_batch(&store, &options, outcomes).await {
            // Their claims lapse and the rows fall due again (at least once).
            tracing::warn!(error = %e, "could not record webhook outcomes");
        }
    }
}

/// Sends one delivery, signed at the attempt's time.
async fn attempt(
    client: &GuardedClient, options: &WorkerOptions, claim: Arc<str>, row: Claimed,
    payload: Option<bytes::Bytes>, target: Option<Arc<Target>>,
) -> Outcome {
    let (Some(payload), Some(target)) = (payload, target) else {
        return Outcome::skipped(claim, row, "endpoint_disabled");
    };
    if target.disabled {
        return Outcome::skipped(claim, row, "endpoint_disabled");
    }
    let at: DateTime<Utc> = options.clock.now();
    let timestamp = at.timestamp();
    let signature = match &target.secrets {
        Ok(secrets) => {
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            crate::signing::signature(&refs, &row.message_id, timestamp, &payload)
                .map_err(|e| e.message)
        }
        Err(e) => Err(e.clone()),
    };
    let answer = match signature {
        Ok(signature) => {
            let headers = [
                ("webhook-id", row.message_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ];
            client.post(&target.url, &headers, payload).await
        }
        Err(e) => Answer::Error(format!("could not sign: {e}")),
    };
    Outcome::of(claim, row, answer)
}

/// How often a worker purges settled messages past their retention.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Runs the delivery loop until `shutdown`: claims as many due deliveries
/// as it has free permits (`concurrency`), starts each at once, and waits
/// for a permit, deliveries queued in this process, or the poll interval
/// (work queued by another gateway, or due for a retry).
pub async fn run_worker(store: Store, options: WorkerOptions, shutdown: CancellationToken) {
    let options = Arc::new(options);
    let (settled, outcomes) = mpsc::channel(options.concurrency.max(1) * 2);
    tokio::spawn(settler(store.clone(), options.clone(), outcomes));
    let w = Worker {
        client: GuardedClient::new(options.settings.allow_loopback, options.settings.timeout),
        permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
        in_flight: InFlight::default(),
        freed: Arc::new(Notify::new()),
        settled,
        store,
        options,
    };
    let (store, options, permits, freed) = (&w.store, &w.options, &w.permits, &w.freed);
    let mut queued = crate::outbox::wake().subscribe();
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        queued.mark_unchanged();
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(std::time::Instant::now());
            match crate::settle::purge(store, options).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged settled webhook messages"),
                Err(e) => tracing::warn!(error = %e, "could not purge webhook messages"),
            }
        }
        let free = permits
            .available_permits()
            .min(usize::try_from(options.batch).unwrap_or(200));
        let started = if free == 0 {
            0
        } else {
            tokio::select! {
                () = shutdown.cancelled() => return,
                n = dispatch(&w, free) => {
                    n.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "webhook delivery pass failed");
                        0
                    })
                }
            }
        };
        if free > 0 && started == free {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = queued.changed() => {}
            // An attempt ended: its endpoint (and a permit) has room again;
            // a moment lets the attempts ending with it make room too, so
            // one claim starts several.
            () = freed.notified() => tokio::time::sleep(Duration::from_millis(2)).await,
            () = tokio::time::sleep(options.poll_interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_leaves_out_full_endpoints_and_caps_the_others() {
        let plain = claim_sql(Backend::Sqlite, &[]);
        assert!(
            plain.contains("r <= 32") && !plain.contains("NOT IN"),
            "{plain}"
        );
        assert!(!plain.contains("FOR UPDATE"));
        let (full, half) = (new_id("whe"), new_id("whe"));
        let sql = claim_sql(Backend::Postgres, &[(full.clone(), 32), (half.clone(), 12)]);
        assert!(
            sql.contains(&format!("endpoint_id NOT IN ('{full}')")),
            "{sql}"
        );
        assert!(
            sql.contains(&format!("WHEN '{half}' THEN 20 ELSE 32 END")),
            "{sql}"
        );
        assert!(sql.contains("FOR UPDATE SKIP LOCKED"), "{sql}");
        assert!(sql.contains("$4") && !sql.contains("?1"));
    }
}
