//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations applied
//! in order to a working copy of the canonical form, which is validated with
//! the rules of a POST before it replaces the stored one.

mod ops;

use super::error::Error;
use super::path::{Resolution, Target};
use super::resource::Ignored;
use super::schema::{ResourceKind, Schema};
use super::syntax::RawPath;

use super::error::excerpt;
use super::filter::member;
use super::path::{resolve, target};
use super::resource::canonicalize;

use super::schema::PATCH_OP;

use serde_json::{Map, Value};
use std::collections::HashSet;

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1_000;

/// What a PATCH did besides its writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The names of undeclared attributes the operations named, which were
    /// dropped.
    pub ignored: Vec<String>,
}

/// An operation's verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

/// Applies a PATCH `body` to the canonical form `resource` of the resource
/// `id`. On error `resource` is unchanged.
pub fn apply(
    kind: ResourceKind,
    id: &str,
    resource: &mut Value,
    body: &Value,
) -> Result<Applied, Error> {
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
                .any(|urn| urn.eq_ignore_ascii_case(PATCH_OP))
        });
    if !listed {
        return Err(Error::InvalidSyntax(format!(
            "`schemas` must be a list holding {PATCH_OP}"
        )));
    }
    let operations = member(object, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| (1..=MAX_OPERATIONS).contains(&ops.len()))
        .ok_or_else(|| {
            Error::InvalidValue(format!(
                "`Operations` must be a list of 1 to {MAX_OPERATIONS} operations"
            ))
        })?;
    let mut work = resource.as_object().cloned().unwrap_or_default();
    let mut ignored = Ignored::default();
    for (index, operation) in operations.iter().enumerate() {
        apply_one(kind, id, &mut work, operation, &mut ignored)
            .map_err(|e| e.with_prefix(&format!("Operations[{index}]: ")))?;
    }
    let canonical = canonicalize(kind, &work)?;
    for name in canonical.ignored {
        ignored.push(name);
    }
    *resource = canonical.value;
    Ok(Applied {
        ignored: ignored.into_vec(),
    })
}

/// The `members[].value` strings of a Group's canonical form, in order,
/// each once.
pub fn member_ids(resource: &Value) -> Vec<String> {
    let mut seen = HashSet::new();
    resource
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
        .filter(|id| seen.insert(*id))
        .map(str::to_owned)
        .collect()
}

fn apply_one(
    kind: ResourceKind,
    id: &str,
    work: &mut Map<String, Value>,
    operation: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    let Some(operation) = operation.as_object() else {
        return Err(Error::InvalidValue("an operation must be an object".into()));
    };
    let verb = member(operation, "op").and_then(Value::as_str);
    let op = match verb {
        Some(v) if v.eq_ignore_ascii_case("add") => Op::Add,
        Some(v) if v.eq_ignore_ascii_case("replace") => Op::Replace,
        Some(v) if v.eq_ignore_ascii_case("remove") => Op::Remove,
        _ => {
            return Err(Error::InvalidValue(
                "`op` must be \"add\", \"replace\" or \"remove\"".into(),
            ));
        }
    };
    let path = match member(operation, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.as_str()),
        Some(_) => return Err(Error::InvalidPath("`path` must be a string".into())),
    };
    let value = member(operation, "value").unwrap_or(&Value::Null);
    match path {
        None if op == Op::Remove => Err(Error::NoTarget("`remove` needs a `path`".into())),
        None => pathless(kind, id, work, op, value, ignored),
        Some(text) => {
            let text = text.trim();
            match kind.split_urn(text) {
                // A schema URN alone: the extension's object, or the core.
                Some((schema, "")) => whole_schema(kind, id, work, op, schema, value, ignored),
                None if unknown_schema(text) => {
                    ignored.push(text.to_owned());
                    Ok(())
                }
                _ => match target(kind, text)? {
                    Resolution::Found(target) => {
                        checked(kind, id, work, op, &target, value, ignored)
                    }
                    Resolution::Unknown(name) => {
                        ignored.push(name);
                        Ok(())
                    }
                },
            }
        }
    }
}

/// `add`/`replace` without a path: each member of the value object is an
/// attribute path and its value.
fn pathless(
    kind: ResourceKind,
    id: &str,
    work: &mut Map<String, Value>,
    op: Op,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    let Some(object) = value.as_object() else {
        return Err(Error::InvalidValue(
            "without a `path`, `value` must be an object".into(),
        ));
    };
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
            continue;
        }
        match kind.split_urn(key) {
            Some((schema, "")) => {
                whole_schema(kind, id, work, op, schema, value, ignored)?;
                continue;
            }
            None if unknown_schema(key) => {
                ignored.push(key.clone());
                continue;
            }
            _ => {}
        }
        match target(kind, key)? {
            // The read-only `groups` of a User body is dropped, as in a POST.
            Resolution::Found(t) if t.common && t.attr.name == "groups" => {
                ignored.push(key.clone());
            }
            Resolution::Found(t) => checked(kind, id, work, op, &t, value, ignored)?,
            Resolution::Unknown(name) => ignored.push(name),
        }
    }
    Ok(())
}

/// Whether `text` starts with a URN that is none of the resource's schemas:
/// an extension the service does not know, dropped like an unknown
/// attribute.
fn unknown_schema(text: &str) -> bool {
    text.get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("urn:"))
}

/// An operation on a schema's URN: `remove` drops an extension's object,
/// `add`/`replace` apply each member of the value object to that schema.
fn whole_schema(
    kind: ResourceKind,
    id: &str,
    work: &mut Map<String, Value>,
    op: Op,
    schema: &'static Schema,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    let extension = schema.id != kind.core_urn();
    if op == Op::Remove {
        if !extension {
            return Err(Error::Mutability(format!(
                "{} cannot be removed",
                schema.id
            )));
        }
        work.shift_remove(schema.id);
        return Ok(());
    }
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Ok(()),
        _ => {
            return Err(Error::InvalidValue(format!(
                "the value of {} must be an object",
                schema.id
            )));
        }
    };
    for (key, value) in object {
        if !extension
            && ["schemas", "meta"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        let (attribute, sub) = match key.split_once('.') {
            Some((attribute, sub)) => (attribute, Some(sub.to_owned())),
            None => (key.as_str(), None),
        };
        let raw = RawPath {
            schema: Some(schema),
            attribute: attribute.to_owned(),
            filter: None,
            sub,
        };
        match resolve(kind, raw, Error::InvalidPath)? {
            Resolution::Found(t) => checked(kind, id, work, op, &t, value, ignored)?,
            Resolution::Unknown(name) => ignored.push(format!("{}:{name}", schema.id)),
        }
    }
    Ok(())
}

/// Refuses writes to read-only targets (an `id` equal to the resource's is
/// a no-op), then applies the operation.
fn checked(
    kind: ResourceKind,
    id: &str,
    work: &mut Map<String, Value>,
    op: Op,
    target: &Target,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    let plain = target.filter.is_none() && target.sub.is_none();
    if target.common && target.attr.name == "id" && plain && op != Op::Remove {
        return if value.as_str() == Some(id) {
            Ok(())
        } else {
            Err(Error::Mutability("`id` is read-only".into()))
        };
    }
    let read_only = !target.attr.writable() || target.sub.is_some_and(|s| !s.writable());
    if read_only {
        return Err(Error::Mutability(format!(
            "`{}` is read-only",
            excerpt(&target.label())
        )));
    }
    ops::write(kind, work, op, target, value, ignored)
}

#[cfg(test)]
mod tests;
