//! Unit tests of PATCH on Groups: members and their ids.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly on what it did not expect"
)]

use super::*;

#[test]
fn members_are_added_once_replaced_and_removed() {
    let added = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "Add", "path": "members", "value": [{"value": "u2"}, {"value": "u3", "$ref": "x"}, {"value": "u3"}, {"value": "U1"}]}]),
    );
    assert_eq!(
        added["members"],
        json!([{"value": "u1"}, {"value": "u2"}, {"value": "u3"}, {"value": "U1"}])
    );
    let replaced = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "replace", "path": "members", "value": [{"value": "u9"}]}]),
    );
    assert_eq!(replaced["members"], json!([{"value": "u9"}]));
    let entra = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "nobody"}]}]),
    );
    assert_eq!(entra["members"], json!([{"value": "u2"}]));
    let filtered = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "remove", "path": "members[value eq \"u2\"]"}]),
    );
    assert_eq!(filtered["members"], json!([{"value": "u1"}]));
    let nothing = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "remove", "path": "members[value eq \"U2\"]"}]),
    );
    assert_eq!(nothing, group());
    let all = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "remove", "path": "members"}]),
    );
    assert_eq!(all, json!({"displayName": "Eng"}));
    let error = refused(
        GROUP_KIND,
        &group(),
        json!([{"op": "add", "path": "members", "value": [{"value": 7}]}]),
    );
    assert_eq!(error.scim_type(), "invalidValue");
    let error = refused(
        GROUP_KIND,
        &group(),
        json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]),
    );
    assert_eq!(error.scim_type(), "invalidValue");
    assert_eq!(member_ids(&added), ["u1", "u2", "u3", "U1"]);
    assert_eq!(
        member_ids(&json!({"members": [{"value": "a"}, {"value": "a"}, {"x": 1}]})),
        ["a"]
    );
    assert!(member_ids(&json!({})).is_empty());
}

#[test]
fn lists_never_grow_past_their_limit_between_operations() {
    use crate::scim::resource::MAX_MEMBERS;
    let members: Vec<Value> = (0..MAX_MEMBERS)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let full = patched(
        GROUP_KIND,
        &group(),
        json!([{"op": "replace", "path": "members", "value": members}]),
    );
    assert_eq!(member_ids(&full).len(), MAX_MEMBERS);
    // Adding one more fails at that operation, not after the others.
    let error = refused(
        GROUP_KIND,
        &full,
        json!([
            {"op": "add", "path": "members", "value": [{"value": "one-more"}]},
            {"op": "remove", "path": "members[value eq \"u0\"]"},
        ]),
    );
    assert!(error.detail().starts_with("Operations[0]: "), "{error}");
    assert!(error.detail().contains(&MAX_MEMBERS.to_string()), "{error}");
    // Adding members already present changes nothing.
    let again: Vec<Value> = (0..MAX_MEMBERS)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let same = patched(
        GROUP_KIND,
        &full,
        json!([{"op": "add", "path": "members", "value": again}]),
    );
    assert_eq!(same, full);
}

#[test]
fn emails_are_added_once_without_regard_to_case() {
    let user = json!({"userName": "u", "emails": [{"value": "b@example.com"}]});
    let out = patched(
        USER_KIND,
        &user,
        json!([{"op": "add", "path": "emails", "value": [{"value": "B@EXAMPLE.COM"}, {"value": "c@example.com"}]}]),
    );
    assert_eq!(
        out["emails"],
        json!([{"value": "b@example.com"}, {"value": "c@example.com"}])
    );
    let removed = patched(
        USER_KIND,
        &out,
        json!([{"op": "remove", "path": "emails", "value": [{"value": "C@example.com"}]}]),
    );
    assert_eq!(removed, user);
}

#[test]
fn pathless_groups_of_a_user_are_ignored_like_in_a_post() {
    let mut resource = json!({"userName": "u"});
    let applied = apply(
        USER_KIND,
        "id1",
        &mut resource,
        &body(json!([{"op": "add", "value": {"groups": [{"value": "g"}], "title": "T"}}])),
    )
    .unwrap();
    assert_eq!(applied.ignored, ["groups"]);
    assert_eq!(resource, json!({"userName": "u", "title": "T"}));
}
