-- The second security review (issue 19).
-- Mail is rendered by the delivery worker, outside any transaction: a
-- queued row keeps the kind's variables until then (cleared when settled,
-- like the bodies it replaces).
ALTER TABLE email_outbox ADD COLUMN variables TEXT;

-- Invitations can be revoked, and are voided when their invitee is added
-- or removed directly (SQLite changes a CHECK by rebuilding the table).
CREATE TABLE invitations_new (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked', 'voided')),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    accepted_at BIGINT,
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
);
INSERT INTO invitations_new SELECT id, project_id, org_id, email, role, token_hash, status,
    expires_at, created_at, accepted_at FROM invitations;
DROP TABLE invitations;
ALTER TABLE invitations_new RENAME TO invitations;
CREATE INDEX invitations_org_idx ON invitations (org_id, status, id);
CREATE INDEX invitations_email_idx ON invitations (project_id, email);

-- Stripe: the time of the newest event applied to a subscription (older
-- ones are not applied over it), and since when a subscription waits for
-- Stripe to confirm it (called outside any transaction).
ALTER TABLE subscriptions ADD COLUMN stripe_event_at BIGINT;
ALTER TABLE subscriptions ADD COLUMN mirror_pending_since BIGINT;
