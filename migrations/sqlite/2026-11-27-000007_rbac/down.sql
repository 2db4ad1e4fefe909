DROP TABLE rbac_resources;
ALTER TABLE roles DROP COLUMN archived_at;
ALTER TABLE roles DROP COLUMN grants;
