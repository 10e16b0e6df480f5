//! The writes of one resolved PATCH operation on the working copy.
//!
//! Values are normalized (types, names) as they are written, and a list
//! never holds more values than its limit; what concerns the whole (one
//! primary, required attributes, size) is checked once all operations have
//! run.

use super::Op;
use crate::scim::error::Error;
use crate::scim::filter::Literal;
use crate::scim::path::Target;
use crate::scim::resource::Ignored;
use crate::scim::schema::{Attribute, Mutability, ResourceKind, Type};

use crate::scim::filter::{compare, member};
use crate::scim::resource::{attribute, check_count, element, simple};

use serde_json::{Map, Value};
use std::collections::HashSet;

/// Applies `op` with `value` at `target` in `work`.
pub(super) fn write(
    kind: ResourceKind,
    work: &mut Map<String, Value>,
    op: Op,
    target: &Target,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    let container = if target.in_extension(kind) {
        let slot = work
            .entry(target.schema.id)
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot.as_object_mut() {
            Some(container) => container,
            None => return Ok(()),
        }
    } else {
        work
    };
    let attr = target.attr;
    match (&target.filter, target.sub) {
        (None, None) if op == Op::Remove => remove_whole(container, attr, value, ignored),
        (None, None) => write_whole(container, op, attr, value, ignored),
        (None, Some(sub)) if attr.multi_valued => {
            let mut elements = take_list(container, attr);
            if elements.is_empty() && op != Op::Remove {
                let created = new_element(attr, &[], Some(sub), value, ignored)?;
                elements.extend(created);
            } else {
                for element in &mut elements {
                    write_sub(element, op, attr, sub, value)?;
                }
            }
            put_list(container, attr, elements)
        }
        (None, Some(sub)) => {
            let slot = container
                .entry(attr.name)
                .or_insert_with(|| Value::Object(Map::new()));
            write_sub(slot, op, attr, sub, value)?;
            if slot.as_object().is_some_and(Map::is_empty) {
                container.shift_remove(attr.name);
            }
            Ok(())
        }
        (Some(clauses), sub) => {
            let elements = take_list(container, attr);
            let matching = |e: &Value| {
                clauses
                    .iter()
                    .all(|(s, lit)| compare(s, e.as_object().and_then(|o| member(o, s.name)), lit))
            };
            let mut matched = false;
            let mut kept = Vec::with_capacity(elements.len());
            for mut element in elements {
                if !matching(&element) {
                    kept.push(element);
                    continue;
                }
                matched = true;
                match (op, sub) {
                    (Op::Remove, None) => continue,
                    (_, Some(sub)) => write_sub(&mut element, op, attr, sub, value)?,
                    (Op::Add, None) => merge_element(&mut element, attr, value, ignored)?,
                    // RFC 7644 §3.5.2.3: the matching values are replaced.
                    (Op::Replace, None) => match replacement(&element, attr, value, ignored)? {
                        Some(new) => element = new,
                        None => continue,
                    },
                }
                kept.push(element);
            }
            if !matched && op != Op::Remove {
                kept.extend(new_element(attr, clauses, sub, value, ignored)?);
            }
            put_list(container, attr, kept)
        }
    }
}

/// `add`/`replace` of a whole attribute.
fn write_whole(
    container: &mut Map<String, Value>,
    op: Op,
    attr: &'static Attribute,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    if attr.multi_valued {
        let new = attribute(attr, value, ignored)?;
        let added = match new {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        if op == Op::Replace {
            return put_list(container, attr, added);
        }
        let mut elements = take_list(container, attr);
        let mut present: HashSet<Key> = elements.iter().map(|e| key(attr, e)).collect();
        for item in added {
            if present.insert(key(attr, &item)) {
                elements.push(item);
            }
        }
        return put_list(container, attr, elements);
    }
    if attr.data_type == Type::Complex {
        if value.is_null() {
            if op == Op::Replace {
                container.shift_remove(attr.name);
            }
            return Ok(());
        }
        let slot = container
            .entry(attr.name)
            .or_insert_with(|| Value::Object(Map::new()));
        let merged = merge_element(slot, attr, &single_complex(attr, value), ignored);
        if slot.as_object().is_none_or(Map::is_empty) {
            container.shift_remove(attr.name);
        }
        return merged;
    }
    match simple(attr, None, value)? {
        Some(new) => {
            check_immutable(attr, None, container.get(attr.name), &new)?;
            container.insert(attr.name.into(), new);
        }
        None => {
            container.shift_remove(attr.name);
        }
    }
    Ok(())
}

/// The object a single-valued complex attribute is given as. Entra writes
/// a manager as its id alone (a string for a complex attribute with a
/// `value` is that `value`) or as a list of one object (that object).
fn single_complex(attr: &Attribute, value: &Value) -> Value {
    match value {
        Value::String(_) if attr.sub("value").is_some() => {
            let mut object = Map::new();
            object.insert("value".into(), value.clone());
            Value::Object(object)
        }
        Value::Array(items) => match items.as_slice() {
            [one @ Value::Object(_)] => one.clone(),
            _ => value.clone(),
        },
        other => other.clone(),
    }
}

/// `remove` of a whole attribute; for a multi-valued one with a `value`,
/// only the elements equal to those given.
fn remove_whole(
    container: &mut Map<String, Value>,
    attr: &'static Attribute,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    let given = if attr.multi_valued {
        attribute(attr, value, ignored)?
    } else {
        None
    };
    match given {
        Some(Value::Array(removed)) => {
            let removed: HashSet<Key> = removed.iter().map(|r| key(attr, r)).collect();
            let mut elements = take_list(container, attr);
            elements.retain(|e| !removed.contains(&key(attr, e)));
            put_list(container, attr, elements)?;
        }
        _ => {
            container.shift_remove(attr.name);
        }
    }
    Ok(())
}

