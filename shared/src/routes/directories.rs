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
