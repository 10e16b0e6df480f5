//! POST and PUT bodies (RFC 7644 §3.3, §3.5.1) read into the canonical form:
//! a JSON object holding only the declared, writable attributes under the
//! schema's spelling, values verbatim, each extension under its URN. The
//! same rules validate the result of a PATCH.

use super::error::Error;
use super::schema::{Attribute, ResourceKind, Schema, Type};

use super::error::truncate;
use super::filter::member;

use serde_json::{Map, Value};

/// The longest string value, in characters.
pub const MAX_STRING_CHARS: usize = 1_024;
/// The longest `userName`, in characters.
pub const MAX_USER_NAME_CHARS: usize = 256;
/// The most values of a multi-valued attribute.
pub const MAX_VALUES: usize = 20;
/// The most members of a Group: the group is one item (at most 400 KB in
/// DynamoDB), so that a change of its members is one conditional write.
pub const MAX_MEMBERS: usize = 2_000;
/// The largest canonical User, serialized, in bytes.
pub const MAX_USER_BYTES: usize = 32 * 1_024;
/// The most names kept in an `ignored` list.
const MAX_IGNORED: usize = 100;
/// The longest name kept in an `ignored` list, in characters (an extension
/// attribute's name holds its URN).
const MAX_IGNORED_CHARS: usize = 120;

/// A body in canonical form.
#[derive(Debug, Clone, PartialEq)]
pub struct Canonical {
    /// The declared, writable attributes under the schema's spelling; each
    /// extension's as an object under its URN. No `id`, `meta` or `schemas`.
    pub value: Value,
    /// The names (never the values) of what the body held and was dropped:
    /// undeclared attributes and sub-attributes, unknown extensions.
    pub ignored: Vec<String>,
}

/// Parses a POST body for a resource of `kind`.
pub fn parse(kind: ResourceKind, body: &Value) -> Result<Canonical, Error> {
    let Some(object) = body.as_object() else {
        return Err(Error::InvalidSyntax(
            "the body must be a JSON object".into(),
        ));
    };
    let listed = member(object, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| {
            schemas
                .iter()
                .filter_map(Value::as_str)
                .any(|urn| urn.eq_ignore_ascii_case(kind.core_urn()))
        });
    if !listed {
        return Err(Error::InvalidSyntax(format!(
            "`schemas` must be a list holding {}",
            kind.core_urn()
        )));
    }
    canonicalize(kind, object)
}

/// Parses a PUT body replacing the resource `id`, whose canonical form is
/// `current`. A body `id` must be `id`; a User body without `active` keeps
/// the current one (a replace must not reactivate a suspended user).
pub fn replace(
    kind: ResourceKind,
    id: &str,
    current: &Value,
    body: &Value,
) -> Result<Canonical, Error> {
    let mut canonical = parse(kind, body)?;
    let body_id = body
        .as_object()
        .and_then(|o| member(o, "id"))
        .filter(|v| !v.is_null());
    if body_id.is_some_and(|v| v.as_str() != Some(id)) {
        return Err(Error::Mutability(
            "`id` is read-only: the body's id is not the resource's".into(),
        ));
    }
    let kept = current.get("active").filter(|a| a.is_boolean());
    if let (ResourceKind::User, Some(active), Some(attributes)) =
        (kind, kept, canonical.value.as_object_mut())
    {
        attributes.entry("active").or_insert_with(|| active.clone());
    }
    Ok(canonical)
}

/// The names dropped from a body, each once, at most [`MAX_IGNORED`].
#[derive(Debug, Default)]
pub(super) struct Ignored(Vec<String>);

impl Ignored {
    /// Records a dropped name.
    pub fn push(&mut self, name: String) {
        let name = truncate(&name, MAX_IGNORED_CHARS);
        if self.0.len() < MAX_IGNORED && !self.0.contains(&name) {
            self.0.push(name);
        }
    }

