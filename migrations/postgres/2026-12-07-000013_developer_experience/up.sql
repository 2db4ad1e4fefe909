-- Issue 20: how a billing migration prorates the move of a subscription
-- at the payment provider (none, create_prorations, always_invoice).
ALTER TABLE billing_migrations ADD COLUMN proration TEXT NOT NULL DEFAULT 'none';
