//! Where a request came from, for audit events and throttling.

/// The client's address, user agent and the request's id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub ip: Option<String>,
    /// Cut to 300 characters.
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    pub fn new(ip: Option<String>, user_agent: Option<&str>, request_id: Option<String>) -> Self {
        Self {
            ip,
            user_agent: user_agent.map(|u| u.chars().take(300).collect()),
            request_id,
        }
    }
}
