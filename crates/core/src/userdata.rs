//! Where an end user's data lives. Each domain that keeps rows about end
//! users registers a [`UserDataSection`] naming its tables, counting a
//! user's rows (what deleting the user removes) and exporting them (what a
//! GDPR export contains). delete_end_user and export_user_data go through
//! every section, and a test fails when a table with a `user_id` column is
//! covered by none.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::Value;

use authgate_store::Conn;

use crate::ToolError;
use crate::args::Cascade;

/// The user whose data is asked for, in which project, and as of when
/// (what is active, what this period's usage is).
#[derive(Debug, Clone)]
pub struct UserRef {
    pub project_id: String,
    pub id: String,
    /// Normalised email (invitations are addressed by email); none for a
    /// user who signed up by SMS.
    pub email: Option<String>,
    pub at: DateTime<Utc>,
}

pub trait UserDataSection: Send + Sync + 'static {
    /// A name for the section in an export (e.g. `sessions`).
    const NAME: &'static str;
    /// Every table this section covers.
    const TABLES: &'static [&'static str];

    /// The user's rows by kind, e.g. `{"sessions": 2}`.
    fn count(
        &self, conn: &mut Conn<'_>, user: &UserRef,
    ) -> impl Future<Output = Result<Cascade, ToolError>> + Send;

    /// Everything this section holds about the user, with no secret.
    fn export(
        &self, conn: &mut Conn<'_>, user: &UserRef,
    ) -> impl Future<Output = Result<Value, ToolError>> + Send;
}

pub trait DynUserData: Send + Sync {
    fn name(&self) -> &'static str;
    fn tables(&self) -> &'static [&'static str];
    fn count<'a>(
        &'a self, conn: &'a mut Conn<'_>, user: &'a UserRef,
    ) -> BoxFuture<'a, Result<Cascade, ToolError>>;
    fn export<'a>(
        &'a self, conn: &'a mut Conn<'_>, user: &'a UserRef,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

struct Erased<S>(S);

impl<S: UserDataSection> DynUserData for Erased<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn tables(&self) -> &'static [&'static str] {
        S::TABLES
    }
    fn count<'a>(
        &'a self, conn: &'a mut Conn<'_>, user: &'a UserRef,
    ) -> BoxFuture<'a, Result<Cascade, ToolError>> {
        self.0.count(conn, user).boxed()
    }
    fn export<'a>(
        &'a self, conn: &'a mut Conn<'_>, user: &'a UserRef,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        self.0.export(conn, user).boxed()
    }
}

pub(crate) fn erase<S: UserDataSection>(section: S) -> Arc<dyn DynUserData> {
    Arc::new(Erased(section))
}

/// The user's rows in every section, by kind.
pub async fn count_all(
    sections: &[Arc<dyn DynUserData>], conn: &mut Conn<'_>, user: &UserRef,
) -> Result<Cascade, ToolError> {
    let mut out = Cascade::new();
    for section in sections {
        out.extend(section.count(conn, user).await?);
    }
    Ok(out)
}
