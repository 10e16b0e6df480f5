//! End-user lookups (SPEC §9): `GET /v1/end-users?email=` (case-insensitive)
//! and `?external_id=` (exact), paginated, through keys-only indexes.

use serde_json::{Value, json};
use tether_tests::{TestApp, id, spawn_app};

async fn find(app: &TestApp, query: &str) -> Value {
    let res = app.get(&format!("/v1/end-users?{query}")).await;
    assert_eq!(res.status, 200, "{query}: {}", res.text);
    res.body
}

fn ids(page: &Value) -> Vec<&str> {
    page["data"].as_array().unwrap().iter().map(id).collect()
}

/// Asserts that the lookup `query` finds exactly the end users `expected`,
/// in order (on its first page).
async fn assert_finds(app: &TestApp, query: &str, expected: &[&str]) {
    let page = find(app, query).await;
    assert_eq!(ids(&page), expected, "{query}");
}

/// Creates an end user with `email` and `external_id`.
async fn user_with_ids(app: &TestApp, email: &str, external_id: &str) -> Value {
    let body = json!({"email": email, "external_id": external_id});
    app.create_user(body).await
}

/// Rewrites the stored item of `user` with the DynamoDB `update` (`:k`
/// standing for `key` when given): the item as an earlier version stored it.
async fn store_as_before(app: &TestApp, user: &Value, update: &str, key: Option<String>) {
    use aws_sdk_dynamodb::types::AttributeValue;
    app.app
        .store
        .client()
        .update_item()
        .table_name(app.app.store.table())
        .key("PK", AttributeValue::S(format!("ORG#{}", app.org_id)))
        .key("SK", AttributeValue::S(format!("USER#{}", id(user))))
        .update_expression(update)
        .set_expression_attribute_values(
            key.map(|k| [(":k".to_owned(), AttributeValue::S(k))].into()),
        )
        .send()
        .await
        .expect("store the user as before");
}

