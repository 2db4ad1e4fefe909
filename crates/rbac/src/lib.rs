//! Roles and fine-grained access: the one role model of a project (an
//! immutable `key` members hold, a name, flat permissions, grants on
//! declared resources with CEL conditions, at most one default role),
//! the permission check engine, and the whole configuration as one
//! syncable document. Organization members hold roles by key (see
//! `authgate-orgs`).

mod conditions;
mod engine;
mod flows;
#[doc(hidden)]
pub mod fuzzing;
mod resources;
mod roles;
mod sections;
mod sync;
mod tools;

pub use conditions::{BUDGET_EXCEEDED, Variables, compile_condition, evaluate};
pub use engine::{Decision, Question, check as check_permission, decide, permission_covers};
pub use flows::{
    PermissionCheck, check_permission_with_key, check_permission_with_token,
    create_role_with_grants,
};
pub use resources::{Resource, create_resource};
pub use roles::{
    Grant, NewRole, Role, RoleChange, create_role, default_role, delete_role, get_role, list_roles,
    require_assignable_role, role_exists, role_grants_everything,
};
pub use sync::{Plan, ResourceDoc, RoleDoc, SyncState, apply as apply_sync, state as sync_state};
pub use tools::{RBAC, ROLES, register};
