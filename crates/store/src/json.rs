//! JSON documents kept in TEXT columns (scopes, allow-lists, metadata,
//! grants, features), read and written as typed values. A stored value
//! that does not parse as its type is a deserialization error, which the
//! caller sees as an internal error (logged with the request id), never
//! as an empty default that would silently change what the row means.

use std::io::Write as _;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A `T` stored as JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct JsonText<T>(pub T);

impl<T> JsonText<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

fn parse<T: DeserializeOwned>(text: &str) -> deserialize::Result<JsonText<T>> {
    serde_json::from_str(text).map(JsonText).map_err(|e| {
        format!(
            "a stored JSON value does not parse as {}: {e}",
            std::any::type_name::<T>()
        )
        .into()
    })
}

impl<T: DeserializeOwned> FromSql<Text, Pg> for JsonText<T> {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        parse(&text)
    }
}

impl<T: DeserializeOwned> FromSql<Text, Sqlite> for JsonText<T> {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
        parse(&text)
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, Pg> for JsonText<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        serde_json::to_writer(&mut *out, &self.0)?;
        out.flush()?;
        Ok(IsNull::No)
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, Sqlite> for JsonText<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}
