//! The OpenAPI 3.1 document of the three HTTP surfaces, built from the route
//! table ([`routes::ALL`]) so that operations, credentials, parameters and
//! the error statuses that follow from them cannot drift from the code.
//!
//! What the route table cannot say — summaries, body schemas, each
//! operation's own outcomes — is the per-operation table in [`operation`],
//! which reuses the limits the parsers enforce. The published copy is
//! `docs/openapi.json` (`tetherctl openapi`); a test keeps it equal to this
//! output, and the black-box suite validates every response it sees against it.

use crate::end_users::domain::{
    EMAIL_MAX_CHARS, METADATA_MAX_DEPTH, METADATA_MAX_KEYS, TEXT_MAX_CHARS,
};
use crate::pipeline::body::MAX_BODY_BYTES;
use crate::pipeline::query::{DEFAULT_PAGE, MAX_PAGE};
use crate::routes::{self, Credential, Docs, Endpoint};
use crate::{error::Surface, identities, user_api};
use serde_json::{Map, Value, json};

/// Organization/user-API error codes by status (SPEC §4).
pub const ORGANIZATION_CODES: &[(u16, &str)] = &[
    (400, "invalid_json"),
    (400, "invalid_path_parameter"),
    (400, "invalid_query_parameter"),
    (401, "missing_credentials"),
    (401, "invalid_credentials"),
    (403, "tenant_mismatch"),
    (403, "insufficient_scope"),
    (403, "policy_denied"),
    (403, "relationship_quota_exceeded"),
    (404, "not_found"),
    (409, "identity_already_linked"),
    (409, "user_deleting"),
    (409, "idempotency_in_progress"),
    (409, "connect_token_unusable"),
    (412, "precondition_failed"),
    (413, "payload_too_large"),
    (422, "validation_failed"),
    (422, "unknown_identity_provider"),
    (422, "invalid_id_token"),
    (422, "idempotency_key_reused"),
    (429, "rate_limited"),
    (429, "turn_quota_exhausted"),
    (500, "internal_error"),
    (503, "service_unavailable"),
];

/// External-service-API error types by status (SPEC §4).
pub const EXTERNAL_SERVICE_TYPES: &[(u16, &str)] = &[
    (400, "invalid_schema"),
    (400, "malformed_connect_token"),
    (401, "missing_api_token"),
    (401, "invalid_api_token"),
    (403, "scope_permission_denied"),
    (403, "external_service_access_denied"),
    (403, "organization_access_denied"),
    (403, "relationship_quota_exceeded"),
    (404, "connect_token_not_found"),
    (404, "not_found"),
    (409, "connect_token_unusable"),
    (409, "external_organization_id_mismatch"),
    (409, "external_organization_id_already_in_use"),
    (409, "idempotency_in_progress"),
    (410, "expired_connect_token"),
    (413, "payload_too_large"),
    (422, "idempotency_key_reused"),
    (429, "rate_limited"),
    (500, "internal_error"),
    (503, "service_unavailable"),
];

/// What the route table says about one operation's documentation.
fn operation(endpoint: &Endpoint) -> Docs {
    endpoint.docs
}

