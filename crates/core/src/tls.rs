//! The TLS client settings of every outbound call (identity providers, the
//! SMS gateway, webhooks): rustls with ring, TLS 1.2 and 1.3, the web's root
//! certificates, no client certificate.

/// A client configuration for outbound HTTPS.
pub fn client_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    with_roots(roots)
}

/// The same, also trusting the CA certificates of a PEM file (an
/// internal CA; `AUTHGATE_OAUTH_EXTRA_CA_FILE`). The error names the file.
pub fn client_config_with_ca_file(path: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut added = 0;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{} is not PEM certificates: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{} holds a certificate rustls refuses: {e}", path.display()))?;
        added += 1;
    }
    if added == 0 {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(with_roots(roots))
}

fn with_roots(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
        .with_root_certificates(roots)
        .with_no_client_auth()
}
