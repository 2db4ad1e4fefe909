//! The TLS client settings of every outbound call (identity providers, the
//! SMS gateway, webhooks): rustls with ring, TLS 1.2 and 1.3, the web's root
//! certificates, no client certificate.

/// A client configuration for outbound HTTPS.
pub fn client_config() -> rustls::ClientConfig {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
        .with_root_certificates(roots)
        .with_no_client_auth()
}
