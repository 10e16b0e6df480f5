//! The `attributes` and `excludedAttributes` parameters (RFC 7644 §3.4.2.5,
//! §3.9) applied to a representation.

use super::error::Error;
use super::path::Resolution;
use super::schema::{Attribute, ResourceKind, Returned, Schema};
use super::syntax::{Parser, Token};

use super::path::resolve;
use super::syntax::describe;

use serde_json::{Map, Value};

/// One attribute named in a list: a whole schema (`attr` `None`), an
/// attribute, or one of its sub-attributes.
#[derive(Debug, Clone, Copy)]
struct Pick {
    schema: &'static Schema,
    attr: Option<&'static Attribute>,
    sub: Option<&'static Attribute>,
}

/// The representation with only the `attributes` listed (plus `id` and
/// `schemas`), or without the `excluded` ones (never `id` or `schemas`).
/// Lists are comma-separated attribute paths: `name.givenName`,
/// `urn:…:User:employeeNumber`, or an extension's URN alone. Names of no
/// declared attribute are ignored; a malformed path is
/// [`Error::InvalidPath`]. `attributes` wins over `excluded`; an empty list
/// is no list.
pub fn project(
    kind: ResourceKind,
    representation: &Value,
    attributes: Option<&str>,
    excluded: Option<&str>,
) -> Result<Value, Error> {
    let attributes = attributes.filter(|a| !a.trim().is_empty());
    let excluded = excluded.filter(|e| !e.trim().is_empty());
    let Some(object) = representation.as_object() else {
        return Ok(representation.clone());
    };
    if let Some(list) = attributes {
        let picks = picks(kind, list)?;
        return Ok(Value::Object(include(kind, object, &picks)));
    }
    if let Some(list) = excluded {
        let picks = picks(kind, list)?;
        return Ok(Value::Object(exclude(kind, object, &picks)));
    }
    Ok(representation.clone())
}

fn picks(kind: ResourceKind, list: &str) -> Result<Vec<Pick>, Error> {
    let mut picks = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let urn = item
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        match kind.split_urn(item) {
            Some((schema, "")) => {
                picks.push(Pick {
                    schema,
                    attr: None,
                    sub: None,
                });
                continue;
            }
            // An unknown schema's attributes are as unknown as any.
            None if urn => continue,
            _ => {}
        }
        let mut parser = Parser::new(kind, item, Error::InvalidPath, "attribute path")?;
        let raw = parser.path()?;
        if raw.filter.is_some() {
            return Err(Error::InvalidPath(
                "attribute lists take no value filters".into(),
            ));
        }
        match parser.next()? {
            Token::End => {}
            other => {
                return Err(Error::InvalidPath(format!(
                    "unexpected {} in an attribute list",
                    describe(&other)
                )));
            }
        }
        if let Resolution::Found(target) = resolve(kind, raw, Error::InvalidPath)? {
            picks.push(Pick {
                schema: target.schema,
                attr: Some(target.attr),
                sub: target.sub,
            });
        }
    }
    Ok(picks)
}

/// The extension of `kind` stored under `key`, if it is one.
fn extension_of(kind: ResourceKind, key: &str) -> Option<&'static Schema> {
    kind.extensions()
        .iter()
        .copied()
        .find(|e| e.id.eq_ignore_ascii_case(key))
}

fn include(kind: ResourceKind, object: &Map<String, Value>, picks: &[Pick]) -> Map<String, Value> {
    let whole = |schema: &Schema| {
        picks
            .iter()
            .any(|p| p.schema.id == schema.id && p.attr.is_none())
    };
    let core = kind.schema();
    let mut out = Map::new();
    for (key, value) in object {
        if key == "schemas" || key == "id" {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let selected = match extension_of(kind, key) {
            Some(extension) if whole(extension) => Some(value.clone()),
            Some(extension) => value
                .as_object()
                .map(|inner| {
                    inner
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), select(extension, k, v, picks)?)))
                        .collect::<Map<String, Value>>()
                })
                .filter(|inner| !inner.is_empty())
                .map(Value::Object),
            None if whole(core) => Some(value.clone()),
            None => select(core, key, value, picks),
        };
        if let Some(selected) = selected {
            out.insert(key.clone(), selected);
        }
    }
    out
}

/// The part of one attribute's value the picks of `schema` select.
fn select(schema: &Schema, key: &str, value: &Value, picks: &[Pick]) -> Option<Value> {
    let relevant: Vec<&Pick> = picks
        .iter()
        .filter(|p| p.schema.id == schema.id)
        .filter(|p| p.attr.is_some_and(|a| a.name.eq_ignore_ascii_case(key)))
        .collect();
    if relevant.is_empty() {
        return None;
    }
    if relevant.iter().any(|p| p.sub.is_none()) {
        return Some(value.clone());
    }
    let subs: Vec<&str> = relevant
        .iter()
        .filter_map(|p| p.sub)
        .map(|s| s.name)
        .collect();
    let keep = |object: &Map<String, Value>| {
        let kept: Map<String, Value> = object
            .iter()
            .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    };
    match value {
        Value::Object(object) => keep(object),
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|item| item.as_object().and_then(keep))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => Some(other.clone()),
    }
}

fn exclude(kind: ResourceKind, object: &Map<String, Value>, picks: &[Pick]) -> Map<String, Value> {
    let mut out = object.clone();
    for pick in picks {
        let extension = pick.schema.id != kind.core_urn();
        let Some(attr) = pick.attr else {
            // A whole extension may go; the core schema is the resource.
            if extension {
                remove(&mut out, pick.schema.id);
            }
            continue;
        };
        if attr.returned == Returned::Always {
            continue;
        }
        let container = if extension {
            match key_of(&out, pick.schema.id).and_then(|k| out.get_mut(&k)) {
                Some(Value::Object(container)) => container,
                _ => continue,
            }
        } else {
            &mut out
        };
        match pick.sub {
            None => remove(container, attr.name),
            Some(sub) => {
                let Some(key) = key_of(container, attr.name) else {
                    continue;
                };
                let emptied = match container.get_mut(&key) {
                    Some(Value::Object(value)) => {
                        remove(value, sub.name);
                        value.is_empty()
                    }
                    Some(Value::Array(items)) => {
                        for item in items.iter_mut() {
                            if let Value::Object(item) = item {
                                remove(item, sub.name);
                            }
                        }
                        items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
                        items.is_empty()
                    }
                    _ => false,
                };
                if emptied {
                    container.shift_remove(&key);
                }
            }
        }
        let emptied = key_of(&out, pick.schema.id).filter(|key| {
            out.get(key)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
        });
        if let Some(key) = emptied.filter(|_| extension) {
            out.shift_remove(&key);
        }
    }
    out
}

/// The key of `object` spelled `name` in any case.
fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// Removes `name` (any case) from `object`, keeping the others' order.
fn remove(object: &mut Map<String, Value>, name: &str) {
    if let Some(key) = key_of(object, name) {
        object.shift_remove(&key);
    }
}

#[cfg(test)]
mod tests;
