//! Email: the five kinds of mail AuthGate sends, their templates (TipTap
//! JSON with handlebars variables, a built-in default per kind and a
//! project's own versions), rendering to email-safe HTML and plain text,
//! and the outbox with its SMTP delivery worker.

pub mod defaults;
pub mod kinds;
pub mod outbox;
pub mod templates;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tiptap;
pub mod tools;

pub use kinds::EmailKind;
pub use outbox::{DeliveryOptions, Mailer, OutboxMessage, enqueue, get_message, run_worker};
pub use templates::{Rendered, Template, render};
pub use tools::register;
