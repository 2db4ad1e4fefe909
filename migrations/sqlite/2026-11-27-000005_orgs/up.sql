-- Roles (the one role model), organizations and their members.
CREATE TABLE roles (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- Immutable; members hold roles by key.
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of permission strings (`posts:read`, `posts:*`, `*`).
    permissions TEXT NOT NULL,
    is_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT roles_project_key_key UNIQUE (project_id, key)
);
-- At most one default role per project, whatever the writers do.
CREATE UNIQUE INDEX roles_one_default_idx ON roles (project_id) WHERE is_default;

CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    image_url TEXT,
    member_limit BIGINT,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT organizations_project_slug_key UNIQUE (project_id, slug)
);
CREATE INDEX organizations_project_idx ON organizations (project_id, id);

CREATE TABLE memberships (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES end_users (id) ON DELETE CASCADE,
    -- A role key of the project.
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT memberships_org_user_key UNIQUE (org_id, user_id)
);
CREATE INDEX memberships_org_idx ON memberships (org_id, id);
CREATE INDEX memberships_user_idx ON memberships (project_id, user_id);
CREATE INDEX memberships_role_idx ON memberships (project_id, role);
