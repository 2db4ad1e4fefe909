DROP INDEX end_users_pending_email_idx;
ALTER TABLE end_users DROP COLUMN pending_email;
DROP INDEX callback_urls_origin_idx;
ALTER TABLE callback_urls DROP COLUMN origin;
ALTER TABLE subscriptions DROP COLUMN mirror_pending_since;
ALTER TABLE subscriptions DROP COLUMN stripe_event_at;
DELETE FROM invitations WHERE status IN ('revoked', 'voided');
ALTER TABLE invitations DROP CONSTRAINT invitations_status_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_status_check
    CHECK (status IN ('pending', 'accepted'));
ALTER TABLE email_outbox DROP COLUMN variables;
