//! Magic links: a sign-in link by mail, which also signs up an address
//! with no account and proves the address.

use chrono::{DateTime, Utc};
use serde_json::json;

use authgate_audit::NewAuditEvent;
use authgate_core::time::to_micros;
use authgate_core::{ChangeType, Conn, EventType, Outcome, RequestMeta, ToolError, settle};
use authgate_email::EmailKind;

use super::links::{LinkKind, LinkRequested};
use super::mfa::Tries;
use super::{
    Auth, LinkRequest, MagicVerify, SignedIn, UserChanges, admit, bad_token, mail_user, required,
    user_event, with_token,
};
use crate::codes::{self, Presented, TokenKind};
use crate::settings::human;
use crate::users::{self, UserRow};

impl Auth {
    /// `POST /auth/magic-link/request`: mails a sign-in link; an address
    /// with no account gets one (passwordless sign-up, throttled per IP
    /// like sign-ups). 202 either way.
    pub async fn request_magic_link(
        &self, project_id: &str, body: LinkRequest, meta: &RequestMeta,
    ) -> Result<(), ToolError> {
        let link = LinkRequested::new(LinkKind::MagicLink, project_id, &body, meta)?;
        self.request_link(link).await
    }

    /// Mails a sign-in link to the address (its account made when none).
    pub(super) async fn mail_magic_link(
        &self, conn: &mut Conn<'_>, link: &LinkRequested<'_>, base: &url::Url, now: DateTime<Utc>,
    ) -> Result<Result<(), ToolError>, ToolError> {
        let (project_id, meta, s) = (link.project_id, link.meta, &self.settings);
        let Some(user) = self
            .magic_link_user(conn, project_id, &link.email, meta, now)
            .await?
        else {
            // The address has no account and this client may make no more:
            // 202 all the same (a 429 here told unknown addresses apart).
            NewAuditEvent::auth(
                project_id,
                EventType::MagicLinkRequested,
                None,
                meta,
                Outcome::Denied,
            )
            .meta("reason", "sign_up_limit")
            .record(conn, now)
            .await?;
            return Ok(Ok(()));
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
            user.address()?,
            json!({
                "user": mail_user(&user),
                "link": with_token(base, &token),
                "expires_in": human(s.magic_link_ttl),
            }),
            now,
        )
        .await?;
        user_event(project_id, EventType::MagicLinkRequested, &user.id, meta)
            .record(conn, now)
            .await?;
        Ok(Ok(()))
    }

    /// The account of a magic-link address, made (and counted as a
    /// sign-up from this address) when there is none; none when this
    /// client's sign-up budget is spent.
    async fn magic_link_user(
        &self, conn: &mut Conn<'_>, project_id: &str, email: &str, meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRow>, ToolError> {
        if let Some(user) = users::load_by_email(conn, project_id, email).await? {
            return Ok(Some(user));
        }
        if self
            .count_sign_up(conn, project_id, meta, now)
            .await?
            .is_err()
        {
            return Ok(None);
        }
        let user = users::insert(conn, project_id, email.to_owned(), None, now).await?;
        user_event(project_id, EventType::SignUp, &user.id, meta)
            .meta("method", "magic_link")
            .record(conn, now)
            .await?;
        users::announce_user(conn, project_id, ChangeType::UserCreated, &user.id, now).await?;
        Ok(Some(user))
    }

    /// `POST /auth/magic-link/verify`: spends the link and signs in (the
    /// address is verified by it).
    pub async fn verify_magic_link(
        &self, project_id: &str, body: MagicVerify, meta: &RequestMeta,
    ) -> Result<SignedIn, ToolError> {
        required("token", &body.token)?;
        if let Some(code) = &body.mfa_code {
            super::six_digits("mfa_code", code)?;
        }
        let now = self.now();
        let link = Presented {
            project_id,
            token: &body.token,
            kind: TokenKind::MagicLink,
        };
        let bad = || bad_token("token", "sign-in link");
        settle(
            self.store
                .write(async |conn| {
                    admit(conn, project_id, Some("magic_link")).await?;
                    let Some(user_id) = codes::token_user(conn, link, now).await? else {
                        return Err(bad());
                    };
                    let mut user = users::load(conn, project_id, &user_id)
                        .await?
                        .ok_or_else(bad)?;
                    // The link proves the address: an unverified account is
                    // claimed first, so a squatter's second factor cannot
                    // stand in the owner's way (a failure below undoes it).
                    let claimed = self.claim(conn, &user, "magic_link", meta, now).await?;
                    let code = body.mfa_code.as_deref();
                    if let Err(refused) = self
                        .second_factor(conn, &user, code, Tries::CountHere, meta, now)
                        .await?
                    {
                        return Ok(Err(refused));
                    }
                    if codes::use_token(conn, link, now).await?.is_none() {
                        return Err(bad());
                    }
                    if !user.email_verified {
                        users::set_verified(conn, project_id, &user.id, true, to_micros(now))
                            .await?;
                        user.email_verified = true;
                        user_event(project_id, EventType::EmailVerified, &user.id, meta)
                            .meta("method", "magic_link")
                            .record(conn, now)
                            .await?;
                        // A claim that dropped a squatter's password or
                        // factor changed the user too.
                        let changes = UserChanges {
                            updated: claimed,
                            email_verified: true,
                        };
                        changes.announce(conn, project_id, &user.id, now).await?;
                    }
                    self.open_session(conn, user, meta, "magic_link", now)
                        .await
                        .map(Ok)
                })
                .await,
        )
    }
}
