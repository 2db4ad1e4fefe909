DROP TABLE stripe_events;
DROP INDEX subscriptions_stripe_idx;
ALTER TABLE subscriptions DROP COLUMN stripe_customer_id;
ALTER TABLE subscriptions DROP COLUMN stripe_subscription_id;
ALTER TABLE prices DROP COLUMN stripe_price_id;
ALTER TABLE plans DROP COLUMN stripe_product_id;
