-- Issue 23: OAuth 2.1 for MCP clients. A consent makes a grant that is an
-- API key in all else (kind 'oauth', the client's id and name), so the key
-- cache, revocation, budgets, the cap and the audit apply unchanged.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'key';
ALTER TABLE api_keys ADD COLUMN client_id TEXT;
ALTER TABLE api_keys ADD COLUMN client_name TEXT;
CREATE INDEX api_keys_client_idx ON api_keys (project_id, client_id);

-- A client: registered (DCR, id mcpc_...) or known by its metadata
-- document's URL (CIMD, cached). Not a project's: grants are.
CREATE TABLE mcp_clients (
    id TEXT PRIMARY KEY NOT NULL,
    registration TEXT NOT NULL,
    client_name TEXT,
    redirect_uris TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    secret_hash TEXT,
    application_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);

-- An authorization code: hashed, single use, short-lived, bound to the
-- client, the redirect URI, the PKCE challenge and the resource. key_id
-- is the grant it was exchanged for (revoked if the code comes back).
CREATE TABLE mcp_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource TEXT NOT NULL,
    scopes TEXT NOT NULL,
    tools TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    key_id TEXT
);

-- Access (ag_oat_) and refresh (ag_ort_) tokens of a grant, hashed.
CREATE TABLE mcp_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX mcp_tokens_key_idx ON mcp_tokens (key_id);

-- An admin browser session (consent pages, the dashboard): made from a
-- pasted key (project and key set) or an operator's one-time link
-- (project NULL: every project). The cookie's value is stored hashed.
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    key_id TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at BIGINT
);

-- A one-time sign-in link of `authgate admin login`.
CREATE TABLE admin_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
