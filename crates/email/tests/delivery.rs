//! Delivery through real SMTP on loopback: a small SMTP sink runs in the
//! test, lettre speaks to it. Down server → pending with the error
//! recorded → delivered once it is back; never twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use authgate_core::{Clock as _, SystemClock, ToolError};
use authgate_email::outbox::{deliver_due, recover_interrupted};
use authgate_email::{DeliveryOptions, EmailKind, Mailer, enqueue, get_message};
use authgate_store::{Store, testing, write_tx};

/// Every message the sink accepted, as raw DATA.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<String>>>);

impl Inbox {
    fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn serve_smtp(listener: TcpListener, inbox: Inbox) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read);
            let _ = write.write_all(b"220 sink ESMTP\r\n").await;
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 sink\r\n",
                    "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                    "DATA" => {
                        let _ = write.write_all(b"354 end with .\r\n").await;
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if l == ".\r\n" {
                                break;
                            }
                            data.push_str(&l);
                        }
                        inbox.0.lock().unwrap_or_else(|e| e.into_inner()).push(data);
                        b"250 queued\r\n"
                    }
                    "QUIT" => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"502 not implemented\r\n",
                };
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The decoded body of the MIME part with `content_type`.
fn part(message: &str, content_type: &str) -> String {
    let start = message
        .find(&format!("Content-Type: {content_type}"))
        .unwrap_or_else(|| panic!("no {content_type} part in {message}"));
    let rest = &message[start..];
    let body_start = rest.find("\r\n\r\n").expect("part headers end") + 4;
    let body: String = rest[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .expect("base64 body");
    String::from_utf8(bytes).expect("UTF-8 body")
}

fn options() -> DeliveryOptions {
    DeliveryOptions {
        poll_interval: Duration::from_millis(50),
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        max_attempts: 10,
        stale_claim: Duration::from_millis(0),
    }
}

async fn queue(store: &Store, project: &str, to: &str, code: &str) -> Result<String, ToolError> {
    let mut conn = store.conn().await?;
    write_tx!(&mut conn, c => {
        enqueue(c, project, EmailKind::VerificationOtp, to, json!({
            "user": {"name": "Ada", "email": to}, "code": code, "expires_in": "15 minutes"
        }), Utc::now()).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_while_smtp_is_down_and_arrives_once_when_it_is_back() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (project, _) =
            authgate_project::create_project(&store, "Acme", "live", SystemClock.now())
                .await
                .expect("project");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let mailer = Mailer::from_url(
            &format!("smtp://127.0.0.1:{port}"),
            "Acme <no-reply@example.com>",
        )
        .expect("mailer");
        let id = queue(&store, &project.id, "ada@example.com", "918273")
            .await
            .expect("queued");

        // Server down: the attempt fails, the message stays pending with the error.
        assert_eq!(
            deliver_due(&store, &mailer, &options(), 10)
                .await
                .expect("pass"),
            1
        );
        let m = get_message(&store, &project.id, &id)
            .await
            .expect("message");
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
        let inbox = Inbox::default();
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("sink binds");
        let sink = tokio::spawn(serve_smtp(listener, inbox.clone()));
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            deliver_due(&store, &mailer, &options(), 10)
                .await
                .expect("pass");
            if get_message(&store, &project.id, &id)
                .await
                .expect("message")
                .status
                == "sent"
            {
                break;
            }
        }
        let m = get_message(&store, &project.id, &id)
            .await
            .expect("message");
        assert_eq!(m.status, "sent", "{m:?}");
        assert_eq!(m.attempts, 2);
        assert!(m.last_error.is_none());
        // Nothing is sent twice, however often the worker passes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            deliver_due(&store, &mailer, &options(), 10)
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_transactional_and_a_crash_never_sends_twice() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (project, _) =
            authgate_project::create_project(&store, "Acme", "live", SystemClock.now())
                .await
                .expect("project");
        // Mail queued in a transaction that rolls back is not queued.
        let mut conn = store.conn().await.expect("conn");
        let rolled_back: Result<String, ToolError> = write_tx!(&mut conn, c => {
            let id = enqueue(c, &project.id, EmailKind::Welcome, "bob@example.com", json!({"user": {"name": "Bob", "email": "bob@example.com"}}), Utc::now()).await?;
            Err(ToolError::conflict(format!("the change failed after queueing {id}")))
        });
        drop(conn);
        let id = rolled_back
            .expect_err("rolled back")
            .message
            .rsplit(' ')
            .next()
            .expect("id")
            .to_owned();
        assert!(
            get_message(&store, &project.id, &id).await.is_err(),
            "no mail for a change that did not happen"
        );
        // A bad address is refused up front.
        let err = queue(&store, &project.id, "not an address", "1")
            .await
            .expect_err("bad address");
        assert_eq!(err.field.as_deref(), Some("to"));

        // A message claimed by a worker that died is marked failed, not resent.
        let id = queue(&store, &project.id, "carol@example.com", "555000")
            .await
            .expect("queued");
        let mut conn = store.conn().await.expect("conn");
        authgate_store::with_conn!(&mut conn, c => {
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            use authgate_store::schema::email_outbox;
            diesel::update(email_outbox::table.filter(email_outbox::id.eq(&id)))
                .set((email_outbox::status.eq("sending"), email_outbox::claimed_at.eq(Some(0i64))))
                .execute(c)
                .await
                .expect("simulate a crash mid-delivery");
        });
        drop(conn);
        assert_eq!(
            recover_interrupted(&store, &options())
                .await
                .expect("recover"),
            1
        );
        let m = get_message(&store, &project.id, &id)
            .await
            .expect("message");
        assert_eq!(m.status, "failed");
        assert!(
            m.last_error
                .as_deref()
                .is_some_and(|e| e.contains("not retried"))
        );

        // The worker delivers what is queued, woken at once.
        let inbox = Inbox::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("sink");
        let port = listener.local_addr().expect("addr").port();
        let sink = tokio::spawn(serve_smtp(listener, inbox.clone()));
        let mailer = Mailer::from_url(&format!("smtp://127.0.0.1:{port}"), "no-reply@example.com")
            .expect("mailer");
        let wake = Arc::new(tokio::sync::Notify::new());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = tokio::spawn(authgate_email::run_worker(
            store.clone(),
            mailer,
            options(),
            wake.clone(),
            shutdown.clone(),
        ));
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(
                queue(
                    &store,
                    &project.id,
                    &format!("user{i}@example.com"),
                    &format!("00000{i}"),
                )
                .await
                .expect("queued"),
            );
        }
        wake.notify_one();
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
        for id in ids {
            assert_eq!(
                get_message(&store, &project.id, &id)
                    .await
                    .expect("message")
                    .status,
                "sent"
            );
        }
        sink.abort();
    }
}
