//! The outbox: mail is a row written in the transaction of the change that
//! causes it, and a worker delivers it through SMTP. The worker claims a
//! row (`sending`) before it talks to the server and records the outcome
//! after, only while its claim stands; a row left `sending` by a crash is
//! marked failed, not retried, so no mail is ever sent twice. Failures are
//! retried with exponential backoff. A row holds the kind's variables; the
//! worker renders the project's template with them just before it sends,
//! outside any transaction and within the render budget (1 s), so a template
//! never holds a write lock. Once a row is settled (sent or failed) what it
//! held (variables, subject and bodies, which may hold one-time codes) is
//! cleared, and the row itself is purged after the retention.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use authgate_core::time::{from_micros, to_micros};
use authgate_core::{Clock, SystemClock, ToolError, new_id};
use authgate_store::schema::{email_outbox, email_templates, projects};
use authgate_store::{Conn, JsonText, Store, with_conn};

use crate::defaults::default_template;
use crate::devbox::DevMailbox;
use crate::kinds::{EmailKind, merge};
use crate::templates::{Rendered, TemplateRow, render, within_budget};

/// A message in the outbox. Bodies are cleared once sent.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OutboxMessage {
    pub id: String,
    pub kind: String,
    pub to: String,
    pub subject: String,
    /// pending, sending, sent or failed.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = email_outbox)]
struct OutboxRow {
    id: String,
    project_id: String,
    kind: String,
    to_address: String,
    subject: String,
    html_body: String,
    text_body: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: i64,
    claimed_at: Option<i64>,
    created_at: i64,
    sent_at: Option<i64>,
    /// The kind's variables, rendered at delivery (rows queued before
    /// rendering moved to delivery have none, and their bodies instead).
    variables: Option<JsonText<Value>>,
}

impl OutboxRow {
    fn message(&self) -> OutboxMessage {
        OutboxMessage {
            id: self.id.clone(),
            kind: self.kind.clone(),
            to: self.to_address.clone(),
            subject: self.subject.clone(),
            status: self.status.clone(),
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            next_attempt_at: from_micros(self.next_attempt_at),
            created_at: from_micros(self.created_at),
            sent_at: self.sent_at.map(from_micros),
        }
    }
}

fn parse_address(to: &str) -> Result<lettre::Address, ToolError> {
    to.trim()
        .parse::<lettre::Address>()
        .map_err(|_| ToolError::invalid("to", "not a valid email address"))
}

/// Rings when mail is queued (after its transaction commits), so a worker
/// in this process delivers it at once rather than at its next poll.
fn wake() -> &'static watch::Sender<u64> {
    static WAKE: OnceLock<watch::Sender<u64>> = OnceLock::new();
    WAKE.get_or_init(|| watch::channel(0).0)
}

/// Puts a mail of `kind` to `to` in the outbox, in the caller's unit of
/// work: it is sent only if that commits. `vars` are the kind's variables
/// (`project.name` is filled in).
pub async fn enqueue(
    conn: &mut Conn<'_>, project_id: &str, kind: EmailKind, to: &str, vars: Value,
    now: DateTime<Utc>,
) -> Result<String, ToolError> {
    let address = parse_address(to)?;
    let at = to_micros(now);
    let row = OutboxRow {
        id: new_id("eml"),
        project_id: project_id.to_owned(),
        kind: kind.as_str().to_owned(),
        to_address: address.to_string(),
        subject: String::new(),
        html_body: String::new(),
        text_body: String::new(),
        status: "pending".into(),
        attempts: 0,
        last_error: None,
        next_attempt_at: at,
        claimed_at: None,
        created_at: at,
        sent_at: None,
        variables: Some(JsonText(vars)),
    };
    with_conn!(conn, c => {
        diesel::insert_into(email_outbox::table)
            .values(&row)
            .execute(c)
            .await?;
    });
    conn.after_commit(|| {
        wake().send_modify(|n| *n = n.wrapping_add(1));
    });
    // One line per message; never the body, which may hold a code or link.
    tracing::info!(email_id = %row.id, kind = kind.as_str(), project_id, "email queued in the outbox");
    Ok(row.id)
}

