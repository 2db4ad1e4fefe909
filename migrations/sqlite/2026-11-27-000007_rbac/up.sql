-- RBAC: resources with the actions they allow, and roles' grants (JSON
-- array of {resource, actions, condition?}). Sync archives what a document
-- no longer names; nothing is hard-deleted by it.
ALTER TABLE roles ADD COLUMN grants TEXT NOT NULL DEFAULT '[]';
ALTER TABLE roles ADD COLUMN archived_at BIGINT;

CREATE TABLE rbac_resources (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of action names.
    actions TEXT NOT NULL,
    archived_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT rbac_resources_project_key_key UNIQUE (project_id, key)
);
