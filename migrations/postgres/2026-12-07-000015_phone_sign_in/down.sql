DROP TABLE sms_codes;
DROP INDEX end_users_project_phone_key;
ALTER TABLE end_users DROP COLUMN phone_verified;
ALTER TABLE end_users DROP COLUMN phone;