pub async fn get_message(
    conn: &mut Conn<'_>, project_id: &str, id: &str,
) -> Result<OutboxMessage, ToolError> {
    let row: Option<OutboxRow> = with_conn!(conn, c => {
        email_outbox::table
            .filter(email_outbox::project_id.eq(project_id))
            .filter(email_outbox::id.eq(id))
            .select(OutboxRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    row.map(|r| r.message())
        .ok_or_else(|| ToolError::not_found(format!("email {id} not found")))
}

/// Where delivered mail goes: an SMTP server, or (with none configured)
/// the development mailbox.
#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dev(DevMailbox),
}

/// Delivery settings: the transport and the sender.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    /// `smtp://host:port`, `smtp://host?tls=required` or `smtps://host`.
    pub fn from_url(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP_URL is not usable: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        Ok(Mailer {
            transport: Transport::Smtp(transport),
            from: sender(from)?,
        })
    }

    /// Delivery into the development mailbox (`.eml` files in `dir`).
    pub fn dev_mailbox(dir: &std::path::Path, from: &str) -> Result<Mailer, String> {
        Ok(Mailer {
            transport: Transport::Dev(DevMailbox::new(dir)),
            from: sender(from)?,
        })
    }

    /// Sends one message (the row `id`'s): the error says why, and whether
    /// retrying cannot help.
    async fn send(&self, id: &str, message: Message) -> Result<(), (String, bool)> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| (e.to_string(), e.is_permanent())),
            Transport::Dev(mailbox) => {
                let (mailbox, id) = (mailbox.clone(), id.to_owned());
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || mailbox.store(&id, &bytes))
                    .await
                    .map_err(|e| (e.to_string(), false))?
                    .map_err(|e| (format!("writing to the development mailbox: {e}"), false))
            }
        }
    }
}

fn sender(from: &str) -> Result<Mailbox, String> {
    from.parse::<Mailbox>()
        .map_err(|e| format!("the sender address '{from}' is not valid: {e}"))
}

#[derive(Clone)]
pub struct DeliveryOptions {
    /// What "now" is for claims, retries and purges.
    pub clock: Arc<dyn Clock>,
    pub poll_interval: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub max_attempts: i64,
    /// A claim older than this belongs to a worker that died mid-delivery.
    pub stale_claim: Duration,
    /// Sent and failed rows are purged this long after they were queued
    /// (`AUTHGATE_OUTBOX_RETENTION`).
    pub retention: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            poll_interval: Duration::from_secs(2),
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 10,
            stale_claim: Duration::from_secs(300),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

fn backoff(options: &DeliveryOptions, attempts: i64) -> Duration {
    let factor = 2u32.saturating_pow(
        u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20),
    );
    options
        .base_backoff
        .saturating_mul(factor)
        .min(options.max_backoff)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn build_message(mailer: &Mailer, row: &OutboxRow, mail: Rendered) -> Result<Message, String> {
    let to: Mailbox = row
        .to_address
        .parse()
        .map_err(|e| format!("bad recipient: {e}"))?;
    Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(mail.subject)
        .message_id(Some(format!("<{}@authgate>", row.id)))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .header(ContentTransferEncoding::Base64)
                        .body(mail.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .header(ContentTransferEncoding::Base64)
                        .body(mail.html),
                ),
        )
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// The mail of a claimed row: its project's template for the kind (the
/// default when it has none) rendered with the row's variables, on a
/// blocking thread, outside any transaction, within the render budget. An
/// error is why the mail cannot be sent (a permanent failure).
async fn rendered(store: &Store, row: &OutboxRow) -> Result<Rendered, String> {
    let Some(JsonText(vars)) = &row.variables else {
        return Ok(Rendered {
            subject: row.subject.clone(),
            html: row.html_body.clone(),
            text: row.text_body.clone(),
        });
    };
    let kind =
        EmailKind::parse(&row.kind).ok_or_else(|| format!("unknown mail kind {}", row.kind))?;
    let project_id = row.project_id.as_str();
    let (project_name, custom): (String, Option<TemplateRow>) = store
        .autocommit(async |conn| {
            Ok::<_, ToolError>(with_conn!(conn, c => {
                let name = projects::table
                    .filter(projects::id.eq(project_id))
                    .select(projects::name)
                    .first(c)
                    .await?;
                let custom = email_templates::table
                    .filter(email_templates::project_id.eq(project_id))
                    .filter(email_templates::kind.eq(kind.as_str()))
                    .select(TemplateRow::as_select())
                    .first(c)
                    .await
                    .optional()?;
                (name, custom)
            }))
        })
        .await
        .map_err(|e| format!("the template could not be read: {}", e.message))?;
    let (subject, content) = match custom {
        Some(row) => (row.subject, row.content.0),
        None => {
            let (s, c) = default_template(kind);
            (s.to_owned(), c)
        }
    };
    let mut values = serde_json::json!({"project": {"name": project_name}});
    merge(&mut values, vars);
    within_budget(move || render(kind, &subject, &content, &values))
        .await
        .map_err(|e| format!("the template could not be rendered: {}", e.message))
}

/// Marks rows a dead worker left `sending` as failed: whether the server
/// took them is unknown, and sending again could send twice. Runs on every
/// pass of every worker, so a crash on any replica is recovered.
pub async fn recover_interrupted(
    store: &Store, options: &DeliveryOptions,
) -> Result<usize, ToolError> {
    let cutoff = to_micros(options.clock.now()) - micros(options.stale_claim);
    store
        .autocommit(async |conn| {
            Ok(with_conn!(conn, c => {
                diesel::update(
                    email_outbox::table
                        .filter(email_outbox::status.eq("sending"))
                        .filter(email_outbox::claimed_at.lt(cutoff)),
                )
                .set((
                    email_outbox::status.eq("failed"),
                    email_outbox::last_error.eq("delivery was interrupted; not retried so that no mail is sent twice"),
                    emptied(),
                ))
                .execute(c)
                .await?
            }))
        })
        .await
}

/// How many messages wait, and how many failed, across every project (for
/// the gateway's metrics; no project's data leaves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub failed: i64,
}

