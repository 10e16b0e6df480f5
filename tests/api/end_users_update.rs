//! `PATCH /v1/end-users/{user_id}` exactly as seed 003 describes it.

use crate::stored_user;
use serde_json::{Value, json};
use tether_tests::As;
use tether_tests::id;
use tether_tests::{TestApp, TestResponse, spawn_app};

async fn user_with_metadata(app: &TestApp) -> (Value, String) {
    let user = app
        .create_user(json!({"email": "ada@example.com", "display_name": "Ada", "metadata": {"a": 1, "b": {"c": true}}}))
        .await;
    let path = format!("/v1/end-users/{}", id(&user));
    (user, path)
}

/// `PATCH path` with `If-Match: if_match` and the JSON `body`.
async fn patch_if_match(app: &TestApp, path: &str, if_match: &str, body: Value) -> TestResponse {
    let request = app.request("PATCH", path).header("If-Match", if_match);
    request.json(&body).send().await
}

/// The stored item's `metadata_json` (a string attribute) of `user`.
async fn stored_metadata(app: &TestApp, user: &Value) -> String {
    let item = stored_user(app, user).await.unwrap();
    item["metadata_json"].as_s().unwrap().clone()
}

/// The stored item's `version` (a number attribute) of `user`.
async fn stored_version(app: &TestApp, user: &Value) -> String {
    let item = stored_user(app, user).await.unwrap();
    item["version"].as_n().unwrap().clone()
}

#[tokio::test]
async fn metadata_replaces_the_whole_object_and_leaves_other_fields() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    app.clock.advance(time::Duration::seconds(5));
    let res = app
        .patch(&path, &json!({"metadata": {"b": {"d": 2}}}))
        .await
        .assert_status(200);
    assert_eq!(
        res.body["metadata"],
        json!({"b": {"d": 2}}),
        "key `a` is dropped, `b` replaced"
    );
    assert_eq!(res.body["email"], "ada@example.com");
    assert_eq!(res.body["display_name"], "Ada");
    assert_eq!(res.body["created_at"], user["created_at"]);
    assert_ne!(res.body["updated_at"], user["updated_at"]);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let item = stored_user(&app, &user).await.unwrap();
    assert_eq!(item["metadata_json"].as_s().unwrap(), r#"{"b":{"d":2}}"#);
    assert_eq!(item["version"].as_n().unwrap(), "2");
}

#[tokio::test]
async fn empty_metadata_clears_it() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    let res = app.patch(&path, &json!({"metadata": {}})).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["metadata"], json!({}));
    assert_eq!(stored_metadata(&app, &user).await, "{}");
}

#[tokio::test]
async fn empty_object_and_empty_body_are_no_ops() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    let before = stored_user(&app, &user).await.unwrap();
    app.clock.advance(time::Duration::seconds(5));
    for req in [
        app.request("PATCH", &path).json(&json!({})),
        app.request("PATCH", &path),
        app.request("PATCH", &path).raw_body("", ""),
        app.request("PATCH", &path)
            .raw_body("application/json", "  "),
    ] {
        let res = req.send().await.assert_status(200);
        assert_eq!(res.body, user, "the current record, updated_at unchanged");
        assert_eq!(res.header("etag"), Some("\"1\""));
    }
    assert_eq!(
        stored_user(&app, &user).await.unwrap(),
        before,
        "nothing was written"
    );
}

#[tokio::test]
async fn any_other_field_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    let before = stored_user(&app, &user).await.unwrap();
    for (body, field) in [
        (json!({"email": "eve@example.com"}), "email"),
        (json!({"status": "active"}), "status"),
        (
            json!({"metadata": {"x": 1}, "subscription": "pro"}),
            "subscription",
        ),
        (json!({"nickname": "x"}), "nickname"),
        (json!({"id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162"}), "id"),
    ] {
        let res = app.patch(&path, &body).await;
        res.assert_error(422, "validation_failed");
        assert_eq!(
            res.body["details"]["fields"][0]["field"], field,
            "{}",
            res.text
        );
    }
    assert_eq!(stored_user(&app, &user).await.unwrap(), before);
}

#[tokio::test]
async fn metadata_limits_are_422() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    let before = stored_user(&app, &user).await.unwrap();
    let too_many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
    let mut too_deep = json!({});
    for _ in 0..8 {
        too_deep = json!({"n": too_deep});
    }
    for metadata in [
        json!(null),
        json!([1]),
        json!("text"),
        Value::Object(too_many),
        too_deep,
        json!({"big": "x".repeat(16 * 1024)}),
    ] {
        let res = app.patch(&path, &json!({"metadata": metadata})).await;
        res.assert_error(422, "validation_failed");
        assert_eq!(res.body["details"]["fields"][0]["field"], "metadata");
    }
    assert_eq!(stored_user(&app, &user).await.unwrap(), before);
}

