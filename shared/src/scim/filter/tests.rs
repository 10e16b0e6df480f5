//! Unit tests of the filter subset.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;
use crate::scim::schema::{ENTERPRISE_USER, USER};
use proptest::prelude::*;
use serde_json::json;

const USER_KIND: ResourceKind = ResourceKind::User;
const GROUP_KIND: ResourceKind = ResourceKind::Group;

fn parse(text: &str) -> Filter {
    Filter::parse(USER_KIND, text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn refused(kind: ResourceKind, text: &str) -> String {
    match Filter::parse(kind, text) {
        Err(Error::InvalidFilter(detail)) => detail,
        other => panic!("{text}: {other:?}"),
    }
}

fn string(s: &str) -> Literal {
    Literal::String(s.into())
}

fn path(attribute: &str, filter: Vec<(&str, Literal)>, sub: Option<&str>) -> AttrPath {
    AttrPath {
        urn: None,
        attribute: attribute.into(),
        value_filter: filter.into_iter().map(|(n, l)| (n.into(), l)).collect(),
        sub_attribute: sub.map(Into::into),
    }
}

#[test]
fn the_subset_parses_into_clauses() {
    assert_eq!(
        parse("userName eq \"bjensen\""),
        Filter {
            clauses: vec![Clause {
                path: path("userName", vec![], None),
                value: string("bjensen"),
            }]
        }
    );
    let both = parse("USERNAME EQ \"a\" AND externalid Eq \"B\" and active eq true");
    assert_eq!(both.clauses.len(), 3);
    assert_eq!(both.clauses[0].path.attribute, "userName");
    assert_eq!(both.clauses[1].path.attribute, "externalId");
    assert_eq!(both.clauses[1].value, string("B"));
    assert_eq!(both.clauses[2].value, Literal::Bool(true));
    let entra = parse("emails[type eq \"work\"].value eq \"x@example.com\"");
    assert_eq!(
        entra.clauses[0].path,
        path("emails", vec![("type", string("work"))], Some("value"))
    );
    assert_eq!(entra.clauses[0].value, string("x@example.com"));
    let inner_and = parse("Emails[Type eq \"work\" and Primary eq true].Value eq \"x\"");
    assert_eq!(
        inner_and.clauses[0].path,
        path(
            "emails",
            vec![("type", string("work")), ("primary", Literal::Bool(true))],
            Some("value")
        )
    );
    assert_eq!(
        parse("name.familyName eq \"J\"").clauses[0]
            .path
            .sub_attribute
            .as_deref(),
        Some("familyName")
    );
    assert_eq!(parse("displayName eq null").clauses[0].value, Literal::Null);
    assert_eq!(
        parse("active eq FALSE").clauses[0].value,
        Literal::Bool(false)
    );
    assert_eq!(parse("id eq \"u1\"").clauses[0].path.attribute, "id");
}

#[test]
fn string_literals_are_json_with_escapes() {
    let escaped = parse(r#"userName eq "a\"b\\c\u00e9\/\n""#);
    assert_eq!(escaped.clauses[0].value, string("a\"b\\cé/\n"));
    let pair = parse(r#"userName eq "\ud83d\ude00 é""#);
    assert_eq!(pair.clauses[0].value, string("😀 é"));
    refused(USER_KIND, r#"userName eq "\ud800""#);
    refused(USER_KIND, r#"userName eq "\x""#);
    refused(USER_KIND, r#"userName eq "open"#);
    refused(USER_KIND, r#"userName eq "ends in \""#);
}

#[test]
fn urn_qualified_names_resolve_to_their_schema() {
    let core = parse(&format!("{USER}:userName eq \"a\""));
    assert_eq!(core.clauses[0].path, path("userName", vec![], None));
    let ext = parse(&format!("{ENTERPRISE_USER}:EmployeeNumber eq \"42\""));
    assert_eq!(ext.clauses[0].path.urn.as_deref(), Some(ENTERPRISE_USER));
    assert_eq!(ext.clauses[0].path.attribute, "employeeNumber");
    let manager = parse(&format!("{ENTERPRISE_USER}:manager.value eq \"m\""));
    assert_eq!(
        manager.clauses[0].path.sub_attribute.as_deref(),
        Some("value")
    );
    refused(
        USER_KIND,
        "urn:ietf:params:scim:schemas:extension:other:2.0:User:x eq \"a\"",
    );
    refused(USER_KIND, &format!("{ENTERPRISE_USER} eq \"a\""));
}

#[test]
fn bare_value_paths_and_complex_attributes_compare_through_value() {
    for text in [
        "emails[type eq \"work\" and value eq \"x\"]",
        "emails[value eq \"x\" and type eq \"work\"]",
    ] {
        let f = parse(text);
        assert_eq!(
            f.clauses[0].path,
            path("emails", vec![("type", string("work"))], Some("value"))
        );
        assert_eq!(f.clauses[0].value, string("x"));
    }
    let group = Filter::parse(GROUP_KIND, "members eq \"u1\"").unwrap();
    assert_eq!(
        group.clauses[0].path,
        path("members", vec![], Some("value"))
    );
    let bare = Filter::parse(GROUP_KIND, "members[value eq \"u1\"]").unwrap();
    assert_eq!(bare, group);
    let last = parse("emails[type eq \"work\" and primary eq true]");
    assert_eq!(
        last.clauses[0].path,
        path("emails", vec![("type", string("work"))], Some("primary"))
    );
    refused(USER_KIND, "name eq \"x\"");
}

#[test]
fn everything_outside_the_subset_is_invalid_filter() {
    for op in ["ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "NE", "Co"] {
        let detail = refused(USER_KIND, &format!("userName {op} \"a\""));
        assert!(detail.contains("not supported"), "{op}: {detail}");
    }
    assert!(refused(USER_KIND, "title pr").contains("not supported"));
    assert!(refused(USER_KIND, "userName eq \"a\" or userName eq \"b\"").contains("`or`"));
    assert!(refused(USER_KIND, "emails[type eq \"a\" or type eq \"b\"]").contains("`or`"));
    assert!(refused(USER_KIND, "not (userName eq \"a\")").contains("not"));
    assert!(refused(USER_KIND, "(userName eq \"a\")").contains("parentheses"));
    assert!(refused(USER_KIND, "externalId eq jyoung").contains("quoted"));
    assert!(refused(USER_KIND, "userName eq 12").contains("numbers"));
    assert!(refused(USER_KIND, "userName eq -1.5").contains("numbers"));
    assert!(refused(USER_KIND, "userName eq \"a\" junk").contains("junk"));
    assert!(refused(USER_KIND, "userName eq \"a\" and").contains("the end"));
    assert!(refused(USER_KIND, "").contains("empty"));
    assert!(refused(USER_KIND, "   ").contains("empty"));
    let long = format!("userName eq \"{}\"", "a".repeat(1_000));
    assert!(refused(USER_KIND, &long).contains("1000"));
    assert!(refused(USER_KIND, "password eq \"x\"").contains("password"));
    assert!(refused(USER_KIND, "emails.foo eq \"x\"").contains("emails.foo"));
    assert!(refused(USER_KIND, "emails[foo eq \"x\"].value eq \"y\"").contains("foo"));
    assert!(refused(USER_KIND, "userName[value eq \"x\"]").contains("multi-valued"));
    assert!(refused(USER_KIND, "userName.x eq \"a\"").contains("sub-attributes"));
    assert!(refused(USER_KIND, "emails[type eq \"w\"[x eq \"y\"]]").contains("`[`"));
    assert!(refused(USER_KIND, "emails.value[type eq \"w\"]").contains("sub-attribute"));
    assert!(refused(USER_KIND, "userName eq \"a\" ; drop").contains("`;`"));
    assert!(refused(GROUP_KIND, "userName eq \"a\"").contains("Group"));
    refused(USER_KIND, "userName");
    refused(USER_KIND, "userName eq");
    refused(USER_KIND, "eq \"a\"");
    refused(USER_KIND, "\"a\" eq \"a\"");
    refused(USER_KIND, "emails[]");
    refused(USER_KIND, "emails[type eq \"w\"");
    refused(USER_KIND, "emails[type eq \"w\"] eq \"x\"");
}

#[test]
fn details_quote_at_most_a_short_excerpt() {
    let junk = "x".repeat(900);
    let detail = refused(USER_KIND, &format!("userName eq {junk}"));
    assert!(detail.len() < 150, "{detail}");
}

const VALID: &[&str] = &[
    "userName eq \"bjensen\"",
    "emails[type eq \"work\" and primary eq true].value eq \"a\\\"b@example.com\"",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m\" and active eq false",
    "members[value eq \"é\"]",
];

#[test]
fn no_prefix_of_a_valid_filter_panics() {
    for text in VALID {
        for (end, _) in text.char_indices() {
            let prefix = text.get(..end).unwrap();
            for kind in [USER_KIND, GROUP_KIND] {
                if let Err(e) = Filter::parse(kind, prefix) {
                    assert_eq!(e.scim_type(), "invalidFilter", "{prefix}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        for kind in [USER_KIND, GROUP_KIND] {
            if let Err(e) = Filter::parse(kind, &text) {
                prop_assert_eq!(e.scim_type(), "invalidFilter");
            }
        }
    }

    #[test]
    fn filter_shaped_text_never_panics(
        text in r#"([a-zA-Z.:\[\]"\\ ]|eq|and|or|\\u[0-9a-fA-F]{0,4}|emails|value|type|urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:){0,30}"#
    ) {
        if let Ok(filter) = Filter::parse(USER_KIND, &text) {
            let _ = filter.matches(USER_KIND, &json!({"emails": [{"value": "a"}]}));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Filter::parse(USER_KIND, &text);
    }
}

fn user() -> Value {
    json!({
        "schemas": [USER, ENTERPRISE_USER],
        "id": "U1",
        "userName": "BJensen",
        "externalId": "Ext-1",
        "active": true,
        "name": {"familyName": "Jensen"},
        "emails": [
            {"value": "b@Example.com", "type": "work", "primary": true},
            {"value": "home@example.com", "type": "home"},
        ],
        ENTERPRISE_USER: {"employeeNumber": "E7", "manager": {"value": "m1"}},
    })
}

fn matches(text: &str) -> bool {
    parse(text).matches(USER_KIND, &user())
}

#[test]
fn matching_follows_each_attributes_case_rule() {
    assert!(matches("userName eq \"bjensen\""));
    assert!(matches("USERNAME eq \"BJENSEN\""));
    assert!(!matches("userName eq \"bjensen2\""));
    assert!(matches("externalId eq \"Ext-1\""));
    assert!(!matches("externalId eq \"ext-1\""));
    assert!(matches("id eq \"U1\""));
    assert!(!matches("id eq \"u1\""));
    assert!(matches("active eq true"));
    assert!(!matches("active eq false"));
    assert!(matches("active eq \"TRUE\""));
    assert!(matches("name.familyName eq \"jensen\""));
    assert!(matches("title eq null"));
    assert!(!matches("userName eq null"));
    assert!(matches("userName eq \"bjensen\" and active eq true"));
    assert!(!matches("userName eq \"bjensen\" and active eq false"));
    assert!(matches(&format!(
        "{ENTERPRISE_USER}:employeeNumber eq \"e7\""
    )));
    assert!(matches(&format!("{ENTERPRISE_USER}:manager eq \"m1\"")));
    let unicode = json!({"userName": "ÉMILE"});
    assert!(parse("userName eq \"émile\"").matches(USER_KIND, &unicode));
}

#[test]
fn multi_valued_attributes_match_on_any_element_under_its_filter() {
    assert!(matches("emails.value eq \"home@example.com\""));
    assert!(matches("emails eq \"B@EXAMPLE.COM\""));
    assert!(matches(
        "emails[type eq \"work\"].value eq \"b@example.com\""
    ));
    assert!(!matches(
        "emails[type eq \"home\"].value eq \"b@example.com\""
    ));
    assert!(matches(
        "emails[type eq \"home\" and value eq \"home@example.com\"]"
    ));
    assert!(matches("emails[primary eq true].type eq \"work\""));
    assert!(!matches("emails[primary eq true].type eq \"home\""));
    assert!(!matches("phoneNumbers.value eq \"1\""));
    assert!(matches("phoneNumbers.value eq null"));
    let group = json!({"id": "g", "displayName": "Eng", "members": [{"value": "U1"}]});
    let member = |text: &str| {
        Filter::parse(GROUP_KIND, text)
            .unwrap()
            .matches(GROUP_KIND, &group)
    };
    assert!(member("members eq \"U1\""));
    assert!(!member("members eq \"u1\""));
    assert!(member("members[value eq \"U1\"]"));
    assert!(member("displayName eq \"eng\""));
}

#[test]
fn lookup_keys_come_from_their_clauses() {
    let f = parse("UserName eq \"bjensen\" and externalId eq \"X\"");
    assert_eq!(f.equal_to("userName"), Some("bjensen"));
    assert_eq!(f.equal_to("USERNAME"), Some("bjensen"));
    assert_eq!(f.equal_to("externalId"), Some("X"));
    assert_eq!(f.equal_to("displayName"), None);
    assert_eq!(parse("userName eq null").equal_to("userName"), None);
    assert_eq!(parse("emails.value eq \"e\"").equal_to("emails"), None);
    let ext = parse(&format!("{ENTERPRISE_USER}:employeeNumber eq \"7\""));
    assert_eq!(
        ext.equal_to(&format!("{ENTERPRISE_USER}:employeeNumber")),
        Some("7")
    );
    assert_eq!(ext.equal_to("employeeNumber"), None);
    for text in [
        "emails.value eq \"e@x\"",
        "emails eq \"e@x\"",
        "emails[type eq \"work\"].value eq \"e@x\"",
        "emails[type eq \"work\" and value eq \"e@x\"]",
        "emails[value eq \"e@x\"]",
        "userName eq \"u\" and emails[value eq \"e@x\"]",
    ] {
        assert_eq!(parse(text).email(), Some("e@x"), "{text}");
    }
    assert_eq!(parse("userName eq \"e@x\"").email(), None);
    assert_eq!(parse("emails.type eq \"work\"").email(), None);
    for text in [
        "members eq \"u\"",
        "members.value eq \"u\"",
        "members[value eq \"u\"]",
    ] {
        assert_eq!(
            Filter::parse(GROUP_KIND, text).unwrap().member(),
            Some("u"),
            "{text}"
        );
    }
    assert_eq!(
        Filter::parse(GROUP_KIND, "displayName eq \"u\"")
            .unwrap()
            .member(),
        None
    );
    assert_eq!(
        Filter::parse(GROUP_KIND, "displayName eq \"G\"")
            .unwrap()
            .equal_to("displayName"),
        Some("G")
    );
}
