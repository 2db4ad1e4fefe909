//! Twilio's Messages API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with HTTP Basic (Account SID, Auth Token) and the form fields `To`,
//! `From` (a number) or `MessagingServiceSid` (`MG...`), and `Body`.

use crate::social::ProviderFailure;
use crate::social::http::{Call, Outbound};

/// One message to send.
pub struct Message<'a> {
    pub account_sid: &'a str,
    pub auth_token: &'a str,
    pub sender: &'a str,
    pub to: &'a str,
    pub body: &'a str,
}

/// Sends the message; Twilio answers 201 with the message's `sid`.
pub async fn send(http: &Outbound, base: &str, m: &Message<'_>) -> Result<(), ProviderFailure> {
    let sid: String = m
        .account_sid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let url = format!("{base}/2010-04-01/Accounts/{sid}/Messages.json");
    let from = if m.sender.starts_with("MG") {
        "MessagingServiceSid"
    } else {
        "From"
    };
    let form = [("To", m.to), (from, m.sender), ("Body", m.body)];
    let (status, _) = http
        .send(Call::post_form(&url, &form).basic(m.account_sid, m.auth_token))
        .await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(ProviderFailure::new(format!(
            "Twilio answered HTTP {status}"
        )))
    }
}
