//! Changes the developer's app is told of (webhooks): the typed list of
//! change types, and the one way a domain publishes a change, in the unit
//! of work that makes it (a transactional outbox: a rolled-back change
//! sends nothing, a committed one is never lost).
//!
//! A domain calls [`outlet`] for the change's type; it answers `None` when
//! no endpoint of the project listens (one indexed read, nothing built),
//! else an [`Outlet`] the domain hands the object to, shaped as the read
//! tool that returns it. The webhooks domain implements [`ChangeSink`] and
//! attaches it to the store ([`attach_change_sink`]); a store without one
//! publishes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;

use authgate_store::{Conn, Store};

use crate::ToolError;

macro_rules! change_types {
    ($($(#[doc = $doc:literal])+ $variant:ident => $name:literal,)*) => {
        /// A change an app may subscribe to; shown as its name (`user.created`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ChangeType {
            $($(#[doc = $doc])+ $variant,)*
        }

        impl ChangeType {
            /// Every type, in declaration order (the docs and the tests read it).
            pub const ALL: &'static [ChangeType] = &[$(ChangeType::$variant,)*];

            /// The name in payloads and subscriptions.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ChangeType::$variant => $name,)*
                }
            }

            /// One line on when it is sent, for the docs.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ChangeType::$variant => concat!($($doc),+),)*
                }
            }
        }
    };
}

change_types! {
    /// An end user was created (any sign-up method); data as get_end_user.
    UserCreated => "user.created",
    /// An end user's profile, address, password or second factors changed.
    UserUpdated => "user.updated",
    /// An end user was deleted (with their sessions and memberships); data
    /// as get_end_user returned it just before.
    UserDeleted => "user.deleted",
    /// An end user's email address was proven.
    UserEmailVerified => "user.email_verified",
    /// A session was opened (a sign-in); data as get_session.
    SessionCreated => "session.created",
    /// A session was revoked (sign-out, a key, a reused refresh token).
    SessionRevoked => "session.revoked",
    /// An organization was created; data as get_organization.
    OrganizationCreated => "organization.created",
    /// An organization's name, slug or metadata changed.
    OrganizationUpdated => "organization.updated",
    /// An organization was deleted (its memberships and invitations with it).
    OrganizationDeleted => "organization.deleted",
    /// A user became a member of an organization; data carries `org_id` and `role`.
    MembershipCreated => "membership.created",
    /// A member's role changed.
    MembershipUpdated => "membership.updated",
    /// A member left or was removed.
    MembershipDeleted => "membership.deleted",
    /// An invitation was sent; data carries `org_id` and `role`.
    InvitationCreated => "invitation.created",
    /// An invitation was accepted (a membership.created follows).
    InvitationAccepted => "invitation.accepted",
    /// An invitation was revoked.
    InvitationRevoked => "invitation.revoked",
    /// A subscription was created; data as get_subscription.
    SubscriptionCreated => "subscription.created",
    /// A subscription's plan, price, status or period changed.
    SubscriptionUpdated => "subscription.updated",
    /// A subscription was canceled (at once or at its period's end).
    SubscriptionCanceled => "subscription.canceled",
    /// A detection rule raised an alert; data as list_security_alerts shows it.
    SecurityAlertCreated => "security_alert.created",
}

impl ChangeType {
    /// The type named `name`.
    pub fn parse(name: &str) -> Option<ChangeType> {
        ChangeType::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl std::fmt::Display for ChangeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where published changes go: the webhooks domain's outbox.
pub trait ChangeSink: Send + Sync + 'static {
    /// The ids of the project's live endpoints that listen for `change`.
    fn listeners<'a>(
        &'a self, conn: &'a mut Conn<'_>, project_id: &'a str, change: ChangeType,
    ) -> BoxFuture<'a, Result<Vec<String>, ToolError>>;

    /// Queues `data` for `listeners`, in the caller's unit of work.
    fn publish<'a>(
        &'a self, conn: &'a mut Conn<'_>, change: &'a Outlet, data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), ToolError>>;
}

/// The sink of a store; [`attach_change_sink`] sets it.
struct Sink(Arc<dyn ChangeSink>);

/// Makes changes published through `store` (and its clones) go to `sink`.
pub fn attach_change_sink(store: &Store, sink: Arc<dyn ChangeSink>) {
    store.set_extension(Arc::new(Sink(sink)));
}

/// A change someone listens for, waiting for its object.
pub struct Outlet {
    sink: Arc<dyn ChangeSink>,
    pub project_id: String,
    pub change: ChangeType,
    pub listeners: Vec<String>,
}

/// The outlet for a change of `change` in `project_id`, or `None` when
/// nobody listens (then the caller builds nothing).
pub async fn outlet(
    conn: &mut Conn<'_>, project_id: &str, change: ChangeType,
) -> Result<Option<Outlet>, ToolError> {
    let Some(sink) = conn.extension::<Sink>() else {
        return Ok(None);
    };
    let listeners = sink.0.listeners(conn, project_id, change).await?;
    if listeners.is_empty() {
        return Ok(None);
    }
    Ok(Some(Outlet {
        sink: sink.0.clone(),
        project_id: project_id.to_owned(),
        change,
        listeners,
    }))
}

impl Outlet {
    /// Queues the change with its object (never a secret, hash or token).
    pub async fn send(
        self, conn: &mut Conn<'_>, data: &impl Serialize, now: DateTime<Utc>,
    ) -> Result<(), ToolError> {
        let data = serde_json::to_value(data)
            .map_err(|e| ToolError::internal(format!("a change's data: {e}")))?;
        let sink = self.sink.clone();
        sink.publish(conn, &self, data, now).await
    }
}

/// Publishes a change whose object is already at hand (no read to save).
pub async fn publish(
    conn: &mut Conn<'_>, project_id: &str, change: ChangeType, data: &impl Serialize,
    now: DateTime<Utc>,
) -> Result<(), ToolError> {
    match outlet(conn, project_id, change).await? {
        Some(outlet) => outlet.send(conn, data, now).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for t in ChangeType::ALL {
            assert!(seen.insert(t.name()), "{} twice", t.name());
            assert_eq!(ChangeType::parse(t.name()), Some(*t));
            assert!(t.name().contains('.'), "{}", t.name());
            assert!(!t.meaning().is_empty());
        }
        assert_eq!(ChangeType::ALL.len(), 19);
        assert_eq!(ChangeType::parse("user.exploded"), None);
    }
}