/// Every error status one operation can answer with.
pub fn error_statuses(endpoint: &Endpoint) -> Vec<u16> {
    let op = operation(endpoint);
    let has_path = endpoint.parameter_names().next().is_some();
    let mut statuses = vec![500, 503];
    if endpoint.credential != Credential::None || has_path || op.body.is_some() || op.paginated {
        statuses.push(400);
    }
    // Every request passes a limiter: per key, per service or per source IP.
    statuses.push(429);
    if endpoint.credential != Credential::None {
        statuses.extend([401, 403]);
    }
    if has_path && endpoint.surface == Surface::Organization {
        statuses.push(404);
    }
    if op.body.is_some() {
        statuses.push(413);
        if endpoint.surface == Surface::Organization {
            statuses.push(422);
        }
    }
    if endpoint.method == "POST" {
        statuses.extend([409, 422]);
    }
    statuses.extend(op.errors);
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// A reference to a header component: `name` when optional, `name.required`
/// when not (a Reference Object cannot carry `required` itself).
fn header_ref(name: &str, required: bool) -> Value {
    let suffix = if required { ".required" } else { "" };
    json!({ "$ref": format!("#/components/headers/{name}{suffix}") })
}

/// Response headers of a success: the request id, the limiter's (every
/// successful request passed it) and the operation's own.
fn success_headers(status: u16, op: &Docs, endpoint: &Endpoint) -> Value {
    let mut h = Map::new();
    h.insert("X-Request-Id".into(), header_ref("X-Request-Id", true));
    for name in RATE_LIMIT_HEADERS {
        h.insert((*name).into(), header_ref(name, true));
    }
    if op.etag {
        h.insert("ETag".into(), header_ref("ETag", true));
    }
    if status == 201 && op.location {
        h.insert("Location".into(), header_ref("Location", true));
    }
    if endpoint.method == "POST" {
        h.insert(
            "Idempotent-Replayed".into(),
            header_ref("Idempotent-Replayed", false),
        );
    }
    Value::Object(h)
}

/// Response headers of an error: the request id; the limiter's when the
/// request got that far; `Retry-After` on 429; the quota headers on 403/429.
fn error_headers(status: u16) -> Value {
    let mut h = Map::new();
    h.insert("X-Request-Id".into(), header_ref("X-Request-Id", true));
    for name in RATE_LIMIT_HEADERS {
        h.insert((*name).into(), header_ref(name, false));
    }
    if status == 429 {
        h.insert("Retry-After".into(), header_ref("Retry-After", true));
    }
    if matches!(status, 403 | 429) {
        for name in QUOTA_HEADERS {
            h.insert((*name).into(), header_ref(name, false));
        }
    }
    h.insert(
        "Idempotent-Replayed".into(),
        header_ref("Idempotent-Replayed", false),
    );
    Value::Object(h)
}

const RATE_LIMIT_HEADERS: &[&str] = &[
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
];

const QUOTA_HEADERS: &[&str] = &[
    "X-Quota-Turns-Used",
    "X-Quota-Turns-Limit",
    "X-Quota-Relationships-Active",
    "X-Quota-Relationships-Limit",
    "X-Quota-Reset",
];

fn json_content(schema: &str) -> Value {
    json!({ crate::pipeline::JSON_CONTENT_TYPE: { "schema": { "$ref": format!("#/components/schemas/{schema}") } } })
}

fn error_schema_name(surface: Surface, status: u16) -> String {
    match surface {
        Surface::Organization => format!("Error{status}"),
        Surface::ExternalService => format!("ServiceError{status}"),
    }
}

fn path_parameter(name: &str) -> Value {
    let schema = if routes::FREE_TEXT_PARAMETERS.contains(&name) {
        json!({ "type": "string", "minLength": 1, "maxLength": 256 })
    } else {
        json!({ "$ref": "#/components/schemas/PathId" })
    };
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

fn operation_object(endpoint: &Endpoint) -> Value {
    let op = operation(endpoint);
    let mut parameters: Vec<Value> = endpoint.parameter_names().map(path_parameter).collect();
    if op.paginated {
        parameters.push(json!({ "name": "limit", "in": "query", "required": false,
            "description": format!("Page size, 1 to {MAX_PAGE} (default {DEFAULT_PAGE})."),
            "schema": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE } }));
        parameters.push(json!({ "name": "cursor", "in": "query", "required": false,
            "description": "The previous page's cursor (opaque).",
            "schema": { "type": "string", "minLength": 1, "maxLength": 512 } }));
    }
    if endpoint.credential == Credential::ApiKey {
        parameters.push(json!({ "$ref": "#/components/parameters/X-Tenant-ID" }));
    }
    if endpoint.method == "POST" {
        parameters.push(json!({ "$ref": "#/components/parameters/Idempotency-Key" }));
    }
    if op.if_match {
        parameters.push(json!({ "$ref": "#/components/parameters/If-Match" }));
    }

    let mut responses = Map::new();
    for (status, description, schema) in op.success {
        let mut response = json!({
            "description": description,
            "headers": success_headers(*status, &op, endpoint),
        });
        if let Some(schema) = schema {
            response["content"] = json_content(schema);
        }
        responses.insert(status.to_string(), response);
    }
    for status in error_statuses(endpoint) {
        let name = error_schema_name(endpoint.surface, status);
        responses.insert(
            status.to_string(),
            json!({ "$ref": format!("#/components/responses/{name}") }),
        );
    }

    let mut object = json!({
        "operationId": endpoint.function,
        "summary": op.summary,
        "tags": [match (endpoint.surface, endpoint.credential) {
            (Surface::ExternalService, _) => "External-service API",
            (_, Credential::UserToken) | (_, Credential::None) => "User API",
            _ => "Organization API",
        }],
        "security": match endpoint.credential {
            Credential::ApiKey => json!([{ "apiKey": [] }]),
            Credential::UserToken => json!([{ "userToken": [] }]),
            Credential::ServiceToken => json!([{ "serviceToken": [] }]),
            Credential::None => json!([]),
        },
        "parameters": parameters,
        "responses": responses,
    });
    if !endpoint.action.is_empty() {
        object["x-cedar-action"] = json!(endpoint.action);
    }
    if let Some(body) = op.body {
        let mut content = json_content(body);
        if op.text_body {
            content["text/plain"] =
                json!({ "schema": { "type": "string", "description": "Cedar policy text." } });
        }
        object["requestBody"] = json!({ "required": !op.body_optional, "content": content });
    }
    object
}

/// The (status, code) table of a surface.
fn code_table(surface: Surface) -> &'static [(u16, &'static str)] {
    match surface {
        Surface::Organization => ORGANIZATION_CODES,
        Surface::ExternalService => EXTERNAL_SERVICE_TYPES,
    }
}

