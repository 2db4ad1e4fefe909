-- Stripe sync: the Stripe ids of plans (products), prices and
-- subscriptions, and the ids of the webhook events already applied (one
-- Stripe account serves every project, so events are not per project).
ALTER TABLE plans ADD COLUMN stripe_product_id TEXT COLLATE "C";
ALTER TABLE prices ADD COLUMN stripe_price_id TEXT COLLATE "C";
ALTER TABLE subscriptions ADD COLUMN stripe_subscription_id TEXT COLLATE "C";
ALTER TABLE subscriptions ADD COLUMN stripe_customer_id TEXT COLLATE "C";
CREATE UNIQUE INDEX subscriptions_stripe_idx ON subscriptions (stripe_subscription_id)
    WHERE stripe_subscription_id IS NOT NULL;

CREATE TABLE stripe_events (
    event_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
