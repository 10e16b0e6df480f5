//! Unit tests of the PATCH engine.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;
use crate::scim::schema::ENTERPRISE_USER;
use serde_json::json;

const USER_KIND: ResourceKind = ResourceKind::User;
const GROUP_KIND: ResourceKind = ResourceKind::Group;

fn body(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

fn user() -> Value {
    json!({
        "userName": "bjensen",
        "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@example.com", "type": "home", "primary": true}],
    })
}

fn group() -> Value {
    json!({"displayName": "Eng", "members": [{"value": "u1"}, {"value": "u2"}]})
}

/// Applies `operations` to `resource`, panicking on an error.
fn patched(kind: ResourceKind, resource: &Value, operations: Value) -> Value {
    let mut resource = resource.clone();
    apply(kind, "id1", &mut resource, &body(operations)).unwrap_or_else(|e| panic!("{e}"));
    resource
}

/// The error of applying `operations`, checking `resource` is unchanged.
fn refused(kind: ResourceKind, resource: &Value, operations: Value) -> Error {
    let mut copy = resource.clone();
    let error = apply(kind, "id1", &mut copy, &body(operations)).unwrap_err();
    assert_eq!(&copy, resource, "an error changed the resource");
    error
}

#[test]
fn verbs_are_read_in_any_case_and_boolean_strings_are_booleans() {
    let out = patched(
        USER_KIND,
        &user(),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    assert_eq!(out["active"], false);
    let out = patched(
        USER_KIND,
        &out,
        json!([{"OP": "ADD", "Path": "Active", "Value": "TRUE"}]),
    );
    assert_eq!(out["active"], true);
    let out = patched(
        USER_KIND,
        &user(),
        json!([{"op": "remove", "path": "active"}]),
    );
    assert!(out.get("active").is_none());
    let error = refused(
        USER_KIND,
        &user(),
        json!([{"op": "Replace", "path": "active", "value": "nope"}]),
    );
    assert_eq!(error.scim_type(), "invalidValue");
}

#[test]
fn the_body_needs_the_patch_schema_and_1_to_1000_operations() {
    let mut resource = user();
    let no_schema = json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]});
    assert!(matches!(
        apply(USER_KIND, "id1", &mut resource, &no_schema),
        Err(Error::InvalidSyntax(_))
    ));
    assert!(matches!(
        apply(USER_KIND, "id1", &mut resource, &json!([])),
        Err(Error::InvalidSyntax(_))
    ));
    assert_eq!(
        refused(USER_KIND, &user(), json!([])).scim_type(),
        "invalidValue"
    );
    let missing = json!({"schemas": [PATCH_OP]});
    assert!(matches!(
        apply(USER_KIND, "id1", &mut resource, &missing),
        Err(Error::InvalidValue(_))
    ));
    let op = json!({"op": "replace", "path": "title", "value": "t"});
    let many = Value::Array(vec![op.clone(); MAX_OPERATIONS + 1]);
    assert_eq!(
        refused(USER_KIND, &user(), many).scim_type(),
        "invalidValue"
    );
    let most = Value::Array(vec![op; MAX_OPERATIONS]);
    assert_eq!(patched(USER_KIND, &user(), most)["title"], "t");
    // Lower-case `operations` and extra members are accepted.
    let lower = json!({"schemas": [PATCH_OP], "operations": [{"op": "add", "path": "title", "value": "x", "name": "addMember"}]});
    apply(USER_KIND, "id1", &mut resource, &lower).unwrap();
    assert_eq!(resource["title"], "x");
}

