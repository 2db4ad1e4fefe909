//! SMS sign-in (issue 21): `request` sends a six-digit code to a number
//! and answers 202 whether or not the number has an account; `verify`
//! spends the code and signs in, making the number's user on its first
//! verify (a verified phone, no email). SMS pumping is held off by three
//! caps counted before anything is sent: per number, per client address,
//! and per project a day (`AUTHGATE_SMS_DAILY_CAP`); a cap that is hit
//! answers 429 with Retry-After and is audited as `sms.limited`, which the
//! `sms_pumping` detection rule turns into a security alert.

use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde::Deserialize;

use authgate_audit::NewAuditEvent;
use authgate_core::hash::keyed_hash;
use authgate_core::{ChangeType, Conn, EventType, Outcome, RequestMeta, ToolError, settle};

use super::mfa::Tries;
use super::{Auth, SignedIn, admit, count, six_digits, user_event};
use crate::phone::{Phone, normalize_phone};
use crate::settings::human;
use crate::sms::codes::{self, Entered};
use crate::sms::twilio;
use crate::throttle::Limit;
use crate::users;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsRequest {
    pub phone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsVerify {
    pub phone: String,
    pub code: String,
    /// The current TOTP code, when the user has two-step verification.
    pub mfa_code: Option<String>,
}

/// One cap an SMS is counted against.
struct Cap<'a> {
    /// `number`, `client` or `daily`.
    name: &'a str,
    /// The counter's subject.
    subject: &'a str,
    limit: Limit,
}

/// What `request` sends, once its unit of work has committed.
struct Outgoing {
    account_sid: String,
    auth_token: String,
    sender: String,
    body: String,
}

fn wrong_code() -> ToolError {
    ToolError::invalid(
        "code",
        "this code is wrong, expired or used up; request a new one",
    )
}

impl Auth {
    fn phone_subject(&self, project_id: &str, phone: &str) -> String {
        // Keyed, so the counters name no number.
        format!(
            "sms:num:{}",
            keyed_hash(&self.keys.codes, &["sms", project_id, phone])
        )
    }

    /// Counts one SMS against a cap; over it, the refusal (429) and its
    /// `sms.limited` record, which raises the alert.
    async fn sms_cap(
        &self, conn: &mut Conn<'_>, project_id: &str, cap: Cap<'_>, meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let Cap {
            name: cap,
            subject,
            limit,
        } = cap;
        let message = match cap {
            "daily" => "this project sent its SMS for today; retry tomorrow",
            "client" => "too many codes were asked from this address; retry later",
            _ => "too many codes were sent to this number; retry later",
        };
        let counted = count(conn, project_id, subject, limit, message, now).await?;
        if counted.is_err() {
            NewAuditEvent::auth(
                project_id,
                EventType::SmsLimited,
                None,
                meta,
                Outcome::Denied,
            )
            .meta("cap", cap)
            .meta("subject", subject)
            .record(conn, now)
            .await?;
        }
        Ok(counted)
    }

