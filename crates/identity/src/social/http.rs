//! The HTTP client that talks to providers (and to an SMS gateway): no
//! redirects followed, ten seconds for a whole call, and a rule for the
//! addresses it may reach: https anywhere, plain http only on loopback.

use std::time::Duration;

use super::ProviderFailure;

/// Each provider call (token, profile, keys) has this long in all.
pub const BUDGET: Duration = Duration::from_secs(10);

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// The client for outbound calls: TLS by rustls with ring and the web's
/// root certificates, HTTP/1.1, no redirects followed (hyper follows
/// none), and the budget around each whole call.
#[derive(Clone)]
pub struct Outbound {
    client: hyper_util::client::legacy::Client<Connector, http_body_util::Full<bytes::Bytes>>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbound")
    }
}

/// Builds the client.
pub fn outbound_client() -> Outbound {
    let tls = authgate_core::tls::client_config();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(BUDGET));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Outbound {
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    }
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

/// The largest answer a provider may give (a JWKS, a profile): 1 MiB.
const MAX_ANSWER: usize = 1 << 20;

/// A request to a provider.
pub(crate) struct Call<'a> {
    pub method: http::Method,
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    /// A form body (`application/x-www-form-urlencoded`).
    pub form: Option<&'a [(&'a str, &'a str)]>,
}

impl<'a> Call<'a> {
    pub fn get(url: &'a str) -> Self {
        Call {
            method: http::Method::GET,
            url,
            headers: vec![("accept", "application/json".into())],
            form: None,
        }
    }

    pub fn post_form(url: &'a str, form: &'a [(&'a str, &'a str)]) -> Self {
        Call {
            method: http::Method::POST,
            url,
            headers: vec![("accept", "application/json".into())],
            form: Some(form),
        }
    }

    /// HTTP Basic authentication (Twilio: Account SID and Auth Token).
    pub fn basic(mut self, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.headers
            .push(("authorization", format!("Basic {pair}")));
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }
}

impl Outbound {
    /// Sends the call and reads its answer whole: the status and the body,
    /// within the budget and the size cap. An address outside the rule is
    /// refused before anything is sent.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<(u16, Body), ProviderFailure> {
        let url = call.url;
        if !endpoint_allowed(url) {
            return Err(ProviderFailure::new(format!(
                "{url} is neither https nor a loopback address"
            )));
        }
        let mut req = http::Request::builder()
            .method(call.method)
            .uri(url)
            .header(
                "user-agent",
                concat!("AuthGate/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &call.headers {
            req = req.header(*k, v.as_str());
        }
        let body = match call.form {
            Some(form) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form.iter())
                    .finish()
            }
            None => String::new(),
        };
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|_| ProviderFailure::new(format!("{url}: not a valid request")))?;
        let call = async {
            use http_body_util::BodyExt as _;
            let res =
                self.client.request(req).await.map_err(|_| {
                    ProviderFailure::new(format!("{url}: could not connect or send"))
                })?;
            let status = res.status().as_u16();
            let body = http_body_util::Limited::new(res.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|_| {
                    ProviderFailure::new(format!("{url}: the answer broke off or is over 1 MiB"))
                })?
                .to_bytes();
            Ok((status, Body(body.to_vec())))
        };
        tokio::time::timeout(BUDGET, call)
            .await
            .map_err(|_| ProviderFailure::new(format!("{url}: no answer within 10 s")))?
    }

    /// GETs a JSON document.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self, url: &str, what: &str,
    ) -> Result<T, ProviderFailure> {
        let (status, body) = self.send(Call::get(url)).await?;
        if !(200..300).contains(&status) {
            return Err(ProviderFailure::new(format!("{what}: HTTP {status}")));
        }
        body.json(what)
    }
}

/// An answer's body.
pub(crate) struct Body(pub Vec<u8>);

impl Body {
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, ProviderFailure> {
        serde_json::from_slice(&self.0).map_err(|_| {
            ProviderFailure::new(format!("{what}: the answer is not the JSON expected"))
        })
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
