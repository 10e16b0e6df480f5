//! Unit tests of attribute projection.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;
use crate::scim::schema::{ENTERPRISE_USER, GROUP, USER};
use serde_json::json;

const USER_KIND: ResourceKind = ResourceKind::User;

fn user() -> Value {
    json!({
        "schemas": [USER, ENTERPRISE_USER],
        "id": "u1",
        "userName": "bjensen",
        "name": {"givenName": "B", "familyName": "J"},
        "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}],
        ENTERPRISE_USER: {"employeeNumber": "7", "department": "Eng"},
        "meta": {"resourceType": "User", "version": "\"1\""},
    })
}

fn only(attributes: &str) -> Value {
    project(USER_KIND, &user(), Some(attributes), None).unwrap()
}

fn without(excluded: &str) -> Value {
    project(USER_KIND, &user(), None, Some(excluded)).unwrap()
}

#[test]
fn attributes_keep_only_those_plus_id_and_schemas() {
    assert_eq!(
        only("userName"),
        json!({"schemas": [USER, ENTERPRISE_USER], "id": "u1", "userName": "bjensen"})
    );
    assert_eq!(
        only("USERNAME, unknownThing, password")["userName"],
        "bjensen"
    );
    assert!(only("userName").get("meta").is_none());
    assert_eq!(only("meta")["meta"]["resourceType"], "User");
    assert_eq!(only("meta.version")["meta"], json!({"version": "\"1\""}));
    assert_eq!(
        only("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
        json!({"schemas": [USER, ENTERPRISE_USER], "id": "u1", ENTERPRISE_USER: {"employeeNumber": "7"}})
    );
    assert_eq!(
        only(ENTERPRISE_USER)[ENTERPRISE_USER],
        user()[ENTERPRISE_USER]
    );
    assert_eq!(only(&format!("{USER}:userName"))["userName"], "bjensen");
    assert_eq!(
        only("urn:example:other:x"),
        json!({"schemas": [USER, ENTERPRISE_USER], "id": "u1"})
    );
    assert_eq!(
        only("title"),
        json!({"schemas": [USER, ENTERPRISE_USER], "id": "u1"})
    );
}

#[test]
fn sub_attributes_select_within_objects_and_each_element() {
    assert_eq!(only("name.givenName")["name"], json!({"givenName": "B"}));
    assert_eq!(
        only("emails.value")["emails"],
        json!([{"value": "a@x"}, {"value": "b@x"}])
    );
    assert_eq!(only("emails.value,emails.Type")["emails"], user()["emails"]);
    assert_eq!(only("emails.value,emails")["emails"], user()["emails"]);
    assert!(only("emails.display").get("emails").is_none());
}

#[test]
fn excluded_attributes_go_except_those_always_returned() {
    let out = without("emails, id, schemas, name.familyName");
    assert!(out.get("emails").is_none());
    assert_eq!(out["id"], "u1");
    assert_eq!(out["schemas"], json!([USER, ENTERPRISE_USER]));
    assert_eq!(out["name"], json!({"givenName": "B"}));
    assert_eq!(
        without("emails.type")["emails"],
        json!([{"value": "a@x"}, {"value": "b@x"}])
    );
    let out = without(&format!(
        "{ENTERPRISE_USER}:employeeNumber,{ENTERPRISE_USER}:department"
    ));
    assert!(out.get(ENTERPRISE_USER).is_none());
    assert_eq!(out["schemas"], json!([USER, ENTERPRISE_USER]));
    assert!(without(ENTERPRISE_USER).get(ENTERPRISE_USER).is_none());
    assert!(without("meta").get("meta").is_none());
    let emptied = without("name.givenName,name.familyName");
    assert!(emptied.get("name").is_none());
    assert_eq!(without("nothing, urn:x:y"), user());
    let group =
        json!({"schemas": [GROUP], "id": "g", "displayName": "G", "members": [{"value": "u"}]});
    let out = project(ResourceKind::Group, &group, None, Some("members")).unwrap();
    assert_eq!(
        out,
        json!({"schemas": [GROUP], "id": "g", "displayName": "G"})
    );
}

#[test]
fn attributes_win_and_empty_lists_are_no_lists() {
    let both = project(USER_KIND, &user(), Some("userName"), Some("userName")).unwrap();
    assert_eq!(both["userName"], "bjensen");
    assert!(both.get("emails").is_none());
    assert_eq!(
        project(USER_KIND, &user(), Some(""), Some(" ")).unwrap(),
        user()
    );
    assert_eq!(project(USER_KIND, &user(), None, None).unwrap(), user());
}

#[test]
fn malformed_lists_are_invalid_path() {
    for list in ["emails[type eq \"work\"]", "user name", "name.", "a(b)"] {
        let error = project(USER_KIND, &user(), Some(list), None).unwrap_err();
        assert_eq!(error.scim_type(), "invalidPath", "{list}");
    }
}
