//! Links mailed on request (a password reset, a sign-in link): the
//! request is admitted, its `redirect_url` checked against the project's
//! callback URLs, and counted per address, the same for both; then the
//! kind's own step mails the link (or records why none goes). The answer
//! is 202 either way, so it tells nothing about the address.

use authgate_core::{Conn, RequestMeta, ToolError, settle};

use super::{Auth, LinkRequest, admit};
use crate::users;

/// Which link is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkKind {
    PasswordReset,
    MagicLink,
}

impl LinkKind {
    /// The sign-in method that must be enabled.
    fn method(self) -> &'static str {
        match self {
            LinkKind::PasswordReset => "email",
            LinkKind::MagicLink => "magic_link",
        }
    }
}

/// A link request, its address normalised.
pub(super) struct LinkRequested<'a> {
    pub kind: LinkKind,
    pub project_id: &'a str,
    pub email: String,
    pub redirect_url: Option<&'a str>,
    pub meta: &'a RequestMeta,
}

impl<'a> LinkRequested<'a> {
    pub fn new(
        kind: LinkKind, project_id: &'a str, body: &'a LinkRequest, meta: &'a RequestMeta,
    ) -> Result<Self, ToolError> {
        Ok(LinkRequested {
            kind,
            project_id,
            email: users::normalize_email("email", &body.email)?,
            redirect_url: body.redirect_url.as_deref(),
            meta,
        })
    }
}

impl Auth {
    pub(super) async fn request_link(&self, link: LinkRequested<'_>) -> Result<(), ToolError> {
        let now = self.now();
        let project_id = link.project_id;
        settle(
            self.store
                .write(async |conn: &mut Conn<'_>| {
                    admit(conn, project_id, Some(link.kind.method())).await?;
                    let base =
                        authgate_project::link_target(conn, project_id, link.redirect_url).await?;
                    if let Err(refused) =
                        self.count_mail(conn, project_id, &link.email, now).await?
                    {
                        return Ok(Err(refused));
                    }
                    match link.kind {
                        LinkKind::PasswordReset => {
                            self.mail_reset_link(conn, &link, &base, now).await
                        }
                        LinkKind::MagicLink => self.mail_magic_link(conn, &link, &base, now).await,
                    }
                })
                .await,
        )
    }
}