#[tokio::test]
async fn unknown_user_is_404() {
    let app = spawn_app().await;
    let path = "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162";
    app.patch(path, &json!({"metadata": {}}))
        .await
        .assert_error(404, "not_found");
    app.patch(path, &json!({}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_user_under_deletion_is_409_and_unchanged() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    assert_eq!(app.delete(&path).await.status, 202);
    let before = stored_user(&app, &user).await.unwrap();
    app.patch(&path, &json!({"metadata": {"x": 1}}))
        .await
        .assert_error(409, "user_deleting");
    app.patch(&path, &json!({}))
        .await
        .assert_error(409, "user_deleting");
    assert_eq!(stored_user(&app, &user).await.unwrap(), before);
}

#[tokio::test]
async fn if_match_is_honoured() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    let x1 = json!({"metadata": {"x": 1}});
    for (if_match, body) in [("\"7\"", &x1), ("W/\"1\"", &x1), ("\"7\"", &json!({}))] {
        let res = patch_if_match(&app, &path, if_match, body.clone()).await;
        res.assert_error(412, "precondition_failed");
    }
    assert_eq!(stored_version(&app, &user).await, "1");

    let ok = patch_if_match(&app, &path, "\"1\"", x1).await;
    assert_eq!(ok.assert_status(200).header("etag"), Some("\"2\""));
    let star = patch_if_match(&app, &path, "*", json!({"metadata": {"x": 2}})).await;
    assert_eq!(star.status, 200);
    let x3 = json!({"metadata": {"x": 3}});
    let list = patch_if_match(&app, &path, "\"1\", \"3\"", x3).await;
    assert_eq!(list.assert_status(200).body["metadata"], json!({"x": 3}));
}

#[tokio::test]
async fn a_read_key_gets_403_insufficient_scope() {
    let app = spawn_app().await;
    let (user, path) = user_with_metadata(&app).await;
    let read_key = app.create_read_key().await;
    let clear = json!({"metadata": {}});
    let res = app
        .send_as("PATCH", &path, As::Key(&read_key), Some(&clear))
        .await;
    res.assert_error(403, "insufficient_scope");
    assert_eq!(res.body["details"]["required_scope"], "read_write");
    let metadata = stored_metadata(&app, &user).await;
    assert_eq!(metadata, r#"{"a":1,"b":{"c":true}}"#);
    let rw_key = app.create_read_write_key().await;
    let res = app.send_as("PATCH", &path, As::Key(&rw_key), Some(&clear));
    assert_eq!(res.await.status, 200);
    assert_eq!(app.get_as(&read_key, &path).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_patches_with_one_if_match_let_exactly_one_through() {
    let app = std::sync::Arc::new(spawn_app().await);
    let (user, path) = user_with_metadata(&app).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let app = app.clone();
            let path = path.clone();
            tokio::spawn(async move {
                let body = json!({"metadata": {"writer": i}});
                let res = patch_if_match(&app, &path, "\"1\"", body).await;
                (res.status, res.body)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut winner = None;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        if status == 200 {
            winner = Some(body["metadata"]["writer"].clone());
        } else {
            assert_eq!(body["code"], "precondition_failed");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412, 412, 412, 412, 412]);
    let item = stored_user(&app, &user).await.unwrap();
    assert_eq!(item["version"].as_n().unwrap(), "2");
    let stored: Value = serde_json::from_str(item["metadata_json"].as_s().unwrap()).unwrap();
    assert_eq!(
        stored["writer"],
        winner.unwrap(),
        "the stored write is the one that got 200"
    );
}

#[tokio::test]
async fn a_patch_is_the_limiter_write_plus_one_conditional_write_and_a_refusal_needs_no_read() {
    let app = spawn_app().await;
    let (_, path) = user_with_metadata(&app).await;
    // Warm the key cache, as a warm Lambda would have it.
    assert_eq!(app.get(&path).await.status, 200);

    let before = app.app.store.call_totals();
    let res = app.patch(&path, &json!({"metadata": {"n": 1}})).await;
    assert_eq!(res.status, 200);
    let after = app.app.store.call_totals();
    assert_eq!(
        after.calls - before.calls,
        2,
        "the limiter's UpdateItem and the PATCH's, no read"
    );
    assert!(
        after.capacity_units > before.capacity_units,
        "capacity is reported"
    );

    assert_eq!(app.delete(&path).await.status, 202);
    let before = app.app.store.call_totals();
    app.patch(&path, &json!({"metadata": {"n": 2}}))
        .await
        .assert_error(409, "user_deleting");
    let after = app.app.store.call_totals();
    assert_eq!(
        after.calls - before.calls,
        2,
        "the 409 comes from the write's condition"
    );
    assert_eq!(after.failed - before.failed, 1);
}
