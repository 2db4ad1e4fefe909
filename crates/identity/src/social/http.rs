//! The HTTP client that talks to providers (and to an SMS gateway): no
//! redirects followed, ten seconds for a whole call, and a rule for the
//! addresses it may reach: https anywhere, plain http only on loopback.

use std::time::Duration;

/// Each provider call (token, profile, keys) has this long in all.
pub const BUDGET: Duration = Duration::from_secs(10);

/// The client for outbound calls: TLS with the web's root certificates
/// (ring), no redirects, the budget as its timeout.
pub fn outbound_client() -> reqwest::Client {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(BUDGET)
        .connect_timeout(BUDGET)
        .user_agent(concat!("AuthGate/", env!("CARGO_PKG_VERSION")));
    if let Ok(tls) = tls {
        builder = builder.tls_backend_preconfigured(tls);
    }
    builder.build().unwrap_or_default()
}

/// Whether the server may call `url`: https, or plain http to a loopback
/// host (a provider stand-in on this machine).
pub fn endpoint_allowed(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_allowed;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(endpoint_allowed("https://accounts.google.com"));
        assert!(endpoint_allowed("http://127.0.0.1:9000"));
        assert!(endpoint_allowed("http://[::1]:9000/x"));
        assert!(endpoint_allowed("http://localhost:1"));
        assert!(!endpoint_allowed("http://10.0.0.1"));
        assert!(!endpoint_allowed("http://idp.example.com"));
        assert!(!endpoint_allowed("ftp://127.0.0.1"));
        assert!(!endpoint_allowed("not a url"));
    }
}

/// The largest answer a provider may give (a JWKS, a profile): 1 MiB.
const MAX_ANSWER: usize = 1 << 20;

/// Sends `req` and reads its answer whole: the status and the body, within
/// the budget and the size cap. An address outside the rule is refused
/// before anything is sent.
pub(crate) async fn send(
    url: &str, req: reqwest::RequestBuilder,
) -> Result<(u16, bytes_body::Body), super::ProviderFailure> {
    use super::ProviderFailure;
    if !endpoint_allowed(url) {
        return Err(ProviderFailure::new(format!(
            "{url} is neither https nor a loopback address"
        )));
    }
    let call = async {
        let mut res = req
            .send()
            .await
            .map_err(|e| ProviderFailure::new(format!("{url}: {}", without_url(&e))))?;
        let status = res.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| ProviderFailure::new(format!("{url}: {}", without_url(&e))))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(ProviderFailure::new(format!("{url}: the answer is over 1 MiB")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, bytes_body::Body(body)))
    };
    tokio::time::timeout(BUDGET, call)
        .await
        .map_err(|_| ProviderFailure::new(format!("{url}: no answer within 10 s")))?
}

/// A reqwest error's text without its URL (which may carry a code).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

pub(crate) mod bytes_body {
    /// An answer's body.
    pub struct Body(pub Vec<u8>);

    impl Body {
        pub fn json<T: serde::de::DeserializeOwned>(
            &self, what: &str,
        ) -> Result<T, super::super::ProviderFailure> {
            serde_json::from_slice(&self.0).map_err(|_| {
                super::super::ProviderFailure::new(format!("{what}: the answer is not the JSON expected"))
            })
        }
    }
}

/// GETs a JSON document.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client, url: &str, what: &str,
) -> Result<T, super::ProviderFailure> {
    let (status, body) = send(url, http.get(url).header("Accept", "application/json")).await?;
    if !(200..300).contains(&status) {
        return Err(super::ProviderFailure::new(format!("{what}: HTTP {status}")));
    }
    body.json(what)
}