#[test]
fn bad_operations_are_refused() {
    for op in [
        json!({"op": "move", "path": "title"}),
        json!({"path": "title"}),
        json!("add"),
        json!({"op": 1}),
    ] {
        let error = refused(USER_KIND, &user(), json!([op]));
        assert_eq!(error.scim_type(), "invalidValue", "{error}");
    }
    let error = refused(USER_KIND, &user(), json!([{"op": "remove"}]));
    assert_eq!(error.scim_type(), "noTarget");
    let error = refused(USER_KIND, &user(), json!([{"op": "replace", "value": "x"}]));
    assert_eq!(error.scim_type(), "invalidValue");
    let error = refused(
        USER_KIND,
        &user(),
        json!([{"op": "add", "path": "emails[type ne \"x\"]", "value": {}}]),
    );
    assert_eq!(error.scim_type(), "invalidPath");
    let error = refused(
        USER_KIND,
        &user(),
        json!([{"op": "add", "path": 5, "value": {}}]),
    );
    assert_eq!(error.scim_type(), "invalidPath");
}

#[test]
fn pathless_values_take_plain_dotted_and_urn_keys() {
    let out = patched(
        USER_KIND,
        &user(),
        json!([{"op": "replace", "value": {
            "DisplayName": "BJ",
            "name.givenName": "Babs",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": {"value": "m1"},
            "schemas": ["x"],
            "meta": {"version": "1"},
            "password": "secret",
        }}]),
    );
    assert_eq!(out["displayName"], "BJ");
    assert_eq!(
        out["name"],
        json!({"givenName": "Babs", "familyName": "Jensen"})
    );
    assert_eq!(
        out[ENTERPRISE_USER],
        json!({"employeeNumber": "42", "manager": {"value": "m1"}})
    );
    let mut resource = user();
    let applied = apply(
        USER_KIND,
        "id1",
        &mut resource,
        &body(json!([{"op": "add", "value": {ENTERPRISE_USER: {"Department": "Eng", "badge": 1}, "roles": []}}])),
    )
    .unwrap();
    assert_eq!(resource[ENTERPRISE_USER]["department"], "Eng");
    assert_eq!(
        applied.ignored,
        [format!("{ENTERPRISE_USER}:badge"), "roles".into()]
    );
}

#[test]
fn okta_deactivates_and_renames_with_the_same_id() {
    let out = patched(
        USER_KIND,
        &user(),
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(out["active"], false);
    let out = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "replace", "value": {"id": "id1", "displayName": "Platform"}}]),
    );
    assert_eq!(out["displayName"], "Platform");
    let error = refused(
        GROUP_KIND,
        &group(),
        json!([{"op": "replace", "value": {"id": "other", "displayName": "x"}}]),
    );
    assert_eq!(error.scim_type(), "mutability");
}

#[test]
fn read_only_and_immutable_targets_are_refused() {
    let patched_id = patched(
        USER_KIND,
        &user(),
        json!([{"op": "replace", "path": "id", "value": "id1"}]),
    );
    assert_eq!(patched_id, user());
    for (kind, resource, op) in [
        (
            USER_KIND,
            user(),
            json!({"op": "replace", "path": "id", "value": "id2"}),
        ),
        (USER_KIND, user(), json!({"op": "remove", "path": "id"})),
        (
            USER_KIND,
            user(),
            json!({"op": "replace", "path": "meta.created", "value": "x"}),
        ),
        (
            USER_KIND,
            user(),
            json!({"op": "add", "path": "groups", "value": [{"value": "g"}]}),
        ),
        (
            USER_KIND,
            user(),
            json!({"op": "replace", "path": format!("{ENTERPRISE_USER}:manager.displayName"), "value": "M"}),
        ),
        (
            GROUP_KIND,
            group(),
            json!({"op": "replace", "path": "members[value eq \"u1\"].$ref", "value": "x"}),
        ),
        (
            GROUP_KIND,
            group(),
            json!({"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u9"}),
        ),
        (
            GROUP_KIND,
            group(),
            json!({"op": "replace", "path": "members[value eq \"u1\"]", "value": {"value": "u9"}}),
        ),
        (
            GROUP_KIND,
            group(),
            json!({"op": "remove", "path": "members.value"}),
        ),
    ] {
        let error = refused(kind, &resource, json!([op.clone()]));
        assert_eq!(error.scim_type(), "mutability", "{op}: {error}");
    }
    // Writing a member's value to what it is changes nothing.
    let same = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u1"}]),
    );
    assert_eq!(same, group());
}

