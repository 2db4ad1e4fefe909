-- Times are microseconds since the Unix epoch (UTC), stored as BIGINT on both backends.
CREATE TABLE projects (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    tools TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_project_id_idx ON api_keys (project_id, id);

CREATE TABLE auth_providers (
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL,
    client_id TEXT,
    client_secret_enc TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, provider)
);

CREATE TABLE callback_urls (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT callback_urls_project_url_key UNIQUE (project_id, url)
);
CREATE INDEX callback_urls_project_id_idx ON callback_urls (project_id, id);

CREATE TABLE audit_events (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_type TEXT COLLATE "C" NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    client_name TEXT,
    client_version TEXT,
    tool TEXT,
    targets TEXT NOT NULL,
    arguments_hash TEXT,
    outcome TEXT NOT NULL,
    error_code TEXT,
    latency_ms BIGINT,
    request_id TEXT,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_events_project_id_idx ON audit_events (project_id, id);
CREATE INDEX audit_events_project_type_idx ON audit_events (project_id, event_type, id);
