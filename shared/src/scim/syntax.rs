//! The lexical and path grammar shared by filters (RFC 7644 §3.4.2.2) and
//! PATCH paths (§3.5.2): attribute paths, `[...]` value filters of `eq`
//! clauses joined by `and`, and JSON literals. Everything else is refused
//! with a detail naming what is not supported.

use super::error::Error;
use super::filter::Literal;
use super::schema::{ResourceKind, Schema};

use super::error::excerpt;

/// The longest filter or path accepted, in characters.
pub(super) const MAX_CHARS: usize = 1_000;

/// The operators of RFC 7644 that are refused, named in the detail.
const OTHER_OPERATORS: [&str; 9] = ["ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"];

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// A run of name characters: an attribute path, keyword or bare value.
    Word(String),
    /// A JSON string literal, unescaped.
    Str(String),
    /// `[`.
    Open,
    /// `]`.
    Close,
    /// The end of the text.
    End,
}

/// An attribute path as written, its schema URN resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawPath {
    /// The schema named by a URN prefix, if any.
    pub schema: Option<&'static Schema>,
    /// The attribute's name as written.
    pub attribute: String,
    /// The `[...]` clauses, names as written.
    pub filter: Option<Vec<(String, Literal)>>,
    /// The sub-attribute's name as written.
    pub sub: Option<String>,
}

/// A recursive-descent reader over one filter or path; `fail` makes the
/// error of the caller's kind (invalidFilter or invalidPath).
pub(super) struct Parser<'a> {
    kind: ResourceKind,
    rest: &'a str,
    peeked: Option<Token>,
    fail: fn(String) -> Error,
}

impl<'a> Parser<'a> {
    /// A parser over `text`, refusing empty and over-long text.
    pub fn new(
        kind: ResourceKind,
        text: &'a str,
        fail: fn(String) -> Error,
        what: &str,
    ) -> Result<Self, Error> {
        if text.trim().is_empty() {
            return Err(fail(format!("the {what} is empty")));
        }
        if text.chars().count() > MAX_CHARS {
            return Err(fail(format!(
                "the {what} is longer than {MAX_CHARS} characters"
            )));
        }
        Ok(Self {
            kind,
            rest: text,
            peeked: None,
            fail,
        })
    }

    /// An error of the caller's kind.
    pub fn error(&self, detail: String) -> Error {
        (self.fail)(detail)
    }

