//! The authorization server's settings (`AUTHGATE_OAUTH_*`): the access
//! token's life, whether client metadata documents may be fetched from
//! loopback and private addresses (tests only), and an extra CA file for
//! those fetches (an internal CA).

use std::path::PathBuf;
use std::time::Duration;

use super::parse::{parse_bool, parse_duration};
use super::source::Source;

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub access_ttl: Duration,
    pub cimd_allow_loopback: bool,
    pub extra_ca_file: Option<PathBuf>,
}

pub(super) fn oauth_config(src: &Source<'_>) -> Result<OAuthConfig, String> {
    Ok(OAuthConfig {
        access_ttl: src.get("AUTHGATE_OAUTH_ACCESS_TTL", "1h", parse_duration)?,
        cimd_allow_loopback: src.get("AUTHGATE_OAUTH_CIMD_ALLOW_LOOPBACK", "false", parse_bool)?,
        extra_ca_file: src.optional("AUTHGATE_OAUTH_EXTRA_CA_FILE", |_, v| Ok(PathBuf::from(v)))?,
    })
}
