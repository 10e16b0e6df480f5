//! Every response the black-box suite sees is checked against the OpenAPI
//! document (`tether::openapi::document`): its status is documented for the
//! operation, its content type is the documented one, every required header
//! is present and matches its schema, and its body validates against the
//! status's schema. A handler that drifts from the published contract fails
//! whichever test happened to exercise it.

use crate::TestResponse;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tether::routes::Endpoint;

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(tether::openapi::document)
}

/// Follows a local `$ref` (`#/a/b`) to what it names.
fn resolve(value: &Value) -> &Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => {
            let target = document()
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {pointer}"));
            resolve(target)
        }
        None => value,
    }
}

/// A validator for the schema `schema` (usually a `$ref`), with the
/// document's components in scope; compiled once per schema.
fn validator(schema: &Value) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return Arc::clone(v);
    }
    let mut root = schema.clone();
    root["components"] = document()["components"].clone();
    let compiled = Arc::new(
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema {key} does not compile: {e}")),
    );
    cache.lock().unwrap().insert(key, Arc::clone(&compiled));
    compiled
}

fn check_value(schema: &Value, instance: &Value, what: &str) {
    let validator = validator(schema);
    let problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{what} breaks the OpenAPI document:\n  {}\n{}",
        problems.join("\n  "),
        serde_json::to_string_pretty(instance).unwrap_or_default()
    );
}

/// Panics unless `response` is one the document allows for `endpoint`; on
/// the SCIM surface, which the document does not describe, one RFC 7644
/// allows: SCIM's content type, and its error envelope.
pub fn check(endpoint: &Endpoint, response: &TestResponse) {
    if endpoint.surface == tether::error::Surface::Scim {
        return check_scim(endpoint, response);
    }
    if endpoint.path.starts_with("/portal") {
        return check_portal(endpoint, response);
    }
    let operation = &document()["paths"][endpoint.path][endpoint.method.to_lowercase()];
    assert!(
        operation.is_object(),
        "{} is not in the document",
        endpoint.function
    );
    let what = format!("{} → {}", endpoint.function, response.status);
    let Some(documented) = operation["responses"].get(response.status.to_string()) else {
        panic!("{what}: status not documented ({})", response.text);
    };
    let documented = resolve(documented);
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        let header = resolve(header);
        match response.headers.get(&name.to_lowercase()) {
            Some(value) => check_value(
                &header["schema"],
                &json!(value),
                &format!("{what} header {name}"),
            ),
            None => assert!(
                header["required"] != json!(true),
                "{what}: required header {name} missing"
            ),
        }
    }
    // A page a browser navigates to may answer with HTML where the document
    // names no body (the SSO callback's page for a portal's test sign-in).
    let html = response
        .headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("text/html"));
    if endpoint.page && html && documented["content"].is_null() {
        return;
    }
    match documented["content"].as_object() {
        Some(content) => {
            let content_type = response.headers.get("content-type").map(String::as_str);
            let (media, body) = content.iter().next().expect("a documented content type");
            assert_eq!(content_type, Some(media.as_str()), "{what}: content type");
            check_value(&body["schema"], &response.body, &format!("{what} body"));
        }
        None => assert!(
            response.text.is_empty(),
            "{what}: a body where none is documented"
        ),
    }
}

/// Panics unless every example the document gives — each operation's
/// request and response bodies — validates against its own schema, and
/// every operation has a description and those examples.
pub fn check_examples() -> usize {
    let mut checked = 0;
    for (path, item) in document()["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let what = format!("{method} {path}");
            assert!(
                operation["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{what}: no description"
            );
            let mut bodies: Vec<(&str, &Value)> = Vec::new();
            if let Some(content) = operation
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
            {
                bodies.extend(content.values().map(|c| ("request", c)));
            }
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if status.starts_with('2') {
                    let response = resolve(response);
                    if let Some(content) = response["content"].as_object() {
                        bodies.extend(content.values().map(|c| ("response", c)));
                    }
                }
            }
            for (side, content) in bodies {
                let example = content
                    .get("example")
                    .unwrap_or_else(|| panic!("{what}: a {side} without an example"));
                check_value(
                    &content["schema"],
                    example,
                    &format!("{what} {side} example"),
                );
                checked += 1;
            }
        }
    }
    checked
}

fn check_scim(endpoint: &Endpoint, response: &TestResponse) {
    let what = format!(
        "{} → {} {}",
        endpoint.function, response.status, response.text
    );
    if response.text.is_empty() {
        assert!(matches!(response.status, 204 | 304), "{what}");
        return;
    }
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/scim+json")),
        "{what}"
    );
    if response.status >= 400 {
        let body = &response.body;
        assert_eq!(
            body["schemas"],
            serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{what}"
        );
        assert_eq!(body["status"], response.status.to_string(), "{what}");
        let members: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert!(
            members
                .iter()
                .all(|m| ["schemas", "status", "scimType", "detail"].contains(m)),
            "only the RFC's members: {what}"
        );
    } else {
        assert!(body_has_schemas(&response.body), "{what}");
    }
}

fn body_has_schemas(body: &Value) -> bool {
    body["schemas"].as_array().is_some_and(|s| !s.is_empty())
}

/// The admin portal's pages, which the document does not describe (they are
/// HTML for a browser, docs/portal.md): a page or a redirect, every
/// response of a page with the portal's Content-Security-Policy.
fn check_portal(endpoint: &Endpoint, response: &TestResponse) {
    let what = format!("{} → {}", endpoint.function, response.status);
    assert!(
        response.headers.contains_key("x-request-id"),
        "{what}: no request id"
    );
    if !endpoint.portal {
        return;
    }
    let content_type = response.headers.get("content-type").map(String::as_str);
    match response.status {
        302 | 303 => assert!(
            response.headers.contains_key("location"),
            "{what}: no Location"
        ),
        _ => assert_eq!(content_type, Some("text/html; charset=utf-8"), "{what}"),
    }
    if response.status != 302 {
        let csp = response.headers.get("content-security-policy");
        assert!(
            csp.is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{what}: no CSP"
        );
    }
}
