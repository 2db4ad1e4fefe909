DROP INDEX end_users_pending_email_idx;
ALTER TABLE end_users DROP COLUMN pending_email;
DROP INDEX callback_urls_origin_idx;
ALTER TABLE callback_urls DROP COLUMN origin;
ALTER TABLE subscriptions DROP COLUMN mirror_pending_since;
ALTER TABLE subscriptions DROP COLUMN stripe_event_at;
CREATE TABLE invitations_old (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted')),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    accepted_at BIGINT,
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
);
INSERT INTO invitations_old SELECT id, project_id, org_id, email, role, token_hash, status,
    expires_at, created_at, accepted_at FROM invitations WHERE status IN ('pending', 'accepted');
DROP TABLE invitations;
ALTER TABLE invitations_old RENAME TO invitations;
CREATE INDEX invitations_org_idx ON invitations (org_id, status, id);
CREATE INDEX invitations_email_idx ON invitations (project_id, email);
ALTER TABLE email_outbox DROP COLUMN variables;
