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
/// whitespace and comments allowed around `::`) naming its current action;
/// anything else — other strings, comments — as it was. Borrowed when
/// nothing changes.
pub fn current_names(text: &str) -> std::borrow::Cow<'_, str> {
    use super::lex::{Kind, tokens};
    if !text.contains("webhooks.") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // The last three code tokens: `Action`, `:`, `:` before a literal.
    let mut recent: [&str; 4] = [""; 4];
    for token in tokens(text) {
        let renamed = match token.kind {
            Kind::Str if recent[1..] == ["Action", ":", ":"] && recent[0] != ":" => {
                let inner = token
                    .text
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'));
                RENAMED
                    .iter()
                    .find(|(old, _)| Some(*old) == inner)
                    .map(|(_, new)| *new)
            }
            _ => None,
        };
        match renamed {
            Some(new) => {
                out.push('"');
                out.push_str(new);
                out.push('"');
            }
            None => out.push_str(token.text),
        }
        if !matches!(token.kind, Kind::Comment | Kind::Other) {
            recent.rotate_left(1);
            recent[3] = token.text;
        }
    }
    std::borrow::Cow::Owned(out)
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
        // A quote in a comment does not put the literals out of step.
        let commented = "// don't \"forbid\r\nforbid (principal, action == Action::\"webhooks.create\", resource);";
        assert!(current_names(commented).contains("Action::\"webhook_endpoints.create\""));
        // Unterminated strings and escapes do not panic.
        for odd in [
            r#"Action::"webhooks.create"#,
            r#"Action::"a\"webhooks.list"#,
            "\"",
            "\\",
            "Action::\"webhooks.\u{e9}",
        ] {
            let _ = current_names(odd);
        }
    }
}
