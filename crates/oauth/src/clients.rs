//! OAuth clients: registered by Dynamic Client Registration (RFC 7591,
//! ids `mcpc_…`) or known by the URL of their Client ID Metadata Document
//! (CIMD, the 2025-11-25 MCP authorization), whose fetched document is
//! cached here for a day. A registration unused for 30 days expires: its
//! id is then unknown, and the client registers again.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use authgate_core::hash::sha256_hex;
use authgate_core::secrets::{new_secret, same};
use authgate_core::time::{from_micros, to_micros};
use authgate_core::{ToolError, new_id};
use authgate_store::schema::mcp_clients;
use authgate_store::{Conn, JsonText, with_conn};

use crate::OAuthError;
use crate::redirect::{RedirectKind, check_redirect_uri};

/// How long a registration lives without use.
pub const UNUSED_EXPIRY_DAYS: i64 = 30;
/// How long a fetched metadata document is trusted.
pub const CIMD_CACHE: Duration = Duration::hours(24);
/// The most redirect URIs of one client.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The most characters of a client's name.
pub const MAX_NAME_LEN: usize = 100;

/// How a client proves itself at the token endpoint.
pub const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

/// A registration request (RFC 7591 §2). Unknown members are ignored, as
/// the RFC asks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub application_type: Option<String>,
    /// A CIMD document names itself.
    pub client_id: Option<String>,
    pub scope: Option<String>,
}

/// What a registration answers (RFC 7591 §3.2.1): the secret once.
#[derive(Debug, Clone, Serialize)]
pub struct RegisteredClient {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub application_type: String,
}

/// A known client.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// `dcr` or `cimd`.
    pub registration: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: String,
    secret_hash: Option<String>,
    /// When it was registered, or its document fetched.
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mcp_clients)]
struct ClientRow {
    id: String,
    registration: String,
    client_name: Option<String>,
    redirect_uris: JsonText<Vec<String>>,
    auth_method: String,
    secret_hash: Option<String>,
    application_type: String,
    created_at: i64,
    last_used_at: i64,
}

impl From<ClientRow> for Client {
    fn from(r: ClientRow) -> Self {
        Client {
            id: r.id,
            registration: r.registration,
            name: r.client_name,
            redirect_uris: r.redirect_uris.0,
            auth_method: r.auth_method,
            secret_hash: r.secret_hash,
            created_at: from_micros(r.created_at),
        }
    }
}

impl Client {
    /// The name to show: the client's own (which it chose, so the consent
    /// page shows the redirect host beside it).
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| "Unnamed MCP client".to_owned())
    }

    /// Whether `uri` is one of this client's redirect URIs.
    pub fn redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| crate::redirect::redirect_matches(r, uri))
    }

    /// Checks the client's proof at the token or revocation endpoint: a
    /// public client (`none`) sends none; a confidential one its secret,
    /// compared in constant time.
    pub fn authenticate(&self, secret: Option<&str>) -> Result<(), OAuthError> {
        match (&self.secret_hash, secret) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(OAuthError::invalid_client(
                "this client is public (token_endpoint_auth_method none); send no secret",
            )),
            (Some(_), None) => Err(OAuthError::invalid_client(
                "this client must authenticate with its client_secret",
            )),
            (Some(hash), Some(s)) if same(hash, &sha256_hex(s)) => Ok(()),
            (Some(_), Some(_)) => Err(OAuthError::invalid_client("wrong client_secret")),
        }
    }
}

fn bad_metadata(msg: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client_metadata(msg)
}

/// A validated registration (or CIMD document).
#[derive(Debug, Clone)]
pub struct ValidClient {
    name: Option<String>,
    redirect_uris: Vec<String>,
    auth_method: String,
    application_type: String,
}

fn check_name(name: Option<String>) -> Result<Option<String>, OAuthError> {
    let Some(name) = name else { return Ok(None) };
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(bad_metadata(format!(
            "client_name must be 1 to {MAX_NAME_LEN} printable characters"
        )));
    }
    Ok(Some(name))
}

