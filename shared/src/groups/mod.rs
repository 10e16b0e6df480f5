//! Groups (SPEC §18): sets of an organization's end users that a directory
//! provisions over SCIM, readable through the organization API and in Cedar.
//!
//! A group is **one item**, `PK = ORG#<org>`, `SK = GROUP#<id>`, holding its
//! members (`members_json`): a change of any number of members is one
//! conditional write of that item, so no reader ever sees half of it. Beside
//! it, per member, an entry of the member's side (`UMEM#<org>#<user>` /
//! `G#<group>`), for "the groups of an end user": written *before* the group
//! gains the member and removed *after* it loses it, so the entries are
//! always a superset of the truth, and every reader checks them against the
//! group items it reads anyway.

pub mod store;
mod view;

pub use store::GroupRecord;
pub use view::{Group, GroupMember, Membership};

use crate::ids::{DirectoryId, EndUserId, GroupId, OrganizationId};

/// Sort key of a group.
pub fn group_sk(id: GroupId) -> String {
    format!("GROUP#{id}")
}

/// Partition of an end user's membership entries.
pub fn memberships_pk(org: OrganizationId, user: EndUserId) -> String {
    format!("UMEM#{org}#{user}")
}

/// Partition of a directory's group-list entries.
pub fn directory_groups_pk(directory: DirectoryId) -> String {
    format!("SCIMDIR#{directory}#groups")
}
