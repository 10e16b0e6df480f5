//! The few Cedar tokens the checks before Cedar's own parser need: string
//! literals and comments told apart from the code around them, exactly as
//! Cedar's lexer does (a `//` comment ends at `\n` or `\r`; a string ends at
//! an unescaped `"`), so nothing hidden in one can slip past a check.

/// A token and where it stands in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token<'a> {
    /// What it is.
    pub(super) kind: Kind,
    /// Its text (a string literal with its quotes).
    pub(super) text: &'a str,
    /// Its byte offset.
    pub(super) start: usize,
}

/// The kinds of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `"…"`, escapes included (unterminated: to the end of the text).
    Str,
    /// `// …` to the end of its line.
    Comment,
    /// A name or keyword.
    Ident,
    /// A digit run.
    Number,
    /// One punctuation byte.
    Punct,
    /// White space, or a byte that is none of the above.
    Other,
}

/// The tokens of `text`, in order, covering it whole.
pub(super) fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = i;
        let b = *bytes.get(i)?;
        let kind = match b {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                Kind::Str
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                Kind::Comment
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Ident
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Kind::Number
            }
            _ if b.is_ascii_punctuation() => {
                i += 1;
                Kind::Punct
            }
            _ => {
                // White space, or a byte of a multi-byte character: up to
                // the next character boundary.
                i += 1;
                while i < bytes.len() && !text.is_char_boundary(i) {
                    i += 1;
                }
                Kind::Other
            }
        };
        Some(Token {
            kind,
            text: &text[start..i],
            start,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokens(text)
            .filter(|t| t.kind != Kind::Other)
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn comments_end_where_cedar_ends_them_and_strings_keep_their_escapes() {
        assert_eq!(
            kinds("a // b \"c\r(\"x\\\"y\"//z\nq"),
            vec![
                (Kind::Ident, "a"),
                (Kind::Comment, "// b \"c"),
                (Kind::Punct, "("),
                (Kind::Str, "\"x\\\"y\""),
                (Kind::Comment, "//z"),
                (Kind::Ident, "q"),
            ]
        );
        // The tokens cover the text whole, whatever it holds.
        for text in ["\"open", "é // ü\r\"", "\\", "\"\\", "//"] {
            let joined: String = tokens(text).map(|t| t.text).collect();
            assert_eq!(joined, text);
        }
    }
}
