//! What makes the document read well in generators and renderers: every
//! operation's description and examples, and enums as named schemas.

use serde_json::{Map, Value, json};

/// A value the schema accepts, deterministic, for an example: the schema's
/// own example when it has one, else one built from its type and format.
pub(super) fn example(schema: &Value, definitions: &Map<String, Value>) -> Value {
    example_at(schema, definitions, 0, "")
}

/// A string for a member called `name` that `schema` accepts.
fn string_for(object: &Map<String, Value>, name: &str) -> &'static str {
    let pattern = object
        .get("pattern")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match pattern {
        "^[0-9A-HJKMNP-TV-Z]{26}$" => return "01JDR9Q4T6XW3C2B8F5N7M0K1H",
        "^[0-9a-f]{8}$" => return "3f9c0a1b",
        "^tct_[0-9a-f-]{36}_[0-9a-f]{48}$" => {
            return "tct_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ff_3f9c0a1b5e7d2c4a6b8e0f1d3c5a7b9e2d4f6a8c0e1b3d5f";
        }
        "^tk_[0-9a-f]{48}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" => {
            return "tk_3f9c0a1b5e7d2c4a6b8e0f1d3c5a7b9e2d4f6a8c0e1b3d5f_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ff";
        }
        "^scim_[0-9a-f]{48}$" => return "scim_3f9c0a1b5e7d2c4a6b8e0f1d3c5a7b9e2d4f6a8c0e1b3d5f",
        _ if pattern.starts_with("^[0-9a-f") && pattern.contains("]{8}-") => {
            return "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162";
        }
        _ => {}
    }
    match object.get("format").and_then(Value::as_str) {
        Some("uuid") => return "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162",
        Some("date-time") => return "2026-11-23T14:15:22Z",
        Some("uri") => return "https://hooks.acme.example/tether",
        Some("email") => return "ada@example.com",
        _ => {}
    }
    match name {
        _ if name.ends_with("email") => "ada@example.com",
        _ if name.ends_with("_id") || name.ends_with("Id") || name == "id" => {
            "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162"
        }
        _ if name.ends_with("name") || name.ends_with("Name") => "Ada Lovelace",
        "url" | "jwks_uri" | "issuer" => "https://sso.acme.example",
        "scim_base_url" => {
            "https://tether.acme.example/scim/v2/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162"
        }
        "description" => "CRM sync",
        "message" => "what went wrong, for people",
        _ => "string",
    }
}

