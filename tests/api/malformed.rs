//! Malformed input of SPEC §4 on every end-user endpoint: a 4xx envelope with a
//! request id, never a 5xx, and no state change.

use crate::stored_user;
use serde_json::json;
use tether_tests::id;
use tether_tests::spawn_app;

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400_invalid_json() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"metadata": {"a": 1}})).await;
    let before = stored_user(&app, &user).await.unwrap();
    let patch = format!("/v1/end-users/{}", id(&user));
    let deep = "[".repeat(200) + &"]".repeat(200);
    let bodies: Vec<(&str, String)> = vec![
        ("application/json", "{".into()),
        ("application/json", "{\"metadata\": }".into()),
        ("application/json", "[]".into()),
        ("application/json", "\"text\"".into()),
        ("application/json", "null".into()),
        ("application/json", "{} {}".into()),
        ("application/json", deep),
        (
            "application/json",
            r#"{"metadata": {"s": "\ud800"}}"#.into(),
        ),
        ("text/plain", "{}".into()),
        ("application/x-www-form-urlencoded", "metadata=1".into()),
        ("", "{}".into()),
    ];
    for (method, path) in [("POST", "/v1/end-users"), ("PATCH", patch.as_str())] {
        for (content_type, body) in &bodies {
            let res = app
                .request(method, path)
                .raw_body(content_type, body)
                .send()
                .await;
            res.assert_error(400, "invalid_json");
        }
    }
    assert_eq!(stored_user(&app, &user).await.unwrap(), before);
    let list = app.get("/v1/end-users").await;
    assert_eq!(list.data().len(), 1);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let patch = format!("/v1/end-users/{}", id(&user));
    let huge = json!({"metadata": {"x": "y".repeat(70 * 1024)}});
    for (method, path) in [("POST", "/v1/end-users"), ("PATCH", patch.as_str())] {
        let res = app.request(method, path).json(&huge).send().await;
        res.assert_error(413, "payload_too_large");
    }
    assert_eq!(app.get("/v1/end-users").await.data().len(), 1);
}

#[tokio::test]
async fn wrong_types_nul_bytes_and_long_strings_are_422() {
    let app = spawn_app().await;
    for body in [
        json!({"email": 5}),
        json!({"email": null}),
        json!({"display_name": ["a"]}),
        json!({"display_name": "a\u{0}b"}),
        json!({"external_id": "x".repeat(257)}),
        json!({"metadata": {"": 1}}),
    ] {
        let res = app.post("/v1/end-users", &body).await;
        res.assert_error(422, "validation_failed");
    }
    assert_eq!(app.get("/v1/end-users").await.body["data"], json!([]));
}

#[tokio::test]
async fn unicode_is_stored_and_returned_exactly() {
    let app = spawn_app().await;
    let name = "Zoë 👩🏽‍💻 \u{202e}RTL ｆｕｌｌ";
    let user = app
        .create_user(json!({"display_name": name, "metadata": {"emoji": "🦀", "ключ": "значение"}}))
        .await;
    let res = app.get(&format!("/v1/end-users/{}", id(&user))).await;
    assert_eq!(res.body["display_name"], name);
    assert_eq!(res.body["metadata"]["ключ"], "значение");
    // 256 characters of 4-byte UTF-8 are within the limit: it counts characters, not bytes.
    let long = "🦀".repeat(256);
    assert_eq!(
        app.post("/v1/end-users", &json!({"display_name": long}))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn path_ids_that_are_not_uuids_are_400() {
    let app = spawn_app().await;
    for id in [
        "abc",
        "0192f0c57b7a7c3e9a4b1d2e3f405162",
        "0192f0c5-7b7a-7c3e-9a4b-1d2e3f40516z",
        "%00",
        "..%2F..",
    ] {
        let path = format!("/v1/end-users/{id}");
        for method in ["GET", "PATCH", "DELETE"] {
            let res = app.request(method, &path).send().await;
            res.assert_error(400, "invalid_path_parameter");
            assert_eq!(res.body["details"]["parameter"], "user_id");
        }
    }
    // The check comes before authentication (the pipeline's order).
    app.request("GET", "/v1/end-users/abc")
        .no_key()
        .send()
        .await
        .assert_error(400, "invalid_path_parameter");
}
