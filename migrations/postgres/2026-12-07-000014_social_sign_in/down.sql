DROP TABLE oauth_codes;
DROP TABLE oauth_states;
ALTER TABLE auth_providers DROP COLUMN settings;
