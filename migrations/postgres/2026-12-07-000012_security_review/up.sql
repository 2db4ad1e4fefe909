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

-- CORS: each callback's origin (scheme://host[:port], as browsers send it),
-- indexed, so a preflight is one lookup instead of a scan of every
-- project's callbacks. Stored URLs are normalised (lower-case host, no
-- default port, a path), so the origin is everything before the third '/'.
ALTER TABLE callback_urls ADD COLUMN origin TEXT NOT NULL DEFAULT '';
UPDATE callback_urls SET origin = split_part(url, '/', 1) || '//' || split_part(url, '/', 3);
CREATE INDEX callback_urls_origin_idx ON callback_urls (origin, project_id);

-- An email change waits for the new address to be verified: until then
-- the account keeps its address, and the new one is pending.
ALTER TABLE end_users ADD COLUMN pending_email TEXT;
CREATE INDEX end_users_pending_email_idx ON end_users (project_id, pending_email);
