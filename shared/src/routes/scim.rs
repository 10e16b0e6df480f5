//! The SCIM 2.0 surface (SPEC §18): `/scim/v2/{directory_id}/...` with a
//! directory's `scim_` token. Described by its own discovery endpoints, not
//! by the OpenAPI document.

use super::{Docs, Endpoint, Touch, op};
use crate::api;

/// A SCIM endpoint: its handler takes the directory's context, so its
/// credential is the directory's token and its errors SCIM's envelope.
const fn scim_api(
    function: &'static str,
    route: (&'static str, &'static str),
    action: &'static str,
    bound: super::Bound,
    summary: &'static str,
    success: u16,
) -> Endpoint {
    Endpoint::new(
        function,
        route,
        action,
        bound,
        Docs::new(summary, (success, summary, None), &[]),
    )
}

/// `GET /scim/v2/{directory_id}/ServiceProviderConfig`
pub const SCIM_SERVICE_PROVIDER_CONFIG: Endpoint = scim_api(
    "scim-service-provider-config",
    ("GET", "/scim/v2/{directory_id}/ServiceProviderConfig"),
    "scim.discover",
    op!(api::scim::discovery::service_provider_config),
    "What this SCIM service provider supports",
    200,
);
/// `GET /scim/v2/{directory_id}/ResourceTypes`
pub const SCIM_RESOURCE_TYPES: Endpoint = scim_api(
    "scim-resource-types",
    ("GET", "/scim/v2/{directory_id}/ResourceTypes"),
    "scim.discover",
    op!(api::scim::discovery::resource_types),
    "The resource types served",
    200,
);
/// `GET /scim/v2/{directory_id}/ResourceTypes/{name}`
pub const SCIM_RESOURCE_TYPE: Endpoint = scim_api(
    "scim-resource-type",
    ("GET", "/scim/v2/{directory_id}/ResourceTypes/{name}"),
    "scim.discover",
    op!(api::scim::discovery::resource_type),
    "One resource type",
    200,
);
/// `GET /scim/v2/{directory_id}/Schemas`
pub const SCIM_SCHEMAS: Endpoint = scim_api(
    "scim-schemas",
    ("GET", "/scim/v2/{directory_id}/Schemas"),
    "scim.discover",
    op!(api::scim::discovery::schemas),
    "The schemas of the resources, exactly as stored",
    200,
);
/// `GET /scim/v2/{directory_id}/Schemas/{urn}`
pub const SCIM_SCHEMA: Endpoint = scim_api(
    "scim-schema",
    ("GET", "/scim/v2/{directory_id}/Schemas/{urn}"),
    "scim.discover",
    op!(api::scim::discovery::schema),
    "One schema",
    200,
);
/// `POST /scim/v2/{directory_id}/Users`
pub const SCIM_CREATE_USER: Endpoint = scim_api(
    "scim-create-user",
    ("POST", "/scim/v2/{directory_id}/Users"),
    "scim_users.create",
    op!(api::scim::users::create),
    "Provision a user: an end user of the organization",
    201,
)
.example(Some(USER_EXAMPLE), "");