#[test]
fn an_unmatched_eq_filter_creates_the_element() {
    let out = patched(
        USER_KIND,
        &user(),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@b.c"}]),
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "b@example.com", "type": "home", "primary": true}, {"type": "work", "value": "a@b.c"}])
    );
    // Matched now: replaced in place, verbatim.
    let again = patched(
        USER_KIND,
        &out,
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "A@B.C"}]),
    );
    assert_eq!(
        again["emails"][1],
        json!({"type": "work", "value": "A@B.C"})
    );
    let phone = patched(
        USER_KIND,
        &user(),
        json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\" and primary eq \"true\"]", "value": {"value": "+1"}}]),
    );
    assert_eq!(
        phone["phoneNumbers"],
        json!([{"type": "mobile", "primary": true, "value": "+1"}])
    );
    let removed = patched(
        USER_KIND,
        &user(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
    );
    assert_eq!(removed, user());
}

#[test]
fn filtered_and_sub_attribute_writes() {
    let out = patched(
        USER_KIND,
        &user(),
        json!([
            {"op": "add", "path": "emails[type eq \"HOME\"]", "value": {"display": "Home"}},
            {"op": "replace", "path": "name.familyName", "value": "J"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "add", "path": "addresses", "value": {"locality": "Paris"}},
            {"op": "replace", "path": "addresses.country", "value": "FR"},
        ]),
    );
    assert_eq!(
        out["emails"][0],
        json!({"value": "b@example.com", "type": "home", "primary": true, "display": "Home"})
    );
    assert_eq!(out["name"], json!({"familyName": "J"}));
    // A filtered replace replaces the matching values whole (RFC 7644 §3.5.2.3).
    let replaced = patched(
        USER_KIND,
        &out,
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "n@x", "type": "other"}}]),
    );
    assert_eq!(
        replaced["emails"],
        json!([{"value": "n@x", "type": "other"}])
    );
    let dropped = patched(
        USER_KIND,
        &out,
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": null}]),
    );
    assert!(dropped.get("emails").is_none());
    assert_eq!(
        out["addresses"],
        json!([{"locality": "Paris", "country": "FR"}])
    );
    let out = patched(
        USER_KIND,
        &out,
        json!([{"op": "remove", "path": "name.familyName"}, {"op": "remove", "path": "emails[type eq \"home\"].display"}]),
    );
    assert!(out.get("name").is_none());
    assert_eq!(
        out["emails"][0],
        json!({"value": "b@example.com", "type": "home", "primary": true})
    );
    let manager = patched(
        USER_KIND,
        &user(),
        json!([{"op": "Add", "path": format!("{ENTERPRISE_USER}:manager"), "value": "m1"}]),
    );
    assert_eq!(
        manager[ENTERPRISE_USER],
        json!({"manager": {"value": "m1"}})
    );
    let cleared = patched(
        USER_KIND,
        &manager,
        json!([{"op": "Remove", "path": format!("{ENTERPRISE_USER}:manager")}]),
    );
    assert_eq!(cleared, user());
    let whole = patched(
        USER_KIND,
        &manager,
        json!([{"op": "remove", "path": ENTERPRISE_USER}]),
    );
    assert_eq!(whole, user());
}

#[test]
fn a_bare_extension_attribute_path_writes_the_extension() {
    let out = patched(
        USER_KIND,
        &user(),
        json!([
            {"op": "Add", "path": "employeeNumber", "value": "42"},
            {"op": "Replace", "path": "department", "value": "Eng"},
            {"op": "Add", "path": "manager.value", "value": "m1"},
        ]),
    );
    assert_eq!(
        out[ENTERPRISE_USER],
        json!({"employeeNumber": "42", "department": "Eng", "manager": {"value": "m1"}})
    );
    assert!(out.get("manager").is_none());
    let out = patched(
        USER_KIND,
        &out,
        json!([{"op": "replace", "value": {"department": "Ops"}}]),
    );
    assert_eq!(out[ENTERPRISE_USER]["department"], "Ops");
    let cleared = patched(
        USER_KIND,
        &out,
        json!([{"op": "Remove", "path": "manager"}]),
    );
    assert_eq!(
        cleared[ENTERPRISE_USER],
        json!({"employeeNumber": "42", "department": "Ops"})
    );
}

