//! TOTP second factors (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of
//! skew). Enrolling makes a pending factor and shows its secret once (as an
//! `otpauth://` URI for an authenticator app); the first correct code makes
//! it active, and from then on sign-in asks for a code. A code works once:
//! the last step used is kept, and a step at or before it is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use totp_rs::{Builder, Totp};

use authgate_core::crypto;
use authgate_core::time::to_micros;
use authgate_core::{Conn, ToolError, new_id, with_conn};
use authgate_store::schema::mfa_factors;

/// What enrolling returns, to the user only.
#[derive(Debug, Clone, Serialize)]
pub struct Enrollment {
    pub factor_id: String,
    /// For an authenticator app (as a QR code or a link).
    pub otpauth_uri: String,
    /// The same secret, base32, for typing in by hand.
    pub secret: String,
}

fn aad(project_id: &str, factor_id: &str) -> String {
    format!("mfa_factor/{project_id}/{factor_id}")
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp, ToolError> {
    // ':' separates issuer and account in otpauth URIs; neither may hold one.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| ToolError::internal(format!("TOTP: {e}")))
}

/// Stored: the 20-byte secret (base64url) and the last step used.
#[derive(serde::Deserialize, Serialize)]
struct Sealed {
    secret: String,
    last_step: Option<u64>,
}

fn seal(
    encryption: &[u8; 32], project_id: &str, factor_id: &str, sealed: &Sealed,
) -> Result<String, ToolError> {
    let text = serde_json::to_string(sealed).map_err(ToolError::internal)?;
    crypto::encrypt(encryption, &aad(project_id, factor_id), &text)
}

fn open(
    encryption: &[u8; 32], project_id: &str, factor_id: &str, stored: &str,
) -> Result<Sealed, ToolError> {
    let text = crypto::decrypt(encryption, &aad(project_id, factor_id), stored)?;
    serde_json::from_str(&text).map_err(ToolError::internal)
}

/// Starts enrolling a TOTP factor (a pending one replaces any other
/// pending one).
pub async fn enroll(
    conn: &mut Conn<'_>, encryption: &[u8; 32], project_id: &str, user_id: &str, issuer: &str,
    account: &str, now: DateTime<Utc>,
) -> Result<Enrollment, ToolError> {
    let raw: [u8; 20] = rand::random();
    let t = totp(&raw, issuer, account)?;
    let id = new_id("mfa");
    let sealed = seal(
        encryption,
        project_id,
        &id,
        &Sealed {
            secret: URL_SAFE_NO_PAD.encode(raw),
            last_step: None,
        },
    )?;
    with_conn!(conn, c => {
        diesel::delete(
            mfa_factors::table
                .filter(mfa_factors::project_id.eq(project_id))
                .filter(mfa_factors::user_id.eq(user_id))
                .filter(mfa_factors::status.eq("pending")),
        )
        .execute(c)
        .await?;
        diesel::insert_into(mfa_factors::table)
            .values((
                mfa_factors::id.eq(&id),
                mfa_factors::project_id.eq(project_id),
                mfa_factors::user_id.eq(user_id),
                mfa_factors::kind.eq("totp"),
                mfa_factors::secret_enc.eq(&sealed),
                mfa_factors::status.eq("pending"),
                mfa_factors::created_at.eq(to_micros(now)),
            ))
            .execute(c)
            .await?;
    });
    Ok(Enrollment {
        factor_id: id,
        otpauth_uri: t
            .to_url()
            .map_err(|e| ToolError::internal(format!("TOTP URI: {e}")))?,
        secret: t.secret().to_base32(),
    })
}

/// Deletes one factor of the user.
pub async fn remove(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str, factor_id: &str,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::delete(
            mfa_factors::table
                .filter(mfa_factors::project_id.eq(project_id))
                .filter(mfa_factors::user_id.eq(user_id))
                .filter(mfa_factors::id.eq(factor_id)),
        )
        .execute(c)
        .await?;
    });
    Ok(())
}

/// How many factors (pending or active) the user has.
pub(crate) async fn count(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<u64, ToolError> {
    let n: i64 = with_conn!(conn, c => {
        mfa_factors::table
            .filter(mfa_factors::project_id.eq(project_id))
            .filter(mfa_factors::user_id.eq(user_id))
            .count()
            .get_result(c)
            .await?
    });
    Ok(n.max(0) as u64)
}

/// Deletes every factor of the user; returns how many.
pub(crate) async fn remove_all(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<usize, ToolError> {
    Ok(with_conn!(conn, c => {
        diesel::delete(
            mfa_factors::table
                .filter(mfa_factors::project_id.eq(project_id))
                .filter(mfa_factors::user_id.eq(user_id)),
        )
        .execute(c)
        .await?
    }))
}

/// Whether the user has an active factor.
pub async fn required(
    conn: &mut Conn<'_>, project_id: &str, user_id: &str,
) -> Result<bool, ToolError> {
    let n: i64 = with_conn!(conn, c => {
        mfa_factors::table
            .filter(mfa_factors::project_id.eq(project_id))
            .filter(mfa_factors::user_id.eq(user_id))
            .filter(mfa_factors::status.eq("active"))
            .count()
            .get_result(c)
            .await?
    });
    Ok(n > 0)
}

/// Checks a code against the user's factors of `status` (`pending` to
/// confirm an enrolment, `active` at sign-in). On success the step is
/// spent, and a pending factor becomes active; returns its id.
pub async fn check(
    conn: &mut Conn<'_>, encryption: &[u8; 32], project_id: &str, user_id: &str, status: &str,
    code: &str, now: DateTime<Utc>,
) -> Result<Option<String>, ToolError> {
    let factors: Vec<(String, String)> = with_conn!(conn, c => {
        mfa_factors::table
            .filter(mfa_factors::project_id.eq(project_id))
            .filter(mfa_factors::user_id.eq(user_id))
            .filter(mfa_factors::status.eq(status))
            .select((mfa_factors::id, mfa_factors::secret_enc))
            .load(c)
            .await?
    });
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let unix = u64::try_from(now.timestamp()).unwrap_or(0);
    for (id, stored) in factors {
        let mut sealed = open(encryption, project_id, &id, &stored)?;
        let secret = URL_SAFE_NO_PAD
            .decode(&sealed.secret)
            .map_err(|_| ToolError::internal("stored TOTP secret is not base64url"))?;
        let Some(step) = totp(&secret, "AuthGate", "user")?.check(&code, unix) else {
            continue;
        };
        if sealed.last_step.is_some_and(|last| step <= last) {
            continue;
        }
        sealed.last_step = Some(step);
        let resealed = seal(encryption, project_id, &id, &sealed)?;
        let at = to_micros(now);
        // Spent only if nobody spent a step since it was read: of two
        // checks of one code at once, one updates and the other finds the
        // sealed value changed and is refused.
        let spent = with_conn!(conn, c => {
            diesel::update(
                mfa_factors::table
                    .filter(mfa_factors::project_id.eq(project_id))
                    .filter(mfa_factors::id.eq(&id))
                    .filter(mfa_factors::secret_enc.eq(&stored)),
            )
            .set((
                mfa_factors::secret_enc.eq(&resealed),
                mfa_factors::status.eq("active"),
                mfa_factors::verified_at.eq(Some(at)),
            ))
            .execute(c)
            .await?
        });
        if spent == 1 {
            return Ok(Some(id));
        }
    }
    Ok(None)
}