/// A SCIM User as Okta's provisioning sends it.
const USER_EXAMPLE: &str = r##"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com", "name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"primary": true, "value": "ada@example.com", "type": "work"}], "displayName": "Ada Lovelace", "externalId": "00ujl29u0le5T6Aj10h7", "active": true}"##;
/// `GET /scim/v2/{directory_id}/Users`
pub const SCIM_LIST_USERS: Endpoint = scim_api(
    "scim-list-users",
    ("GET", "/scim/v2/{directory_id}/Users"),
    "scim_users.list",
    op!(api::scim::users::list),
    "List or filter the directory's users",
    200,
)
.touching(&[Touch::Indexes]);
/// `GET /scim/v2/{directory_id}/Users/{id}`
pub const SCIM_GET_USER: Endpoint = scim_api(
    "scim-get-user",
    ("GET", "/scim/v2/{directory_id}/Users/{id}"),
    "scim_users.read",
    op!(api::scim::users::get),
    "One of the directory's users",
    200,
);
/// `PUT /scim/v2/{directory_id}/Users/{id}`
pub const SCIM_REPLACE_USER: Endpoint = scim_api(
    "scim-replace-user",
    ("PUT", "/scim/v2/{directory_id}/Users/{id}"),
    "scim_users.replace",
    op!(api::scim::users::replace),
    "Replace a user",
    200,
)
.example(
    Some(
        r##"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada.king@example.com", "name": {"givenName": "Ada", "familyName": "King", "middleName": "Augusta"}, "emails": [{"primary": true, "value": "ada.king@example.com", "type": "work"}], "active": true}"##,
    ),
    "",
)
.touching(&[Touch::Put, Touch::Delete]);
/// `PATCH /scim/v2/{directory_id}/Users/{id}`
pub const SCIM_UPDATE_USER: Endpoint = scim_api(
    "scim-update-user",
    ("PATCH", "/scim/v2/{directory_id}/Users/{id}"),
    "scim_users.update",
    op!(api::scim::users::update),
    "Change a user (active: false suspends it)",
    200,
)
.example(
    Some(
        r##"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"displayName": "Ada King"}}]}"##,
    ),
    "",
)
.touching(&[Touch::Put, Touch::Delete]);
/// `DELETE /scim/v2/{directory_id}/Users/{id}`
pub const SCIM_DELETE_USER: Endpoint = scim_api(
    "scim-delete-user",
    ("DELETE", "/scim/v2/{directory_id}/Users/{id}"),
    "scim_users.delete",
    op!(api::scim::users::delete),
    "Delete a user: the end user's deletion and purge",
    204,
)
.touching(&[Touch::Put, Touch::Delete]);
/// `POST /scim/v2/{directory_id}/Groups`
pub const SCIM_CREATE_GROUP: Endpoint = scim_api(
    "scim-create-group",
    ("POST", "/scim/v2/{directory_id}/Groups"),
    "scim_groups.create",
    op!(api::scim::groups::create),
    "Provision a group of the directory's users",
    201,
)
.example(
    Some(
        r##"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": []}"##,
    ),
    "",
)
.touching(&[Touch::BatchWrite]);
/// `GET /scim/v2/{directory_id}/Groups`
pub const SCIM_LIST_GROUPS: Endpoint = scim_api(
    "scim-list-groups",
    ("GET", "/scim/v2/{directory_id}/Groups"),
    "scim_groups.list",
    op!(api::scim::groups::list),
    "List or filter the directory's groups",
    200,
);
/// `GET /scim/v2/{directory_id}/Groups/{id}`
pub const SCIM_GET_GROUP: Endpoint = scim_api(
    "scim-get-group",
    ("GET", "/scim/v2/{directory_id}/Groups/{id}"),
    "scim_groups.read",
    op!(api::scim::groups::get),
    "One of the directory's groups, with its members",
    200,
);
/// `PUT /scim/v2/{directory_id}/Groups/{id}`
pub const SCIM_REPLACE_GROUP: Endpoint = scim_api(
    "scim-replace-group",
    ("PUT", "/scim/v2/{directory_id}/Groups/{id}"),
    "scim_groups.replace",
    op!(api::scim::groups::replace),
    "Replace a group, its members included",
    200,
)
.example(
    Some(
        r##"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering (all)", "members": []}"##,
    ),
    "",
)
.touching(&[Touch::Put, Touch::Delete, Touch::BatchWrite]);
/// `PATCH /scim/v2/{directory_id}/Groups/{id}`
pub const SCIM_UPDATE_GROUP: Endpoint = scim_api(
    "scim-update-group",
    ("PATCH", "/scim/v2/{directory_id}/Groups/{id}"),
    "scim_groups.update",
    op!(api::scim::groups::update),
    "Change a group: up to 1,000 members added or removed at once",
    200,
)
.example(
    Some(
        r##"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": "Platform"}]}"##,
    ),
    "",
)
.touching(&[Touch::Put, Touch::Delete, Touch::BatchWrite]);
/// `DELETE /scim/v2/{directory_id}/Groups/{id}`
pub const SCIM_DELETE_GROUP: Endpoint = scim_api(
    "scim-delete-group",
    ("DELETE", "/scim/v2/{directory_id}/Groups/{id}"),
    "scim_groups.delete",
    op!(api::scim::groups::delete),
    "Delete a group (its members stay end users)",
    204,
)
.touching(&[Touch::Put, Touch::Delete, Touch::BatchWrite]);
