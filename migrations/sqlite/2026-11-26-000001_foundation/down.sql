DROP TABLE audit_events;
DROP TABLE callback_urls;
DROP TABLE auth_providers;
DROP TABLE api_keys;
DROP TABLE projects;
