//! The JSON schemas and shared responses of the OpenAPI document: every
//! request and response body, and the error envelopes per surface and status.

use super::{code_table, codes_for, error_headers, error_schema_name, json_content};
use crate::end_users::domain::{
    EMAIL_MAX_CHARS, METADATA_MAX_DEPTH, METADATA_MAX_KEYS, TEXT_MAX_CHARS,
};
use crate::{error::Surface, identities, user_api};
use serde_json::{Map, Value, json};
pub(super) fn error_components(
    schemas: &mut Map<String, Value>,
    responses: &mut Map<String, Value>,
) {
    for surface in [Surface::Organization, Surface::ExternalService] {
        let mut statuses: Vec<u16> = code_table(surface).iter().map(|(s, _)| *s).collect();
        statuses.dedup();
        for status in statuses {
            let codes = codes_for(surface, status);
            let schema = match surface {
                Surface::Organization => json!({
                    "allOf": [{ "$ref": "#/components/schemas/Error" }],
                    "properties": { "code": { "enum": codes } },
                }),
                Surface::ExternalService => json!({
                    "allOf": [{ "$ref": "#/components/schemas/ServiceError" }],
                    "properties": { "error": { "properties": { "type": { "enum": codes } } } },
                }),
            };
            let name = error_schema_name(surface, status);
            schemas.insert(name.clone(), schema);
            responses.insert(
                name.clone(),
                json!({
                    "description": format!("`{}`", codes.join("`, `")),
                    "headers": error_headers(status),
                    "content": json_content(&name),
                }),
            );
        }
    }
}

pub(super) fn nullable(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

pub(super) fn string(max: usize) -> Value {
    json!({ "type": "string", "maxLength": max })
}

pub(super) fn required_string(max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max })
}

pub(super) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A closed object: every listed property, `required` of them mandatory.
pub(super) fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties, "additionalProperties": false })
}

pub(super) fn list(item: &str, cursor: Option<&str>) -> Value {
    let mut properties = json!({ "data": { "type": "array", "items": schema_ref(item) } });
    let mut required = vec!["data"];
    if let Some(cursor) = cursor {
        properties[cursor] = json!({
            "description": "Pass as `cursor` for the next page; null on the last page.",
            "oneOf": [{ "type": "string" }, { "type": "null" }],
        });
        required.push(cursor);
    }
    object(&required, properties)
}