    /// `POST /auth/sms/request`: 202 whatever the number; 400 for a number
    /// that does not parse or is outside `allowed_countries`; 429 over a cap.
    pub async fn request_sms(
        &self, project_id: &str, body: SmsRequest, meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let Phone { e164, country } = normalize_phone("phone", &body.phone)?;
        let now = self.now();
        let s = &self.settings.sms;
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let outgoing = settle(
            self.store
                .write(async |conn: &mut Conn<'_>| {
                    admit(conn, project_id, Some("sms")).await?;
                    let config = authgate_project::provider_config(
                        conn,
                        &self.keys.encryption,
                        project_id,
                        "sms",
                    )
                    .await?
                    .ok_or_else(|| ToolError::internal("sms is enabled without its settings"))?;
                    if let Some(allowed) = &config.options.allowed_countries
                        && !country.as_ref().is_some_and(|c| allowed.contains(c))
                    {
                        return Err(ToolError::invalid(
                            "phone",
                            "numbers of this country cannot sign in to this project",
                        )
                        .with_hint(format!("allowed countries: {}", allowed.join(", "))));
                    }
                    let by_number = self.phone_subject(project_id, &e164);
                    if let Err(e) = self
                        .sms_cap(
                            conn,
                            project_id,
                            Cap {
                                name: "number",
                                subject: &by_number,
                                limit: s.per_number,
                            },
                            meta,
                            now,
                        )
                        .await?
                    {
                        return Ok(Err(e));
                    }
                    if let Some(ip) = &meta.ip {
                        let by_client = format!("sms:ip:{}", authgate_core::net::bucket_of(ip));
                        if let Err(e) = self
                            .sms_cap(
                                conn,
                                project_id,
                                Cap {
                                    name: "client",
                                    subject: &by_client,
                                    limit: s.per_client,
                                },
                                meta,
                                now,
                            )
                            .await?
                        {
                            return Ok(Err(e));
                        }
                    }
                    let daily = Limit {
                        max: s.daily_cap,
                        window: chrono::Duration::days(1),
                    };
                    if let Err(e) = self
                        .sms_cap(
                            conn,
                            project_id,
                            Cap {
                                name: "daily",
                                subject: "sms:daily",
                                limit: daily,
                            },
                            meta,
                            now,
                        )
                        .await?
                    {
                        return Ok(Err(e));
                    }
                    codes::issue(
                        conn,
                        &self.keys.codes,
                        project_id,
                        &e164,
                        &code,
                        s.code_ttl,
                        now,
                    )
                    .await?;
                    let project = authgate_project::get_project(conn, project_id).await?;
                    NewAuditEvent::auth(
                        project_id,
                        EventType::SmsCodeSent,
                        None,
                        meta,
                        Outcome::Success,
                    )
                    .record(conn, now)
                    .await?;
                    Ok(Ok(Outgoing {
                        account_sid: config.client_id.unwrap_or_default(),
                        auth_token: config.client_secret.unwrap_or_default(),
                        sender: config.options.sender.unwrap_or_default(),
                        body: format!(
                            "Your {} code is {code}. It expires in {}.",
                            project.name,
                            human(s.code_ttl)
                        ),
                    }))
                })
                .await,
        )?;
        // Sent after the commit, outside any transaction; a failure is the
        // operator's to see in the log (the answer stays 202).
        let message = twilio::Message {
            account_sid: &outgoing.account_sid,
            auth_token: &outgoing.auth_token,
            sender: &outgoing.sender,
            to: &e164,
            body: &outgoing.body,
        };
        if let Err(failure) =
            twilio::send(&self.settings.social.http, &s.twilio_base, &message).await
        {
            tracing::warn!(project_id, detail = %failure, "an SMS code could not be sent");
        }
        Ok(())
    }

    /// `POST /auth/sms/verify`: the code for a session; the number's user
    /// is made on its first verify.
    pub async fn verify_sms(
        &self, project_id: &str, body: SmsVerify, meta: &RequestMeta,
    ) -> Result<SignedIn, ToolError> {
        let Phone { e164, .. } = normalize_phone("phone", &body.phone)?;
        let code = six_digits("code", &body.code)?;
        if let Some(c) = &body.mfa_code {
            six_digits("mfa_code", c)?;
        }
        let now = self.now();
        let s = &self.settings.sms;
        settle(
            self.store
                .write(async |conn: &mut Conn<'_>| {
                    admit(conn, project_id, Some("sms")).await?;
                    // Numbers sign up once: two verifies at once must not both.
                    conn.lock_project(project_id).await?;
                    let existing = users::load_by_phone(conn, project_id, &e164).await?;
                    // A user with two-step verification enters its code
                    // before the SMS code is spent.
                    if let Some(user) = &existing
                        && let Err(refused) = self
                            .second_factor(
                                conn,
                                user,
                                body.mfa_code.as_deref(),
                                Tries::CountHere,
                                meta,
                                now,
                            )
                            .await?
                    {
                        return Ok(Err(refused));
                    }
                    let key = &self.keys.codes;
                    match codes::enter(conn, key, project_id, &e164, &code, s.max_tries, now)
                        .await?
                    {
                        Entered::Right => {}
                        Entered::Wrong | Entered::NoCode => {
                            NewAuditEvent::auth(
                                project_id,
                                EventType::SignInFailed,
                                existing.as_ref().map(|u| u.id.as_str()),
                                meta,
                                Outcome::Denied,
                            )
                            .meta("method", "sms")
                            .meta("reason", "wrong_code")
                            .record(conn, now)
                            .await?;
                            return Ok(Err(wrong_code()));
                        }
                    }
                    let user = match existing {
                        Some(user) => user,
                        None => {
                            if let Err(e) = self.count_sign_up(conn, project_id, meta, now).await? {
                                return Ok(Err(e));
                            }
                            let user = users::insert_phone(conn, project_id, &e164, now).await?;
                            user_event(project_id, EventType::SignUp, &user.id, meta)
                                .meta("method", "sms")
                                .record(conn, now)
                                .await?;
                            let created = ChangeType::UserCreated;
                            users::announce_user(conn, project_id, created, &user.id, now).await?;
                            user
                        }
                    };
                    self.open_session(conn, user, meta, "sms", now)
                        .await
                        .map(Ok)
                })
                .await,
        )
    }
}
