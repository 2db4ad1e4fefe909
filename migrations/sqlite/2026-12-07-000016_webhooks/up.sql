-- Issue 22: webhooks to the developer's app (Standard Webhooks).
-- An endpoint: where a project's changes go. The signing secret is sealed
-- with the server key; after a rotation the previous one signs too until
-- previous_until.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    secret_enc TEXT NOT NULL,
    previous_secret_enc TEXT,
    previous_until BIGINT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason TEXT,
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_project_idx ON webhook_endpoints (project_id, id);

-- A change, written in the unit of work that made it (the outbox): its
-- id is the webhook-id every delivery and retry of it carries.
CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_messages_created_idx ON webhook_messages (created_at);

-- One message to one endpoint. A worker claims due rows by moving
-- next_attempt_at past its lease and writing its claim; a claim that dies
-- with its worker falls due again when the lease ends (at least once).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_status_code BIGINT,
    last_response TEXT,
    last_error TEXT,
    next_attempt_at BIGINT,
    claim TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_project_idx ON webhook_deliveries (project_id, id);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (message_id);
CREATE INDEX webhook_deliveries_queued_idx ON webhook_deliveries (project_id) WHERE status = 'pending';
