//! Parsing request bodies into DTOs — parse, don't validate: a DTO that
//! exists is valid. Plain JSON to domain values; the HTTP side (size,
//! content type, syntax) is the pipeline's (`pipeline::Json`).

use crate::error::{ApiError, FieldErrors};
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// A body that must be empty or `{}`.
#[derive(Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EmptyRequest")]
pub struct NoFields {}

impl ParseBody for NoFields {
    fn parse(_: &mut JsonObject) -> Option<Self> {
        Some(Self {})
    }
}

/// A DTO parsed from a JSON object — parse, don't validate: a DTO that
/// exists is valid, its required fields are not `Option`s. Parsing collects
/// every field problem so a client sees them all at once. Its derived
/// [`JsonSchema`] is the body's schema in the OpenAPI document.
pub trait ParseBody: Sized + Send + JsonSchema + 'static {
    /// Parses the object's members: `None` when a problem was recorded.
    fn parse(object: &mut JsonObject) -> Option<Self>;
}

/// A JSON object being parsed: each accessor takes its member out, and what is
/// left at the end is reported as unknown fields.
#[derive(Debug)]
pub struct JsonObject {
    members: Map<String, Value>,
    errors: FieldErrors,
}

impl JsonObject {
    /// Wraps an object's members.
    pub fn new(members: Map<String, Value>) -> Self {
        Self {
            members,
            errors: FieldErrors::new(),
        }
    }

    /// Takes a member, if present.
    pub fn take(&mut self, field: &str) -> Option<Value> {
        self.members.remove(field)
    }

    /// Records a problem with `field`.
    pub fn problem(&mut self, field: &str, problem: impl Into<String>) {
        self.errors.push(field, problem);
    }

    /// An optional string member of at most `max_chars` characters.
    pub fn optional_string(&mut self, field: &str, max_chars: usize) -> Option<String> {
        match self.take(field)? {
            Value::String(s) if s.chars().count() > max_chars => {
                self.problem(field, format!("must be at most {max_chars} characters"));
                None
            }
            Value::String(s) if s.contains('\0') => {
                self.problem(field, "must not contain NUL characters");
                None
            }
            Value::String(s) => Some(s),
            _ => {
                self.problem(field, "must be a string");
                None
            }
        }
    }

    /// An optional boolean member.
    pub fn optional_bool(&mut self, field: &str) -> Option<bool> {
        match self.take(field)? {
            Value::Bool(b) => Some(b),
            _ => {
                self.problem(field, "must be a boolean");
                None
            }
        }
    }

    /// A required member holding an id: a string of at most `max_chars`
    /// characters that `parse` accepts ("must be a UUID" otherwise).
    pub fn required_id<T, E>(
        &mut self,
        field: &str,
        max_chars: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let raw = self.required_string(field, max_chars)?;
        parse(&raw)
            .map_err(|_| self.problem(field, "must be a UUID"))
            .ok()
    }

    /// A required string member of 1 to `max_chars` characters.
    pub fn required_string(&mut self, field: &str, max_chars: usize) -> Option<String> {
        if !self.members.contains_key(field) {
            self.problem(field, "is required");
            return None;
        }
        let value = self.optional_string(field, max_chars)?;
        if value.is_empty() {
            self.problem(field, "must not be empty");
            return None;
        }
        Some(value)
    }

    /// Ends the parsing of a `T`: unknown members become problems too, and a
    /// refusal that named no problem (a parser's omission) is the body's as
    /// a whole — 422 either way, never a request answered as accepted.
    pub fn finish<T>(mut self, value: Option<T>) -> Result<T, ApiError> {
        let unknown: Vec<String> = self.members.keys().cloned().collect();
        for field in unknown {
            self.errors.push(field, "unknown field");
        }
        match value {
            Some(value) => self.errors.into_result(|| value),
            None => {
                if self.errors.is_empty() {
                    tracing::warn!(
                        parser = std::any::type_name::<T>(),
                        "a body was refused without a problem named"
                    );
                    self.errors.push("body", "is not valid");
                }
                Err(ApiError::Validation(self.errors))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parser's refusal is the client's 422 even when it named no
    /// problem: never a 500, never an accepted body.
    #[test]
    fn a_refusal_without_a_named_problem_is_a_422_on_the_body() {
        let object = JsonObject::new(Map::new());
        match object.finish::<NoFields>(None) {
            Err(ApiError::Validation(errors)) => {
                let mut expected = FieldErrors::new();
                expected.push("body", "is not valid");
                assert_eq!(errors, expected);
            }
            other => panic!("{other:?}"),
        }
        let mut members = Map::new();
        members.insert("extra".into(), Value::Null);
        let unknown = JsonObject::new(members).finish(Some(NoFields {}));
        assert!(matches!(unknown, Err(ApiError::Validation(_))));
        assert!(
            JsonObject::new(Map::new())
                .finish(Some(NoFields {}))
                .is_ok()
        );
    }
}
