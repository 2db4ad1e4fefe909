//! The audit log: one append-only table of events per project, written for
//! every write and danger tool call (inside the call's transaction), every
//! refused call, and every end-user auth event; read newest first through
//! the audit tools. Rows are bounded: targets are well-formed ids only (at
//! most 20), client names and versions at most 100 characters, and no
//! argument value or secret is stored. Event types are
//! [`authgate_core::EventType`]s.

mod events;
mod recorder;
mod tools;

pub use events::{
    Actor, AuditEvent, AuditObserver, ClientInfo, EventFilter, KeyRefusal, NewAuditEvent,
    RecordedEvent, attach_observers, count_targeting, list_event_types, list_events, record,
    record_alone, record_refusal,
};
pub use recorder::AuditRecorder;
pub use tools::{AUDIT, register};
