//! `events/<function>.json`: an API Gateway HTTP API (payload 2.0) event
//! per endpoint, its body and query the declaration's example, usable as
//! `cargo lambda invoke <function> --data-file events/<function>.json`.

use crate::Generated;
use serde_json::{Map, Value, json};
use tether::routes::{Credential, Endpoint};

/// The example value of a path parameter (the ids tests/api/events.rs
/// stands real resources in for).
fn example_id(method: &str, path: &str, name: &str) -> &'static str {
    match name {
        "user_id" => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162",
        "identity_id" => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051aa",
        "relation_id" => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ee",
        "externalServiceId" => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051cc",
        "organizationId" => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ff",
        "externalUserId" => "crm-user-7",
        "delivery_id" => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ad",
        "directory_id" => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a1",
        "name" if path.starts_with("/portal/") => "portal.css",
        "name" => "User",
        "urn" => "urn:ietf:params:scim:schemas:core:2.0:User",
        _ if path.starts_with("/scim/") && path.contains("/Groups/") => {
            "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a3"
        }
        _ if path.starts_with("/scim/") => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a2",
        _ if path.starts_with("/v1/groups/") => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a3",
        // A provider no identity uses can be deleted.
        _ if path.starts_with("/v1/identity-providers/") && method == "DELETE" => {
            "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bc"
        }
        _ if path.starts_with("/v1/identity-providers/") => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb",
        _ if path.starts_with("/v1/connect-tokens/") => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051dd",
        _ if path.starts_with("/v1/api-keys/") => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ab",
        _ if path.starts_with("/v1/directories/") => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a1",
        _ if path.starts_with("/v1/portal-links/") => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051b1",
        _ => "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ae",
    }
}

/// The event of one endpoint's example request.
pub fn event(endpoint: &Endpoint) -> Value {
    let not_found = *endpoint == tether::routes::NOT_FOUND;
    let (method, mut path) = if not_found {
        ("GET", "/v1/nothing-here".to_owned())
    } else {
        (endpoint.method, endpoint.path.to_owned())
    };
    let mut parameters = Map::new();
    for name in endpoint.parameter_names() {
        let value = example_id(endpoint.method, endpoint.path, name);
        path = path.replace(&format!("{{{name}}}"), value);
        parameters.insert(name.to_owned(), json!(value));
    }
    let route_key = if not_found {
        "$default".to_owned()
    } else {
        format!("{method} {}", endpoint.path)
    };
    let mut headers = Map::new();
    headers.insert("accept".into(), json!("application/json"));
    headers.insert("user-agent".into(), json!("curl/8.5.0"));
    headers.insert("host".into(), json!("localhost:9000"));
    match endpoint.credential {
        Credential::ApiKey => {
            headers.insert("x-api-key".into(), json!(format!("tk_{}", "0".repeat(48))));
        }
        Credential::UserToken => {
            headers.insert(
                "authorization".into(),
                json!("Bearer eyJhbGciOiJFZERTQSJ9.placeholder.signature"),
            );
        }
        Credential::ServiceToken => {
            headers.insert(
                "authorization".into(),
                json!(format!("Bearer tst_{}", "0".repeat(48))),
            );
        }
        Credential::DirectoryToken => {
            headers.insert(
                "authorization".into(),
                json!(format!("Bearer scim_{}", "0".repeat(48))),
            );
        }
        Credential::PortalSession => {
            headers.insert(
                "cookie".into(),
                json!(format!(
                    "tether_portal=tps_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051b2_{}",
                    "A".repeat(43)
                )),
            );
        }
        Credential::None => {}
    }
    let body = endpoint.docs.example;
    if let Some(body) = body {
        let text = endpoint.docs.text_body && !body.trim_start().starts_with('{');
        headers.insert(
            "content-type".into(),
            json!(if endpoint.portal {
                "application/x-www-form-urlencoded"
            } else if text {
                "text/plain"
            } else {
                "application/json"
            }),
        );
    }
    let query = endpoint.docs.example_query;
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "tether",
            "domainName": "localhost",
            "domainPrefix": "tether",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": route_key,
            "stage": "$default",
            "time": "23/Nov/2026:14:15:22 +0000",
            "timeEpoch": 1_795_443_322_000_i64
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        let pairs: Map<String, Value> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(pairs);
    }
    if !parameters.is_empty() {
        event["pathParameters"] = Value::Object(parameters);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// Every endpoint's event.
pub fn files() -> Vec<Generated> {
    crate::functions::endpoints()
        .map(|endpoint| Generated {
            path: format!("events/{}.json", endpoint.function).into(),
            content: format!(
                "{}\n",
                serde_json::to_string_pretty(&event(endpoint)).unwrap_or_default()
            ),
        })
        .collect()
}