    /// The next token, consumed.
    pub fn next(&mut self) -> Result<Token, Error> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lex(),
        }
    }

    /// The next token, left in place.
    pub fn peek(&mut self) -> Result<&Token, Error> {
        if self.peeked.is_none() {
            let token = self.lex()?;
            self.peeked = Some(token);
        }
        match &self.peeked {
            Some(token) => Ok(token),
            None => Err(self.error("the text ended early".into())),
        }
    }

    fn lex(&mut self) -> Result<Token, Error> {
        self.rest = self.rest.trim_start();
        let mut chars = self.rest.chars();
        let Some(first) = chars.next() else {
            return Ok(Token::End);
        };
        let after = chars.as_str();
        match first {
            '[' => {
                self.rest = after;
                Ok(Token::Open)
            }
            ']' => {
                self.rest = after;
                Ok(Token::Close)
            }
            '"' => self.string(),
            '(' | ')' => Err(self.error("parentheses are not supported".into())),
            c if is_name_char(c) => {
                let end = self
                    .rest
                    .find(|c: char| !is_name_char(c))
                    .unwrap_or(self.rest.len());
                let (word, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
                self.rest = rest;
                Ok(Token::Word(word.to_owned()))
            }
            c => Err(self.error(format!("unexpected character `{}`", c.escape_debug()))),
        }
    }

    /// A JSON string literal starting at the current `"`.
    fn string(&mut self) -> Result<Token, Error> {
        let mut escaped = false;
        let mut end = None;
        // The opening quote is one byte; the literal ends at the first
        // unescaped quote after it.
        for (i, c) in self.rest.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        let Some((literal, rest)) = end.and_then(|end| self.rest.split_at_checked(end)) else {
            return Err(self.error("a string literal is not terminated".into()));
        };
        let value: String = serde_json::from_str(literal).map_err(|_| {
            self.error(format!(
                "the string literal {} is not valid JSON",
                excerpt(literal)
            ))
        })?;
        self.rest = rest;
        Ok(Token::Str(value))
    }

    /// `eq`, or an error naming the operator found instead.
    pub fn operator(&mut self) -> Result<(), Error> {
        match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case("eq") => Ok(()),
            Token::Word(w) if OTHER_OPERATORS.iter().any(|o| o.eq_ignore_ascii_case(&w)) => {
                Err(self.error(format!(
                    "the operator `{}` is not supported: only `eq`",
                    excerpt(&w)
                )))
            }
            other => Err(self.error(format!(
                "expected the operator `eq`, found {}",
                describe(&other)
            ))),
        }
    }

    /// A comparison value: a string, `true`, `false` or `null` (any case).
    pub fn literal(&mut self) -> Result<Literal, Error> {
        match self.next()? {
            Token::Str(s) => Ok(Literal::String(s)),
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Token::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Token::Word(w) if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                Err(self.error(format!("numbers are not supported: `{}`", excerpt(&w))))
            }
            Token::Word(w) => Err(self.error(format!(
                "the value `{}` must be a quoted string, true, false or null",
                excerpt(&w)
            ))),
            other => Err(self.error(format!("expected a value, found {}", describe(&other)))),
        }
    }

    /// An attribute path with an optional `[...]` value filter and
    /// `.sub-attribute` after it.
    pub fn path(&mut self) -> Result<RawPath, Error> {
        let word = match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case("not") => {
                return Err(self.error("`not` is not supported".into()));
            }
            Token::Word(w) => w,
            other => {
                return Err(
                    self.error(format!("expected an attribute, found {}", describe(&other)))
                );
            }
        };
        let mut path = self.name(&word)?;
        if self.peek()? != &Token::Open {
            return Ok(path);
        }
        self.next()?;
        if path.sub.is_some() {
            return Err(self.error(format!(
                "`{}`: a value filter follows the attribute, not its sub-attribute",
                excerpt(&word)
            )));
        }
        path.filter = Some(self.value_filter()?);
        let sub = match self.peek()? {
            Token::Word(w) => w.strip_prefix('.').map(str::to_owned),
            _ => None,
        };
        if let Some(sub) = sub {
            self.next()?;
            check_name(&sub).map_err(|d| self.error(d))?;
            path.sub = Some(sub);
        }
        Ok(path)
    }

    /// The clauses inside `[...]`, the `[` consumed, up to and with `]`.
    fn value_filter(&mut self) -> Result<Vec<(String, Literal)>, Error> {
        let mut clauses = Vec::new();
        loop {
            let name = match self.next()? {
                Token::Word(w) => w,
                Token::Open => {
                    return Err(self.error("value filters do not nest".into()));
                }
                other => {
                    return Err(self.error(format!(
                        "expected a sub-attribute, found {}",
                        describe(&other)
                    )));
                }
            };
            check_name(&name).map_err(|d| self.error(d))?;
            self.operator()?;
            clauses.push((name, self.literal()?));
            match self.next()? {
                Token::Close => return Ok(clauses),
                Token::Word(w) if w.eq_ignore_ascii_case("and") => {}
                Token::Word(w) if w.eq_ignore_ascii_case("or") => {
                    return Err(self.error("`or` is not supported: only `and`".into()));
                }
                other => {
                    return Err(
                        self.error(format!("expected `and` or `]`, found {}", describe(&other)))
                    );
                }
            }
        }
    }

    /// Splits `urn:…:attr.sub`, `attr.sub` or `attr`.
    fn name(&self, word: &str) -> Result<RawPath, Error> {
        let (schema, rest) = if word
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            let Some((schema, rest)) = self.kind.split_urn(word) else {
                return Err(self.error(format!(
                    "`{}` names no schema of a {}",
                    excerpt(word),
                    self.kind.name()
                )));
            };
            if rest.is_empty() {
                return Err(
                    self.error(format!("`{}` is a schema, not an attribute", excerpt(word)))
                );
            }
            (Some(schema), rest)
        } else {
            (None, word)
        };
        let (attribute, sub) = match rest.split_once('.') {
            Some((attribute, sub)) => (attribute, Some(sub)),
            None => (rest, None),
        };
        check_name(attribute).map_err(|d| self.error(d))?;
        if let Some(sub) = sub {
            check_name(sub).map_err(|d| self.error(d))?;
        }
        Ok(RawPath {
            schema,
            attribute: attribute.to_owned(),
            filter: None,
            sub: sub.map(str::to_owned),
        })
    }
}

/// Whether `c` may appear in an attribute path (URNs hold `:` and `.`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$' | '.' | ':')
}

/// An attribute name: a letter (or the `$` of `$ref`), then letters, digits,
/// `_` and `-`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!("`{}` is not an attribute name", excerpt(name)))
    }
}

/// A token, for a detail.
pub(super) fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{}`", excerpt(w)),
        Token::Str(s) => format!("the string \"{}\"", excerpt(s)),
        Token::Open => "`[`".into(),
        Token::Close => "`]`".into(),
        Token::End => "the end".into(),
    }
}