#[tokio::test]
async fn end_users_are_found_by_email_case_insensitively_and_by_external_id_exactly() {
    let app = spawn_app().await;
    let ada = user_with_ids(&app, "Ada@Example.com", "crm-1").await;
    let bob = user_with_ids(&app, "bob@example.com", "crm-2").await;
    let ada_again = app.create_user_with_email("ada@example.COM").await;
    app.create_user(json!({})).await;

    let found = find(&app, "email=ADA%40example.com").await;
    assert_eq!(ids(&found), [id(&ada), id(&ada_again)], "oldest first");
    assert_eq!(
        found["data"][0]["email"], "Ada@Example.com",
        "stored as sent"
    );
    assert_eq!(found["next_cursor"], Value::Null);
    assert_finds(&app, "external_id=crm-2", &[id(&bob)]).await;
    assert_finds(&app, "external_id=CRM-2", &[]).await;
    assert_finds(&app, "email=nobody%40example.com", &[]).await;

    // Paginated like every list; a lookup's cursor resumes only that lookup.
    let first = find(&app, "email=ada%40example.com&limit=1").await;
    assert_eq!(ids(&first), [id(&ada)]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = find(
        &app,
        &format!("email=ada%40example.com&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(ids(&second), [id(&ada_again)]);
    assert_eq!(second["next_cursor"], Value::Null);
    app.get(&format!("/v1/end-users?cursor={cursor}"))
        .await
        .assert_error(400, "invalid_query_parameter");
}

#[tokio::test]
async fn lookups_stay_in_the_organization_and_forget_purged_users() {
    let app = spawn_app().await;
    let (_, other_key) = app.create_org("Other").await;
    let res = app
        .request("POST", "/v1/end-users")
        .key(&other_key)
        .json(&json!({"email": "shared@example.com", "external_id": "x-1"}))
        .send()
        .await;
    assert_eq!(res.status, 201);
    assert_finds(&app, "email=shared%40example.com", &[]).await;
    assert_finds(&app, "external_id=x-1", &[]).await;

    let mine = app.create_user_with_email("shared@example.com").await;
    assert_finds(&app, "email=shared%40example.com", &[id(&mine)]).await;
    let before = crate::stored_user(&app, &mine).await.unwrap();
    let deleted = app.delete(&format!("/v1/end-users/{}", id(&mine))).await;
    assert_eq!(deleted.status, 202);
    let after = crate::stored_user(&app, &mine).await.unwrap();
    let change = tether::purge::StreamChange {
        event_id: String::new(),
        sequence_number: "1".into(),
        new_image: Some(after),
        old_image: Some(before),
    };
    assert!(
        tether::purge::handle(&app.app.store, &[change])
            .await
            .is_empty()
    );
    assert_finds(&app, "email=shared%40example.com", &[]).await;
}

#[tokio::test]
async fn a_metadata_patch_keeps_the_user_findable() {
    let app = spawn_app().await;
    let user = user_with_ids(&app, "m@example.com", "m-1").await;
    let res = app
        .patch(
            &format!("/v1/end-users/{}", id(&user)),
            &json!({"metadata": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(res.status, 200);
    let found = find(&app, "external_id=m-1").await;
    assert_eq!(found["data"][0]["metadata"], json!({"tier": "gold"}));
    assert_finds(&app, "email=M%40EXAMPLE.COM", &[id(&user)]).await;
}

#[tokio::test]
async fn malformed_lookups_are_refused() {
    let app = spawn_app().await;
    for query in [
        "email=a%40b.c&external_id=x",
        "email=",
        "external_id=",
        "email=a&email=b",
        &format!("external_id={}", "x".repeat(257)),
        "phone=1",
    ] {
        app.get(&format!("/v1/end-users?{query}"))
            .await
            .assert_error(400, "invalid_query_parameter");
    }
}

/// End users stored before the lookup indexes existed carry no lookup keys
/// and are not found; `tetherctl end-user add-lookup-keys` gives them their
/// keys without touching what the API renders, and a second run finds
/// nothing left to do.
#[tokio::test]
async fn end_users_stored_before_the_indexes_are_found_once_given_their_keys() {
    use tether::end_users::reindex::{Reindexed, add_lookup_keys, add_lookup_keys_by};
    let app = spawn_app().await;
    let old = user_with_ids(&app, "Old@Example.com", "crm-old").await;
    let old_email_only = app.create_user_with_email("mail@example.com").await;
    let current = user_with_ids(&app, "new@example.com", "crm-new").await;
    app.create_user(json!({})).await;
    let last = app.create_user(json!({"external_id": "crm-last"})).await;
    for user in [&old, &old_email_only, &last] {
        store_as_before(&app, user, "REMOVE email_key, external_id_key", None).await;
    }
    let before = app.get(&format!("/v1/end-users/{}", id(&old))).await;
    assert_finds(&app, "email=old%40example.com", &[]).await;
    assert_finds(&app, "external_id=crm-old", &[]).await;
    assert_finds(&app, "email=mail%40example.com", &[]).await;

    // Two users a query: the run goes on past pages that hold none to fix.
    let report = add_lookup_keys_by(&app.app.store, app.org_id, 2)
        .await
        .unwrap();
    assert_eq!(
        report,
        Reindexed {
            missing: 3,
            indexed: 3
        }
    );
    assert_finds(&app, "external_id=crm-last", &[id(&last)]).await;
    assert_finds(&app, "email=OLD%40example.com", &[id(&old)]).await;
    assert_finds(&app, "external_id=crm-old", &[id(&old)]).await;
    assert_finds(&app, "email=mail%40example.com", &[id(&old_email_only)]).await;
    assert_finds(&app, "external_id=crm-new", &[id(&current)]).await;
    // Nothing the API shows changed: same body, same ETag.
    let after = app.get(&format!("/v1/end-users/{}", id(&old))).await;
    assert_eq!(after.body, before.body);
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_eq!(
        add_lookup_keys(&app.app.store, app.org_id).await.unwrap(),
        Reindexed::default()
    );
}

/// SPEC §9: an email lookup folds the case of ASCII letters only and takes
/// every other character as written — no Unicode case folding or
/// normalisation — so a lookalike never finds an ASCII address:
/// U+212A KELVIN SIGN lowers (and NFKC-normalises) to `k`, yet `Kx@…`
/// written with it is not `kx@…`, and the other way round.
#[tokio::test]
async fn lookalike_characters_never_find_another_address() {
    let app = spawn_app().await;
    let ascii = app.create_user_with_email("kx@example.com").await;
    let kelvin = app.create_user_with_email("\u{212A}y@example.com").await;
    let umlaut = app.create_user_with_email("\u{c4}z@example.com").await;
    assert_finds(&app, "email=KX%40EXAMPLE.COM", &[id(&ascii)]).await;
    // KELVIN SIGN + "x": not the ASCII address.
    assert_finds(&app, "email=%E2%84%AAx%40example.com", &[]).await;
    // ASCII "ky": not the KELVIN SIGN address; the exact spelling finds it.
    assert_finds(&app, "email=ky%40example.com", &[]).await;
    assert_finds(&app, "email=%E2%84%AAY%40EXAMPLE.com", &[id(&kelvin)]).await;
    // Non-ASCII letters are compared as written: "Ä" is not "ä".
    assert_finds(&app, "email=%C3%84Z%40example.com", &[id(&umlaut)]).await;
    assert_finds(&app, "email=%C3%A4z%40example.com", &[]).await;
}

/// An end user stored under the earlier email rule (Unicode lowering) is
/// found again once `tetherctl end-user add-lookup-keys` has rewritten its
/// key; an ASCII address's key never changed.
#[tokio::test]
async fn keys_of_the_earlier_email_rule_are_rewritten_by_the_reindex() {
    let app = spawn_app().await;
    let user = app.create_user_with_email("\u{c4}ra@example.com").await;
    let ascii = app.create_user_with_email("Plain@example.com").await;
    // As the earlier rule stored it: "ära@example.com".
    let key = format!("{}#\u{e4}ra@example.com", app.org_id);
    store_as_before(&app, &user, "SET email_key = :k", Some(key)).await;
    assert_finds(&app, "email=%C3%84ra%40example.com", &[]).await;
    // A lookalike under the earlier rule (KELVIN SIGN lowered to `k`) is
    // not answered for the ASCII address, even before the reindex.
    let kelvin = app.create_user_with_email("\u{212A}z@example.com").await;
    let key = format!("{}#kz@example.com", app.org_id);
    store_as_before(&app, &kelvin, "SET email_key = :k", Some(key)).await;
    assert_finds(&app, "email=kz%40example.com", &[]).await;
    let report = tether::end_users::reindex::add_lookup_keys(&app.app.store, app.org_id)
        .await
        .unwrap();
    assert_eq!((report.missing, report.indexed), (2, 2));
    assert_finds(&app, "email=%C3%84RA%40example.com", &[id(&user)]).await;
    assert_finds(&app, "email=plain%40example.com", &[id(&ascii)]).await;
}
