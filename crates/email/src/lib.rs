//! Email: the kinds of mail AuthGate sends, their templates (TipTap
//! JSON with handlebars variables, a built-in default per kind and a
//! project's own versions), rendering to email-safe HTML and plain text,
//! and the outbox with its delivery worker (SMTP, or the development
//! mailbox when no SMTP server is configured).

mod defaults;
pub mod devbox;
#[doc(hidden)]
pub mod fuzzing;
mod kinds;
mod outbox;
mod syntax;
mod templates;
#[cfg(feature = "testing")]
pub mod testing;
mod tiptap;
mod tools;

pub use defaults::default_template;
pub use kinds::{ALL_KINDS, EmailKind, merge as merge_variables};
pub use outbox::{
    DeliveryOptions, Mailer, OutboxCounts, OutboxMessage, counts as outbox_counts, deliver_due,
    enqueue, get_message, purge_settled, recover_interrupted, run_worker,
};
pub use templates::{Rendered, Template, render};
pub use tools::{EMAIL, register};
