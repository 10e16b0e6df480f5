//! SPEC §9: every list takes `limit` and `cursor`, answers `{data,
//! next_cursor}`, and is never silently truncated — not even when DynamoDB
//! stops a query at 1 MB.

use serde_json::json;
use std::collections::HashSet;
use tether_tests::id;
use tether_tests::{idp, spawn_app};

fn assert_all_once(ids: &[String], expected: usize) {
    assert_eq!(ids.len(), expected, "every item listed");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        expected,
        "none twice"
    );
}

#[tokio::test]
async fn identity_providers_past_one_megabyte_are_all_listed() {
    let app = spawn_app().await;
    // Key sets near the body limit (a certificate chain in `x5c`): 20 of
    // them are over 1 MB, where one DynamoDB query stops.
    let mut body = idp::provider_body();
    body["jwks"]["keys"][0]["x5c"] = json!(["A".repeat(56 * 1024)]);
    for _ in 0..20 {
        app.post("/v1/identity-providers", &body)
            .await
            .assert_status(201);
    }
    let (ids, pages) = app.walk_pages("/v1/identity-providers", 100).await;
    assert_all_once(&ids, 20);
    assert_eq!(pages, 1, "a page of 100 holds all 20");
    let (ids, pages) = app.walk_pages("/v1/identity-providers", 7).await;
    assert_all_once(&ids, 20);
    assert_eq!(pages, 3);
    let default = app.get("/v1/identity-providers").await;
    assert_eq!(default.data().len(), 20);
    assert!(default.body["next_cursor"].is_null());
}

#[tokio::test]
async fn end_users_with_large_metadata_fill_their_pages() {
    let app = spawn_app().await;
    let big = json!({"blob": "x".repeat(15 * 1024)});
    for _ in 0..80 {
        app.create_user(json!({"metadata": big})).await;
    }
    let before = app.app.store.call_totals();
    let (ids, pages) = app.walk_pages("/v1/end-users", 100).await;
    assert_all_once(&ids, 80);
    assert_eq!(pages, 1, "80 users of 15 KiB (1.2 MB) in one page of 100");
    // The limiter, then two queries: DynamoDB stopped the first at 1 MB.
    assert!(app.app.store.call_totals().since(&before).calls >= 3);
}

#[tokio::test]
async fn identities_of_a_user_are_paginated() {
    let app = spawn_app().await;
    let provider = app.create_provider().await["id"].clone();
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/users/{}/identities", id(&user));
    for i in 0..25 {
        app.post(
            &path,
            &json!({"identity_provider_id": provider, "external_id": format!("x-{i}")}),
        )
        .await
        .assert_status(201);
    }
    let first = app.get(&path).await;
    assert_eq!(first.data().len(), 20, "default page");
    assert!(first.body["next_cursor"].is_string());
    let (ids, pages) = app.walk_pages(&path, 10).await;
    assert_all_once(&ids, 25);
    assert_eq!(pages, 3);
    for bad in ["limit=0", "limit=101", "cursor=nope", "other=1"] {
        app.get(&format!("{path}?{bad}"))
            .await
            .assert_error(400, "invalid_query_parameter");
    }
}