fn example_at(schema: &Value, definitions: &Map<String, Value>, depth: usize, name: &str) -> Value {
    if depth > 12 {
        return Value::Null;
    }
    let Some(object) = schema.as_object() else {
        return Value::Null;
    };
    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return definitions
            .get(name)
            .map_or(Value::Null, |d| example_at(d, definitions, depth + 1, name));
    }
    if let Some(first) = object
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(value) = object.get("const") {
        return value.clone();
    }
    if let Some(first) = object
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for choice in ["oneOf", "anyOf"] {
        if let Some(variants) = object.get(choice).and_then(Value::as_array) {
            let chosen = variants
                .iter()
                .find(|v| v.get("type") != Some(&json!("null")))
                .or(variants.first());
            return chosen.map_or(Value::Null, |v| example_at(v, definitions, depth + 1, name));
        }
    }
    let kind = match object.get("type") {
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        Some(Value::String(kind)) => kind.as_str(),
        _ if object.contains_key("properties") => "object",
        _ => return json!({}),
    };
    match kind {
        "object" => {
            let mut out = Map::new();
            if let Some(properties) = object.get("properties").and_then(Value::as_object) {
                for (member, property) in properties {
                    out.insert(
                        member.clone(),
                        example_at(property, definitions, depth + 1, member),
                    );
                }
            }
            Value::Object(out)
        }
        "array" => {
            let item = object
                .get("items")
                .map_or(Value::Null, |i| example_at(i, definitions, depth + 1, name));
            json!([item])
        }
        "string" => json!(string_for(object, name)),
        "integer" => object.get("minimum").cloned().unwrap_or(json!(1)),
        "number" => json!(1.5),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

/// `scopes` → `Scope`, `status` → `Status`.
fn pascal(name: &str) -> String {
    name.split(['_', '-'])
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// Moves every enum written inline in a schema into a schema of its own,
/// named `<Parent><Member>` (the first to use a set of values names it;
/// the others refer to it): code generators then make one type of it, not
/// a numbered class per use.
pub(super) fn hoist_enums(definitions: &mut Map<String, Value>) {
    let mut named: Vec<(String, Value)> = Vec::new();
    let names: Vec<String> = definitions.keys().cloned().collect();
    for parent in names {
        let Some(Value::Object(schema)) = definitions.get_mut(&parent) else {
            continue;
        };
        hoist_in(&parent, schema, &mut named);
    }
    for (name, schema) in named {
        definitions.entry(name).or_insert(schema);
    }
    definitions.sort_keys();
}

fn hoist_in(parent: &str, schema: &mut Map<String, Value>, named: &mut Vec<(String, Value)>) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for (member, property) in properties.iter_mut() {
        let Value::Object(property) = property else {
            continue;
        };
        // An enum, or an array of one; objects written inline are looked
        // into.
        let items_enum = property
            .get("items")
            .is_some_and(|items| items.get("enum").is_some());
        let items_object = property
            .get("items")
            .is_some_and(|items| items.get("properties").is_some());
        let (slot, name) = if items_enum {
            let Some(Value::Object(items)) = property.get_mut("items") else {
                continue;
            };
            (items, pascal(member.trim_end_matches('s')))
        } else if property.contains_key("enum") {
            (property, format!("{parent}{}", pascal(member)))
        } else if items_object {
            if let Some(Value::Object(items)) = property.get_mut("items") {
                hoist_in(&format!("{parent}{}", pascal(member)), items, named);
            }
            continue;
        } else if property.contains_key("properties") {
            hoist_in(&format!("{parent}{}", pascal(member)), property, named);
            continue;
        } else {
            continue;
        };
        let mut definition = Map::new();
        for key in ["type", "enum"] {
            if let Some(value) = slot.remove(key) {
                definition.insert(key.to_owned(), value);
            }
        }
        let definition = Value::Object(definition);
        let name = match named.iter().find(|(_, d)| *d == definition) {
            Some((existing, _)) => existing.clone(),
            None => {
                named.push((name.clone(), definition));
                name
            }
        };
        slot.insert("$ref".into(), json!(format!("#/components/schemas/{name}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_enums_become_one_named_schema_per_set_of_values() {
        let mut definitions: Map<String, Value> = serde_json::from_value(json!({
            "EndUser": { "type": "object", "properties": {
                "status": { "type": "string", "enum": ["active", "deleting"], "description": "d" },
                "scopes": { "type": "array", "items": { "type": "string", "enum": ["read", "admin"] } }
            }},
            "OrganizationUser": { "type": "object", "properties": {
                "status": { "type": "string", "enum": ["active", "deleting"] }
            }}
        }))
        .unwrap();
        hoist_enums(&mut definitions);
        assert_eq!(
            definitions["EndUser"]["properties"]["status"],
            json!({ "description": "d", "$ref": "#/components/schemas/EndUserStatus" })
        );
        assert_eq!(
            definitions["OrganizationUser"]["properties"]["status"]["$ref"],
            "#/components/schemas/EndUserStatus"
        );
        assert_eq!(
            definitions["EndUser"]["properties"]["scopes"]["items"]["$ref"],
            "#/components/schemas/Scope"
        );
        assert_eq!(
            definitions["Scope"],
            json!({ "type": "string", "enum": ["read", "admin"] })
        );
    }

    #[test]
    fn examples_follow_references_formats_and_choices() {
        let definitions: Map<String, Value> = serde_json::from_value(json!({
            "Id": { "type": "string", "format": "uuid" }
        }))
        .unwrap();
        let schema = json!({ "type": "object", "properties": {
            "id": { "$ref": "#/components/schemas/Id" },
            "at": { "type": ["string", "null"], "format": "date-time" },
            "n": { "type": "integer", "minimum": 3 },
            "kind": { "enum": ["a", "b"] },
            "tags": { "type": "array", "items": { "type": "string" } }
        }});
        assert_eq!(
            example(&schema, &definitions),
            json!({ "id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162", "at": "2026-11-23T14:15:22Z",
                    "n": 3, "kind": "a", "tags": ["string"] })
        );
    }
}
