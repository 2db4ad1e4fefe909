-- Issue 21: SMS sign-in. A user may have a phone number (E.164, unique per
-- project) instead of an email address, so email becomes optional.
ALTER TABLE end_users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE end_users ADD COLUMN phone TEXT;
ALTER TABLE end_users ADD COLUMN phone_verified BOOLEAN NOT NULL DEFAULT false;
CREATE UNIQUE INDEX end_users_project_phone_key ON end_users (project_id, phone)
    WHERE phone IS NOT NULL;

-- A code sent by SMS: kept as a keyed hash, 10 minutes, 5 tries.
CREATE TABLE sms_codes (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX sms_codes_phone_idx ON sms_codes (project_id, phone, created_at);
