-- Security alerts raised by the detection rules over the audit log, and
-- the short-lived signals some rules count distinct values with.
--
-- One live alert per rule and subject: a row is 'pending' while its rule's
-- threshold is not reached in the window (hidden from the tools), 'open'
-- once it is, then 'acknowledged' and 'resolved'. A resolved alert leaves
-- the partial unique index, so the next event starts a new one.
CREATE TABLE security_alerts (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    rule TEXT COLLATE "C" NOT NULL,
    -- What the rule watches: a user id, an IP, an API key id, a session id.
    subject TEXT COLLATE "C" NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'open', 'acknowledged', 'resolved')),
    summary TEXT NOT NULL,
    count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    -- When the threshold was reached (null while pending).
    opened_at BIGINT,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at BIGINT,
    resolved_by TEXT,
    note TEXT
);
CREATE UNIQUE INDEX security_alerts_live_idx ON security_alerts (project_id, rule, subject)
    WHERE status <> 'resolved';
CREATE INDEX security_alerts_list_idx ON security_alerts (project_id, opened_at, id);

-- Distinct values a rule has seen for a subject in its window (the
-- accounts one IP failed on): a value counts again once its window passed.
CREATE TABLE security_signals (
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    rule TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, rule, subject, value)
);
