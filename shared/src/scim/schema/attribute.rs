//! An attribute's characteristics (RFC 7643 §7) and the `const` builders
//! the declared schemas are written with.

use super::find;

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A JSON string.
    String,
    /// A JSON boolean.
    Boolean,
    /// A JSON object of sub-attributes.
    Complex,
    /// A URI, as a JSON string.
    Reference,
    /// An xsd:dateTime, as a JSON string.
    DateTime,
}

/// Whether and when an attribute may be written (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the service only.
    ReadOnly,
    /// Freely written.
    ReadWrite,
    /// Set once, never changed.
    Immutable,
    /// Written, never returned.
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always, even when not requested.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when requested.
    Request,
}

/// The scope in which an attribute's value is unique (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// Not unique.
    None,
    /// Unique within the service provider's tenant.
    Server,
    /// Globally unique.
    Global,
}

/// One declared attribute and its characteristics (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// The name, in the schema's spelling.
    pub name: &'static str,
    /// What the attribute holds.
    pub description: &'static str,
    /// The data type.
    pub data_type: Type,
    /// Whether the value is a list.
    pub multi_valued: bool,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether string comparisons respect case.
    pub case_exact: bool,
    /// Who may write it.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// Where its values are unique.
    pub uniqueness: Uniqueness,
    /// The sub-attributes of a complex attribute.
    pub sub_attributes: &'static [Attribute],
    /// The suggested values.
    pub canonical_values: &'static [&'static str],
    /// What a reference may point to.
    pub reference_types: &'static [&'static str],
}

impl Attribute {
    /// The sub-attribute named `name` (any case).
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        find(self.sub_attributes, name)
    }

    /// Whether a client may write it (it is not read-only).
    pub fn writable(&self) -> bool {
        self.mutability != Mutability::ReadOnly
    }

    pub(super) const fn new(
        name: &'static str,
        data_type: Type,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            description,
            data_type,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            sub_attributes: &[],
            canonical_values: &[],
            reference_types: &[],
        }
    }

    pub(super) const fn multi(self) -> Self {
        Self {
            multi_valued: true,
            ..self
        }
    }

    pub(super) const fn needed(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    pub(super) const fn exact(self) -> Self {
        Self {
            case_exact: true,
            ..self
        }
    }

    pub(super) const fn unique(self) -> Self {
        Self {
            uniqueness: Uniqueness::Server,
            ..self
        }
    }

    pub(super) const fn read_only(self) -> Self {
        Self {
            mutability: Mutability::ReadOnly,
            ..self
        }
    }

    pub(super) const fn immutable(self) -> Self {
        Self {
            mutability: Mutability::Immutable,
            ..self
        }
    }

    pub(super) const fn always(self) -> Self {
        Self {
            returned: Returned::Always,
            ..self
        }
    }

    pub(super) const fn subs(self, sub_attributes: &'static [Attribute]) -> Self {
        Self {
            sub_attributes,
            ..self
        }
    }

    pub(super) const fn canonical(self, canonical_values: &'static [&'static str]) -> Self {
        Self {
            canonical_values,
            ..self
        }
    }

    pub(super) const fn refs(self, reference_types: &'static [&'static str]) -> Self {
        Self {
            reference_types,
            ..self
        }
    }
}

pub(super) const fn string(name: &'static str, description: &'static str) -> Attribute {
    Attribute::new(name, Type::String, description)
}

pub(super) const fn boolean(name: &'static str, description: &'static str) -> Attribute {
    Attribute::new(name, Type::Boolean, description)
}

pub(super) const fn complex(name: &'static str, description: &'static str) -> Attribute {
    Attribute::new(name, Type::Complex, description)
}

pub(super) const fn reference(name: &'static str, description: &'static str) -> Attribute {
    Attribute::new(name, Type::Reference, description)
}

pub(super) const fn date_time(name: &'static str, description: &'static str) -> Attribute {
    Attribute::new(name, Type::DateTime, description)
}