pub async fn counts(store: &Store) -> Result<OutboxCounts, ToolError> {
    store
        .read(async |conn| {
            let count =
                async |conn: &mut Conn<'_>, status: &'static str| -> Result<i64, ToolError> {
                    Ok(with_conn!(conn, c => {
                        email_outbox::table
                            .filter(email_outbox::status.eq(status))
                            .count()
                            .get_result(c)
                            .await?
                    }))
                };
            Ok(OutboxCounts {
                pending: count(conn, "pending").await?,
                failed: count(conn, "failed").await?,
            })
        })
        .await
}

/// Deletes sent and failed rows queued longer ago than the retention.
pub async fn purge_settled(store: &Store, options: &DeliveryOptions) -> Result<usize, ToolError> {
    let cutoff = to_micros(options.clock.now()) - micros(options.retention);
    store
        .autocommit(async |conn| {
            Ok(with_conn!(conn, c => {
                diesel::delete(
                    email_outbox::table
                        .filter(email_outbox::status.eq_any(["sent", "failed"]))
                        .filter(email_outbox::created_at.lt(cutoff)),
                )
                .execute(c)
                .await?
            }))
        })
        .await
}

/// Flips one row from `pending` to `sending`; only one worker wins.
async fn claim(store: &Store, id: &str, at: i64) -> Result<Option<OutboxRow>, ToolError> {
    store
        .autocommit(async |conn| {
            let claimed = with_conn!(conn, c => {
                diesel::update(
                    email_outbox::table
                        .filter(email_outbox::id.eq(id))
                        .filter(email_outbox::status.eq("pending")),
                )
                .set((email_outbox::status.eq("sending"), email_outbox::claimed_at.eq(Some(at))))
                .execute(c)
                .await?
            });
            if claimed != 1 {
                return Ok(None);
            }
            let row = with_conn!(conn, c => {
                email_outbox::table
                    .filter(email_outbox::id.eq(id))
                    .select(OutboxRow::as_select())
                    .first(c)
                    .await?
            });
            Ok(Some(row))
        })
        .await
}

/// Delivers up to `batch` due messages; returns how many were attempted.
pub async fn deliver_due(
    store: &Store, mailer: &Mailer, options: &DeliveryOptions, batch: i64,
) -> Result<usize, ToolError> {
    let now = to_micros(options.clock.now());
    let due: Vec<String> = store
        .autocommit(async |conn| {
            Ok::<_, ToolError>(with_conn!(conn, c => {
                email_outbox::table
                    .filter(email_outbox::status.eq("pending"))
                    .filter(email_outbox::next_attempt_at.le(now))
                    .order(email_outbox::next_attempt_at.asc())
                    .select(email_outbox::id)
                    .limit(batch)
                    .load(c)
                    .await?
            }))
        })
        .await?;
    let mut attempted = 0;
    for id in due {
        let Some(row) = claim(store, &id, now).await? else {
            continue;
        };
        attempted += 1;
        let built = match rendered(store, &row).await {
            Ok(mail) => build_message(mailer, &row, mail),
            Err(e) => Err(e),
        };
        let outcome = match built {
            Ok(message) => mailer.send(&row.id, message).await,
            Err(e) => Err((e, true)),
        };
        let settled = settle(store, options, &row, now, outcome).await?;
        if !settled {
            // Recovery marked it failed meanwhile (this worker looked dead).
            tracing::warn!(email_id = %id, "email outcome arrived after its claim was recovered");
        }
    }
    Ok(attempted)
}

