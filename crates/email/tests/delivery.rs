//! Delivery through real SMTP on loopback: a small SMTP sink runs in the
//! test, lettre speaks to it. Down server → pending with the error
//! recorded → delivered once it is back; never twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use authgate_core::{Clock as _, SystemClock, ToolError};
use authgate_email::testing::{part, sink, sink_on};
use authgate_email::{DeliveryOptions, EmailKind, Mailer, enqueue, get_message};
use authgate_email::{deliver_due, purge_settled, recover_interrupted};
use authgate_store::{Store, testing, with_conn};

fn options() -> DeliveryOptions {
    DeliveryOptions {
        poll_interval: Duration::from_millis(50),
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        max_attempts: 10,
        stale_claim: Duration::from_millis(0),
        retention: Duration::from_secs(7 * 86_400),
        ..DeliveryOptions::default()
    }
}

async fn queue(store: &Store, project: &str, to: &str, code: &str) -> Result<String, ToolError> {
    store
        .write(async |c| {
            enqueue(
                c,
                project,
                EmailKind::VerificationOtp,
                to,
                json!({
                    "user": {"name": "Ada", "email": to}, "code": code, "expires_in": "15 minutes"
                }),
                Utc::now(),
            )
            .await
        })
        .await
}

async fn message(
    store: &Store, project: &str, id: &str,
) -> Result<authgate_email::OutboxMessage, ToolError> {
    store
        .read(async |c| get_message(c, project, id).await)
        .await
}

async fn new_project(store: &Store) -> String {
    store
        .write(async |c| {
            authgate_project::create_project(c, "Acme", "live", SystemClock.now()).await
        })
        .await
        .expect("project")
        .0
        .id
}

/// Every text column of a stored outbox row, joined.
async fn stored_row(store: &Store, id: &str) -> Option<String> {
    use authgate_store::schema::email_outbox;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    store
        .read(async |c| {
            let row: Option<(String, String, String, String, Option<String>)> = with_conn!(c, c => {
                email_outbox::table
                    .filter(email_outbox::id.eq(id))
                    .select((
                        email_outbox::to_address,
                        email_outbox::subject,
                        email_outbox::html_body,
                        email_outbox::text_body,
                        email_outbox::last_error,
                    ))
                    .first(c)
                    .await
                    .optional()?
            });
            Ok::<_, ToolError>(
                row.map(|(a, b, c, d, e)| format!("{a}\n{b}\n{c}\n{d}\n{}", e.unwrap_or_default())),
            )
        })
        .await
        .expect("row")
}

async fn mark_sending(store: &Store, id: &str, claimed_at: i64) {
    use authgate_store::schema::email_outbox;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    store
        .write(async |c| {
            with_conn!(c, c => {
                diesel::update(email_outbox::table.filter(email_outbox::id.eq(id)))
                    .set((email_outbox::status.eq("sending"), email_outbox::claimed_at.eq(Some(claimed_at))))
                    .execute(c)
                    .await?;
            });
            Ok::<_, ToolError>(())
        })
        .await
        .expect("simulate a crash mid-delivery");
}