#[test]
fn a_single_valued_complex_attribute_given_a_list_of_one_object_takes_that_object() {
    // Entra's Example 5: the manager as a list of one reference.
    let out = patched(
        USER_KIND,
        &user(),
        json!([{"op": "Add", "path": "manager", "value": [{
            "$ref": "http://.../scim/Users/m1",
            "value": "m1",
        }]}]),
    );
    assert_eq!(
        out[ENTERPRISE_USER],
        json!({"manager": {"$ref": "http://.../scim/Users/m1", "value": "m1"}})
    );
    let out = patched(
        USER_KIND,
        &user(),
        json!([{"op": "replace", "path": "name", "value": [{"givenName": "Babs"}]}]),
    );
    assert_eq!(
        out["name"],
        json!({"givenName": "Babs", "familyName": "Jensen"})
    );
    // Anything else is still not an object.
    for value in [
        json!([]),
        json!([{"value": "m1"}, {"value": "m2"}]),
        json!(["m1"]),
    ] {
        let error = refused(
            USER_KIND,
            &user(),
            json!([{"op": "add", "path": "manager", "value": value.clone()}]),
        );
        assert_eq!(error.scim_type(), "invalidValue", "{value}: {error}");
    }
}

#[test]
fn the_result_is_validated_and_an_error_changes_nothing() {
    let error = refused(
        USER_KIND,
        &user(),
        json!([{"op": "remove", "path": "userName"}]),
    );
    assert_eq!(error, Error::InvalidValue("userName is required".into()));
    let error = refused(
        GROUP_KIND,
        &group(),
        json!([{"op": "replace", "path": "displayName", "value": null}]),
    );
    assert_eq!(error, Error::InvalidValue("displayName is required".into()));
    let error = refused(
        USER_KIND,
        &user(),
        json!([
            {"op": "replace", "path": "title", "value": "first writes"},
            {"op": "add", "path": "emails", "value": [{"value": "w@example.com", "primary": true}]},
        ]),
    );
    assert_eq!(error.scim_type(), "invalidValue");
    assert!(error.detail().contains("primary"), "{error}");
    let many: Vec<Value> = (0..20)
        .map(|i| json!({"value": format!("{i}@x")}))
        .collect();
    let error = refused(
        USER_KIND,
        &user(),
        json!([{"op": "add", "path": "emails", "value": many}]),
    );
    assert!(error.detail().contains("20"), "{error}");
    let error = refused(
        USER_KIND,
        &user(),
        json!([{"op": "add", "path": "title", "value": 3}]),
    );
    assert!(error.detail().starts_with("Operations[0]: "), "{error}");
}

#[test]
fn unknown_attributes_are_ignored_and_named() {
    let mut resource = user();
    let applied = apply(
        USER_KIND,
        "id1",
        &mut resource,
        &body(json!([
            {"op": "replace", "path": "password", "value": "secret"},
            {"op": "add", "path": "name.nickname", "value": "x"},
            {"op": "replace", "path": "urn:example:custom:2.0:User:x", "value": "y"},
            {"op": "add", "value": {"urn:example:custom:2.0:User": {"x": "y"}}},
        ])),
    );
    assert_eq!(
        applied.map(|a| a.ignored).unwrap_or_default(),
        [
            "password",
            "name.nickname",
            "urn:example:custom:2.0:User:x",
            "urn:example:custom:2.0:User"
        ]
    );
    assert_eq!(resource, user());
}

mod fuzz;
mod groups;
