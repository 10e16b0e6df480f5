//! PATCH paths (RFC 7644 §3.5.2): `attr`, `attr.sub`, `urn:…:attr[.sub]`,
//! `attr[filter]` and `attr[filter].sub`, the filter being `eq` clauses
//! joined by `and`. Names are folded to the schema's spelling; a name
//! without a URN that the core schema lacks but exactly one extension
//! declares is that extension's.

use super::error::Error;
use super::filter::Literal;
use super::schema::{Attribute, ResourceKind, Schema, Type};
use super::syntax::{Parser, RawPath, Token};

use super::error::excerpt;
use super::schema::find;
use super::syntax::describe;

/// A parsed PATCH path, its names in the schema's spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The extension's URN for an extension attribute; `None` for the core
    /// schema (whether or not the path spelled out its URN).
    pub urn: Option<String>,
    /// The attribute.
    pub attribute: String,
    /// The `[...]` clauses, when the path has them.
    pub value_filter: Option<Vec<(String, Literal)>>,
    /// The sub-attribute after the attribute or its filter.
    pub sub_attribute: Option<String>,
}

impl Path {
    /// Parses a PATCH path; a malformed path or an unknown attribute is
    /// [`Error::InvalidPath`].
    pub fn parse(kind: ResourceKind, text: &str) -> Result<Self, Error> {
        match target(kind, text)? {
            Resolution::Found(target) => Ok(target.path(kind)),
            Resolution::Unknown(name) => Err(Error::InvalidPath(format!(
                "`{}` is not an attribute of a {}",
                excerpt(&name),
                kind.name()
            ))),
        }
    }
}

/// A path resolved against the schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// The schema holding the attribute (the core one for `id` and `meta`).
    pub schema: &'static Schema,
    /// The attribute.
    pub attr: &'static Attribute,
    /// Whether the attribute is a common one (`id`, `meta`, `groups`).
    pub common: bool,
    /// The `[...]` clauses on sub-attributes.
    pub filter: Option<Vec<(&'static Attribute, Literal)>>,
    /// The sub-attribute.
    pub sub: Option<&'static Attribute>,
}

impl Target {
    /// Whether the attribute belongs to an extension of `kind`.
    pub fn in_extension(&self, kind: ResourceKind) -> bool {
        self.schema.id != kind.core_urn()
    }

    /// The dotted name, for details.
    pub fn label(&self) -> String {
        match self.sub {
            Some(sub) => format!("{}.{}", self.attr.name, sub.name),
            None => self.attr.name.to_owned(),
        }
    }

    fn path(&self, kind: ResourceKind) -> Path {
        Path {
            urn: self.in_extension(kind).then(|| self.schema.id.to_owned()),
            attribute: self.attr.name.to_owned(),
            value_filter: self.filter.as_ref().map(|clauses| {
                clauses
                    .iter()
                    .map(|(sub, literal)| (sub.name.to_owned(), literal.clone()))
                    .collect()
            }),
            sub_attribute: self.sub.map(|sub| sub.name.to_owned()),
        }
    }
}

/// A path that names a declared (or common) attribute, or the name of the
/// unknown attribute or sub-attribute it names instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resolution {
    /// Every name is declared.
    Found(Target),
    /// This attribute (`attr` or `attr.sub`) is not.
    Unknown(String),
}

/// Parses a whole PATCH path and resolves it; syntax errors are
/// [`Error::InvalidPath`].
pub(super) fn target(kind: ResourceKind, text: &str) -> Result<Resolution, Error> {
    let mut parser = Parser::new(kind, text, Error::InvalidPath, "path")?;
    let mut raw = parser.path()?;
    if raw.schema.is_none() {
        raw.schema = declaring_extension(kind, &raw.attribute);
    }
    match parser.next()? {
        Token::End => resolve(kind, raw, Error::InvalidPath),
        other => Err(Error::InvalidPath(format!(
            "unexpected {} after the path",
            describe(&other)
        ))),
    }
}

/// The extension declaring `name` when the core schema of `kind` (its
/// common attributes included) lacks it and exactly one extension declares
/// it: Entra writes `manager`, `employeeNumber`, `department` without their
/// URN. `None` leaves the name to the core schema.
fn declaring_extension(kind: ResourceKind, name: &str) -> Option<&'static Schema> {
    if kind.schema().attribute(name).is_some() || find(kind.common(), name).is_some() {
        return None;
    }
    let mut declaring = kind
        .extensions()
        .iter()
        .copied()
        .filter(|extension| extension.attribute(name).is_some());
    match (declaring.next(), declaring.next()) {
        (Some(extension), None) => Some(extension),
        _ => None,
    }
}

/// Resolves a path's names against the schemas of `kind`. A structural
/// mistake (a filter on a single-valued attribute, a sub-attribute of a
/// simple one, an unknown name inside a filter) is `fail`'s error.
pub(super) fn resolve(
    kind: ResourceKind,
    raw: RawPath,
    fail: fn(String) -> Error,
) -> Result<Resolution, Error> {
    let schema = raw.schema.unwrap_or(kind.schema());
    let declared = schema.attribute(&raw.attribute);
    let common = if declared.is_none() && schema.id == kind.core_urn() {
        find(kind.common(), &raw.attribute)
    } else {
        None
    };
    let Some(attr) = declared.or(common) else {
        let mut name = raw.attribute;
        if let Some(sub) = raw.sub {
            name = format!("{name}.{sub}");
        }
        return Ok(Resolution::Unknown(name));
    };
    let filter = match raw.filter {
        None => None,
        Some(_) if !attr.multi_valued || attr.data_type != Type::Complex => {
            return Err(fail(format!(
                "`{}` is not a multi-valued complex attribute: it takes no value filter",
                attr.name
            )));
        }
        Some(clauses) => {
            let mut resolved = Vec::with_capacity(clauses.len());
            for (name, literal) in clauses {
                let Some(sub) = attr.sub(&name) else {
                    return Err(fail(format!(
                        "`{}` has no sub-attribute `{}`",
                        attr.name,
                        excerpt(&name)
                    )));
                };
                resolved.push((sub, literal));
            }
            Some(resolved)
        }
    };
    let sub = match raw.sub {
        None => None,
        Some(_) if attr.data_type != Type::Complex => {
            return Err(fail(format!("`{}` has no sub-attributes", attr.name)));
        }
        Some(name) => match attr.sub(&name) {
            Some(sub) => Some(sub),
            None => return Ok(Resolution::Unknown(format!("{}.{name}", attr.name))),
        },
    };
    Ok(Resolution::Found(Target {
        schema,
        attr,
        common: common.is_some(),
        filter,
        sub,
    }))
}

#[cfg(test)]
mod tests;