fn mailer(port: u16) -> Mailer {
    Mailer::from_url(
        &format!("smtp://127.0.0.1:{port}"),
        "Acme <no-reply@example.com>",
    )
    .expect("mailer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_while_smtp_is_down_and_arrives_once_when_it_is_back() {
    testing::each_store(async |store, _| {
        let project = new_project(store).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let mailer = Mailer::from_url(
            &format!("smtp://127.0.0.1:{port}"),
            "Acme <no-reply@example.com>",
        )
        .expect("mailer");
        let id = queue(store, &project, "ada@example.com", "918273")
            .await
            .expect("queued");

        // Server down: the attempt fails, the message stays pending with the error.
        assert_eq!(
            deliver_due(store, &mailer, &options(), 10)
                .await
                .expect("pass"),
            1
        );
        let m = message(store, &project, &id).await.expect("message");
        assert_eq!(m.status, "pending");
        assert_eq!(m.attempts, 1);
        assert!(
            m.last_error.as_deref().is_some_and(|e| !e.is_empty()),
            "{m:?}"
        );
        assert!(
            m.next_attempt_at > m.created_at,
            "backoff before the next try"
        );

        // Server back: the retry delivers it.
        let (inbox, _, sink) = sink_on(port, Duration::ZERO).await;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            deliver_due(store, &mailer, &options(), 10)
                .await
                .expect("pass");
            if message(store, &project, &id).await.expect("message").status == "sent" {
                break;
            }
        }
        let m = message(store, &project, &id).await.expect("message");
        assert_eq!(m.status, "sent", "{m:?}");
        assert_eq!(m.attempts, 2);
        assert!(m.last_error.is_none());
        // Nothing is sent twice, however often the worker passes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            deliver_due(store, &mailer, &options(), 10)
                .await
                .expect("pass"),
            0
        );
        let messages = inbox.messages();
        assert_eq!(messages.len(), 1);
        let raw = &messages[0];
        assert!(
            raw.contains("Subject: Your Acme verification code: 918273"),
            "{raw}"
        );
        assert!(raw.contains("To: ada@example.com"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        let text = part(raw, "text/plain");
        let html = part(raw, "text/html");
        assert!(
            text.contains("918273") && text.contains("Hi Ada,"),
            "{text}"
        );
        assert!(html.contains("918273") && html.contains("<p"), "{html}");
        sink.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_transactional_and_a_crash_never_sends_twice() {
    testing::each_store(async |store, _| {
        let project = new_project(store).await;
        // Mail queued in a transaction that rolls back is not queued.
        let rolled_back: Result<String, ToolError> = store
            .write(async |c| {
                let id = enqueue(
                    c,
                    &project,
                    EmailKind::Welcome,
                    "bob@example.com",
                    json!({"user": {"name": "Bob", "email": "bob@example.com"}}),
                    Utc::now(),
                )
                .await?;
                Err(ToolError::conflict(format!(
                    "the change failed after queueing {id}"
                )))
            })
            .await;
        let id = rolled_back
            .expect_err("rolled back")
            .message
            .rsplit(' ')
            .next()
            .expect("id")
            .to_owned();
        assert!(
            message(store, &project, &id).await.is_err(),
            "no mail for a change that did not happen"
        );
        // A bad address is refused up front.
        let err = queue(store, &project, "not an address", "1")
            .await
            .expect_err("bad address");
        assert_eq!(err.field.as_deref(), Some("to"));

        // A message claimed by a worker that died is marked failed, not
        // resent, and keeps nothing of what it held.
        let id = queue(store, &project, "carol@example.com", "555000")
            .await
            .expect("queued");
        mark_sending(store, &id, 0).await;
        assert_eq!(
            recover_interrupted(store, &options())
                .await
                .expect("recover"),
            1
        );
        let m = message(store, &project, &id).await.expect("message");
        assert_eq!(m.status, "failed");
        assert!(
            m.last_error
                .as_deref()
                .is_some_and(|e| e.contains("not retried"))
        );
        let row = stored_row(store, &id).await.expect("row");
        assert!(
            !row.contains("555000"),
            "no code rests in a settled row: {row}"
        );

        // The worker delivers what is queued.
        let (inbox, port, sink) = sink(Duration::ZERO).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = tokio::spawn(authgate_email::run_worker(
            store.clone(),
            mailer(port),
            options(),
            shutdown.clone(),
        ));
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(
                queue(
                    store,
                    &project,
                    &format!("user{i}@example.com"),
                    &format!("00000{i}"),
                )
                .await
                .expect("queued"),
            );
        }
        for _ in 0..50 {
            if inbox.messages().len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        worker.await.expect("worker stops");
        assert_eq!(
            inbox.messages().len(),
            3,
            "the three new messages, and not the failed one"
        );
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                message(store, &project, id).await.expect("message").status,
                "sent"
            );
            // The stored row no longer holds the code once the message is
            // delivered (it was in the subject and bodies).
            let row = stored_row(store, id).await.expect("row");
            assert!(!row.contains(&format!("00000{i}")), "{row}");
        }
        sink.abort();
    })
    .await;
}

/// Queued mail wakes the worker at once (after the commit), so delivery
/// does not wait for the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queueing_wakes_the_worker() {
    testing::each_store(async |store, _| {
        let project = new_project(store).await;
        let (inbox, port, sink) = sink(Duration::ZERO).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let slow_poll = DeliveryOptions {
            poll_interval: Duration::from_secs(3600),
            ..options()
        };
        let worker = tokio::spawn(authgate_email::run_worker(
            store.clone(),
            mailer(port),
            slow_poll,
            shutdown.clone(),
        ));
        // Let the worker reach its wait.
        tokio::time::sleep(Duration::from_millis(300)).await;
        queue(store, &project, "dora@example.com", "424242")
            .await
            .expect("queued");
        for _ in 0..100 {
            if !inbox.messages().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            inbox.messages().len(),
            1,
            "delivered without waiting an hour"
        );
        shutdown.cancel();
        worker.await.expect("worker stops");
        sink.abort();
    })
    .await;
}

/// A claim stranded while the worker runs (a crash elsewhere) is recovered
/// on the worker's next pass, not only at its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stranded_claims_are_recovered_on_every_pass() {
    testing::each_store(async |store, _| {
        let project = new_project(store).await;
        let (_inbox, port, sink) = sink(Duration::ZERO).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = tokio::spawn(authgate_email::run_worker(
            store.clone(),
            mailer(port),
            DeliveryOptions {
                poll_interval: Duration::from_millis(50),
                ..options()
            },
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stranded = queue(store, &project, "finn@example.com", "888888")
            .await
            .expect("queued");
        tokio::time::sleep(Duration::from_millis(100)).await;
        mark_sending(store, &stranded, 0).await;
        let mut status = String::new();
        for _ in 0..60 {
            status = message(store, &project, &stranded).await.expect("m").status;
            if status == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, "failed", "recovered while the worker runs");
        shutdown.cancel();
        worker.await.expect("worker stops");
        sink.abort();
    })
    .await;
}

/// An outcome is recorded only while the worker's claim stands: a message
/// recovered as failed during a slow send is not flipped to sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_after_recovery_does_not_overwrite_it() {
    testing::each_store(async |store, _| {
        let project = new_project(store).await;
        let (inbox, port, sink) = sink(Duration::from_millis(800)).await;
        let id = queue(store, &project, "gus@example.com", "131313")
            .await
            .expect("queued");
        let delivering = {
            let store = store.clone();
            tokio::spawn(async move { deliver_due(&store, &mailer(port), &options(), 10).await })
        };
        // While the server holds the answer, another worker recovers the claim.
        let mut recovered = 0;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            recovered += recover_interrupted(store, &options())
                .await
                .expect("recover");
            if recovered > 0 {
                break;
            }
        }
        assert_eq!(recovered, 1);
        assert_eq!(delivering.await.expect("task").expect("pass"), 1);
        assert_eq!(inbox.messages().len(), 1);
        let m = message(store, &project, &id).await.expect("m");
        assert_eq!(m.status, "failed", "the recovery stands: {m:?}");
        sink.abort();
    })
    .await;
}

