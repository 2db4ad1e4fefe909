//! End users of a project: sign-up and sign-in, passwords (Argon2id on a
//! bounded pool), email verification codes, password reset and magic links,
//! TOTP second factors, and EdDSA access tokens with a published JWKS.
//!
//! Layout: one module per entity (`users`, `codes`, `mfa`, `jwt`,
//! `passwords`, `throttle`), the REST flows by family under `flows/`, the
//! sections this domain registers in `sections.rs`, the tool adapters in
//! `tools.rs`, and the SDK instructions in `sdk.rs`.

mod codes;
mod flows;
mod jwt;
mod maintenance;
mod mfa;
mod passwords;
mod phone;
mod sdk;
mod sections;
mod settings;
pub mod sms;
pub mod social;
mod throttle;
mod tools;
mod users;

pub use flows::{
    Auth, CodeBody, DeletedUser, EmailChange, EmailOnly, Landing, LinkRequest, MagicVerify,
    MailSent, Me, MfaActive, OAuthCallback, OAuthRedirect, OAuthSignedIn, OAuthStart, OAuthToken,
    PROJECT_HEADER, RefreshBody, ResetConfirm, SignIn, SignUp, SignedIn, SmsRequest, SmsVerify,
    TokenPair, TotpEnroll, TotpRemove, VerifyEmail, token_refusal,
};
pub use jwt::{
    AccessClaims, Jwk, Jwks, Reason as TokenRefusal, TokenSubject, Verification,
    check as check_access_token, issue as issue_access_token, rotate as rotate_signing_key,
    verify as verify_access_token,
};
pub use maintenance::{Pruned, prune_tokens};
pub use mfa::Enrollment as TotpEnrollment;
pub use passwords::{HashParams, Passwords};
pub use sdk::{Framework, SdkInstructions};
pub use settings::{IdentitySettings, human as human_duration};
pub use tools::{END_USERS, register};
pub use users::{EndUser, UserSummary, emails_of, existing_users, normalize_email, require_user};
