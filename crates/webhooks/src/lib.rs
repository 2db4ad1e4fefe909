//! Webhooks to the developer's app, signed per Standard Webhooks 1.0: the
//! changes the domains publish ([`authgate_core::changes`]) are queued in
//! the unit of work that makes them ([`Outbox`], a transactional outbox)
//! and delivered at least once by a worker every gateway runs, with
//! retries on a schedule, 410 Gone and 5 days of failures disabling an
//! endpoint, and an address policy that keeps deliveries off private
//! networks (SSRF).
//!
//! Modules: `policy` (where a delivery may go), `signing`, `endpoints`,
//! `outbox` (the change sink), `deliveries`, `client` (the guarded HTTP
//! client), `settings`, `worker` (claims and sends), `settle` (what an answer does),
//! `sections`, `tools`.

mod client;
mod deliveries;
mod endpoints;
mod outbox;
mod policy;
mod sections;
mod settings;
mod settle;
mod signing;
mod tools;
mod worker;

pub use client::GuardedClient;
pub use deliveries::{DeliveryFilter, WebhookDelivery, list_deliveries, replay_delivery};
pub use endpoints::{
    EndpointChange, EndpointWithSecret, MAX_ENDPOINTS, NewEndpoint, WebhookEndpoint, check_events,
    create_endpoint, delete_endpoint, list_endpoints, rotate_secret, update_endpoint,
};
pub use outbox::Outbox;
pub use policy::{Refusal, check_address, check_url, fuzz_webhook_url};
pub use sections::queue_depth;
pub use settings::{WebhookSettings, WorkerOptions};
pub use signing::signature;
pub use tools::{WEBHOOKS, register};
pub use worker::run_worker;
