//! The filter subset (RFC 7644 §3.4.2.2): `eq` comparisons, joined by
//! `and`, on attribute paths with optional `[...]` value filters of the same
//! kind. Every other operator, `or`, `not`, parentheses, numbers and unquoted
//! values are refused as [`Error::InvalidFilter`].

use super::error::Error;
use super::path::{Resolution, Target};
use super::schema::{Attribute, ResourceKind, Type};
use super::syntax::{Parser, Token};

use super::error::excerpt;
use super::path::resolve;
use super::schema::find;
use super::syntax::describe;

use serde_json::{Map, Value};

/// A filter: every clause must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The clauses, joined by `and`.
    pub clauses: Vec<Clause>,
}

/// `<path> eq <value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// What is compared.
    pub path: AttrPath,
    /// What it is compared with.
    pub value: Literal,
}

/// An attribute path in a filter, names in the schema's spelling.
///
/// A complex attribute compared without a sub-attribute is compared through
/// its `value` (`members eq "u"` is `members.value eq "u"`), and a bare value
/// path (`emails[type eq "work" and value eq "x"]`) is read as its last
/// clause on `value` (else its last clause) compared under the other ones
/// (`emails[type eq "work"].value eq "x"`): the same condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The extension's URN for an extension attribute; `None` for the core
    /// schema.
    pub urn: Option<String>,
    /// The attribute.
    pub attribute: String,
    /// `[...]` clauses an element of a multi-valued attribute must satisfy.
    pub value_filter: Vec<(String, Literal)>,
    /// The sub-attribute compared.
    pub sub_attribute: Option<String>,
}

/// A comparison value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A JSON string, unescaped.
    String(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`: the attribute is unassigned.
    Null,
}

impl Literal {
    /// The literal as a JSON value (`None` for `null`).
    pub fn to_json(&self) -> Option<Value> {
        match self {
            Self::String(s) => Some(Value::String(s.clone())),
            Self::Bool(b) => Some(Value::Bool(*b)),
            Self::Null => None,
        }
    }
}

impl Filter {
    /// Parses a `filter` query parameter for resources of `kind`.
    pub fn parse(kind: ResourceKind, text: &str) -> Result<Self, Error> {
        let mut parser = Parser::new(kind, text, Error::InvalidFilter, "filter")?;
        let mut clauses = Vec::new();
        loop {
            let raw = parser.path()?;
            let bare = raw.filter.is_some() && raw.sub.is_none();
            let target = match resolve(kind, raw, Error::InvalidFilter)? {
                Resolution::Found(target) => target,
                Resolution::Unknown(name) => {
                    return Err(Error::InvalidFilter(format!(
                        "`{}` is not an attribute of a {}",
                        excerpt(&name),
                        kind.name()
                    )));
                }
            };
            clauses.push(if bare {
                bare_clause(kind, target)?
            } else {
                parser.operator()?;
                let value = parser.literal()?;
                compared_clause(kind, target, value)?
            });
            match parser.next()? {
                Token::End => return Ok(Self { clauses }),
                Token::Word(w) if w.eq_ignore_ascii_case("and") => {}
                Token::Word(w) if w.eq_ignore_ascii_case("or") => {
                    return Err(Error::InvalidFilter(
                        "`or` is not supported: only `and`".into(),
                    ));
                }
                other => {
                    return Err(Error::InvalidFilter(format!(
                        "expected `and` or the end, found {}",
                        describe(&other)
                    )));
                }
            }
        }
    }

    /// Whether a representation (`id` at the top level, each extension
    /// under its URN) satisfies every clause.
    pub fn matches(&self, kind: ResourceKind, resource: &Value) -> bool {
        self.clauses
            .iter()
            .all(|clause| clause_matches(kind, clause, resource))
    }

    /// The string of a top-level clause `<attribute> eq "<s>"` (the name in
    /// any case; an extension attribute with its URN, `urn:…:User:attr`).
    pub fn equal_to(&self, attribute: &str) -> Option<&str> {
        self.clauses.iter().find_map(|clause| {
            let path = &clause.path;
            let named = match &path.urn {
                None => path.attribute.eq_ignore_ascii_case(attribute),
                Some(urn) => {
                    attribute
                        .get(..urn.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(urn))
                        && attribute
                            .get(urn.len()..)
                            .and_then(|rest| rest.strip_prefix(':'))
                            .is_some_and(|rest| rest.eq_ignore_ascii_case(&path.attribute))
                }
            };
            let plain = path.value_filter.is_empty() && path.sub_attribute.is_none();
            match &clause.value {
                Literal::String(s) if named && plain => Some(s.as_str()),
                _ => None,
            }
        })
    }

    /// The address of a clause comparing an email's `value`: `emails.value`,
    /// `emails[type eq "work"].value`, `emails[value eq "x"]` and the like.
    /// A lookup key only: the clause may carry more conditions, which
    /// [`Filter::matches`] checks.
    pub fn email(&self) -> Option<&str> {
        self.sub_value("emails")
    }

    /// The member id of a Group clause `members eq "u"`, `members.value eq
    /// "u"` or `members[value eq "u"]`.
    pub fn member(&self) -> Option<&str> {
        self.sub_value("members")
    }

    fn sub_value(&self, attribute: &str) -> Option<&str> {
        self.clauses.iter().find_map(|clause| {
            let path = &clause.path;
            let on_value = path.urn.is_none()
                && path.attribute == attribute
                && path.sub_attribute.as_deref() == Some("value");
            match &clause.value {
                Literal::String(s) if on_value => Some(s.as_str()),
                _ => None,
            }
        })
    }
}

