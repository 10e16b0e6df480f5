//! How shared values look on the wire: the named JSON Schemas that the
//! request and response types refer to (`#/components/schemas/...` in the
//! OpenAPI document). The types themselves derive [`JsonSchema`] beside
//! their definitions, so a field added to a response is in the document.

use crate::clock::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use std::borrow::Cow;

/// How the OpenAPI document asks for one type's schema: a `$ref` to it,
/// its definition added to the generator. Typed, so a route's documentation
/// names a type, never a schema by string.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The [`SchemaFn`] of `T`.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// A named schema with a fixed body.
macro_rules! named_schema {
    ($(#[$doc:meta])* $name:ident, $schema_name:literal, $body:tt) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                $schema_name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($body)
            }
        }
    };
}

named_schema!(
    /// A resource id as the API renders it.
    Id,
    "Id",
    {
        "type": "string",
        "description": "A UUID v7, lowercase and hyphenated.",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    }
);

named_schema!(
    /// A resource id as the API accepts it (path segments and body fields).
    PathId,
    "PathId",
    {
        "type": "string",
        "description": "A UUID, any letter case; anything else is 400 `invalid_path_parameter`.",
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    }
);

/// An RFC 3339 UTC time as the API renders it.
impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "pattern": "Z$",
            "description": "RFC 3339, UTC."
        })
    }
}

named_schema!(
    /// A request id.
    RequestIdSchema,
    "RequestId",
    {
        "type": "string",
        "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$",
        "description": "A ULID, also in the X-Request-Id header and every log line."
    }
);

named_schema!(
    /// A JSON Web Key Set.
    Jwks,
    "Jwks",
    {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kty"],
                    "properties": { "kty": { "type": "string" }, "kid": { "type": "string" } }
                }
            }
        }
    }
);

named_schema!(
    /// The `details` of an error: which members appear depends on the code.
    Details,
    "ErrorDetails",
    {
        "type": "object",
        "description": "Context of an error; which members appear depends on its code.",
        "properties": {
            "fields": {
                "type": "array",
                "description": "`validation_failed`, `invalid_url`: each problem and the field it is in.",
                "items": {
                    "type": "object",
                    "required": ["field", "problem"],
                    "properties": {
                        "field": { "type": "string" },
                        "problem": { "type": "string" }
                    }
                }
            },
            "resource": { "type": "string", "description": "`not_found`: the kind of resource (`end_user`, `route`, ...)." },
            "reason": { "type": "string", "description": "`invalid_id_token`, `identity_provider_unreachable`: why." },
            "url": { "type": "string", "description": "`identity_provider_unreachable`: the URL that failed." },
            "parameter": { "type": "string", "description": "`invalid_path_parameter`, `invalid_query_parameter`: its name." },
            "required_scope": { "type": "string", "description": "`insufficient_scope`: the scope that would allow it." },
            "limit_bytes": { "type": "integer", "description": "`payload_too_large`: the largest body." },
            "retry_after_seconds": { "type": "integer", "description": "`rate_limited`, `turn_quota_exhausted`: whole seconds to wait." },
            "active": { "type": "integer", "description": "`relationship_quota_exceeded`: end users counted now." },
            "limit": {
                "description": "`relationship_quota_exceeded`: the plan's ceiling (a number); `limit_reached`: what is capped (`webhook_endpoints`, `identity_providers`, `policies`).",
                "type": ["integer", "string"]
            },
            "max": { "type": "integer", "description": "`limit_reached`: the organization's cap." }
        },
        "additionalProperties": true
    }
);

/// Every resource id renders as an [`Id`].
macro_rules! id_schema {
    ($($id:ty),*) => {$(
        impl JsonSchema for $id {
            fn schema_name() -> Cow<'static, str> {
                Id::schema_name()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                Id::json_schema(generator)
            }
        }
    )*};
}

id_schema!(
    crate::ids::OrganizationId,
    crate::ids::EndUserId,
    crate::ids::IdentityProviderId,
    crate::ids::IdentityId,
    crate::ids::ExternalServiceId,
    crate::ids::ConnectTokenId,
    crate::ids::RelationId,
    crate::ids::ApiKeyId,
    crate::ids::WebhookEndpointId,
    crate::ids::WebhookDeliveryId,
    crate::ids::DirectoryId,
    crate::ids::GroupId,
    crate::ids::PortalLinkId
);

/// A page of a list on the organization and user APIs.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "{T}List")]
pub struct Page<T> {
    /// The items, oldest first.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A page of a list on the external-service API (camelCase).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "{T}List")]
pub struct ServicePage<T> {
    /// The items, oldest first.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
