-- Plan migrations: a snapshot of the subscriptions to move, one item each.
-- An item moves its subscription and is marked completed in one
-- transaction, so a run killed midway resumes without moving anything twice.
CREATE TABLE billing_migrations (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    from_plan_id TEXT COLLATE "C" NOT NULL REFERENCES plans (id),
    to_plan_id TEXT COLLATE "C" NOT NULL REFERENCES plans (id),
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);

CREATE TABLE billing_migration_items (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    migration_id TEXT COLLATE "C" NOT NULL REFERENCES billing_migrations (id) ON DELETE CASCADE,
    subscription_id TEXT COLLATE "C" NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    from_price_id TEXT COLLATE "C" NOT NULL,
    to_price_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    reason TEXT,
    moved_at BIGINT
);
CREATE INDEX billing_migration_items_idx ON billing_migration_items (migration_id, status, id);
