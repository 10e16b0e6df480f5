//! The JSON Schemas of the OpenAPI document, derived from the request and
//! response types ([`schemars`]), and the error envelopes per surface and
//! status.
//!
//! Two generators: responses are described as they serialize (an `Option`
//! field is present and may be null), request bodies as they are read (an
//! `Option` field may be left out). Their definitions share one namespace,
//! `#/components/schemas`.

use super::{code_table, codes_for, error_headers, error_schema_name, json_content, schema_ref};
use crate::error::{ErrorBody, ServiceError, Surface};
use crate::wire::{PathId, SchemaFn, schema};
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// Where the definitions live in the document.
const DEFINITIONS: &str = "/components/schemas";

/// The schemas an OpenAPI document refers to, as they are asked for.
#[derive(Debug)]
pub(super) struct Schemas {
    responses: SchemaGenerator,
    requests: SchemaGenerator,
}

impl Schemas {
    pub(super) fn new() -> Self {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = DEFINITIONS.into();
            s.meta_schema = None;
        });
        let mut schemas = Self {
            responses: settings.clone().for_serialize().into_generator(),
            requests: settings.for_deserialize().into_generator(),
        };
        // Path parameters refer to it.
        schemas.request(schema::<PathId>);
        schemas
    }

    /// A `$ref` to a response body's schema.
    pub(super) fn response(&mut self, schema: SchemaFn) -> Value {
        schema(&mut self.responses).to_value()
    }

    /// A `$ref` to a request body's schema.
    pub(super) fn request(&mut self, schema: SchemaFn) -> Value {
        schema(&mut self.requests).to_value()
    }

    /// Every definition asked for, in a stable order.
    fn into_definitions(mut self) -> Map<String, Value> {
        let mut all = self.responses.take_definitions(true);
        for definition in all.values_mut() {
            simplify(definition);
        }
        for (name, mut definition) in self.requests.take_definitions(true) {
            simplify(&mut definition);
            // A type both read and written must be described the same way.
            if let Some(existing) = all.get(&name) {
                assert_eq!(existing, &definition, "schema {name} differs by direction");
            }
            all.insert(name, definition);
        }
        for definition in all.values_mut() {
            simplify(definition);
        }
        all.sort_keys();
        all
    }
}

/// Says what the API does in the plainest terms generators understand:
/// - a member that may be left out is never null (the parsers refuse null,
///   and responses omit such members rather than send null);
/// - a choice of string constants is an `enum` (not a `oneOf` of `const`s,
///   which some generators turn into a union of single-value types).
fn simplify(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    if let Some(Value::Array(variants)) = object.get("oneOf")
        && let Some(values) = variants
            .iter()
            .map(|v| v.get("const").filter(|c| c.is_string()).cloned())
            .collect::<Option<Vec<_>>>()
    {
        object.remove("oneOf");
        object.insert("type".into(), json!("string"));
        object.insert("enum".into(), Value::Array(values));
    }
    let required: Vec<Value> = object
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if !required.contains(&json!(name)) {
                strip_null(property);
            }
        }
    }
    for value in object.values_mut() {
        match value {
            Value::Object(_) => simplify(value),
            Value::Array(items) => items.iter_mut().for_each(simplify),
            _ => {}
        }
    }
}

/// `{"type": [T, "null"]}` → `{"type": T}`; `{"anyOf": [S, {"type": "null"}]}` → S.
fn strip_null(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(variants)) = object.get("anyOf").cloned() {
        let kept: Vec<Value> = variants
            .into_iter()
            .filter(|v| v != &json!({ "type": "null" }))
            .collect();
        if let [only] = kept.as_slice()
            && let Value::Object(inner) = only
        {
            object.remove("anyOf");
            for (k, v) in inner {
                object.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// Adds the error envelopes: `Error`, `ServiceError`, and per surface and
/// status a schema that narrows the code (or type) to that status's codes,
/// with a response referring to it. Each narrowed schema is whole (no
/// `allOf`), so client generators give each status its own typed model.
pub(super) fn error_components(mut schemas: Schemas) -> (Map<String, Value>, Map<String, Value>) {
    schemas.response(schema::<ErrorBody<'static>>);
    schemas.response(schema::<ServiceError<'static>>);
    let mut definitions = schemas.into_definitions();
    let mut responses = Map::new();
    for surface in [Surface::Organization, Surface::ExternalService] {
        let mut statuses: Vec<u16> = code_table(surface).iter().map(|(s, _)| *s).collect();
        statuses.dedup();
        for status in statuses {
            let codes = codes_for(surface, status);
            let narrowed = match surface {
                Surface::Organization => {
                    let mut error = definitions["Error"].clone();
                    error["properties"]["code"] = json!({ "type": "string", "enum": codes });
                    error
                }
                Surface::ExternalService => {
                    let mut body = definitions["ServiceErrorBody"].clone();
                    body["properties"]["type"] = json!({ "type": "string", "enum": codes });
                    let mut error = definitions["ServiceError"].clone();
                    error["properties"]["error"] = body;
                    error
                }
                // The SCIM surface is described by its own `/Schemas`.
                Surface::Scim => continue,
            };
            let name = error_schema_name(surface, status);
            definitions.insert(name.clone(), narrowed);
            responses.insert(
                name.clone(),
                json!({
                    "description": format!("`{}`", codes.join("`, `")),
                    "headers": error_headers(status),
                    "content": json_content(schema_ref(&name)),
                }),
            );
        }
    }
    (definitions, responses)
}