    /// The names, in the order first met.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Reads an object of attributes (a body without its `schemas`, or a
/// PATCH's working copy) into the canonical form and validates the whole:
/// types, limits, one primary value, required attributes, size.
pub(super) fn canonicalize(
    kind: ResourceKind,
    object: &Map<String, Value>,
) -> Result<Canonical, Error> {
    let mut ignored = Ignored::default();
    let mut out = Map::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(attr) = kind.schema().attribute(key) {
            insert(&mut out, attr, attribute(attr, value, &mut ignored)?);
            continue;
        }
        match kind.split_urn(key) {
            Some((schema, "")) if schema.id != kind.core_urn() => {
                if let Some(extension) = extension(schema, value, &mut ignored)? {
                    out.insert(schema.id.into(), Value::Object(extension));
                }
            }
            _ => {
                // `id` and `meta` are the service's own: not worth a mention.
                let own = key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta");
                if !own {
                    ignored.push(key.clone());
                }
            }
        }
    }
    for attr in kind.schema().attributes.iter().filter(|a| a.required) {
        let present = out
            .get(attr.name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if !present {
            return Err(Error::InvalidValue(format!("{} is required", attr.name)));
        }
    }
    let value = Value::Object(out);
    if kind == ResourceKind::User {
        let size = serde_json::to_vec(&value).map_or(usize::MAX, |bytes| bytes.len());
        if size > MAX_USER_BYTES {
            return Err(Error::InvalidValue(format!(
                "the user is larger than {} KiB",
                MAX_USER_BYTES / 1_024
            )));
        }
    }
    Ok(Canonical {
        value,
        ignored: ignored.into_vec(),
    })
}

/// Inserts a normalized value, or nothing for an unassigned one.
fn insert(out: &mut Map<String, Value>, attr: &Attribute, value: Option<Value>) {
    if let Some(value) = value {
        out.insert(attr.name.into(), value);
    }
}

/// An extension's object: its attributes normalized, `None` when empty.
pub(super) fn extension(
    schema: &Schema,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<Option<Map<String, Value>>, Error> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        _ => {
            return Err(Error::InvalidValue(format!(
                "{} must be an object",
                schema.id
            )));
        }
    };
    let mut out = Map::new();
    for (key, value) in object {
        match schema.attribute(key) {
            Some(attr) => insert(&mut out, attr, attribute(attr, value, ignored)?),
            None => ignored.push(format!("{}:{key}", schema.id)),
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// A whole attribute's value, normalized: `None` when unassigned (`null`,
/// `[]`, `{}`). A multi-valued attribute given one value holds a list of it.
pub(super) fn attribute(
    attr: &Attribute,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<Option<Value>, Error> {
    if !attr.multi_valued {
        return element(attr, value, ignored);
    }
    let items: &[Value] = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        one => std::slice::from_ref(one),
    };
    check_count(attr, items.len())?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(value) = element(attr, item, ignored)? {
            out.push(value);
        }
    }
    check_values(attr, &out)?;
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// The most values `attr` may hold.
fn multi_limit(attr: &Attribute) -> usize {
    if attr.name == "members" {
        MAX_MEMBERS
    } else {
        MAX_VALUES
    }
}

/// Refuses more values than `attr` may hold.
pub(super) fn check_count(attr: &Attribute, count: usize) -> Result<(), Error> {
    let limit = multi_limit(attr);
    if count > limit {
        return Err(Error::InvalidValue(format!(
            "`{}` holds more than {limit} values",
            attr.name
        )));
    }
    Ok(())
}

/// The limits on a multi-valued attribute's values: their number, and at
/// most one `primary`.
pub(super) fn check_values(attr: &Attribute, values: &[Value]) -> Result<(), Error> {
    check_count(attr, values.len())?;
    let primaries = values
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(Error::InvalidValue(format!(
            "`{}` has more than one primary value",
            attr.name
        )));
    }
    Ok(())
}

/// One value of `attr` (the value of a single-valued attribute, or one
/// element of a multi-valued one), normalized; `None` when unassigned.
pub(super) fn element(
    attr: &Attribute,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<Option<Value>, Error> {
    if attr.data_type != Type::Complex {
        return simple(attr, None, value);
    }
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        _ => {
            return Err(Error::InvalidValue(format!(
                "`{}` must be an object",
                attr.name
            )));
        }
    };
    let mut out = Map::new();
    for (key, value) in object {
        match attr.sub(key) {
            // Read-only sub-attributes (`$ref`, the manager's
            // `displayName`) are the service's to fill in.
            Some(sub) if !sub.writable() => {}
            Some(sub) => {
                if let Some(value) = simple(sub, Some(attr), value)? {
                    out.insert(sub.name.into(), value);
                }
            }
            None => ignored.push(format!("{}.{key}", attr.name)),
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    for sub in attr.sub_attributes.iter().filter(|s| s.required) {
        if !out.contains_key(sub.name) {
            return Err(Error::InvalidValue(format!(
                "each of `{}` needs a `{}`",
                attr.name, sub.name
            )));
        }
    }
    Ok(Some(Value::Object(out)))
}

/// A simple value: a string (checked for length) or a boolean (a JSON
/// boolean or `"true"`/`"false"` in any case), kept verbatim.
pub(super) fn simple(
    attr: &Attribute,
    parent: Option<&Attribute>,
    value: &Value,
) -> Result<Option<Value>, Error> {
    let label = || match parent {
        Some(parent) => format!("{}.{}", parent.name, attr.name),
        None => attr.name.to_owned(),
    };
    match (attr.data_type, value) {
        (_, Value::Null) => Ok(None),
        (Type::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Some(Value::Bool(true)))
        }
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Some(Value::Bool(false)))
        }
        (Type::Boolean, _) => Err(Error::InvalidValue(format!(
            "`{}` must be a boolean",
            label()
        ))),
        (Type::String | Type::Reference | Type::DateTime, Value::String(s)) => {
            let max = if attr.name == "userName" && parent.is_none() {
                MAX_USER_NAME_CHARS
            } else {
                MAX_STRING_CHARS
            };
            if s.chars().nth(max).is_some() {
                return Err(Error::InvalidValue(format!(
                    "`{}` is longer than {max} characters",
                    label()
                )));
            }
            Ok(Some(Value::String(s.clone())))
        }
        (Type::String | Type::Reference | Type::DateTime, _) => Err(Error::InvalidValue(format!(
            "`{}` must be a string",
            label()
        ))),
        (Type::Complex, _) => Err(Error::InvalidValue(format!(
            "`{}` must be an object",
            label()
        ))),
    }
}

#[cfg(test)]
mod tests;
