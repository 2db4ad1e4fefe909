-- Stripe sync: the Stripe ids of plans (products), prices and
-- subscriptions, and the ids of the webhook events already applied (one
-- Stripe account serves every project, so events are not per project).
ALTER TABLE plans ADD COLUMN stripe_product_id TEXT;
ALTER TABLE prices ADD COLUMN stripe_price_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_subscription_id TEXT;
ALTER TABLE subscriptions ADD COLUMN stripe_customer_id TEXT;
CREATE UNIQUE INDEX subscriptions_stripe_idx ON subscriptions (stripe_subscription_id)
    WHERE stripe_subscription_id IS NOT NULL;

CREATE TABLE stripe_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
