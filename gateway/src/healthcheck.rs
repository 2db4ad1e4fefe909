//! `authgate healthcheck`: a container's HEALTHCHECK, with no shell and
//! no curl in the image.

/// Exits 0 (`Ok`) on 200 within 2 s.
pub async fn run(url: Option<&str>) -> Result<(), String> {
    let url = match url {
        Some(url) => url.to_owned(),
        None => healthz_url(std::env::var("AUTHGATE_BIND").ok().as_deref())?,
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), get_status(&url)).await {
        Ok(Ok(200)) => Ok(()),
        Ok(Ok(status)) => Err(format!("{url} answered {status}")),
        Ok(Err(e)) => Err(format!("{url}: {e}")),
        Err(_) => Err(format!("{url} did not answer within 2 s")),
    }
}

/// The status of a plain-HTTP GET (the gateway inside its container
/// speaks plain HTTP; TLS ends in front of it).
async fn get_status(url: &str) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let uri: http::Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs are checked".into());
    }
    let authority = uri.authority().ok_or("no host")?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let mut conn = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    conn.read_exact(&mut head)
        .await
        .map_err(|e| e.to_string())?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|_| head.starts_with(b"HTTP/1."))
        .ok_or_else(|| "not an HTTP answer".to_owned())
}

/// `/healthz` at the address the gateway binds (`AUTHGATE_BIND`), an
/// unspecified address read as loopback.
fn healthz_url(bind: Option<&str>) -> Result<String, String> {
    let bind = bind.unwrap_or(crate::config::DEFAULT_BIND);
    let mut addr: std::net::SocketAddr = bind
        .parse()
        .map_err(|_| format!("AUTHGATE_BIND must be an address and port, got '{bind}'"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{addr}/healthz"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_health_check_asks_the_bound_address_with_unspecified_read_as_loopback() {
        let url = |bind| super::healthz_url(bind);
        assert_eq!(
            url(Some("0.0.0.0:8080")).as_deref(),
            Ok("http://127.0.0.1:8080/healthz")
        );
        assert_eq!(
            url(Some("[::]:9000")).as_deref(),
            Ok("http://[::1]:9000/healthz")
        );
        assert_eq!(
            url(Some("127.0.0.2:81")).as_deref(),
            Ok("http://127.0.0.2:81/healthz")
        );
        assert_eq!(
            url(None),
            Ok(format!("http://{}/healthz", crate::config::DEFAULT_BIND))
        );
        assert!(url(Some("localhost")).is_err_and(|e| e.contains("AUTHGATE_BIND")));
    }
}
