//! JSON numbers that would not come back as they were sent.
//!
//! Bodies are parsed into `serde_json::Value`, whose numbers are `u64`,
//! `i64` or `f64`. A number none of them holds exactly — an integer past
//! 2^64, or a decimal with more significant digits than an `f64` keeps —
//! would be stored and returned as another value
//! (`123456789012345678901234567890` as `1.2345678901234568e29`). Such a
//! number is refused with 422 instead (docs/decisions.md): the client learns
//! at once, and can send it as a string.

/// The top-level member of the JSON text `body` that holds (at any depth) a
/// number that would not round-trip exactly, if any. `body` is valid JSON.
pub fn first_inexact(body: &[u8]) -> Option<String> {
    let mut depth = 0usize;
    let mut i = 0;
    let mut last_string: Option<(usize, usize)> = None;
    let mut member: Option<(usize, usize)> = None;
    while i < body.len() {
        match body[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
                last_string = Some((start, i.min(body.len())));
            }
            b':' if depth == 1 => member = last_string,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < body.len()
                    && matches!(body[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let lexeme = std::str::from_utf8(&body[start..i]).unwrap_or_default();
                if !round_trips(lexeme) {
                    let (s, e) = member.unwrap_or((0, 0));
                    let name: String =
                        serde_json::from_slice(&[b"\"", &body[s..e], b"\""].concat())
                            .unwrap_or_default();
                    return Some(name);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether serde_json stores the number `lexeme` as the same value.
fn round_trips(lexeme: &str) -> bool {
    let integer = !lexeme.contains(['.', 'e', 'E']);
    if integer && (lexeme.parse::<u64>().is_ok() || lexeme.parse::<i64>().is_ok()) {
        return true;
    }
    let Ok(value) = lexeme.parse::<f64>() else {
        return false;
    };
    let Some(number) = serde_json::Number::from_f64(value) else {
        return false;
    };
    decimal(lexeme) == decimal(&number.to_string())
}

/// A decimal number as (negative, significant digits, exponent of the last
/// digit), with no leading or trailing zero digits; zero is `(false, "", 0)`.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let mut exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let trimmed_end = digits.trim_end_matches('0');
    exponent = exponent.checked_add(i64::try_from(digits.len() - trimmed_end.len()).ok()?)?;
    let significant = trimmed_end.trim_start_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    Some((negative, significant.to_owned(), exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_numbers_pass() {
        for ok in [
            "0",
            "-0",
            "1",
            "-17",
            "18446744073709551615",
            "-9223372036854775808",
            "0.1",
            "1.5",
            "1.50",
            "1e2",
            "1E-7",
            "0.30000000000000004",
            "123.456",
            "-0.0",
            "1.7976931348623157e308",
            "5e-324",
        ] {
            assert!(round_trips(ok), "{ok}");
        }
    }

    #[test]
    fn numbers_that_lose_digits_are_found() {
        for bad in [
            "123456789012345678901234567890",
            "18446744073709551616",
            "1.00000000000000001",
            "0.12345678901234567890",
            "1e400",
        ] {
            assert!(!round_trips(bad), "{bad}");
        }
    }

    #[test]
    fn the_top_level_member_is_named() {
        let body = br#"{"email": "a\"1@b.co", "metadata": {"n": [1, {"big": 123456789012345678901234567890}]}}"#;
        assert_eq!(first_inexact(body).as_deref(), Some("metadata"));
        assert_eq!(
            first_inexact(br#"{"a": 1.5, "b": "99999999999999999999999"}"#),
            None
        );
        assert_eq!(
            first_inexact(br#"{"expires_in_seconds": 1e400}"#).as_deref(),
            Some("expires_in_seconds")
        );
    }
}
