DROP TABLE email_outbox;
DROP TABLE email_templates;
