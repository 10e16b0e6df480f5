//! Action names that changed, kept working: policies written with the
//! webhook actions' first names (`webhooks.create`, …) are read as the names
//! of SPEC §8 (`webhook_endpoints.create`, …). Stored text is never
//! rewritten — `GET /v1/policies` returns what was written — and the old
//! names are accepted on upload too, as aliases (docs/authorization.md).

/// The first names and the names they mean now.
pub const RENAMED: &[(&str, &str)] = &[
    ("webhooks.create", "webhook_endpoints.create"),
    ("webhooks.list", "webhook_endpoints.list"),
    ("webhooks.read", "webhook_endpoints.read"),
    ("webhooks.update", "webhook_endpoints.update"),
    ("webhooks.delete", "webhook_endpoints.delete"),
    ("webhooks.roll", "webhook_endpoints.roll_secret"),
    ("webhooks.test", "webhook_endpoints.test"),
    ("webhooks.deliveries", "webhook_endpoints.deliveries"),
    ("webhooks.retry", "webhook_endpoints.deliveries"),
];

/// `text` with every action literal of a first name (`Action::"webhooks.x"`,
/// whitespace allowed around `::`) naming its current action; anything
/// else — other strings, comments — as it was. Borrowed when nothing changes.
pub fn current_names(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("webhooks.") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('"') {
        let (before, literal) = rest.split_at(at);
        out.push_str(before);
        // The string literal, to its closing quote (escapes skipped).
        let mut end = 1;
        let bytes = literal.as_bytes();
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let end = (end + 1).min(literal.len());
        let (quoted, after) = literal.split_at(end);
        let inner = quoted.trim_start_matches('"').trim_end_matches('"');
        let renamed = RENAMED
            .iter()
            .find(|(old, _)| *old == inner)
            .filter(|_| names_an_action(&out));
        match renamed {
            Some((_, new)) => {
                out.push('"');
                out.push_str(new);
                out.push('"');
            }
            None => out.push_str(quoted),
        }
        rest = after;
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Whether the text before a string literal ends in `Action ::`.
fn names_an_action(before: &str) -> bool {
    let before = before.trim_end();
    let Some(before) = before.strip_suffix("::") else {
        return false;
    };
    let before = before.trim_end();
    before.ends_with("Action")
        && !before[..before.len() - "Action".len()]
            .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_names_in_action_literals_read_as_current_ones() {
        let old = r#"forbid (principal, action in [Action::"webhooks.create", Action :: "webhooks.roll"], resource)
when { context.source_ip == "webhooks.create" }; // Action::"webhooks.test" in a comment
forbid (principal, action == Action::"webhooks.retry", resource);
forbid (principal, action == MyAction::"webhooks.list", resource);"#;
        let new = current_names(old);
        assert!(new.contains(r#"Action::"webhook_endpoints.create""#));
        assert!(new.contains(r#"Action :: "webhook_endpoints.roll_secret""#));
        assert!(new.contains(r#"Action::"webhook_endpoints.deliveries""#));
        assert!(
            new.contains(r#"source_ip == "webhooks.create""#),
            "not an action"
        );
        assert!(new.contains(r#"MyAction::"webhooks.list""#), "another type");
        assert!(matches!(
            current_names("forbid (principal, action, resource);"),
            std::borrow::Cow::Borrowed(_)
        ));
        // Unterminated strings and escapes do not panic.
        for odd in [
            r#"Action::"webhooks.create"#,
            r#"Action::"a\"webhooks.list"#,
            "\"",
            "\\",
        ] {
            let _ = current_names(odd);
        }
    }
}