fn check_uris(uris: &[String]) -> Result<Vec<RedirectKind>, OAuthError> {
    if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::invalid_redirect_uri(format!(
            "redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs"
        )));
    }
    uris.iter()
        .map(|u| check_redirect_uri(u).map_err(OAuthError::invalid_redirect_uri))
        .collect()
}

fn check_kinds(
    grant_types: Option<&[String]>, response_types: Option<&[String]>,
) -> Result<(), OAuthError> {
    if let Some(g) = grant_types
        && let Some(bad) = g
            .iter()
            .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(bad_metadata(format!(
            "grant_types: {bad} is not supported; use authorization_code and refresh_token"
        )));
    }
    if let Some(r) = response_types
        && let Some(bad) = r.iter().find(|r| r.as_str() != "code")
    {
        return Err(bad_metadata(format!(
            "response_types: {bad} is not supported; use code"
        )));
    }
    Ok(())
}

impl ValidClient {
    /// The redirect URIs it registers.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }
}

/// Reads client metadata (a registration's body or a metadata document):
/// UTF-8 JSON (RFC 8259). serde_json skips the strings of members it
/// ignores without checking their UTF-8, so the text is checked first
/// (found by the cimd_document fuzz target).
pub fn parse_metadata(body: &[u8]) -> Result<ClientMetadata, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8 text".to_owned())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Checks a registration request (RFC 7591 §2, OAuth 2.1 §2.3).
pub fn validate_registration(meta: ClientMetadata) -> Result<ValidClient, OAuthError> {
    let kinds = check_uris(&meta.redirect_uris)?;
    check_kinds(meta.grant_types.as_deref(), meta.response_types.as_deref())?;
    let auth_method = meta
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".to_owned());
    if !AUTH_METHODS.contains(&auth_method.as_str()) {
        return Err(bad_metadata(format!(
            "token_endpoint_auth_method must be one of {}",
            AUTH_METHODS.join(", ")
        )));
    }
    let native = kinds.iter().any(|k| *k != RedirectKind::Https);
    let application_type = match meta.application_type.as_deref() {
        None if native => "native".to_owned(),
        None => "web".to_owned(),
        Some("native") => "native".to_owned(),
        Some("web") if kinds.contains(&RedirectKind::PrivateUse) => {
            return Err(OAuthError::invalid_redirect_uri(
                "a web application cannot use a private-use scheme; register as application_type native",
            ));
        }
        Some("web") => "web".to_owned(),
        Some(other) => {
            return Err(bad_metadata(format!(
                "application_type must be web or native, not {other}"
            )));
        }
    };
    Ok(ValidClient {
        name: check_name(meta.client_name)?,
        redirect_uris: meta.redirect_uris,
        auth_method,
        application_type,
    })
}

/// Registers a client; a confidential one gets its secret this once.
pub async fn register_client(
    conn: &mut Conn<'_>, client: ValidClient, now: DateTime<Utc>,
) -> Result<RegisteredClient, ToolError> {
    let secret = (client.auth_method != "none").then(|| new_secret(crate::CLIENT_SECRET_PREFIX));
    let row = ClientRow {
        id: new_id("mcpc"),
        registration: "dcr".to_owned(),
        client_name: client.name.clone(),
        redirect_uris: JsonText(client.redirect_uris.clone()),
        auth_method: client.auth_method.clone(),
        secret_hash: secret.as_deref().map(sha256_hex),
        application_type: client.application_type.clone(),
        created_at: to_micros(now),
        last_used_at: to_micros(now),
    };
    with_conn!(conn, c => {
        diesel::insert_into(mcp_clients::table).values(&row).execute(c).await?;
    });
    Ok(RegisteredClient {
        client_id: row.id,
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id_issued_at: now.timestamp(),
        redirect_uris: client.redirect_uris,
        client_name: client.name,
        token_endpoint_auth_method: client.auth_method,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        application_type: client.application_type,
    })
}

