-- Issue 21: SMS sign-in. A user may have a phone number (E.164, unique per
-- project) instead of an email address, so email becomes optional.
-- Rebuilt as SQLite's ALTER TABLE page says (the store runs migrations with
-- foreign keys off and checks them all before it commits).
CREATE TABLE end_users_new (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- NFKC-normalised and lower-cased: unique per project, case-insensitively.
    email TEXT,
    name TEXT,
    email_verified BOOLEAN NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    pending_email TEXT,
    -- E.164 (+14155550100).
    phone TEXT,
    phone_verified BOOLEAN NOT NULL DEFAULT 0,
    CONSTRAINT end_users_project_email_key UNIQUE (project_id, email)
);
INSERT INTO end_users_new (id, project_id, email, name, email_verified, metadata, created_at,
                           updated_at, last_sign_in_at, pending_email)
    SELECT id, project_id, email, name, email_verified, metadata, created_at, updated_at,
           last_sign_in_at, pending_email
    FROM end_users;
DROP TABLE end_users;
ALTER TABLE end_users_new RENAME TO end_users;
CREATE INDEX end_users_project_id_idx ON end_users (project_id, id);
CREATE INDEX end_users_project_created_idx ON end_users (project_id, created_at);
CREATE INDEX end_users_pending_email_idx ON end_users (project_id, pending_email);
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
