//! Form and query parameters (`application/x-www-form-urlencoded`): OAuth
//! parameters must not repeat (RFC 6749 §3.1), the consent's checkboxes do.

/// The parameters of one request, in order.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(bytes: &[u8]) -> Params {
        Params(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn query(query: Option<&str>) -> Params {
        Params::parse(query.unwrap_or("").as_bytes())
    }

    /// A single-valued parameter; sent twice is an error naming it.
    pub fn one(&self, name: &str) -> Result<Option<&str>, String> {
        let mut found = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("{name} must be sent once"));
        }
        Ok(first.map(String::as_str).filter(|v| !v.is_empty()))
    }

    /// Every value of a repeated parameter (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The most bytes of a form this server reads.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// A POSTed form: the request's parts (headers, extensions) and its
/// parameters; a body over [`MAX_FORM_BYTES`] is refused.
pub async fn read_form(
    req: axum::extract::Request,
) -> Result<(http::request::Parts, Params), String> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| format!("the request body must be at most {MAX_FORM_BYTES} bytes"))?;
    Ok((parts, Params::parse(&bytes)))
}

/// The client address of a request, as the front layer found it.
pub fn client_ip(parts: &http::request::Parts) -> std::net::IpAddr {
    crate::request::ClientAddr::of(&parts.extensions)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_repeated() {
        let p = Params::parse(b"a=1&b=x%20y&s=read&s=write&e=");
        assert_eq!(p.one("a"), Ok(Some("1")));
        assert_eq!(p.one("b"), Ok(Some("x y")));
        assert_eq!(p.one("e"), Ok(None));
        assert_eq!(p.one("z"), Ok(None));
        assert!(p.one("s").is_err());
        assert_eq!(p.all("s"), vec!["read", "write"]);
    }
}