fn codes_for(surface: Surface, status: u16) -> Vec<&'static str> {
    code_table(surface)
        .iter()
        .filter(|(s, _)| *s == status)
        .map(|(_, c)| *c)
        .collect()
}

/// One error schema and one error response per surface and status; the
/// schema narrows `code` (or `type`) to the codes of that status.
fn error_components(schemas: &mut Map<String, Value>, responses: &mut Map<String, Value>) {
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

fn nullable(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

fn string(max: usize) -> Value {
    json!({ "type": "string", "maxLength": max })
}

fn required_string(max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A closed object: every listed property, `required` of them mandatory.
fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties, "additionalProperties": false })
}

fn list(item: &str, cursor: Option<&str>) -> Value {
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

fn schemas_and_responses() -> (Map<String, Value>, Map<String, Value>) {
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

fn string_header(description: &str, pattern: &str) -> Value {
    json!({ "description": description, "schema": { "type": "string", "pattern": pattern } })
}

/// Every header twice: `name` optional and `name.required`.
fn components_headers() -> Value {
    let integer = "^[0-9]+$";
    let time = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$";
    let headers = json!({
        "X-Request-Id": string_header("The request's ULID (also `requestId` in error bodies and logs).", "^[0-9A-HJKMNP-TV-Z]{26}$"),
        "X-RateLimit-Limit": string_header("Requests per second of the bucket that admitted the request.", integer),
        "X-RateLimit-Remaining": string_header("Whole tokens left in the bucket after this request.", integer),
        "X-RateLimit-Reset": string_header("When the bucket is full again (RFC 3339).", time),
        "Retry-After": string_header("Whole seconds to wait, at least 1.", "^[1-9][0-9]*$"),
        "X-Quota-Turns-Used": string_header("Turns used in this billing period.", integer),
        "X-Quota-Turns-Limit": string_header("Turns per billing period.", integer),
        "X-Quota-Relationships-Active": string_header("Active relationships (end users).", integer),
        "X-Quota-Relationships-Limit": string_header("The plan's relationship ceiling.", integer),
        "X-Quota-Reset": string_header("Start of the next billing period (RFC 3339).", time),
        "ETag": string_header("The end user's version, a strong tag; send it back in If-Match.", "^\"[0-9]+\"$"),
        "Location": string_header("The new end user's path.", "^/v1/end-users/"),
        "Idempotent-Replayed": string_header("`true` when the response is the stored answer to an earlier request with the same Idempotency-Key.", "^true$"),
    });
    let mut all = Map::new();
    for (name, header) in headers.as_object().expect("an object") {
        let mut required = header.clone();
        required["required"] = json!(true);
        all.insert(name.clone(), header.clone());
        all.insert(format!("{name}.required"), required);
    }
    Value::Object(all)
}

/// The whole document.
pub fn document() -> Value {
    let (schemas, responses) = schemas_and_responses();
    let mut paths = Map::new();
    for endpoint in routes::ALL {
        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        item[endpoint.method.to_lowercase()] = operation_object(endpoint);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Tether",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Multi-tenant identity and organization linking.",
            "description": concat!(
                "Three surfaces: the organization API (`X-API-Key`, snake_case), the user API ",
                "(`Authorization: Bearer <access token>`) and the external-service API ",
                "(`Authorization: Bearer tst_...`, camelCase, its own error envelope). ",
                "Every response carries `X-Request-Id`; every request passes a rate limiter. ",
                "Any method or path not listed here is a 404 `not_found` in the organization envelope."
            ),
        },
        "servers": [
            { "url": "http://127.0.0.1:9000", "description": "make dev" },
            { "url": "https://{apiId}.execute-api.{region}.amazonaws.com", "description": "A deployed stack (see the README)",
              "variables": { "apiId": { "default": "example" }, "region": { "default": "us-east-1" } } },
        ],
        "tags": [
            { "name": "Organization API" },
            { "name": "User API" },
            { "name": "External-service API" },
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An organization API key, `tk_...`, with scope read, read_write or admin." },
                "userToken": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An end-user access token from POST /v1/end-users/{user_id}/tokens." },
                "serviceToken": { "type": "http", "scheme": "bearer", "description": "An external service's token, `tst_...`." },
            },
            "parameters": {
                "X-Tenant-ID": { "name": "X-Tenant-ID", "in": "header", "required": false,
                    "description": "When present, must be the API key's organization (else 403 `tenant_mismatch`).",
                    "schema": { "type": "string" } },
                "Idempotency-Key": { "name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "Replays the first response for 24 hours to a retry of the same request.",
                    "schema": { "type": "string", "minLength": 1, "maxLength": 255 } },
                "If-Match": { "name": "If-Match", "in": "header", "required": false,
                    "description": "The ETag the update is conditional on (412 when it no longer matches).",
                    "schema": { "type": "string" } },
            },
            "headers": components_headers(),
            "responses": responses,
            "schemas": schemas,
        },
        "x-max-body-bytes": MAX_BODY_BYTES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn every_route_is_one_operation() {
        let doc = document();
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let endpoint = routes::ALL
                    .iter()
                    .find(|e| e.path == path && e.method.eq_ignore_ascii_case(method))
                    .unwrap_or_else(|| panic!("{method} {path} is not a route"));
                assert_eq!(op["operationId"], endpoint.function);
                count += 1;
            }
        }
        assert_eq!(count, routes::ALL.len());
    }

    #[test]
    fn the_code_tables_match_the_error_model() {
        // (error, reaches the organization surface, reaches the service surface)
        let samples = [
            (ApiError::InvalidJson("x"), true, true),
            (ApiError::InvalidPathParameter("x"), true, true),
            (
                ApiError::InvalidQueryParameter {
                    name: "limit".into(),
                    problem: "x",
                },
                true,
                true,
            ),
            (ApiError::MissingCredentials, true, true),
            (ApiError::InvalidCredentials, true, true),
            (ApiError::TenantMismatch, true, false),
            (ApiError::PolicyDenied { notices: vec![] }, true, true),
            (
                ApiError::NotFound {
                    resource: "end_user",
                },
                true,
                true,
            ),
            (ApiError::UserDeleting, true, false),
            (ApiError::IdentityAlreadyLinked, true, false),
            (ApiError::UnknownIdentityProvider, true, false),
            (ApiError::PreconditionFailed, true, false),
            (ApiError::PayloadTooLarge { limit: 1 }, true, true),
            (ApiError::Validation(Default::default()), true, true),
            (ApiError::IdempotencyKeyReused, true, true),
            (ApiError::IdempotencyInProgress, true, true),
            (ApiError::ExternalServiceAccessDenied, false, true),
            (ApiError::OrganizationAccessDenied, false, true),
            (ApiError::MalformedConnectToken, false, true),
            (ApiError::ConnectTokenNotFound, false, true),
            (ApiError::ConnectTokenUnusable, true, true),
            (ApiError::ExpiredConnectToken, false, true),
            (ApiError::ExternalOrganizationIdMismatch, false, true),
            (ApiError::ExternalOrganizationIdAlreadyInUse, false, true),
            (ApiError::RateLimited { retry_after: 1 }, true, true),
            (ApiError::TurnQuotaExhausted { retry_after: 1 }, true, false),
            (
                ApiError::RelationshipQuotaExceeded {
                    active: 1,
                    limit: 1,
                },
                true,
                true,
            ),
            (ApiError::ServiceUnavailable("x".into()), true, true),
            (ApiError::internal("x"), true, true),
        ];
        for (err, organization, service) in &samples {
            if *organization {
                let status = err.status_on(Surface::Organization).as_u16();
                assert!(
                    ORGANIZATION_CODES.contains(&(status, err.code())),
                    "{status} {} missing from ORGANIZATION_CODES",
                    err.code()
                );
            }
            if *service {
                let status = err.status_on(Surface::ExternalService).as_u16();
                assert!(
                    EXTERNAL_SERVICE_TYPES.contains(&(status, err.external_type())),
                    "{status} {} missing from EXTERNAL_SERVICE_TYPES",
                    err.external_type()
                );
            }
        }
    }
}
