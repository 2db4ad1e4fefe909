//! End users of a project: sign-up and sign-in, passwords (Argon2id on a
//! bounded pool), email verification codes, password reset and magic links,
//! TOTP second factors, and EdDSA access tokens with a published JWKS.

pub mod codes;
pub mod flows;
pub mod jwt;
pub mod mfa;
pub mod passwords;
pub mod settings;
pub mod throttle;
pub mod users;

pub use flows::Auth;
pub use settings::IdentitySettings;
pub mod sdk;
pub mod tools;
pub use tools::register;
