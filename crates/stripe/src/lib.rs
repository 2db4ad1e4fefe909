//! Stripe sync, with the modular async-stripe 1.0 crates: the ledger's
//! plans become Stripe products, their recurring prices Stripe prices
//! (created through the plans endpoint, which every Stripe account and
//! the `localstripe` stand-in serve; Stripe accepts a plan id wherever it
//! takes a price id), subscriptions Stripe subscriptions of a customer per
//! subscription; and Stripe's webhooks update the local subscription.
//! One Stripe account serves every project: each object carries the
//! project id and the local id in its metadata.
//!
//! Requests are built with the typed builders of async-stripe-product and
//! async-stripe-billing; answers are read into the few fields used here
//! (the typed models are strict, and a Stripe stand-in omits fields).

mod mirror;
mod webhook;

pub use mirror::{StripeConfig, StripeMirror};
pub use webhook::{Outcome as WebhookOutcome, SIGNATURE_HEADER, handle as handle_webhook};
