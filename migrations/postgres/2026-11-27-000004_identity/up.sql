-- End users and everything that hangs off them. Every table carries
-- project_id; every row that belongs to a user references end_users with
-- ON DELETE CASCADE, so deleting a user removes all of it.
CREATE TABLE end_users (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- NFKC-normalised and lower-cased: unique per project, case-insensitively.
    email TEXT COLLATE "C" NOT NULL,
    name TEXT,
    email_verified BOOLEAN NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    CONSTRAINT end_users_project_email_key UNIQUE (project_id, email)
);
CREATE INDEX end_users_project_id_idx ON end_users (project_id, id);
CREATE INDEX end_users_project_created_idx ON end_users (project_id, created_at);

CREATE TABLE password_credentials (
    user_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- Argon2id PHC string.
    password_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE oauth_accounts (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    provider TEXT COLLATE "C" NOT NULL,
    provider_user_id TEXT COLLATE "C" NOT NULL,
    email TEXT,
    created_at BIGINT NOT NULL,
    CONSTRAINT oauth_accounts_provider_user_key UNIQUE (project_id, provider, provider_user_id)
);
CREATE INDEX oauth_accounts_user_idx ON oauth_accounts (project_id, user_id);

CREATE TABLE mfa_factors (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('totp')),
    -- The TOTP secret, sealed with the server key.
    secret_enc TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active')),
    created_at BIGINT NOT NULL,
    verified_at BIGINT
);
CREATE INDEX mfa_factors_user_idx ON mfa_factors (project_id, user_id);

-- Email verification codes: a keyed hash of the 6 digits, never the code.
CREATE TABLE verification_codes (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX verification_codes_user_idx ON verification_codes (project_id, user_id);

-- Password reset and magic link tokens, hashed; a token is used once.
CREATE TABLE auth_tokens (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('password_reset', 'magic_link')),
    token_hash TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL,
    CONSTRAINT auth_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (project_id, user_id);

-- A project's Ed25519 signing keys: 'next' is published before it signs,
-- 'current' signs, 'retired' stays published until its tokens expire.
CREATE TABLE signing_keys (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    publish_until BIGINT
);
CREATE INDEX signing_keys_project_idx ON signing_keys (project_id, state);

CREATE TABLE sessions (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT,
    ip TEXT,
    user_agent TEXT,
    -- The active organization and the member's role in it (set through
    -- POST /api/v1/auth/active-org).
    org_id TEXT COLLATE "C",
    role TEXT
);
CREATE INDEX sessions_project_idx ON sessions (project_id, id);
CREATE INDEX sessions_user_idx ON sessions (project_id, user_id, id);

-- Refresh tokens, hashed. Each use marks the token used and issues the
-- next; a used token presented again revokes its session (reuse detection).
CREATE TABLE refresh_tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (project_id, session_id);

-- Attempt counters for throttling (sign-in per account and per IP, sign-up
-- per IP), incremented atomically by an upsert before the work they guard.
CREATE TABLE auth_throttle (
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    subject TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    PRIMARY KEY (project_id, subject, window_start)
);