/// Two workers on one database never send a message twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_send_a_message_twice() {
    for db in testing::databases().await {
        let store = db.store().await;
        let other = db.store().await;
        let project = new_project(&store).await;
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(
                queue(
                    &store,
                    &project,
                    &format!("u{i}@example.com"),
                    &format!("{i:06}"),
                )
                .await
                .expect("queued"),
            );
        }
        let (inbox, port, sink) = sink(Duration::from_millis(5)).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let workers: Vec<_> = [store.clone(), other]
            .into_iter()
            .map(|s| {
                tokio::spawn(authgate_email::run_worker(
                    s,
                    mailer(port),
                    DeliveryOptions {
                        poll_interval: Duration::from_millis(20),
                        stale_claim: Duration::from_secs(300),
                        ..options()
                    },
                    shutdown.clone(),
                ))
            })
            .collect();
        for _ in 0..200 {
            if inbox.messages().len() >= 30 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        shutdown.cancel();
        for w in workers {
            w.await.expect("worker stops");
        }
        let messages = inbox.messages();
        let mut message_ids: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.lines().find(|l| l.starts_with("Message-ID:")))
            .collect();
        assert_eq!(message_ids.len(), 30, "{:?}", db.backend);
        message_ids.sort();
        message_ids.dedup();
        assert_eq!(
            message_ids.len(),
            30,
            "each message once on {:?}",
            db.backend
        );
        sink.abort();
    }
}

/// Settled rows are purged once they are older than the retention; pending
/// ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_rows_are_purged_after_the_retention() {
    testing::each_store(async |store, _| {
        let project = new_project(store).await;
        let (_inbox, port, sink) = sink(Duration::ZERO).await;
        let sent = queue(store, &project, "hal@example.com", "1")
            .await
            .expect("q");
        deliver_due(store, &mailer(port), &options(), 10)
            .await
            .expect("pass");
        let pending = queue(store, &project, "ivy@example.com", "2")
            .await
            .expect("q");
        let keep = DeliveryOptions {
            retention: Duration::from_secs(3600),
            ..options()
        };
        assert_eq!(purge_settled(store, &keep).await.expect("purge"), 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let expire = DeliveryOptions {
            retention: Duration::from_millis(1),
            ..options()
        };
        assert_eq!(purge_settled(store, &expire).await.expect("purge"), 1);
        assert!(stored_row(store, &sent).await.is_none());
        assert!(stored_row(store, &pending).await.is_some());
        sink.abort();
    })
    .await;
}
