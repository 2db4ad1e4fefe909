DROP TABLE billing_migration_items;
DROP TABLE billing_migrations;
