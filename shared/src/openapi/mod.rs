//! The OpenAPI 3.1 document of the three HTTP surfaces, built from the route
//! table ([`routes::ALL`]) so that operations, credentials, parameters and
//! the error statuses that follow from them cannot drift from the code.
//!
//! What the route table cannot say — summaries, body schemas, each
//! operation's own outcomes — is the per-operation table in [`operation`],
//! which reuses the limits the parsers enforce. The published copy is
//! `docs/openapi.json` (`tetherctl openapi`); a test keeps it equal to this
//! output, and the black-box suite validates every response it sees against it.

use crate::error::Surface;
use crate::pipeline::body::MAX_BODY_BYTES;
use crate::pipeline::query::{DEFAULT_PAGE, MAX_PAGE};
use crate::routes::{self, Credential, Docs, Endpoint};
use serde_json::{Map, Value, json};

mod examples;
mod schemas;
use schemas::{Schemas, error_components};

/// What the route table says about one operation's documentation.
fn operation(endpoint: &Endpoint) -> Docs {
    endpoint.docs
}

/// Every error status one operation can answer with.
pub fn error_statuses(endpoint: &Endpoint) -> Vec<u16> {
    let op = operation(endpoint);
    let has_path = endpoint.parameter_names().next().is_some();
    let mut statuses = vec![500, 503];
    let has_body = endpoint.body.is_some();
    if endpoint.credential != Credential::None
        || has_path
        || has_body
        || op.paginated
        || !op.query.is_empty()
    {
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
    if has_body {
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

/// The headers of every answer of a page the browser navigates to.
const PAGE_HEADERS: &[&str] = &["Cache-Control", "Referrer-Policy", "X-Content-Type-Options"];

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
    if status == 302 {
        h.insert("Location".into(), header_ref("Redirect-Location", true));
    }
    if endpoint.page {
        for name in PAGE_HEADERS {
            h.insert((*name).into(), header_ref(name, true));
        }
    }
    if endpoint.function == crate::routes::SSO_AUTHORIZE.function {
        h.insert("Set-Cookie".into(), header_ref("Set-Cookie", true));
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

fn json_content(schema: Value) -> Value {
    json!({ crate::pipeline::JSON_CONTENT_TYPE: { "schema": schema } })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_schema_name(surface: Surface, status: u16) -> String {
    match surface {
        Surface::Organization => format!("Error{status}"),
        Surface::ExternalService => format!("ServiceError{status}"),
        Surface::Scim => format!("ScimError{status}"),
    }
}

fn path_parameter(name: &str) -> Value {
    let schema = if crate::endpoint::FREE_TEXT_PARAMETERS.contains(&name) {
        json!({ "type": "string", "minLength": 1, "maxLength": 256 })
    } else {
        schema_ref("PathId")
    };
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

fn operation_object(endpoint: &Endpoint, schemas: &mut Schemas) -> Value {
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
    for q in op.query {
        let schema = if q.id {
            schema_ref("PathId")
        } else {
            json!({ "type": "string", "minLength": 1, "maxLength": 256 })
        };
        parameters.push(
            json!({ "name": q.name, "in": "query", "required": q.required,
            "description": q.description, "schema": schema }),
        );
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
    for (status, description, schema) in op.success.iter().chain(op.also) {
        let mut response = json!({
            "description": description,
            "headers": success_headers(*status, &op, endpoint),
        });
        if let Some(schema) = schema {
            response["content"] = json_content(schemas.response(*schema));
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
            Credential::DirectoryToken => json!([{ "directoryToken": [] }]),
            Credential::PortalSession | Credential::None => json!([]),
        },
        "parameters": parameters,
        "responses": responses,
    });
    if !endpoint.action.is_empty() {
        object["x-cedar-action"] = json!(endpoint.action);
    }
    if let Some(body) = endpoint.body {
        let mut content = json_content(schemas.request(body));
        if op.text_body {
            content["text/plain"] =
                json!({ "schema": { "type": "string", "description": "Cedar policy text." } });
        }
        object["requestBody"] = json!({ "required": !op.body_optional, "content": content });
    }
    object
}

/// The (status, code) table of a surface: the error model's catalogue
/// ([`crate::error::ApiError::codes`]), so every variant is documented.
fn code_table(surface: Surface) -> Vec<(u16, &'static str)> {
    crate::error::ApiError::codes(surface)
}

fn codes_for(surface: Surface, status: u16) -> Vec<&'static str> {
    code_table(surface)
        .into_iter()
        .filter(|(s, _)| *s == status)
        .map(|(_, c)| c)
        .collect()
}

/// One error schema and one error response per surface and status; the
/// schema narrows `code` (or `type`) to the codes of that status.
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
        "Redirect-Location": string_header("Where the browser goes: the identity provider's authorization endpoint, or the app's redirect_uri with `code` and `state` (or `error`, `error_description` and `state`).", "^https?://"),
        "Set-Cookie": string_header("The login attempt's browser binding: `__Host-tether_sso=…; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure` (on a local http stack `tether_sso`, without `Secure`).", "tether_sso="),
        "Cache-Control": string_header("`no-store` on every answer of a page the browser navigates to.", "^no-store$"),
        "Referrer-Policy": string_header("`no-referrer`: the codes in the URLs never leave in a Referer.", "^no-referrer$"),
        "X-Content-Type-Options": string_header("`nosniff`.", "^nosniff$"),
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

/// An operation's description: what it does, and who may call it.
fn description(endpoint: &Endpoint) -> String {
    let caller = match (endpoint.credential, endpoint.scope) {
        (Credential::ApiKey, Some(scope)) => {
            format!(
                "an organization API key with scope `{}` or higher",
                scope.as_str()
            )
        }
        (Credential::ApiKey, None) => "an organization API key".to_owned(),
        (Credential::UserToken, _) => "an end user's access token".to_owned(),
        (Credential::ServiceToken, _) => "an external service's token".to_owned(),
        (Credential::DirectoryToken, _) => "a directory's SCIM token".to_owned(),
        (Credential::PortalSession, _) => "an admin-portal session".to_owned(),
        (Credential::None, _) => "anyone (charged to the source address's rate bucket)".to_owned(),
    };
    let mut text = format!("{}.\n\nCalled with {caller}", endpoint.docs.summary);
    if !endpoint.action.is_empty() {
        text.push_str(&format!(
            "; authorized as the Cedar action `{}`, which organization policies may forbid",
            endpoint.action
        ));
    }
    text.push('.');
    if endpoint.method == "POST" {
        text.push_str(" Send `Idempotency-Key` to make a retry safe: the first response is replayed for 24 hours.");
    }
    text
}

/// Adds every operation's description and examples (request: the
/// declaration's; responses: built from their schemas).
fn describe(document: &mut Value) {
    let definitions = document["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for endpoint in routes::documented() {
        let operation = &mut document["paths"][endpoint.path][endpoint.method.to_lowercase()];
        operation["description"] = json!(description(endpoint));
        if let Some(content) = operation
            .pointer_mut("/requestBody/content")
            .and_then(Value::as_object_mut)
        {
            let declared = endpoint.docs.example;
            let json_example = declared.and_then(|e| serde_json::from_str::<Value>(e).ok());
            if let Some(json) = content.get_mut(crate::pipeline::JSON_CONTENT_TYPE) {
                json["example"] = json_example
                    .unwrap_or_else(|| examples::example(&json["schema"], &definitions));
            }
            if let (Some(text), Some(declared)) = (content.get_mut("text/plain"), declared)
                && !declared.trim_start().starts_with('{')
            {
                text["example"] = json!(declared);
            }
        }
        if let Some(responses) = operation["responses"].as_object_mut() {
            for response in responses.values_mut() {
                let pointer = format!(
                    "/content/{}",
                    crate::pipeline::JSON_CONTENT_TYPE.replace('/', "~1")
                );
                if let Some(json) = response.pointer_mut(&pointer) {
                    json["example"] = examples::example(&json["schema"], &definitions);
                }
            }
        }
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut document = unfinished_document();
    if let Some(definitions) = document["components"]["schemas"].as_object_mut() {
        examples::hoist_enums(definitions);
    }
    describe(&mut document);
    document
}

/// The document as the route table and the types give it.
fn unfinished_document() -> Value {
    let mut schemas = Schemas::new();
    let mut paths = Map::new();
    for endpoint in routes::documented() {
        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        item[endpoint.method.to_lowercase()] = operation_object(endpoint, &mut schemas);
    }
    let (schemas, responses) = error_components(schemas);
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
            { "url": "https://{apiId}.execute-api.{region}.amazonaws.com", "description": "A deployed stack (docs/deploy.md)",
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

    #[test]
    fn every_route_is_one_operation() {
        let doc = document();
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let endpoint = routes::documented()
                    .find(|e| e.path == path && e.method.eq_ignore_ascii_case(method))
                    .unwrap_or_else(|| panic!("{method} {path} is not a route"));
                assert_eq!(op["operationId"], endpoint.function);
                count += 1;
            }
        }
        assert_eq!(count, routes::documented().count());
    }

    #[test]
    fn the_error_catalogue_is_what_the_seeds_name() {
        // SPEC §4's codes per surface; the document is built from the error
        // model, this pins the model to the contract.
        let listed = |surface| {
            code_table(surface)
                .into_iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(
            listed(Surface::Organization),
            "400 invalid_json, 400 invalid_path_parameter, 400 invalid_query_parameter, \
             400 invalid_login_attempt, 401 missing_credentials, 401 invalid_credentials, 403 tenant_mismatch, \
             403 insufficient_scope, 403 policy_denied, 403 csrf_rejected, 403 relationship_quota_exceeded, \
             404 not_found, 409 user_deleting, 409 user_suspended, 409 last_admin_key, 409 limit_reached, \
             409 identity_provider_in_use, 409 identity_already_linked, \
             409 connect_token_unusable, 409 idempotency_in_progress, 412 precondition_failed, \
             413 payload_too_large, 422 unknown_identity_provider, 422 invalid_id_token, 422 invalid_grant, \
             422 no_login_connection, 422 identity_provider_unreachable, 422 invalid_url, \
             422 idempotency_key_reused, 422 validation_failed, 429 rate_limited, \
             429 turn_quota_exhausted, 500 internal_error, 503 service_unavailable"
        );
        assert_eq!(
            listed(Surface::ExternalService),
            "400 invalid_schema, 400 malformed_connect_token, 401 missing_api_token, \
             401 invalid_api_token, 403 scope_permission_denied, 403 organization_access_denied, \
             403 external_service_access_denied, 403 relationship_quota_exceeded, \
             404 not_found, 404 connect_token_not_found, 409 connect_token_unusable, \
             409 external_organization_id_mismatch, 409 external_organization_id_already_in_use, \
             409 idempotency_in_progress, 410 expired_connect_token, 413 payload_too_large, \
             422 idempotency_key_reused, 429 rate_limited, 500 internal_error, \
             503 service_unavailable"
        );
    }
}
