-- Billing: plans with features, prices in integer minor units,
-- subscriptions, and metered usage whose idempotency keys are unique per
-- project forever (the constraint decides, not a check-then-insert).
CREATE TABLE plans (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    -- JSON array of {key, limit?}.
    features TEXT NOT NULL,
    archived_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT plans_project_key_key UNIQUE (project_id, key)
);

CREATE TABLE prices (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    plan_id TEXT COLLATE "C" NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency TEXT COLLATE "C" NOT NULL,
    interval TEXT NOT NULL CHECK (interval IN ('month', 'year', 'one_time')),
    archived_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX prices_plan_idx ON prices (plan_id);

CREATE TABLE subscriptions (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    plan_id TEXT COLLATE "C" NOT NULL REFERENCES plans (id),
    price_id TEXT COLLATE "C" NOT NULL REFERENCES prices (id),
    status TEXT NOT NULL CHECK (status IN ('active', 'trialing', 'past_due', 'canceled')),
    current_period_start BIGINT NOT NULL,
    current_period_end BIGINT,
    cancel_at_period_end BOOLEAN NOT NULL,
    canceled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_user_idx ON subscriptions (project_id, user_id, status);
CREATE INDEX subscriptions_plan_idx ON subscriptions (project_id, plan_id, status);

CREATE TABLE usage_events (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    meter TEXT COLLATE "C" NOT NULL,
    quantity BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT usage_events_project_key_key UNIQUE (project_id, idempotency_key)
);
CREATE INDEX usage_events_user_meter_idx ON usage_events (project_id, user_id, meter, occurred_at);
CREATE INDEX usage_events_meter_idx ON usage_events (project_id, meter, occurred_at);
