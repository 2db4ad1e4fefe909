//! export_user_data: one JSON document with everything the project holds
//! about an end user. Each domain contributes through the user-data section
//! it registers (the same sections delete_end_user counts), so a new table
//! of personal data is exported as soon as its domain covers it, and the
//! catalogue test fails while none does. Audit events where the user is the
//! actor or a target are added from the audit domain.

mod export;
mod tools;

pub use export::{UserExport, export_user};
pub use tools::{PRIVACY, register};
