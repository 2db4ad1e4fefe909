-- Issue 21: social sign-in.
-- A provider's settings beyond its credentials (scopes, hosted_domain,
-- tenant, allowed_tenants, team_id, key_id, sender, allowed_countries).
ALTER TABLE auth_providers ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- A sign-in started at a provider: found by the hash of our `state`,
-- spent by one conditional UPDATE. The PKCE verifier is sealed with the
-- server key; the nonce and the browser-binding cookie are kept hashed.
CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    redirect_url TEXT NOT NULL,
    app_state TEXT,
    code_challenge TEXT,
    verifier_enc TEXT NOT NULL,
    nonce_hash TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at);

-- The one-time code the app redeems for a session: hashed, 60 s, bound to
-- its project and redirect URL (and the app's PKCE challenge when sent).
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    redirect_url TEXT NOT NULL,
    code_challenge TEXT,
    is_new_user BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);
