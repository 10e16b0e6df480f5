//! End-user domain types: parsed, not validated (SPEC §9).

use crate::parse::JsonObject;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Limits on `metadata` (SPEC §9).
pub const METADATA_MAX_BYTES: usize = 16 * 1024;
/// Most top-level keys in `metadata`.
pub const METADATA_MAX_KEYS: usize = 64;
/// Deepest nesting of `metadata`; the object itself is level 1.
pub const METADATA_MAX_DEPTH: usize = 8;
/// Longest email, display name or external id, in characters.
pub const TEXT_MAX_CHARS: usize = 256;
/// Longest email address (RFC 5321 path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// An end user's free-form metadata: a JSON object within the limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Parses `value`, or says what is wrong with it.
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(members) = value else {
            return Err("must be an object".to_owned());
        };
        if members.len() > METADATA_MAX_KEYS {
            return Err(format!(
                "must have at most {METADATA_MAX_KEYS} top-level keys"
            ));
        }
        if members.keys().any(|k| k.is_empty()) {
            return Err("keys must not be empty".to_owned());
        }
        let depth = depth(&Value::Object(members.clone()));
        if depth > METADATA_MAX_DEPTH {
            return Err(format!(
                "must be nested at most {METADATA_MAX_DEPTH} levels deep"
            ));
        }
        let metadata = Self(members);
        if metadata.to_json().len() > METADATA_MAX_BYTES {
            return Err(format!(
                "must be at most {METADATA_MAX_BYTES} bytes when serialized"
            ));
        }
        Ok(metadata)
    }

    /// The compact JSON text (how it is stored and measured).
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// The object.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// An email address: one `@` with text on both sides, no spaces or controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address, or says what is wrong with it.
    pub fn parse(s: String) -> Result<Self, String> {
        let well_formed = s.chars().count() <= EMAIL_MAX_CHARS
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(s.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if well_formed {
            Ok(Self(s))
        } else {
            Err("must be an email address".to_owned())
        }
    }

    /// The address, borrowed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Reads an optional `metadata` member.
pub(crate) fn take_metadata(object: &mut JsonObject) -> Option<Metadata> {
    let value = object.take("metadata")?;
    Metadata::parse(value)
        .map_err(|problem| object.problem("metadata", problem))
        .ok()
}

impl JsonSchema for Metadata {
    fn schema_name() -> Cow<'static, str> {
        "Metadata".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "maxProperties": METADATA_MAX_KEYS,
            "additionalProperties": true,
            "examples": [{ "plan": "gold" }],
            "description": format!(
                "Free-form JSON object: at most {METADATA_MAX_KEYS} top-level keys, nesting at most {METADATA_MAX_DEPTH}, {} KiB serialized.",
                METADATA_MAX_BYTES / 1024
            ),
        })
    }
}

impl JsonSchema for Email {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Email".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "maxLength": EMAIL_MAX_CHARS })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_must_be_an_object() {
        for bad in [json!(null), json!([]), json!("x"), json!(1)] {
            assert_eq!(Metadata::parse(bad).unwrap_err(), "must be an object");
        }
        assert!(Metadata::parse(json!({})).is_ok());
    }

    #[test]
    fn metadata_key_count_is_limited() {
        let at_limit: Map<String, Value> = (0..64).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(Metadata::parse(Value::Object(at_limit.clone())).is_ok());
        let mut over = at_limit;
        over.insert("k64".into(), json!(64));
        assert!(
            Metadata::parse(Value::Object(over))
                .unwrap_err()
                .contains("64")
        );
    }

    #[test]
    fn metadata_nesting_is_limited_to_eight_levels() {
        let mut value = json!({});
        for _ in 0..7 {
            value = json!({ "n": value });
        }
        assert_eq!(depth(&value), 8);
        assert!(Metadata::parse(value.clone()).is_ok());
        let deeper = json!({ "n": value });
        assert!(Metadata::parse(deeper).unwrap_err().contains("nested"));
        assert!(Metadata::parse(json!({"a": [[[[[[[[1]]]]]]]]})).is_err());
    }

    #[test]
    fn metadata_size_is_limited_to_16_kib_serialized() {
        let fits = "x".repeat(METADATA_MAX_BYTES - 10);
        assert!(Metadata::parse(json!({ "a": fits })).is_ok());
        let big = "x".repeat(METADATA_MAX_BYTES);
        assert!(
            Metadata::parse(json!({ "a": big }))
                .unwrap_err()
                .contains("bytes")
        );
    }

    #[test]
    fn emails_need_one_at_and_no_spaces() {
        assert!(Email::parse("ada@example.com".into()).is_ok());
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a@b@c",
            "ada @example.com",
            "ada@exa\u{0}mple",
        ] {
            assert!(Email::parse(bad.into()).is_err(), "{bad:?}");
        }
        assert!(Email::parse(format!("{}@e.io", "a".repeat(250))).is_err());
    }
}
