//! Unit tests of PATCH paths.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;
use crate::scim::schema::{ENTERPRISE_USER, USER};
use proptest::prelude::*;

const USER_KIND: ResourceKind = ResourceKind::User;
const GROUP_KIND: ResourceKind = ResourceKind::Group;

fn parse(kind: ResourceKind, text: &str) -> Path {
    Path::parse(kind, text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn invalid(kind: ResourceKind, text: &str) -> String {
    match Path::parse(kind, text) {
        Err(Error::InvalidPath(detail)) => detail,
        other => panic!("{text}: {other:?}"),
    }
}

fn plain(attribute: &str, sub: Option<&str>) -> Path {
    Path {
        urn: None,
        attribute: attribute.into(),
        value_filter: None,
        sub_attribute: sub.map(Into::into),
    }
}

#[test]
fn each_form_parses_with_names_folded() {
    assert_eq!(parse(USER_KIND, "active"), plain("active", None));
    assert_eq!(parse(USER_KIND, "UserName"), plain("userName", None));
    assert_eq!(
        parse(USER_KIND, "name.GivenName"),
        plain("name", Some("givenName"))
    );
    assert_eq!(
        parse(USER_KIND, &format!("{USER}:userName")),
        plain("userName", None)
    );
    assert_eq!(
        parse(USER_KIND, &format!("{ENTERPRISE_USER}:employeeNumber")),
        Path {
            urn: Some(ENTERPRISE_USER.into()),
            attribute: "employeeNumber".into(),
            value_filter: None,
            sub_attribute: None,
        }
    );
    let manager = parse(
        USER_KIND,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Manager.Value",
    );
    assert_eq!(manager.urn.as_deref(), Some(ENTERPRISE_USER));
    assert_eq!(
        (manager.attribute.as_str(), manager.sub_attribute.as_deref()),
        ("manager", Some("value"))
    );
    assert_eq!(
        parse(USER_KIND, "emails[Type eq \"work\"]"),
        Path {
            urn: None,
            attribute: "emails".into(),
            value_filter: Some(vec![("type".into(), Literal::String("work".into()))]),
            sub_attribute: None,
        }
    );
    assert_eq!(
        parse(
            USER_KIND,
            "emails[type eq \"work\" AND primary eq true].Value"
        ),
        Path {
            urn: None,
            attribute: "emails".into(),
            value_filter: Some(vec![
                ("type".into(), Literal::String("work".into())),
                ("primary".into(), Literal::Bool(true)),
            ]),
            sub_attribute: Some("value".into()),
        }
    );
    assert_eq!(
        parse(GROUP_KIND, "members[value eq \"u1\"]").value_filter,
        Some(vec![("value".into(), Literal::String("u1".into()))])
    );
    assert_eq!(parse(GROUP_KIND, "members"), plain("members", None));
    // The common attributes resolve; PATCH refuses writing them.
    assert_eq!(parse(USER_KIND, "id"), plain("id", None));
    assert_eq!(parse(USER_KIND, "groups"), plain("groups", None));
}

#[test]
fn unknown_attributes_and_malformed_paths_are_invalid_path() {
    assert!(invalid(USER_KIND, "password").contains("password"));
    assert!(invalid(USER_KIND, "name.nickname").contains("name.nickname"));
    assert!(invalid(GROUP_KIND, "userName").contains("Group"));
    assert!(invalid(GROUP_KIND, "groups").contains("groups"));
    assert!(invalid(GROUP_KIND, &format!("{ENTERPRISE_USER}:employeeNumber")).contains("schema"));
    assert!(invalid(USER_KIND, &format!("{ENTERPRISE_USER}:userName")).contains("userName"));
    invalid(USER_KIND, "");
    invalid(USER_KIND, ENTERPRISE_USER);
    invalid(USER_KIND, "emails[type ne \"work\"]");
    invalid(USER_KIND, "emails[type eq \"work\" or type eq \"home\"]");
    invalid(USER_KIND, "emails[type eq work]");
    invalid(USER_KIND, "emails[type eq \"work\"");
    invalid(USER_KIND, "emails[nope eq \"work\"]");
    invalid(USER_KIND, "userName[value eq \"x\"]");
    invalid(USER_KIND, "active.value");
    invalid(USER_KIND, "name.givenName.x");
    invalid(USER_KIND, "userName extra");
    invalid(USER_KIND, "emails[type eq \"work\"].value eq \"x\"");
    invalid(USER_KIND, &"a".repeat(1_001));
}

#[test]
fn a_name_the_core_lacks_and_one_extension_declares_is_that_extensions() {
    let enterprise = |attribute: &str, sub: Option<&str>| Path {
        urn: Some(ENTERPRISE_USER.into()),
        attribute: attribute.into(),
        value_filter: None,
        sub_attribute: sub.map(Into::into),
    };
    assert_eq!(parse(USER_KIND, "manager"), enterprise("manager", None));
    assert_eq!(
        parse(USER_KIND, "Manager.Value"),
        enterprise("manager", Some("value"))
    );
    assert_eq!(
        parse(USER_KIND, "employeeNumber"),
        enterprise("employeeNumber", None)
    );
    assert_eq!(
        parse(USER_KIND, "DEPARTMENT"),
        enterprise("department", None)
    );
    // The same as with the URN spelt out.
    assert_eq!(
        parse(USER_KIND, "department"),
        parse(USER_KIND, &format!("{ENTERPRISE_USER}:department"))
    );
    // The core schema's names stay the core's; the core URN stays the core.
    assert_eq!(parse(USER_KIND, "displayName"), plain("displayName", None));
    assert!(invalid(USER_KIND, &format!("{USER}:manager")).contains("manager"));
    // A kind without extensions knows no such name.
    assert!(invalid(GROUP_KIND, "manager").contains("manager"));
    assert!(invalid(USER_KIND, "manager.nope").contains("manager.nope"));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,120}") {
        for kind in [USER_KIND, GROUP_KIND] {
            if let Err(e) = Path::parse(kind, &text) {
                prop_assert_eq!(e.scim_type(), "invalidPath");
            }
        }
    }

    #[test]
    fn every_prefix_of_a_path_is_accepted_or_refused(cut in 0usize..80) {
        let text = "emails[type eq \"wörk\" and primary eq true].value";
        let end = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
        if let Err(e) = Path::parse(USER_KIND, text.get(..end).unwrap()) {
            prop_assert_eq!(e.scim_type(), "invalidPath");
        }
    }
}
