//! Magic links: a sign-in link by mail, which also signs up an address
//! with no account and proves the address.

use chrono::{DateTime, Utc};
use serde_json::json;

use authgate_audit::NewAuditEvent;
use authgate_core::time::to_micros;
use authgate_core::{Conn, EventType, Outcome, RequestMeta, ToolError, settle};
use authgate_email::EmailKind;

use super::{
    Auth, LinkRequest, MagicVerify, SignedIn, admit, bad_token, count, mail_user, required,
    with_token,
};
use crate::codes::{self, TokenKind};
use crate::settings::human;
use crate::throttle;
use crate::users::{self, UserRow};

impl Auth {
    /// `POST /auth/magic-link/request`: mails a sign-in link; an address
    /// with no account gets one (passwordless sign-up, throttled per IP
    /// like sign-ups). 202 either way.
    pub async fn request_magic_link(
        &self,
        project_id: &str,
        body: LinkRequest,
        meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let email = users::normalize_email("email", &body.email)?;
        let now = self.now();
        let s = &self.settings;
        let subject = self.account_subject("mail", project_id, &email);
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, Some("magic_link")).await?;
                    let redirect = body.redirect_url.as_deref();
                    let base = authgate_project::link_target(conn, project_id, redirect).await?;
                    let message = "too many mails were requested for this address; retry later";
                    if let Err(refused) =
                        count(conn, project_id, &subject, s.mail_per_account, message, now).await?
                    {
                        return Ok(Err(refused));
                    }
                    let user = match self
                        .magic_link_user(conn, project_id, &email, meta, now)
                        .await?
                    {
                        Ok(user) => user,
                        Err(refused) => return Ok(Err(refused)),
                    };
                    let (token, _) = codes::new_token(
                        conn,
                        project_id,
                        &user.id,
                        TokenKind::MagicLink,
                        s.magic_link_ttl,
                        now,
                    )
                    .await?;
                    authgate_email::enqueue(
                        conn,
                        project_id,
                        EmailKind::MagicLink,
                        &user.email,
                        json!({
                            "user": mail_user(&user),
                            "link": with_token(&base, &token),
                            "expires_in": human(s.magic_link_ttl),
                        }),
                        now,
                    )
                    .await?;
                    NewAuditEvent::auth(
                        project_id,
                        EventType::MagicLinkRequested,
                        Some(&user.id),
                        meta,
                        Outcome::Success,
                    )
                    .record(conn, now)
                    .await?;
                    Ok(Ok(()))
                })
                .await,
        )
    }

    /// The account of a magic-link address, made (and counted as a
    /// sign-up from this address) when there is none.
    async fn magic_link_user(
        &self,
        conn: &mut Conn<'_>,
        project_id: &str,
        email: &str,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<Result<UserRow, ToolError>, ToolError> {
        if let Some(user) = users::load_by_email(conn, project_id, email).await? {
            return Ok(Ok(user));
        }
        if let Some(ip) = &meta.ip {
            let subject = format!("signup:ip:{ip}");
            let message = "too many sign-ups from this address; retry later";
            let limit = self.settings.sign_up_per_ip;
            if let Err(refused) = count(conn, project_id, &subject, limit, message, now).await? {
                return Ok(Err(refused));
            }
        }
        let user = users::insert(conn, project_id, email.to_owned(), None, now).await?;
        NewAuditEvent::auth(
            project_id,
            EventType::SignUp,
            Some(&user.id),
            meta,
            Outcome::Success,
        )
        .meta("method", "magic_link")
        .record(conn, now)
        .await?;
        Ok(Ok(user))
    }

    /// `POST /auth/magic-link/verify`: spends the link and signs in (the
    /// address is verified by it).
    pub async fn verify_magic_link(
        &self,
        project_id: &str,
        body: MagicVerify,
        meta: &RequestMeta,
    ) -> Result<SignedIn, ToolError> {
        required("token", &body.token)?;
        if let Some(code) = &body.mfa_code {
            super::six_digits("mfa_code", code)?;
        }
        let now = self.now();
        let kind = TokenKind::MagicLink;
        let bad = || bad_token("token", "sign-in link");
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, Some("magic_link")).await?;
                    let Some(user_id) =
                        codes::token_user(conn, project_id, &body.token, kind, now).await?
                    else {
                        return Err(bad());
                    };
                    let mut user = users::load(conn, project_id, &user_id)
                        .await?
                        .ok_or_else(bad)?;
                    let code = body.mfa_code.as_deref();
                    if let Err(refused) = self
                        .link_second_factor(conn, &user, code, meta, now)
                        .await?
                    {
                        return Ok(Err(refused));
                    }
                    if codes::use_token(conn, project_id, &body.token, kind, now)
                        .await?
                        .is_none()
                    {
                        return Err(bad());
                    }
                    if !user.email_verified {
                        users::set_verified(conn, project_id, &user.id, true, to_micros(now))
                            .await?;
                        user.email_verified = true;
                        NewAuditEvent::auth(
                            project_id,
                            EventType::EmailVerified,
                            Some(&user.id),
                            meta,
                            Outcome::Success,
                        )
                        .meta("method", "magic_link")
                        .record(conn, now)
                        .await?;
                    }
                    self.open_session(conn, user, meta, "magic_link", now)
                        .await
                        .map(Ok)
                })
                .await,
        )
    }

    /// The second factor after a link, for a user who has one: codes tried
    /// after a link count like sign-in attempts.
    async fn link_second_factor(
        &self,
        conn: &mut Conn<'_>,
        user: &UserRow,
        code: Option<&str>,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let project_id = user.project_id.as_str();
        if !crate::mfa::required(conn, project_id, &user.id).await? {
            return Ok(Ok(()));
        }
        let account = self.account_subject("signin", project_id, &user.email);
        let message = "too many sign-in attempts; retry later";
        let limit = self.settings.sign_in_per_account;
        if let Err(refused) = count(conn, project_id, &account, limit, message, now).await? {
            return Ok(Err(refused));
        }
        if let Err(refused) = self.second_factor(conn, user, code, meta, now).await? {
            return Ok(Err(refused));
        }
        throttle::clear(conn, project_id, &account, now).await?;
        Ok(Ok(()))
    }
}
