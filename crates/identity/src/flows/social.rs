//! Social sign-in (SPEC 6, issue 21): the browser is sent to the provider
//! with our own state, PKCE and nonce and a browser-binding cookie; the
//! provider's callback spends the state, exchanges the code outside any
//! transaction (10 s budget), finds or makes the user, and sends the
//! browser back to the app with a one-time code; the app redeems that code
//! for a session (with its PKCE verifier, or from its server with a
//! write-scoped key).
//!
//! Linking: a known (provider, subject) signs in its user whatever its
//! address is now. Otherwise an address the provider vouches for signs in
//! the user who has it (an unverified account is claimed first: its
//! password, sessions and second factors go) and links the subject; an
//! address the provider does not vouch for never links: it makes a new,
//! unverified user when free, else the sign-in is refused with
//! `account_conflict`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use authgate_audit::NewAuditEvent;
use authgate_core::hash::sha256_hex;
use authgate_core::secrets::{new_secret, same};
use authgate_core::time::to_micros;
use authgate_core::{
    ChangeType, Conn, ErrorCode, EventType, Outcome, RequestMeta, ToolError, crypto, settle,
};

use super::mfa::Tries;
use super::{
    Auth, SignedIn, UserChanges, admit, bad_token, required, six_digits, unauthenticated,
    user_event,
};
use crate::social::Profile;
use crate::social::exchange::{self, Exchange};
use crate::social::grants::{self, CODE_TTL, NewCode, NewState, STATE_TTL};
use crate::social::providers::{AuthorizeRequest, Provider, authorize_url};
use crate::social::{ProviderFailure, accounts};
use crate::users::{self, UserRow};

/// The path the binding cookie is sent on.
const COOKIE_PATH: &str = "/api/v1/auth/oauth";

/// `GET /auth/oauth/{provider}/start`'s query.
#[derive(Deserialize, Default)]
pub struct OAuthStart {
    pub project_id: Option<String>,
    pub redirect_url: Option<String>,
    /// The app's own state, handed back at the end.
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Where to send the browser, and the cookie to set (or clear) there.
pub struct OAuthRedirect {
    pub location: String,
    pub set_cookie: String,
}

/// What the provider sends to the callback (query, or Apple's form).
/// Providers add fields of their own (scope, iss, hd...): they are let be.
#[derive(Deserialize, Default)]
pub struct OAuthCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// Apple's first sign-in: the user's name, as JSON.
    pub user: Option<String>,
}

/// How a callback ends.
pub enum Landing {
    /// Back to the app (with a code or an `error=`).
    Redirect(OAuthRedirect),
    /// No usable state: there is nowhere to send the browser (400).
    Refused(ToolError),
}

/// `POST /auth/oauth/token`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthToken {
    pub code: String,
    pub redirect_url: String,
    /// The PKCE verifier, when the app sent a code_challenge at start.
    pub code_verifier: Option<String>,
    /// The current TOTP code, when the user has two-step verification.
    pub mfa_code: Option<String>,
}

/// A social sign-in's session.
#[derive(Serialize)]
pub struct OAuthSignedIn {
    #[serde(flatten)]
    pub signed_in: SignedIn,
    pub is_new_user: bool,
    pub provider: String,
}

/// The redirect error codes (RFC 6749 4.1.2.1 and ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    AccessDenied,
    ProviderError,
    EmailNotVerified,
    AccountConflict,
}

impl Failure {
    fn code(self) -> &'static str {
        match self {
            Failure::AccessDenied => "access_denied",
            Failure::ProviderError => "provider_error",
            Failure::EmailNotVerified => "email_not_verified",
            Failure::AccountConflict => "account_conflict",
        }
    }
}

fn invalid_state() -> ToolError {
    ToolError::invalid(
        "state",
        "this sign-in is unknown, expired or already finished, or was started in another browser",
    )
    .with_hint("start the sign-in again from the app")
}

/// The binding cookie of a state: its name depends on the state, so two
/// sign-ins in one browser do not overwrite each other's.
fn cookie_name(state: &str) -> String {
    format!("ag_oauth_{}", &sha256_hex(state)[..16])
}

/// `S256`: base64url(SHA-256(verifier)).
fn s256(verifier: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(authgate_core::hash::sha256(verifier.as_bytes()))
}

