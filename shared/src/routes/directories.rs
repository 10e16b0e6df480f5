//! Directories of the organization API (SPEC §18), admin scope.

use super::organization::org_api;
use super::{Docs, Endpoint, Touch, op};
use crate::api;
use crate::auth::Scope;
use crate::wire::schema;

/// `POST /v1/directories`
pub const CREATE_DIRECTORY: Endpoint = org_api(
    "create-directory",
    ("POST", "/v1/directories"),
    "directories.create",
    op!(api::directories::create),
    Docs::new(
        "Create a directory (its SCIM bearer token is in this response only)",
        (
            201,
            "The directory, its SCIM base URL and its bearer token.",
            Some(schema::<crate::directories::WithToken<'static>>),
        ),
        &[409],
    ),
)
.example(Some(r##"{"name": "Okta"}"##), "")
.needing(Scope::Admin);
/// `GET /v1/directories`
pub const LIST_DIRECTORIES: Endpoint = org_api(
    "list-directories",
    ("GET", "/v1/directories"),
    "directories.list",
    op!(api::directories::list),
    Docs::new(
        "List directories",
        (
            200,
            "A page of directories.",
            Some(schema::<crate::wire::Page<crate::directories::Directory<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.needing(Scope::Admin);
/// `GET /v1/directories/{id}`
pub const GET_DIRECTORY: Endpoint = org_api(
    "get-directory",
    ("GET", "/v1/directories/{id}"),
    "directories.read",
    op!(api::directories::get),
    Docs::new(
        "Get a directory",
        (
            200,
            "The directory (never its token).",
            Some(schema::<crate::directories::Directory<'static>>),
        ),
        &[],
    ),
)
.needing(Scope::Admin);
/// `DELETE /v1/directories/{id}`
pub const DELETE_DIRECTORY: Endpoint = org_api(
    "delete-directory",
    ("DELETE", "/v1/directories/{id}"),
    "directories.delete",
    op!(api::directories::delete),
    Docs::new(
        "Delete a directory: its token stops at once, its end users stay",
        (204, "Deleted.", None),
        &[],
    ),
)
.touching(&[Touch::Put, Touch::Delete])
.needing(Scope::Admin);
/// `POST /v1/directories/{id}/roll-token`
pub const ROLL_DIRECTORY_TOKEN: Endpoint = org_api(
    "roll-directory-token",
    ("POST", "/v1/directories/{id}/roll-token"),
    "directories.roll_token",
    op!(api::directories::roll_token),
    Docs::new(
        "Replace a directory's SCIM bearer token (the old one stops at once)",
        (
            200,
            "The directory and its new bearer token.",
            Some(schema::<crate::directories::WithToken<'static>>),
        ),
        &[],
    )
    .optional_body(),
)
.example(Some(r##"{}"##), "")
.touching(&[Touch::Put, Touch::Delete])
.needing(Scope::Admin);
/// `GET /v1/groups`
pub const LIST_GROUPS: Endpoint = org_api(
    "list-groups",
    ("GET", "/v1/groups"),
    "groups.list",
    op!(api::groups::list),
    Docs::new(
        "List the groups the organization's directories provision",
        (
            200,
            "A page of groups.",
            Some(schema::<crate::wire::Page<crate::groups::Group<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.needing(Scope::Read);
/// `GET /v1/groups/{id}`
pub const GET_GROUP: Endpoint = org_api(
    "get-group",
    ("GET", "/v1/groups/{id}"),
    "groups.read",
    op!(api::groups::get),
    Docs::new(
        "Get a group",
        (
            200,
            "The group.",
            Some(schema::<crate::groups::Group<'static>>),
        ),
        &[],
    ),
)
.needing(Scope::Read);
/// `GET /v1/groups/{id}/members`
pub const LIST_GROUP_MEMBERS: Endpoint = org_api(
    "list-group-members",
    ("GET", "/v1/groups/{id}/members"),
    "groups.read",
    op!(api::groups::members),
    Docs::new(
        "List a group's members, in the order they were added",
        (
            200,
            "A page of members.",
            Some(schema::<crate::wire::Page<crate::groups::GroupMember<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.needing(Scope::Read);
/// `GET /v1/end-users/{user_id}/groups`
pub const LIST_END_USER_GROUPS: Endpoint = org_api(
    "list-end-user-groups",
    ("GET", "/v1/end-users/{user_id}/groups"),
    "end_users.groups",
    op!(api::groups::of_end_user),
    Docs::new(
        "List the groups an end user is in",
        (
            200,
            "A page of groups.",
            Some(schema::<crate::wire::Page<crate::groups::Group<'static>>>),
        ),
        &[],
    )
    .paginated(),
)
.needing(Scope::Read);
