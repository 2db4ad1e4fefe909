DROP TABLE memberships;
DROP TABLE organizations;
DROP TABLE roles;
