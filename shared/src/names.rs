//! Display names operators give organizations and external services
//! (`tetherctl`). They are copied into connect tokens and relations and
//! shown to partners, so they are bounded: an unbounded name would make
//! every item carrying it cost more write units (1 KB each), and one over
//! 400 KB could not be stored at all.

/// Longest display name, in characters.
pub const NAME_MAX_CHARS: usize = 200;

/// `text` trimmed, if it is a usable display name: not empty, at most
/// [`NAME_MAX_CHARS`] characters, no control characters.
pub fn parse_display_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(format!("must be at most {NAME_MAX_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_bounded_and_printable() {
        assert_eq!(parse_display_name("  Acme CRM ").as_deref(), Ok("Acme CRM"));
        assert_eq!(
            parse_display_name(&"é".repeat(NAME_MAX_CHARS)).map(|n| n.chars().count()),
            Ok(NAME_MAX_CHARS)
        );
        for bad in [
            String::new(),
            "   ".to_owned(),
            "x".repeat(NAME_MAX_CHARS + 1),
            "Acme\nCRM".to_owned(),
            "Acme\u{0}".to_owned(),
        ] {
            assert!(parse_display_name(&bad).is_err(), "{bad:?}");
        }
    }
}
