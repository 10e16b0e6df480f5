//! Unit tests of POST and PUT bodies.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;
use crate::scim::schema::{ENTERPRISE_USER, GROUP, USER};
use proptest::prelude::*;
use serde_json::json;

const USER_KIND: ResourceKind = ResourceKind::User;
const GROUP_KIND: ResourceKind = ResourceKind::Group;

fn user(members: Value) -> Value {
    let mut body = json!({"schemas": [USER], "userName": "bjensen"});
    for (k, v) in members.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn invalid_value(kind: ResourceKind, body: &Value) -> String {
    match parse(kind, body) {
        Err(Error::InvalidValue(detail)) => detail,
        other => panic!("{body}: {other:?}"),
    }
}

#[test]
fn entra_capitalised_names_are_stored_in_the_schemas_spelling() {
    let body = json!({
        "schemas": [USER, ENTERPRISE_USER],
        "ExternalId": "Ext",
        "UserName": "Test_User_ab6490ee@contoso.com",
        "Active": "True",
        "DisplayName": "BJ",
        "Emails": [{"Primary": true, "Type": "work", "Value": "Test@Contoso.com"}],
        "Name": {"GivenName": "B", "FamilyName": "J"},
        ENTERPRISE_USER: {"Department": "Eng", "Manager": {"Value": "m1", "$ref": null, "displayName": "M"}},
    });
    let canonical = parse(USER_KIND, &body).unwrap();
    assert_eq!(
        canonical.value,
        json!({
            "externalId": "Ext",
            "userName": "Test_User_ab6490ee@contoso.com",
            "active": true,
            "displayName": "BJ",
            "emails": [{"primary": true, "type": "work", "value": "Test@Contoso.com"}],
            "name": {"givenName": "B", "familyName": "J"},
            ENTERPRISE_USER: {"department": "Eng", "manager": {"value": "m1"}},
        })
    );
    assert!(canonical.ignored.is_empty(), "{:?}", canonical.ignored);
}

#[test]
fn values_are_kept_verbatim() {
    let body = user(json!({"displayName": "  Ünïcode  ", "title": "", "locale": "EN-us"}));
    let canonical = parse(USER_KIND, &body).unwrap();
    assert_eq!(canonical.value["displayName"], "  Ünïcode  ");
    assert_eq!(canonical.value["title"], "");
    assert_eq!(canonical.value["locale"], "EN-us");
}

#[test]
fn undeclared_members_are_dropped_and_named() {
    let body = user(json!({
        "id": "client-id",
        "meta": {"created": "x"},
        "password": "hunter2",
        "groups": [{"value": "g"}],
        "roles": [{"value": "admin"}],
        "emails": [{"value": "a@b.c", "foo": "bar"}],
        "urn:example:custom:2.0:User": {"x": 1},
        ENTERPRISE_USER: {"badge": "1", "employeeNumber": "7"},
    }));
    let canonical = parse(USER_KIND, &body).unwrap();
    assert_eq!(
        canonical.value,
        json!({"userName": "bjensen", "emails": [{"value": "a@b.c"}], ENTERPRISE_USER: {"employeeNumber": "7"}})
    );
    assert_eq!(
        canonical.ignored,
        [
            "password",
            "groups",
            "roles",
            "emails.foo",
            "urn:example:custom:2.0:User",
            &format!("{ENTERPRISE_USER}:badge"),
        ]
    );
    for name in &canonical.ignored {
        assert!(!name.contains("hunter2"));
    }
}

#[test]
fn the_ignored_list_is_bounded() {
    let mut body = user(json!({}));
    for i in 0..150 {
        body[format!("unknown{i}")] = json!(i);
    }
    body["x".repeat(500)] = json!(1);
    let canonical = parse(USER_KIND, &body).unwrap();
    assert_eq!(canonical.ignored.len(), 100);
    assert!(canonical.ignored.iter().all(|n| n.chars().count() <= 121));
    let mut long = user(json!({}));
    long["y".repeat(500)] = json!(1);
    let canonical = parse(USER_KIND, &long).unwrap();
    assert_eq!(canonical.ignored[0].chars().count(), 121);
}

#[test]
fn null_and_empty_lists_are_unassigned() {
    let body = user(json!({
        "displayName": null,
        "emails": [],
        "phoneNumbers": [null],
        "name": {"givenName": null},
        "groups": [],
        ENTERPRISE_USER: {"manager": {"$ref": null}},
    }));
    let canonical = parse(USER_KIND, &body).unwrap();
    assert_eq!(canonical.value, json!({"userName": "bjensen"}));
    let group = json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": "u1", "$ref": "https://x/Users/u1", "display": "U"}]});
    let canonical = parse(GROUP_KIND, &group).unwrap();
    assert_eq!(
        canonical.value["members"],
        json!([{"value": "u1", "display": "U"}])
    );
}

#[test]
fn booleans_take_strings_in_any_case() {
    for (given, stored) in [
        (json!(false), false),
        (json!("False"), false),
        (json!("TRUE"), true),
        (json!(true), true),
    ] {
        let canonical = parse(USER_KIND, &user(json!({"active": given}))).unwrap();
        assert_eq!(canonical.value["active"], stored);
    }
    assert!(invalid_value(USER_KIND, &user(json!({"active": "yes"}))).contains("active"));
    assert!(invalid_value(USER_KIND, &user(json!({"active": 1}))).contains("boolean"));
    let primary = user(json!({"emails": [{"value": "a", "primary": "true"}]}));
    assert_eq!(
        parse(USER_KIND, &primary).unwrap().value["emails"][0]["primary"],
        true
    );
}

#[test]
fn types_shapes_and_limits_are_checked() {
    assert!(invalid_value(USER_KIND, &user(json!({"displayName": 5}))).contains("displayName"));
    assert!(invalid_value(USER_KIND, &user(json!({"name": "B J"}))).contains("object"));
    assert!(invalid_value(USER_KIND, &user(json!({"emails": ["a@b.c"]}))).contains("object"));
    assert!(
        invalid_value(USER_KIND, &user(json!({"emails": [{"value": 1}]}))).contains("emails.value")
    );
    let one = parse(USER_KIND, &user(json!({"emails": {"value": "a@b.c"}}))).unwrap();
    assert_eq!(one.value["emails"], json!([{"value": "a@b.c"}]));
    let long = "x".repeat(MAX_STRING_CHARS + 1);
    assert!(invalid_value(USER_KIND, &user(json!({"title": long}))).contains("1024"));
    let at_limit = "é".repeat(MAX_STRING_CHARS);
    assert!(parse(USER_KIND, &user(json!({"title": at_limit}))).is_ok());
    let name = "u".repeat(MAX_USER_NAME_CHARS + 1);
    assert!(invalid_value(USER_KIND, &user(json!({"userName": name}))).contains("256"));
    let twenty: Vec<Value> = (0..MAX_VALUES)
        .map(|i| json!({"value": format!("{i}@x")}))
        .collect();
    assert!(parse(USER_KIND, &user(json!({"emails": twenty}))).is_ok());
    let too_many: Vec<Value> = (0..=MAX_VALUES)
        .map(|i| json!({"value": format!("{i}@x")}))
        .collect();
    assert!(invalid_value(USER_KIND, &user(json!({"emails": too_many}))).contains("20"));
    let members: Vec<Value> = (0..MAX_MEMBERS)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let group = json!({"schemas": [GROUP], "displayName": "G", "members": members});
    assert!(parse(GROUP_KIND, &group).is_ok());
    let members: Vec<Value> = (0..=MAX_MEMBERS)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let group = json!({"schemas": [GROUP], "displayName": "G", "members": members});
    assert!(invalid_value(GROUP_KIND, &group).contains(&MAX_MEMBERS.to_string()));
    let primaries = user(
        json!({"emails": [{"value": "a", "primary": true}, {"value": "b", "primary": "True"}]}),
    );
    assert!(invalid_value(USER_KIND, &primaries).contains("primary"));
    let addresses: Vec<Value> = (0..MAX_VALUES)
        .map(|_| json!({"formatted": "f".repeat(1_000), "streetAddress": "s".repeat(1_000)}))
        .collect();
    assert!(invalid_value(USER_KIND, &user(json!({"addresses": addresses}))).contains("32 KiB"));
}

#[test]
fn required_attributes_must_be_present_and_not_blank() {
    let body = json!({"schemas": [USER], "displayName": "x"});
    assert_eq!(invalid_value(USER_KIND, &body), "userName is required");
    assert_eq!(
        invalid_value(USER_KIND, &user(json!({"userName": " "}))),
        "userName is required"
    );
    assert_eq!(
        invalid_value(USER_KIND, &user(json!({"userName": null}))),
        "userName is required"
    );
    let group = json!({"schemas": [GROUP]});
    assert_eq!(invalid_value(GROUP_KIND, &group), "displayName is required");
    let member_without_value =
        json!({"schemas": [GROUP], "displayName": "G", "members": [{"display": "x"}]});
    assert!(invalid_value(GROUP_KIND, &member_without_value).contains("value"));
    let numeric_member = json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": 7}]});
    assert!(invalid_value(GROUP_KIND, &numeric_member).contains("members.value"));
}

#[test]
fn the_body_must_be_an_object_naming_the_core_schema() {
    for body in [json!([]), json!("x"), json!(null)] {
        assert!(matches!(
            parse(USER_KIND, &body),
            Err(Error::InvalidSyntax(_))
        ));
    }
    for body in [
        json!({"userName": "a"}),
        json!({"schemas": USER, "userName": "a"}),
        json!({"schemas": [GROUP], "userName": "a"}),
        json!({"schemas": [ENTERPRISE_USER], "userName": "a"}),
    ] {
        assert!(
            matches!(parse(USER_KIND, &body), Err(Error::InvalidSyntax(_))),
            "{body}"
        );
    }
    let other_urns = json!({"Schemas": ["urn:x", USER.to_uppercase()], "userName": "a"});
    assert!(parse(USER_KIND, &other_urns).is_ok());
}

#[test]
fn put_keeps_an_absent_active_and_refuses_another_id() {
    let current = json!({"userName": "old", "active": false});
    let body = user(json!({"displayName": "New"}));
    let replaced = replace(USER_KIND, "u1", &current, &body).unwrap();
    assert_eq!(
        replaced.value,
        json!({"userName": "bjensen", "displayName": "New", "active": false})
    );
    let explicit = user(json!({"active": true, "id": "u1"}));
    assert_eq!(
        replace(USER_KIND, "u1", &current, &explicit).unwrap().value["active"],
        true
    );
    let other = user(json!({"id": "u2"}));
    assert!(matches!(
        replace(USER_KIND, "u1", &current, &other),
        Err(Error::Mutability(_))
    ));
    let numeric = user(json!({"id": 1}));
    assert!(matches!(
        replace(USER_KIND, "1", &current, &numeric),
        Err(Error::Mutability(_))
    ));
    let group = json!({"schemas": [GROUP], "displayName": "G"});
    let replaced = replace(
        GROUP_KIND,
        "g1",
        &json!({"displayName": "Old", "active": true}),
        &group,
    )
    .unwrap();
    assert_eq!(replaced.value, json!({"displayName": "G"}));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_members_never_panic(
        key in prop_oneof![
            Just("emails".to_owned()),
            Just("name".to_owned()),
            Just("active".to_owned()),
            Just("members".to_owned()),
            Just(ENTERPRISE_USER.to_owned()),
            ".{0,12}",
        ],
        value in prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::String),
            prop::collection::vec(".{0,5}".prop_map(Value::String), 0..4).prop_map(Value::Array),
            Just(json!([{"value": 1}, {"Primary": "x"}, {}, [], null])),
            Just(json!({"value": {"a": 1}, "manager": "m", "givenName": []})),
        ],
    ) {
        for (kind, urn) in [(USER_KIND, USER), (GROUP_KIND, GROUP)] {
            let body = json!({"schemas": [urn], "userName": "u", "displayName": "g", key.clone(): value.clone()});
            if let Err(e) = parse(kind, &body) {
                prop_assert!(["invalidValue", "invalidSyntax"].contains(&e.scim_type()));
            }
        }
    }
}
