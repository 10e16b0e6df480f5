//! Groups as the organization API renders them.

use super::GroupRecord;
use crate::clock::Timestamp;
use crate::ids::{DirectoryId, EndUserId, GroupId};
use schemars::JsonSchema;
use serde::Serialize;

/// A group of end users, as a directory provisions it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Group")]
pub struct Group<'a> {
    /// Public id.
    pub id: GroupId,
    /// The directory that provisions it.
    pub directory_id: DirectoryId,
    /// Its SCIM `displayName`.
    pub display_name: &'a str,
    /// Its SCIM `externalId`, if the directory sent one.
    pub external_id: Option<&'a str>,
    /// How many members it has.
    pub member_count: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// One member of a group.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GroupMember")]
pub struct GroupMember<'a> {
    /// The end user.
    pub end_user_id: EndUserId,
    /// The name the directory gave it in the group (`display`), if any.
    pub display: Option<&'a str>,
}

/// One group of an end user.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Membership")]
pub struct Membership<'a> {
    /// The group.
    #[serde(flatten)]
    pub group: Group<'a>,
}

impl GroupRecord {
    /// As the organization API renders it.
    pub fn view(&self) -> Group<'_> {
        Group {
            id: self.id,
            directory_id: self.directory_id,
            display_name: &self.display_name,
            external_id: self.external_id.as_deref(),
            member_count: self.member_count,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