fn is_pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn verifier_aad(state_hash: &str) -> String {
    format!("oauth_state/{state_hash}")
}

fn with_params(base: &str, params: &[(&str, &str)]) -> Result<String, ToolError> {
    let mut url = url::Url::parse(base).map_err(ToolError::internal)?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

impl Auth {
    fn cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        let site = if self.settings.public_url.starts_with("https://") {
            "SameSite=None; Secure"
        } else {
            "SameSite=Lax"
        };
        format!("{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; {site}")
    }

    /// `GET /auth/oauth/{provider}/start`: checks the request, writes the
    /// state and answers where to send the browser.
    pub async fn start_oauth(
        &self, provider: &str, q: OAuthStart, meta: &RequestMeta,
    ) -> Result<OAuthRedirect, ToolError> {
        let provider = Provider::parse(provider).ok_or_else(|| {
            ToolError::new(
                ErrorCode::NotFound,
                format!("{provider:.40} is not an OAuth provider"),
            )
            .with_field("provider")
            .with_hint("use google, github, discord, azure or apple")
        })?;
        let project_id = q.project_id.as_deref().map(str::trim).unwrap_or_default();
        required("project_id", project_id)?;
        let redirect_url = q.redirect_url.as_deref().map(str::trim).unwrap_or_default();
        required("redirect_url", redirect_url)?;
        if let Some(s) = &q.state
            && (s.len() > 1024 || s.chars().any(char::is_control))
        {
            return Err(ToolError::invalid(
                "state",
                "state must be at most 1024 printable characters",
            ));
        }
        match q.code_challenge_method.as_deref() {
            None | Some("S256") => {}
            Some(_) => {
                return Err(ToolError::invalid(
                    "code_challenge_method",
                    "code_challenge_method must be S256",
                ));
            }
        }
        if let Some(c) = &q.code_challenge
            && !is_pkce_text(c)
        {
            return Err(ToolError::invalid(
                "code_challenge",
                "code_challenge must be base64url(SHA-256(code_verifier)): 43 characters",
            ));
        }
        if q.code_challenge.is_none() && q.code_challenge_method.is_some() {
            return Err(ToolError::invalid(
                "code_challenge",
                "code_challenge_method was sent without a code_challenge",
            ));
        }
        let name = provider.name();
        let read = self
            .store
            .read(async |conn: &mut Conn<'_>| {
                authgate_project::require_project(conn, project_id, "project_id").await?;
                authgate_project::link_target(conn, project_id, Some(redirect_url)).await?;
                let config = authgate_project::provider_config(
                    conn,
                    &self.keys.encryption,
                    project_id,
                    name,
                )
                .await?;
                match config {
                    Some(c) if c.enabled && c.client_id.is_some() && c.client_secret.is_some() => {
                        Ok(c)
                    }
                    _ => Err(ToolError::precondition(format!(
                        "{name} sign-in is not enabled for this project"
                    ))
                    .with_field("provider")
                    .with_hint(format!(
                        "enable it with configure_auth_providers ({name}: enabled, with its client_id and client_secret)"
                    ))),
                }
            })
            .await;
        let config = match read {
            Ok(config) => config,
            Err(e) => {
                // A crafted redirect_url is someone probing for an open
                // redirect: audited in the project it named.
                if e.field.as_deref() == Some("redirect_url") {
                    let detail = "redirect_url is not one of the project's callback URLs";
                    self.refuse_social(project_id, name, "invalid_redirect_url", detail, meta)
                        .await;
                }
                return Err(e);
            }
        };
        let social = &self.settings.social;
        let endpoint = if provider.is_oidc() {
            let tenant = config.options.tenant.as_deref().unwrap_or("common");
            exchange::discovery(social, provider, tenant)
                .await
                .map_err(|f| {
                    tracing::warn!(provider = name, detail = %f, "oauth discovery failed");
                    ToolError::new(
                        ErrorCode::Unavailable,
                        format!("{name}'s discovery document could not be read; retry later"),
                    )
                    .retryable(true)
                })?
                .authorization_endpoint
        } else {
            social
                .endpoints
                .fixed(provider)
                .map(|(authorize, _)| authorize)
                .unwrap_or_default()
        };
        let state = new_secret("");
        let verifier = new_secret("");
        let nonce = new_secret("");
        let binding = new_secret("");
        let state_hash = sha256_hex(&state);
        let verifier_enc =
            crypto::encrypt(&self.keys.encryption, &verifier_aad(&state_hash), &verifier)?;
        let scopes = config
            .options
            .scopes
            .as_ref()
            .map(|s| s.join(" "))
            .unwrap_or_else(|| provider.default_scopes().to_owned());
        let redirect_uri = authgate_project::redirect_uri(&self.settings.public_url, name);
        let location = authorize_url(&AuthorizeRequest {
            endpoint: &endpoint,
            provider,
            client_id: config.client_id.as_deref().unwrap_or_default(),
            redirect_uri: &redirect_uri,
            scopes: &scopes,
            state: &state,
            nonce: &nonce,
            code_challenge: &s256(&verifier),
            hosted_domain: config.options.hosted_domain.as_deref(),
        })
        .map_err(ToolError::internal)?;
        let now = self.now();
        let (nonce_hash, binding_hash) = (sha256_hex(&nonce), sha256_hex(&binding));
        self.store
            .write(async |conn: &mut Conn<'_>| {
                grants::insert_state(
                    conn,
                    NewState {
                        state_hash: &state_hash,
                        project_id,
                        provider: name,
                        redirect_url,
                        app_state: q.state.as_deref(),
                        code_challenge: q.code_challenge.as_deref(),
                        verifier_enc: &verifier_enc,
                        nonce_hash: &nonce_hash,
                        binding_hash: &binding_hash,
                        created_at: to_micros(now),
                        expires_at: to_micros(now + STATE_TTL),
                    },
                )
                .await
            })
            .await?;
        Ok(OAuthRedirect {
            location,
            set_cookie: self.cookie(&cookie_name(&state), &binding, STATE_TTL.num_seconds()),
        })
    }

    /// Records a refused social sign-in in its project.
    async fn refuse_social(
        &self, project_id: &str, provider: &str, reason: &str, detail: &str, meta: &RequestMeta,
    ) {
        let event = NewAuditEvent::auth(
            project_id,
            EventType::SignInFailed,
            None,
            meta,
            Outcome::Denied,
        )
        .meta("method", format!("oauth:{provider}"))
        .meta("reason", reason)
        .meta("detail", detail.chars().take(300).collect::<String>());
        authgate_audit::record_alone(&self.store, event, self.now()).await;
    }

    /// `GET|POST /auth/oauth/{provider}/callback`.
    pub async fn oauth_callback(
        &self, provider: &str, p: OAuthCallback, cookies: Option<&str>, meta: &RequestMeta,
    ) -> Landing {
        match self.callback_steps(provider, p, cookies, meta).await {
            Ok(landing) => landing,
            Err(e) => Landing::Refused(e),
        }
    }

    async fn callback_steps(
        &self, provider: &str, p: OAuthCallback, cookies: Option<&str>, meta: &RequestMeta,
    ) -> Result<Landing, ToolError> {
        let state = p.state.as_deref().unwrap_or_default();
        if state.is_empty() || state.len() > 200 {
            return Ok(Landing::Refused(invalid_state()));
        }
        let state_hash = sha256_hex(state);
        let now = self.now();
        let row = self
            .store
            .write(async |conn: &mut Conn<'_>| grants::take_state(conn, &state_hash, now).await)
            .await?;
        let Some(row) = row.filter(|r| r.provider == provider) else {
            let owner = self
                .store
                .read(async |conn: &mut Conn<'_>| grants::state_owner(conn, &state_hash).await)
                .await?;
            if let Some((project_id, provider)) = owner {
                let detail = "the state was spent, expired or is another provider's";
                self.refuse_social(&project_id, &provider, "invalid_state", detail, meta)
                    .await;
            }
            return Ok(Landing::Refused(invalid_state()));
        };
        let name = cookie_name(state);
        let presented = cookies
            .unwrap_or_default()
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim());
        if !presented.is_some_and(|v| same(&sha256_hex(v), &row.binding_hash)) {
            let detail = "the browser-binding cookie is missing or is not this sign-in's";
            self.refuse_social(&row.project_id, provider, "binding_cookie", detail, meta)
                .await;
            return Ok(Landing::Refused(invalid_state()));
        }
        let clear = self.cookie(&name, "", 0);
        let app_state = row.app_state.clone().unwrap_or_default();
        let back = |failure: Failure| -> Result<Landing, ToolError> {
            let mut params = vec![("error", failure.code())];
            if row.app_state.is_some() {
                params.push(("state", app_state.as_str()));
            }
            Ok(Landing::Redirect(OAuthRedirect {
                location: with_params(&row.redirect_url, &params)?,
                set_cookie: clear.clone(),
            }))
        };
        if let Some(error) = &p.error {
            let detail = format!("the provider answered error={error:.64}");
            self.refuse_social(&row.project_id, provider, "access_denied", &detail, meta)
                .await;
            return back(Failure::AccessDenied);
        }
        let profile = match self.exchange_code(&row, &state_hash, &p, now).await {
            Ok(profile) => profile,
            Err(failure) => {
                self.refuse_social(
                    &row.project_id,
                    provider,
                    "provider_error",
                    &failure.0,
                    meta,
                )
                .await;
                return back(Failure::ProviderError);
            }
        };
        let code = new_secret("agc_");
        let code_hash = sha256_hex(&code);
        let project_id = row.project_id.as_str();
        let outcome = self
            .store
            .write(async |conn: &mut Conn<'_>| {
                let (user, is_new) = match self
                    .resolve_user(conn, project_id, provider, &profile, meta, now)
                    .await?
                {
                    Ok(found) => found,
                    Err(failure) => return Ok::<_, ToolError>(Err(failure)),
                };
                grants::insert_code(
                    conn,
                    NewCode {
                        code_hash: &code_hash,
                        project_id,
                        user_id: &user.id,
                        provider,
                        redirect_url: &row.redirect_url,
                        code_challenge: row.code_challenge.as_deref(),
                        is_new_user: is_new,
                        created_at: to_micros(now),
                        expires_at: to_micros(now + CODE_TTL),
                    },
                )
                .await?;
                Ok(Ok(()))
            })
            .await?;
        if let Err(failure) = outcome {
            let detail = match failure {
                Failure::EmailNotVerified => "the provider gave no email address",
                Failure::AccountConflict => {
                    "the provider does not vouch for an address that is another user's"
                }
                _ => "this client may make no more accounts now",
            };
            self.refuse_social(project_id, provider, failure.code(), detail, meta)
                .await;
            return back(failure);
        }
        let mut params = vec![("code", code.as_str())];
        if row.app_state.is_some() {
            params.push(("state", app_state.as_str()));
        }
        Ok(Landing::Redirect(OAuthRedirect {
            location: with_params(&row.redirect_url, &params)?,
            set_cookie: clear,
        }))
    }

    /// The provider's profile for the callback's code.
    async fn exchange_code(
        &self, row: &grants::StateRow, state_hash: &str, p: &OAuthCallback, now: DateTime<Utc>,
    ) -> Result<Profile, ProviderFailure> {
        let provider = Provider::parse(&row.provider)
            .ok_or_else(|| ProviderFailure::new("unknown provider"))?;
        let code = p
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| ProviderFailure::new("the callback carries no code"))?;
        let verifier = crypto::decrypt(
            &self.keys.encryption,
            &verifier_aad(state_hash),
            &row.verifier_enc,
        )
        .map_err(|_| ProviderFailure::new("the stored PKCE verifier does not open"))?;
        let project_id = row.project_id.as_str();
        let config = self
            .store
            .read(async |conn: &mut Conn<'_>| {
                authgate_project::provider_config(
                    conn,
                    &self.keys.encryption,
                    project_id,
                    &row.provider,
                )
                .await
            })
            .await
            .map_err(|_| ProviderFailure::new("the provider's configuration could not be read"))?
            .filter(|c| c.enabled)
            .ok_or_else(|| ProviderFailure::new("the provider was disabled during the sign-in"))?;
        let redirect_uri = authgate_project::redirect_uri(&self.settings.public_url, &row.provider);
        exchange::exchange(
            &self.settings.social,
            &Exchange {
                provider,
                config: &config,
                code,
                verifier: &verifier,
                redirect_uri: &redirect_uri,
                nonce_hash: &row.nonce_hash,
                apple_user: p.user.as_deref(),
                now: now.timestamp(),
            },
        )
        .await
    }

    /// The user a provider's profile signs in as (made when new), under
    /// the linking rules in this module's header.
    async fn resolve_user(
        &self, conn: &mut Conn<'_>, project_id: &str, provider: &str, profile: &Profile,
        meta: &RequestMeta, now: DateTime<Utc>,
    ) -> Result<Result<(UserRow, bool), Failure>, ToolError> {
        // Two callbacks of one subject must not both link it.
        conn.lock_project(project_id).await?;
        if let Some(user_id) =
            accounts::user_of(conn, project_id, provider, &profile.subject).await?
        {
            let user = users::load(conn, project_id, &user_id)
                .await?
                .ok_or_else(|| ToolError::internal("a linked account without its user"))?;
            return Ok(Ok((user, false)));
        }
        let Some(email) = profile
            .email
            .as_deref()
            .and_then(|raw| users::normalize_email("email", raw).ok())
        else {
            return Ok(Err(Failure::EmailNotVerified));
        };
        match users::load_by_email(conn, project_id, &email).await? {
            Some(user) if profile.email_verified => {
                let user = self
                    .link_existing(conn, user, provider, profile, &email, meta, now)
                    .await?;
                Ok(Ok((user, false)))
            }
            Some(_) => Ok(Err(Failure::AccountConflict)),
            None => {
                if self
                    .count_sign_up(conn, project_id, meta, now)
                    .await?
                    .is_err()
                {
                    return Ok(Err(Failure::AccessDenied));
                }
                let user = self
                    .sign_up_social(conn, project_id, provider, profile, email, meta, now)
                    .await?;
                Ok(Ok((user, true)))
            }
        }
    }

    /// Links the provider's subject to the account whose address it
    /// vouches for; an unverified account is claimed and verified first.
    /// Published as one `user.updated` (and `user.email_verified`).
    #[allow(clippy::too_many_arguments)]
    async fn link_existing(
        &self, conn: &mut Conn<'_>, mut user: UserRow, provider: &str, profile: &Profile,
        email: &str, meta: &RequestMeta, now: DateTime<Utc>,
    ) -> Result<UserRow, ToolError> {
        let project_id = user.project_id.clone();
        let method = format!("oauth:{provider}");
        let proven = !user.email_verified;
        if proven {
            self.claim(conn, &user, &method, meta, now).await?;
            users::set_verified(conn, &project_id, &user.id, true, to_micros(now)).await?;
            user.email_verified = true;
            user_event(&project_id, EventType::EmailVerified, &user.id, meta)
                .meta("method", method.as_str())
                .record(conn, now)
                .await?;
        }
        let subject = profile.subject.as_str();
        self.link_account(
            conn,
            &project_id,
            &user.id,
            provider,
            subject,
            email,
            meta,
            now,
        )
        .await?;
        let changes = UserChanges {
            updated: true,
            email_verified: proven,
        };
        changes.announce(conn, &project_id, &user.id, now).await?;
        Ok(user)
    }

    /// A new user for a provider's profile whose address no account has,
    /// linked to it (verified when the provider vouches for the address);
    /// `user.created` once the row is complete.
    #[allow(clippy::too_many_arguments)]
    async fn sign_up_social(
        &self, conn: &mut Conn<'_>, project_id: &str, provider: &str, profile: &Profile,
        email: String, meta: &RequestMeta, now: DateTime<Utc>,
    ) -> Result<UserRow, ToolError> {
        let name = profile.name.as_ref().map(|n| {
            n.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        });
        let mut user = users::insert(conn, project_id, email.clone(), name, now).await?;
        if profile.email_verified {
            users::set_verified(conn, project_id, &user.id, true, to_micros(now)).await?;
            user.email_verified = true;
        }
        let subject = profile.subject.as_str();
        self.link_account(
            conn, project_id, &user.id, provider, subject, &email, meta, now,
        )
        .await?;
        let method = format!("oauth:{provider}");
        user_event(project_id, EventType::SignUp, &user.id, meta)
            .meta("method", method.as_str())
            .record(conn, now)
            .await?;
        users::announce_user(conn, project_id, ChangeType::UserCreated, &user.id, now).await?;
        Ok(user)
    }

    /// Links the provider's subject to the user (`account.linked`).
    #[allow(clippy::too_many_arguments)]
    async fn link_account(
        &self, conn: &mut Conn<'_>, project_id: &str, user_id: &str, provider: &str, subject: &str,
        email: &str, meta: &RequestMeta, now: DateTime<Utc>,
    ) -> Result<(), ToolError> {
        let link = accounts::link(
            conn,
            project_id,
            user_id,
            provider,
            subject,
            Some(email),
            now,
        )
        .await?;
        user_event(project_id, EventType::AccountLinked, user_id, meta)
            .target(&link)
            .meta("provider", provider)
            .record(conn, now)
            .await?;
        Ok(())
    }

    /// `POST /auth/oauth/token`: the one-time code for a session. With a
    /// challenge at start, only its verifier redeems it; without one, only
    /// a write-scoped key (`trusted`). A wrong verifier spends the code.
    pub async fn redeem_oauth_code(
        &self, project_id: &str, body: OAuthToken, trusted: bool, meta: &RequestMeta,
    ) -> Result<OAuthSignedIn, ToolError> {
        required("code", &body.code)?;
        required("redirect_url", &body.redirect_url)?;
        if let Some(code) = &body.mfa_code {
            six_digits("mfa_code", code)?;
        }
        let now = self.now();
        let code_hash = sha256_hex(body.code.trim());
        let bad = || bad_token("code", "sign-in code");
        settle(
            self.store
                .write(async |conn: &mut Conn<'_>| {
                    admit(conn, project_id, None).await?;
                    let refused = |reason: &str, user: Option<&str>, provider: &str| {
                        NewAuditEvent::auth(
                            project_id,
                            EventType::SignInFailed,
                            user,
                            meta,
                            Outcome::Denied,
                        )
                        .meta("method", format!("oauth:{provider}"))
                        .meta("reason", reason)
                    };
                    let Some(row) = grants::peek_code(conn, project_id, &code_hash, now).await?
                    else {
                        refused("invalid_code", None, "unknown")
                            .record(conn, now)
                            .await?;
                        return Ok(Err(bad()));
                    };
                    let refusal = if row.redirect_url != body.redirect_url.trim() {
                        Some(ToolError::invalid(
                            "redirect_url",
                            "redirect_url is not the one this code was issued for",
                        ))
                    } else {
                        match (&row.code_challenge, &body.code_verifier) {
                            (Some(challenge), Some(v)) if same(&s256(v.trim()), challenge) => None,
                            (Some(_), _) => Some(ToolError::invalid(
                                "code_verifier",
                                "code_verifier does not match the code_challenge sent at start; the code is spent",
                            )),
                            (None, _) if trusted => None,
                            (None, _) => Some(unauthenticated(
                                "this code was issued without a code_challenge: redeem it from your server with Authorization: Bearer <write-scoped API key>",
                            ).with_field("Authorization")),
                        }
                    };
                    if let Some(refusal) = refusal {
                        // A code presented wrongly is spent: a leaked one is useless.
                        grants::spend_code(conn, project_id, &code_hash, now).await?;
                        let reason = refusal.field.clone().unwrap_or_default();
                        refused(&format!("wrong_{}", reason.to_lowercase()), Some(&row.user_id), &row.provider)
                            .record(conn, now)
                            .await?;
                        return Ok(Err(refusal));
                    }
                    let user = users::load(conn, project_id, &row.user_id)
                        .await?
                        .ok_or_else(bad)?;
                    let code = body.mfa_code.as_deref();
                    if let Err(refused) = self
                        .second_factor(conn, &user, code, Tries::CountHere, meta, now)
                        .await?
                    {
                        return Ok(Err(refused));
                    }
                    if !grants::spend_code(conn, project_id, &code_hash, now).await? {
                        return Err(bad());
                    }
                    let method = format!("oauth:{}", row.provider);
                    let signed_in = self.open_session(conn, user, meta, &method, now).await?;
                    Ok(Ok(OAuthSignedIn {
                        signed_in,
                        is_new_user: row.is_new_user,
                        provider: row.provider,
                    }))
                })
                .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_is_base64url_of_sha256() {
        // Cross-checked with Python: base64.urlsafe_b64encode(
        // hashlib.sha256(v).digest()).rstrip(b"=").
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K1uhbUJU1p1r_wW1gFWFOEjXk"),
            "DpW_nzyKLmXOCjIx2Ik4CEMHAv6AF_zNMXGb5Z9P0oI"
        );
        assert!(is_pkce_text("DpW_nzyKLmXOCjIx2Ik4CEMHAv6AF_zNMXGb5Z9P0oI"));
        assert!(!is_pkce_text("short"));
        assert!(!is_pkce_text(&"a=".repeat(30)));
    }
}
