//! Organizations of a project and their members. A member holds one role
//! (by key, from `authgate-rbac`) per organization. Adding a member checks
//! duplicates and the organization's member limit in the transaction that
//! adds it, under the project lock, so concurrent adds never pass the limit.

mod flows;
mod invitations;
mod members;
mod organizations;
mod sections;
mod tools;

pub use flows::{
    AcceptBody, ActiveOrg, ActiveOrgBody, OrgDetail, accept_invitation, create_org, delete_org, me,
    org_detail, set_active_org, update_org,
};
pub use invitations::{INVITATION_TTL, Invitation, InvitationStatus, NewInvitation, invite_member};
pub use members::{
    AssignedBy, Member, Membership, OrgMember, add_member, list_members, member_role,
    memberships_of_user, remove_member, set_member_role,
};
pub use organizations::{
    NewOrg, Org, OrgChange, get_org, list_orgs, slug_from_name, validate_slug,
};
pub use tools::{ORGANIZATIONS, register};
