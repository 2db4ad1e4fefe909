DROP TABLE admin_links;
DROP TABLE admin_sessions;
DROP TABLE mcp_tokens;
DROP TABLE mcp_codes;
DROP TABLE mcp_clients;
DROP INDEX api_keys_client_idx;
ALTER TABLE api_keys DROP COLUMN client_name;
ALTER TABLE api_keys DROP COLUMN client_id;
ALTER TABLE api_keys DROP COLUMN kind;
