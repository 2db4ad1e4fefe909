-- The second security review (issue 19).
-- Mail is rendered by the delivery worker, outside any transaction: a
-- queued row keeps the kind's variables until then (cleared when settled,
-- like the bodies it replaces).
ALTER TABLE email_outbox ADD COLUMN variables TEXT;

-- Invitations can be revoked, and are voided when their invitee is added
-- or removed directly.
ALTER TABLE invitations DROP CONSTRAINT invitations_status_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_status_check
    CHECK (status IN ('pending', 'accepted', 'revoked', 'voided'));

-- Stripe: the time of the newest event applied to a subscription (older
-- ones are not applied over it), and since when a subscription waits for
-- Stripe to confirm it (called outside any transaction).
ALTER TABLE subscriptions ADD COLUMN stripe_event_at BIGINT;
ALTER TABLE subscriptions ADD COLUMN mirror_pending_since BIGINT;
