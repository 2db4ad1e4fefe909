-- The ids an audit event concerns, one row each, so that filtering by
-- target is an exact, indexed match on both backends (a LIKE over the JSON
-- list treated `_` as a wildcard and ignored case on SQLite).
CREATE TABLE audit_event_targets (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    target_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (project_id, target_id, event_id)
);

-- Events are listed newest first by (created_at, id); time filters and
-- the other filters use these.
DROP INDEX audit_events_project_id_idx;
DROP INDEX audit_events_project_type_idx;
CREATE INDEX audit_events_project_created_idx ON audit_events (project_id, created_at, id);
CREATE INDEX audit_events_project_type_idx ON audit_events (project_id, event_type, created_at, id);
CREATE INDEX audit_events_project_actor_idx ON audit_events (project_id, actor_id, created_at, id);