/// Writes (or, for `remove`, clears) `sub` of one complex value.
fn write_sub(
    element: &mut Value,
    op: Op,
    attr: &'static Attribute,
    sub: &'static Attribute,
    value: &Value,
) -> Result<(), Error> {
    if !element.is_object() {
        *element = Value::Object(Map::new());
    }
    let Some(object) = element.as_object_mut() else {
        return Ok(());
    };
    let new = if op == Op::Remove {
        None
    } else {
        simple(sub, Some(attr), value)?
    };
    match new {
        Some(new) => {
            check_immutable(sub, Some(attr), object.get(sub.name), &new)?;
            object.insert(sub.name.into(), new);
        }
        None => {
            if sub.mutability == Mutability::Immutable && object.contains_key(sub.name) {
                return Err(immutable(sub, Some(attr)));
            }
            object.shift_remove(sub.name);
        }
    }
    Ok(())
}

/// Merges the sub-attributes of a complex `value` into `element`; the
/// others are left as they are (RFC 7644 §3.5.2.3).
fn merge_element(
    element: &mut Value,
    attr: &'static Attribute,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<(), Error> {
    let new = match value {
        Value::Null => return Ok(()),
        Value::Object(object) => object,
        _ => {
            return Err(Error::InvalidValue(format!(
                "`{}` must be an object",
                attr.name
            )));
        }
    };
    if !element.is_object() {
        *element = Value::Object(Map::new());
    }
    let Some(object) = element.as_object_mut() else {
        return Ok(());
    };
    for (key, value) in new {
        match attr.sub(key) {
            Some(sub) if !sub.writable() => {}
            Some(sub) => match simple(sub, Some(attr), value)? {
                Some(new) => {
                    check_immutable(sub, Some(attr), object.get(sub.name), &new)?;
                    object.insert(sub.name.into(), new);
                }
                None => {
                    object.shift_remove(sub.name);
                }
            },
            None => ignored.push(format!("{}.{key}", attr.name)),
        }
    }
    Ok(())
}

/// The element a filtered `add`/`replace` that matched nothing creates: the
/// filter's `eq` clauses, then the value (of `sub`, or the object's).
fn new_element(
    attr: &'static Attribute,
    clauses: &[(&'static Attribute, Literal)],
    sub: Option<&'static Attribute>,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<Option<Value>, Error> {
    let mut object = Map::new();
    for (clause_sub, literal) in clauses {
        if let Some(value) = literal.to_json() {
            object.insert(clause_sub.name.into(), value);
        }
    }
    let mut created = Value::Object(object);
    match sub {
        Some(sub) => match simple(sub, Some(attr), value)? {
            Some(new) => {
                if let Some(object) = created.as_object_mut() {
                    object.insert(sub.name.into(), new);
                }
            }
            // Nothing to write: nothing to create.
            None => return Ok(None),
        },
        None => merge_element(&mut created, attr, value, ignored)?,
    }
    element(attr, &created, ignored)
}

/// The element replacing a matched one: the value, normalized, its
/// immutable sub-attributes unchanged.
fn replacement(
    old: &Value,
    attr: &'static Attribute,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<Option<Value>, Error> {
    let new = element(attr, value, ignored)?;
    for sub in attr
        .sub_attributes
        .iter()
        .filter(|s| s.mutability == Mutability::Immutable)
    {
        let before = old.get(sub.name);
        let after = new.as_ref().and_then(|n| n.get(sub.name));
        if before.is_some() && before != after {
            return Err(immutable(sub, Some(attr)));
        }
    }
    Ok(new)
}

/// Refuses to change an immutable attribute's existing value.
fn check_immutable(
    attr: &Attribute,
    parent: Option<&Attribute>,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), Error> {
    match old {
        Some(old) if attr.mutability == Mutability::Immutable && old != new => {
            Err(immutable(attr, parent))
        }
        _ => Ok(()),
    }
}

fn immutable(attr: &Attribute, parent: Option<&Attribute>) -> Error {
    let name = match parent {
        Some(parent) => format!("{}.{}", parent.name, attr.name),
        None => attr.name.to_owned(),
    };
    Error::Mutability(format!("`{name}` is immutable"))
}

/// What makes two elements the same value: their `value` sub-attribute
/// under its case rule, else the whole element.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key {
    /// The `value`, lower-cased unless case-exact.
    Value(String),
    /// The whole element, serialized.
    Whole(String),
}

fn key(attr: &Attribute, element: &Value) -> Key {
    let value = attr
        .sub("value")
        .and_then(|sub| Some((sub, element.get(sub.name)?.as_str()?)));
    match value {
        Some((sub, s)) if sub.case_exact => Key::Value(s.to_owned()),
        Some((_, s)) => Key::Value(s.to_lowercase()),
        None => Key::Whole(element.to_string()),
    }
}

/// Takes a multi-valued attribute's elements out of the container, leaving
/// its place (the attributes keep their order).
fn take_list(container: &mut Map<String, Value>, attr: &Attribute) -> Vec<Value> {
    match container.get_mut(attr.name).map(Value::take) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(one) => vec![one],
    }
}

/// Puts a multi-valued attribute's elements back (none is unassigned),
/// refusing more than the attribute may hold at once: operations must not
/// grow a list beyond what the final check would refuse.
fn put_list(
    container: &mut Map<String, Value>,
    attr: &Attribute,
    elements: Vec<Value>,
) -> Result<(), Error> {
    check_count(attr, elements.len())?;
    if elements.is_empty() {
        container.shift_remove(attr.name);
    } else {
        container.insert(attr.name.into(), Value::Array(elements));
    }
    Ok(())
}