/// `attr[a eq x and b eq y]` standing alone: its clause on `value` (or its
/// last) becomes the comparison, the others the value filter.
fn bare_clause(kind: ResourceKind, target: Target) -> Result<Clause, Error> {
    let mut clauses = target.filter.clone().unwrap_or_default();
    let pivot = clauses
        .iter()
        .rposition(|(sub, _)| sub.name == "value")
        .or_else(|| clauses.len().checked_sub(1));
    let Some((sub, value)) = pivot
        .filter(|&i| i < clauses.len())
        .map(|i| clauses.remove(i))
    else {
        return Err(Error::InvalidFilter("an empty value filter".into()));
    };
    Ok(Clause {
        path: attr_path(kind, &target, clauses, Some(sub)),
        value,
    })
}

/// `path eq value`, a complex attribute compared through its `value`.
fn compared_clause(kind: ResourceKind, target: Target, value: Literal) -> Result<Clause, Error> {
    let sub = match target.sub {
        Some(sub) => Some(sub),
        None if target.attr.data_type == Type::Complex => match target.attr.sub("value") {
            Some(sub) => Some(sub),
            None => {
                return Err(Error::InvalidFilter(format!(
                    "`{}` is complex: compare one of its sub-attributes",
                    target.attr.name
                )));
            }
        },
        None => None,
    };
    let clauses = target.filter.clone().unwrap_or_default();
    Ok(Clause {
        path: attr_path(kind, &target, clauses, sub),
        value,
    })
}

fn attr_path(
    kind: ResourceKind,
    target: &Target,
    clauses: Vec<(&'static Attribute, Literal)>,
    sub: Option<&'static Attribute>,
) -> AttrPath {
    AttrPath {
        urn: target
            .in_extension(kind)
            .then(|| target.schema.id.to_owned()),
        attribute: target.attr.name.to_owned(),
        value_filter: clauses
            .into_iter()
            .map(|(sub, literal)| (sub.name.to_owned(), literal))
            .collect(),
        sub_attribute: sub.map(|sub| sub.name.to_owned()),
    }
}

/// The definition of a filter's attribute and sub-attribute.
fn definition(kind: ResourceKind, path: &AttrPath) -> Option<&'static Attribute> {
    match &path.urn {
        None => kind
            .schema()
            .attribute(&path.attribute)
            .or_else(|| find(kind.common(), &path.attribute)),
        Some(urn) => kind
            .extensions()
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(urn))?
            .attribute(&path.attribute),
    }
}

fn clause_matches(kind: ResourceKind, clause: &Clause, resource: &Value) -> bool {
    let path = &clause.path;
    let Some(attr) = definition(kind, path) else {
        return false;
    };
    let container = match &path.urn {
        None => resource.as_object(),
        Some(urn) => resource
            .as_object()
            .and_then(|r| member(r, urn))
            .and_then(Value::as_object),
    };
    let value = container.and_then(|c| member(c, attr.name));
    let sub = path.sub_attribute.as_deref().and_then(|s| attr.sub(s));
    if path.sub_attribute.is_some() && sub.is_none() {
        return false;
    }
    let compared = |item: Option<&Value>| match sub {
        Some(sub) => compare(
            sub,
            item.and_then(Value::as_object)
                .and_then(|o| member(o, sub.name)),
            &clause.value,
        ),
        None => compare(attr, item, &clause.value),
    };
    if !attr.multi_valued {
        return compared(value);
    }
    let elements: &[Value] = match value {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => &[],
        Some(one) => std::slice::from_ref(one),
    };
    if elements.is_empty() {
        return path.value_filter.is_empty() && clause.value == Literal::Null;
    }
    elements.iter().any(|element| {
        element_matches(attr, element, &path.value_filter) && compared(Some(element))
    })
}

/// Whether an element of a multi-valued complex attribute satisfies a value
/// filter's clauses, names in the schema's spelling.
pub(super) fn element_matches(
    attr: &Attribute,
    element: &Value,
    clauses: &[(String, Literal)],
) -> bool {
    clauses.iter().all(|(name, literal)| {
        attr.sub(name).is_some_and(|sub| {
            let value = element.as_object().and_then(|o| member(o, sub.name));
            compare(sub, value, literal)
        })
    })
}

/// A member of a stored object: the schema's spelling, else any case.
pub(super) fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// `value eq literal` under the attribute's case rule; an absent value
/// equals only `null`, and booleans equal their strings in any case.
pub(super) fn compare(attr: &Attribute, value: Option<&Value>, literal: &Literal) -> bool {
    match (value, literal) {
        (None | Some(Value::Null), Literal::Null) => true,
        (Some(Value::String(s)), Literal::String(l)) => {
            if attr.case_exact {
                s == l
            } else {
                caseless_eq(s, l)
            }
        }
        (Some(Value::Bool(b)), Literal::Bool(l)) => b == l,
        (Some(Value::Bool(b)), Literal::String(l)) => l.eq_ignore_ascii_case(&b.to_string()),
        (Some(Value::String(s)), Literal::Bool(l)) => s.eq_ignore_ascii_case(&l.to_string()),
        _ => false,
    }
}

/// Unicode case-insensitive equality, without allocating.
pub(super) fn caseless_eq(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests;
