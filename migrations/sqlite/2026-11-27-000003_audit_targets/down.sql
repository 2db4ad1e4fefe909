DROP INDEX audit_events_project_actor_idx;
DROP INDEX audit_events_project_type_idx;
DROP INDEX audit_events_project_created_idx;
CREATE INDEX audit_events_project_type_idx ON audit_events (project_id, event_type, id);
CREATE INDEX audit_events_project_id_idx ON audit_events (project_id, id);
DROP TABLE audit_event_targets;
