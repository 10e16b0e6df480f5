//! The one error of the SCIM layer: every variant is a 400 response whose
//! `scimType` (RFC 7644 §3.12) is [`Error::scim_type`].

/// What the SCIM layer refuses. Each variant carries the human detail, which
/// names the attribute or the construct at fault and quotes at most a short
/// excerpt of the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a SCIM message: not an object, or without the
    /// expected `schemas`.
    #[error("{0}")]
    InvalidSyntax(String),
    /// A `filter` outside the supported subset or malformed.
    #[error("{0}")]
    InvalidFilter(String),
    /// A PATCH `path` or attribute list that is malformed or names an
    /// unknown attribute.
    #[error("{0}")]
    InvalidPath(String),
    /// A PATCH operation without the target it needs.
    #[error("{0}")]
    NoTarget(String),
    /// A value of the wrong type, over a limit, or missing when required.
    #[error("{0}")]
    InvalidValue(String),
    /// An attempt to change a read-only or immutable attribute.
    #[error("{0}")]
    Mutability(String),
    /// A request that would return or touch more than the service allows.
    #[error("{0}")]
    TooMany(String),
}

impl Error {
    /// The `scimType` of the error response.
    pub fn scim_type(&self) -> &'static str {
        match self {
            Self::InvalidSyntax(_) => "invalidSyntax",
            Self::InvalidFilter(_) => "invalidFilter",
            Self::InvalidPath(_) => "invalidPath",
            Self::NoTarget(_) => "noTarget",
            Self::InvalidValue(_) => "invalidValue",
            Self::Mutability(_) => "mutability",
            Self::TooMany(_) => "tooMany",
        }
    }

    /// The `detail` of the error response.
    pub fn detail(&self) -> &str {
        match self {
            Self::InvalidSyntax(d)
            | Self::InvalidFilter(d)
            | Self::InvalidPath(d)
            | Self::NoTarget(d)
            | Self::InvalidValue(d)
            | Self::Mutability(d)
            | Self::TooMany(d) => d,
        }
    }

    /// The HTTP status of the error response: always 400 (RFC 7644 §3.12).
    pub fn status(&self) -> u16 {
        400
    }
}

impl Error {
    /// The same error with `prefix` before its detail (which operation of
    /// several failed).
    pub(super) fn with_prefix(self, prefix: &str) -> Self {
        let detail = |d: String| format!("{prefix}{d}");
        match self {
            Self::InvalidSyntax(d) => Self::InvalidSyntax(detail(d)),
            Self::InvalidFilter(d) => Self::InvalidFilter(detail(d)),
            Self::InvalidPath(d) => Self::InvalidPath(detail(d)),
            Self::NoTarget(d) => Self::NoTarget(detail(d)),
            Self::InvalidValue(d) => Self::InvalidValue(detail(d)),
            Self::Mutability(d) => Self::Mutability(detail(d)),
            Self::TooMany(d) => Self::TooMany(detail(d)),
        }
    }
}

/// The longest excerpt of input a detail quotes; two excerpts in one detail
/// stay within 100 characters of input.
const EXCERPT_CHARS: usize = 50;

/// At most [`EXCERPT_CHARS`] characters of untrusted input, for a detail.
pub(super) fn excerpt(text: &str) -> String {
    truncate(text, EXCERPT_CHARS)
}

/// At most `max` characters of `text`, an ellipsis marking a cut.
pub(super) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_has_its_scim_type_and_detail() {
        let cases = [
            (Error::InvalidSyntax("a".into()), "invalidSyntax"),
            (Error::InvalidFilter("a".into()), "invalidFilter"),
            (Error::InvalidPath("a".into()), "invalidPath"),
            (Error::NoTarget("a".into()), "noTarget"),
            (Error::InvalidValue("a".into()), "invalidValue"),
            (Error::Mutability("a".into()), "mutability"),
            (Error::TooMany("a".into()), "tooMany"),
        ];
        for (error, scim_type) in cases {
            assert_eq!(error.scim_type(), scim_type);
            assert_eq!(error.detail(), "a");
            assert_eq!(error.to_string(), "a");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn excerpts_are_short_and_cut_on_characters() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(500);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