/// A known client by its id: a registration not used for 30 days is
/// unknown (and removed); a CIMD document is returned with its fetch time,
/// for the caller to refetch after [`CIMD_CACHE`].
pub async fn find_client(
    conn: &mut Conn<'_>, client_id: &str, now: DateTime<Utc>,
) -> Result<Option<Client>, ToolError> {
    let row: Option<ClientRow> = with_conn!(conn, c => {
        mcp_clients::table
            .filter(mcp_clients::id.eq(client_id))
            .select(ClientRow::as_select())
            .first(c)
            .await
            .optional()?
    });
    let Some(row) = row else { return Ok(None) };
    let stale = to_micros(now - Duration::days(UNUSED_EXPIRY_DAYS));
    if row.registration == "dcr" && row.last_used_at < stale {
        return Ok(None);
    }
    Ok(Some(row.into()))
}

/// Records that a client was used (an authorization or a token), which
/// keeps its registration alive.
pub async fn touch_client(
    conn: &mut Conn<'_>, client_id: &str, now: DateTime<Utc>,
) -> Result<(), ToolError> {
    with_conn!(conn, c => {
        diesel::update(mcp_clients::table.filter(mcp_clients::id.eq(client_id)))
            .set(mcp_clients::last_used_at.eq(to_micros(now)))
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Removes registrations unused for 30 days (housekeeping).
pub async fn purge_unused(conn: &mut Conn<'_>, now: DateTime<Utc>) -> Result<usize, ToolError> {
    let stale = to_micros(now - Duration::days(UNUSED_EXPIRY_DAYS));
    Ok(with_conn!(conn, c => {
        diesel::delete(
            mcp_clients::table
                .filter(mcp_clients::registration.eq("dcr"))
                .filter(mcp_clients::last_used_at.lt(stale)),
        )
        .execute(c)
        .await?
    }))
}

/// The most bytes of a client's metadata document.
pub const MAX_CIMD_BYTES: usize = 5 * 1024;

/// Whether a `client_id` is a metadata document's URL: https with a path.
pub fn is_cimd_url(client_id: &str) -> bool {
    url::Url::parse(client_id).is_ok_and(|u| {
        u.scheme() == "https" && u.path() != "/" && !u.path().is_empty() && u.fragment().is_none()
    })
}

/// Checks a fetched metadata document: it must name itself by its URL,
/// be a public client (`none`), and list valid redirect URIs.
pub fn validate_cimd(url: &str, body: &[u8]) -> Result<ValidClient, OAuthError> {
    if body.len() > MAX_CIMD_BYTES {
        return Err(OAuthError::invalid_client(format!(
            "the client metadata document at {url} is larger than {MAX_CIMD_BYTES} bytes"
        )));
    }
    let meta: ClientMetadata = parse_metadata(body).map_err(|e| {
        OAuthError::invalid_client(format!(
            "the client metadata document at {url} is not a JSON object of client metadata: {e}"
        ))
    })?;
    if meta.client_id.as_deref() != Some(url) {
        return Err(OAuthError::invalid_client(format!(
            "the client metadata document at {url} must name itself as client_id"
        )));
    }
    match meta.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(_) => {
            return Err(OAuthError::invalid_client(
                "a client metadata document describes a public client: token_endpoint_auth_method none",
            ));
        }
    }
    let meta = ClientMetadata {
        token_endpoint_auth_method: Some("none".into()),
        ..meta
    };
    validate_registration(meta).map_err(|e| OAuthError {
        code: if e.code == "invalid_redirect_uri" {
            e.code
        } else {
            "invalid_client"
        },
        description: format!("the client metadata document at {url}: {}", e.description),
    })
}

/// Stores (or refreshes) a fetched metadata document's client.
pub async fn save_cimd_client(
    conn: &mut Conn<'_>, url: &str, client: ValidClient, now: DateTime<Utc>,
) -> Result<Client, ToolError> {
    let row = ClientRow {
        id: url.to_owned(),
        registration: "cimd".to_owned(),
        client_name: client.name,
        redirect_uris: JsonText(client.redirect_uris),
        auth_method: "none".to_owned(),
        secret_hash: None,
        application_type: client.application_type,
        created_at: to_micros(now),
        last_used_at: to_micros(now),
    };
    with_conn!(conn, c => {
        diesel::delete(mcp_clients::table.filter(mcp_clients::id.eq(url))).execute(c).await?;
        diesel::insert_into(mcp_clients::table).values(&row).execute(c).await?;
    });
    Ok(row.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uris: &[&str]) -> ClientMetadata {
        ClientMetadata {
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            token_endpoint_auth_method: Some("none".into()),
            ..Default::default()
        }
    }

    #[test]
    fn registrations() {
        let cursor = meta(&[
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "https://www.cursor.com/agents/mcp/oauth/callback",
            "http://127.0.0.1:54321/callback",
        ]);
        let ok = validate_registration(cursor).expect("Cursor's three URIs");
        assert_eq!(ok.application_type, "native");
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "https://a.example/cb#f",
        ] {
            let err = validate_registration(meta(&[bad])).expect_err(bad);
            assert_eq!(err.code, "invalid_redirect_uri", "{bad}");
        }
        let mut m = meta(&["https://a.example/cb"]);
        m.application_type = Some("desktop".into());
        assert_eq!(
            validate_registration(m).unwrap_err().code,
            "invalid_client_metadata"
        );
        let mut m = meta(&["com.example.app:/cb"]);
        m.application_type = Some("web".into());
        assert_eq!(
            validate_registration(m).unwrap_err().code,
            "invalid_redirect_uri"
        );
        let mut m = meta(&["https://a.example/cb"]);
        m.grant_types = Some(vec!["client_credentials".into()]);
        assert_eq!(
            validate_registration(m).unwrap_err().code,
            "invalid_client_metadata"
        );
        assert_eq!(
            validate_registration(meta(&[])).unwrap_err().code,
            "invalid_redirect_uri"
        );
    }

    #[test]
    fn metadata_documents() {
        let url = "https://client.example/oauth/metadata.json";
        assert!(is_cimd_url(url));
        assert!(!is_cimd_url("https://client.example/"));
        assert!(!is_cimd_url("http://client.example/m.json"));
        assert!(!is_cimd_url("mcpc_01ABC"));
        let doc = |id: &str, auth: &str| {
            format!(
                r#"{{"client_id":"{id}","client_name":"Example","redirect_uris":["http://127.0.0.1:3000/cb"],"token_endpoint_auth_method":"{auth}"}}"#
            )
        };
        assert!(validate_cimd(url, doc(url, "none").as_bytes()).is_ok());
        let other = validate_cimd(url, doc("https://evil.example/m.json", "none").as_bytes());
        assert_eq!(other.unwrap_err().code, "invalid_client");
        let secret = validate_cimd(url, doc(url, "client_secret_basic").as_bytes());
        assert_eq!(secret.unwrap_err().code, "invalid_client");
        let big = format!("{}{}", doc(url, "none"), " ".repeat(MAX_CIMD_BYTES));
        assert_eq!(
            validate_cimd(url, big.as_bytes()).unwrap_err().code,
            "invalid_client"
        );
        // A crash the fuzzer found: invalid UTF-8 inside an ignored member.
        let mut broken = doc(url, "none").into_bytes();
        let at = broken.len() - 1;
        broken.splice(at..at, b",\"x\":\"\x98\xff\"".iter().copied());
        assert!(std::str::from_utf8(&broken).is_err());
        assert_eq!(
            validate_cimd(url, &broken).unwrap_err().code,
            "invalid_client"
        );
        let bad_uri = doc(url, "none").replace("http://127.0.0.1:3000/cb", "javascript:x");
        assert_eq!(
            validate_cimd(url, bad_uri.as_bytes()).unwrap_err().code,
            "invalid_redirect_uri"
        );
    }
}