pub(super) fn schemas_and_responses() -> (Map<String, Value>, Map<String, Value>) {
    let id = schema_ref("Id");
    let time = schema_ref("Timestamp");
    let text = string(TEXT_MAX_CHARS);
    let field = string(identities::FIELD_MAX_CHARS);
    let end_user = object(
        &[
            "id",
            "organization_id",
            "email",
            "display_name",
            "external_id",
            "metadata",
            "subscription",
            "externally_managed",
            "status",
            "created_at",
            "updated_at",
        ],
        json!({
            "id": id, "organization_id": id,
            "email": nullable(string(EMAIL_MAX_CHARS)),
            "display_name": nullable(text.clone()), "external_id": nullable(text.clone()),
            "metadata": schema_ref("Metadata"),
            "subscription": { "enum": ["free", "pro"] },
            "externally_managed": { "type": "boolean", "description": "Set while an external service manages the subscription (PRO)." },
            "status": { "enum": ["active", "deleting"] },
            "created_at": time, "updated_at": time,
        }),
    );
    let connect_token_properties = json!({
        "id": id, "external_service_id": id,
        "status": { "enum": ["pending", "claimed", "cancelled", "consumed"] },
        "expires_at": time, "created_at": time, "claimed_at": nullable(time.clone()),
    });
    let connect_token_fields = [
        "id",
        "external_service_id",
        "status",
        "expires_at",
        "created_at",
        "claimed_at",
    ];
    let mut created_token = connect_token_properties.clone();
    created_token["token"] = json!({ "type": "string", "pattern": "^tct_[0-9a-f-]{36}_[0-9a-f]{48}$", "description": "The secret, shown once: `tct_<organization id>_<48 hex digits>`. It names the issuing organization (no secret: the claimant learns it from the claim)." });
    let mut created_fields = connect_token_fields.to_vec();
    created_fields.push("token");

    let mut s = Map::new();
    let mut put = |name: &str, schema: Value| {
        s.insert(name.to_owned(), schema);
    };
    put(
        "Id",
        json!({ "type": "string", "description": "A UUID v7, lowercase and hyphenated.",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$" }),
    );
    put(
        "PathId",
        json!({ "type": "string", "description": "A UUID, any letter case; anything else is 400 `invalid_path_parameter`.",
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$" }),
    );
    put(
        "Timestamp",
        json!({ "type": "string", "format": "date-time", "pattern": "Z$", "description": "RFC 3339, UTC." }),
    );
    put(
        "Metadata",
        json!({ "type": "object", "maxProperties": METADATA_MAX_KEYS,
        "description": format!("Free-form JSON object: at most {METADATA_MAX_KEYS} top-level keys, nesting at most {METADATA_MAX_DEPTH}, 16 KiB serialized.") }),
    );
    put("EndUser", end_user);
    put("EndUserList", list("EndUser", Some("next_cursor")));
    put(
        "CreateEndUserRequest",
        object(
            &[],
            json!({
                "email": string(EMAIL_MAX_CHARS), "display_name": text, "external_id": text,
                "metadata": schema_ref("Metadata"),
            }),
        ),
    );
    put(
        "UpdateEndUserRequest",
        object(&[], json!({ "metadata": schema_ref("Metadata") })),
    );
    put("EmptyRequest", object(&[], json!({})));
    put(
        "AccessToken",
        object(
            &["access_token", "token_type", "expires_in"],
            json!({
                "access_token": { "type": "string", "description": "An EdDSA-signed JWT (iss, sub, org, iat, exp, jti)." },
                "token_type": { "const": "Bearer" },
                "expires_in": { "type": "integer", "minimum": 1 },
            }),
        ),
    );
    put(
        "Jwks",
        json!({ "type": "object", "required": ["keys"], "properties": {
        "keys": { "type": "array", "items": { "type": "object", "required": ["kty"], "properties": { "kty": { "type": "string" }, "kid": { "type": "string" } } } } } }),
    );
    put(
        "IdentityProvider",
        object(
            &["id", "name", "issuer", "client_id", "jwks", "created_at"],
            json!({
                "id": id, "name": string(128), "issuer": string(512), "client_id": string(256),
                "jwks": schema_ref("Jwks"), "created_at": time,
            }),
        ),
    );
    put(
        "IdentityProviderList",
        list("IdentityProvider", Some("next_cursor")),
    );
    put(
        "CreateIdentityProviderRequest",
        object(
            &["name", "issuer", "client_id", "jwks"],
            json!({
                "name": required_string(128),
                "issuer": { "type": "string", "minLength": 1, "maxLength": 512, "description": "An absolute http(s) URL; the `iss` of its id_tokens." },
                "client_id": required_string(256),
                "jwks": { "$ref": "#/components/schemas/Jwks", "description": "Public signing keys only (RSA, EC P-256, Ed25519), unique `kid`s." },
            }),
        ),
    );
    put(
        "Identity",
        object(
            &[
                "id",
                "user_id",
                "identity_provider_id",
                "external_id",
                "external_username",
                "external_email",
                "external_display_name",
                "external_email_verified",
                "linked_by",
                "created_at",
            ],
            json!({
                "id": id, "user_id": id, "identity_provider_id": id, "external_id": field,
                "external_username": nullable(field.clone()), "external_email": nullable(field.clone()),
                "external_display_name": nullable(field.clone()),
                "external_email_verified": { "type": "boolean", "description": "The id_token's `email_verified` (SSO links), or what the organization sent (false when absent)." },
                "linked_by": { "enum": ["auto", "user"] }, "created_at": time,
            }),
        ),
    );
    put("IdentityList", list("Identity", Some("next_cursor")));
    let required_field = required_string(identities::FIELD_MAX_CHARS);
    put(
        "LinkIdentityRequest",
        object(
            &["identity_provider_id", "external_id"],
            json!({
                "identity_provider_id": schema_ref("PathId"), "external_id": required_field,
                "external_username": field, "external_email": field, "external_display_name": field,
                "external_email_verified": { "type": "boolean", "description": "Whether the organization vouches for the email (default false); in the Cedar context." },
            }),
        ),
    );
    put(
        "SsoLinkRequest",
        object(
            &["identity_provider_id", "id_token"],
            json!({
                "identity_provider_id": schema_ref("PathId"),
                "id_token": { "type": "string", "minLength": 1, "maxLength": user_api::ID_TOKEN_MAX_CHARS, "description": "A compact JWS (RS256, ES256 or EdDSA)." },
                "nonce": { "type": "string", "maxLength": 256, "description": "When sent, the id_token's `nonce` must equal it (422 `invalid_id_token`, reason `nonce`)." },
            }),
        ),
    );
    put(
        "Policies",
        object(
            &["policies", "updated_at"],
            json!({
                "policies": { "type": "string", "description": "Cedar policy text; empty when none is set." },
                "updated_at": nullable(time.clone()),
            }),
        ),
    );
    put(
        "PutPoliciesRequest",
        object(
            &["policies"],
            json!({ "policies": { "type": "string", "description": "Cedar policy text: `forbid` policies only." } }),
        ),
    );
    put(
        "ConnectToken",
        object(&connect_token_fields, connect_token_properties),
    );
    put(
        "CreatedConnectToken",
        object(&created_fields, created_token),
    );
    put(
        "CreateConnectTokenRequest",
        object(
            &["external_service_id"],
            json!({
                "external_service_id": schema_ref("PathId"),
                "expires_in_seconds": { "type": "integer", "minimum": 1, "maximum": 604_800, "default": 3600 },
            }),
        ),
    );
    put(
        "Relation",
        object(
            &[
                "id",
                "externalServiceId",
                "organizationId",
                "externalOrganizationId",
                "createdAt",
                "updatedAt",
            ],
            json!({ "id": id, "externalServiceId": id, "organizationId": id,
            "externalOrganizationId": string(256), "createdAt": time, "updatedAt": time }),
        ),
    );
    put(
        "ClaimRequest",
        object(
            &["connectToken", "externalOrganizationId"],
            json!({
                "connectToken": { "type": "string", "minLength": 1, "maxLength": 256, "description": "`tct_<organization id>_<48 hex digits>`, as the organization handed it over; any other form is 400 `malformed_connect_token`." },
                "externalOrganizationId": required_string(256),
            }),
        ),
    );
    put(
        "ServiceOrganization",
        object(
            &[
                "organizationId",
                "organizationName",
                "relationId",
                "externalOrganizationId",
                "createdAt",
            ],
            json!({ "organizationId": id, "organizationName": { "type": "string" }, "relationId": id,
            "externalOrganizationId": string(256), "createdAt": time }),
        ),
    );
    put(
        "ServiceOrganizationList",
        list("ServiceOrganization", Some("nextCursor")),
    );
    put(
        "PutOrganizationUserRequest",
        object(
            &["subscription"],
            json!({
                "email": string(EMAIL_MAX_CHARS), "displayName": text, "subscription": { "enum": ["FREE", "PRO"] },
            }),
        ),
    );
    put(
        "OrganizationUser",
        object(
            &[
                "id",
                "organizationId",
                "externalUserId",
                "email",
                "displayName",
                "subscription",
                "externallyManaged",
                "status",
                "createdAt",
                "updatedAt",
            ],
            json!({ "id": id, "organizationId": id, "externalUserId": { "type": "string" },
            "email": nullable(string(EMAIL_MAX_CHARS)), "displayName": nullable(text),
            "subscription": { "enum": ["FREE", "PRO"] }, "externallyManaged": { "type": "boolean" },
            "status": { "enum": ["active", "deleting"] }, "createdAt": time, "updatedAt": time }),
        ),
    );
    put(
        "Error",
        object(
            &["code", "message", "requestId"],
            json!({
                "code": { "type": "string" },
                "message": { "type": "string" },
                "details": { "type": "object", "description": "Context: `fields` for validation, `resource` for 404, `reason` for invalid_id_token, ..." },
                "notices": { "type": "array", "items": { "type": "string" }, "description": "`@notice` annotations of the Cedar policies that decided a denial." },
                "requestId": schema_ref("RequestId"),
            }),
        ),
    );
    put(
        "ServiceError",
        object(
            &["error"],
            json!({ "error": object(&["type", "message", "requestId"], json!({
        "type": { "type": "string" },
        "message": { "type": "string" },
        "issues": { "type": "array", "description": "For `invalid_schema` only.", "items": object(&["path", "message"], json!({
            "path": { "type": "array", "items": { "type": "string" } }, "message": { "type": "string" } })) },
        "requestId": schema_ref("RequestId"),
    })) }),
        ),
    );
    put(
        "RequestId",
        json!({ "type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$", "description": "A ULID, also in the X-Request-Id header and every log line." }),
    );
    let mut responses = Map::new();
    error_components(&mut s, &mut responses);
    (s, responses)
}