/// Records the outcome of one attempt, only if this worker's claim still
/// stands (`status = 'sending'` with its claim time).
async fn settle(
    store: &Store, options: &DeliveryOptions, row: &OutboxRow, claimed_at: i64,
    outcome: Result<(), (String, bool)>,
) -> Result<bool, ToolError> {
    let done = to_micros(options.clock.now());
    let attempts = row.attempts + 1;
    let id = row.id.as_str();
    let changed = store
        .autocommit(async |conn| {
            let mine = email_outbox::table
                .filter(email_outbox::id.eq(id))
                .filter(email_outbox::status.eq("sending"))
                .filter(email_outbox::claimed_at.eq(Some(claimed_at)));
            Ok::<_, ToolError>(match &outcome {
                Ok(()) => with_conn!(conn, c => {
                    diesel::update(mine)
                        .set((
                            email_outbox::status.eq("sent"),
                            email_outbox::sent_at.eq(Some(done)),
                            email_outbox::attempts.eq(attempts),
                            email_outbox::last_error.eq(None::<String>),
                            emptied(),
                        ))
                        .execute(c)
                        .await?
                }),
                Err((error, permanent)) => {
                    let give_up = *permanent || attempts >= options.max_attempts;
                    let next = done + micros(backoff(options, attempts));
                    let error: String = error.chars().take(500).collect();
                    with_conn!(conn, c => {
                        if give_up {
                            diesel::update(mine)
                                .set((
                                    email_outbox::status.eq("failed"),
                                    email_outbox::attempts.eq(attempts),
                                    email_outbox::last_error.eq(Some(&error)),
                                    email_outbox::claimed_at.eq(None::<i64>),
                                    emptied(),
                                ))
                                .execute(c)
                                .await?
                        } else {
                            diesel::update(mine)
                                .set((
                                    email_outbox::status.eq("pending"),
                                    email_outbox::attempts.eq(attempts),
                                    email_outbox::last_error.eq(Some(&error)),
                                    email_outbox::next_attempt_at.eq(next),
                                    email_outbox::claimed_at.eq(None::<i64>),
                                ))
                                .execute(c)
                                .await?
                        }
                    })
                }
            })
        })
        .await?;
    match &outcome {
        Ok(()) => tracing::info!(email_id = %id, "email delivered"),
        Err((error, _)) => {
            tracing::warn!(email_id = %id, attempts, error = %error, "email delivery failed")
        }
    }
    Ok(changed == 1)
}

/// How often a worker purges settled rows.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Runs the delivery loop until `shutdown`: each pass recovers claims of
/// dead workers, purges settled rows past the retention (at most once a
/// minute) and delivers what is due; between passes it waits for mail
/// queued in this process, or the poll interval (mail queued by another
/// gateway, or due for a retry).
pub async fn run_worker(
    store: Store, mailer: Mailer, options: DeliveryOptions, shutdown: CancellationToken,
) {
    const BATCH: i64 = 20;
    let mut queued = wake().subscribe();
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        queued.mark_unchanged();
        if let Err(e) = recover_interrupted(&store, &options).await {
            tracing::warn!(error = %e, "could not recover interrupted deliveries");
        }
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(std::time::Instant::now());
            match purge_settled(&store, &options).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged settled outbox rows"),
                Err(e) => tracing::warn!(error = %e, "could not purge the outbox"),
            }
        }
        let attempted = match deliver_due(&store, &mailer, &options, BATCH).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "email delivery pass failed");
                0
            }
        };
        if attempted as i64 == BATCH {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = queued.changed() => {}
            () = tokio::time::sleep(options.poll_interval) => {}
        }
    }
}

type Emptied = (
    diesel::dsl::Eq<email_outbox::subject, &'static str>,
    diesel::dsl::Eq<email_outbox::html_body, &'static str>,
    diesel::dsl::Eq<email_outbox::text_body, &'static str>,
    diesel::dsl::Eq<email_outbox::variables, Option<&'static str>>,
);

/// What a settled message keeps of its content: nothing (its variables
/// and bodies may have held one-time codes and links).
fn emptied() -> Emptied {
    (
        email_outbox::subject.eq(""),
        email_outbox::html_body.eq(""),
        email_outbox::text_body.eq(""),
        email_outbox::variables.eq(None),
    )
}
