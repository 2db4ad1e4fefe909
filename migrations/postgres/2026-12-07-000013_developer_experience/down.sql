ALTER TABLE billing_migrations DROP COLUMN proration;
