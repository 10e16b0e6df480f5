//! POST, GET, list and DELETE of end users.

use crate::stored_user;
use serde_json::{Value, json};
use tether_tests::id;
use tether_tests::spawn_app;

/// The path of an end user that does not exist.
const UNKNOWN: &str = "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162";

fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[tokio::test]
async fn create_returns_201_with_the_full_object_and_stores_it() {
    let app = spawn_app().await;
    let res = app.post("/v1/end-users", &json!({"email": "ada@example.com", "display_name": "Ada", "external_id": "crm-1", "metadata": {"tier": "gold"}})).await.assert_status(201);
    let user = &res.body;
    let id = id(user);
    assert_eq!(id.len(), 36);
    assert_eq!(id, id.to_lowercase());
    assert_eq!(user["organization_id"], app.org_id.to_string());
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["display_name"], "Ada");
    assert_eq!(user["external_id"], "crm-1");
    assert_eq!(user["metadata"], json!({"tier": "gold"}));
    assert_eq!(user["subscription"], "free");
    assert_eq!(user["externally_managed"], false);
    assert_eq!(user["status"], "active");
    assert!(is_timestamp(&user["created_at"]) && user["created_at"] == user["updated_at"]);
    assert_eq!(
        res.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        res.header("location"),
        Some(format!("/v1/end-users/{id}").as_str())
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(res.header("x-request-id").map(str::len), Some(26));

    let item = stored_user(&app, user)
        .await
        .expect("the end user is stored");
    assert_eq!(item["status"].as_s().unwrap(), "active");
    assert_eq!(item["metadata_json"].as_s().unwrap(), r#"{"tier":"gold"}"#);
}

#[tokio::test]
async fn create_with_an_empty_body_makes_a_blank_end_user() {
    let app = spawn_app().await;
    let res = app
        .request("POST", "/v1/end-users")
        .send()
        .await
        .assert_status(201);
    assert_eq!(res.body["email"], Value::Null);
    assert_eq!(res.body["metadata"], json!({}));
}

#[tokio::test]
async fn create_rejects_bad_fields_with_every_problem_listed_and_stores_nothing() {
    let app = spawn_app().await;
    let bad = json!({"email": "not-an-email", "display_name": 7, "metadata": [], "nickname": "x"});
    let res = app.post("/v1/end-users", &bad).await;
    res.assert_error(422, "validation_failed");
    let fields: Vec<&str> = res.body["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["email", "display_name", "metadata", "nickname"]
    );
    let list = app.get("/v1/end-users").await;
    assert_eq!(list.body["data"], json!([]), "a 4xx changes nothing");
}

#[tokio::test]
async fn get_returns_the_user_with_its_etag() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"email": "a@b.co"})).await;
    let id = id(&user);
    let res = app.get(&format!("/v1/end-users/{id}")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, user);
    assert_eq!(res.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn path_ids_are_accepted_in_any_case() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let upper = id(&user).to_uppercase();
    let res = app
        .get(&format!("/v1/end-users/{upper}"))
        .await
        .assert_status(200);
    assert_eq!(res.body["id"], user["id"]);
}

#[tokio::test]
async fn get_of_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let res = app.get(UNKNOWN).await;
    res.assert_error(404, "not_found");
    assert_eq!(res.body["details"]["resource"], "end_user");
}

#[tokio::test]
async fn list_pages_through_every_user_once_in_creation_order() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let user = app.create_user(json!({"external_id": format!("u{i}")}));
        created.push(id(&user.await).to_owned());
    }
    let (seen, pages) = app.walk_pages("/v1/end-users", 2).await;
    assert_eq!(seen, created);
    assert_eq!(pages, 3, "the last page carries no cursor to an empty page");
}

#[tokio::test]
async fn list_defaults_to_twenty_and_rejects_bad_parameters() {
    let app = spawn_app().await;
    let res = app.get("/v1/end-users").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, json!({"data": [], "next_cursor": null}));
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "limit=-1",
        "cursor=garbage",
        "cursor=",
        "limit=5&limit=6",
        "sort=asc",
    ] {
        let res = app.get(&format!("/v1/end-users?{query}")).await;
        res.assert_error(400, "invalid_query_parameter");
    }
}

#[tokio::test]
async fn delete_marks_the_user_deleting_and_is_idempotent() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"metadata": {"a": 1}})).await;
    let path = format!("/v1/end-users/{}", id(&user));
    let res = app.delete(&path).await.assert_status(202);
    assert_eq!(res.body["status"], "deleting");
    assert_eq!(res.body["id"], user["id"]);
    assert_eq!(
        stored_user(&app, &user).await.unwrap()["status"]
            .as_s()
            .unwrap(),
        "deleting"
    );

    let again = app.delete(&path).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body, res.body, "a second delete changes nothing");
    let get = app.get(&path).await;
    assert_eq!(get.body["status"], "deleting", "visible until the purge");
}

#[tokio::test]
async fn delete_of_an_unknown_user_is_404() {
    let app = spawn_app().await;
    let res = app.delete(UNKNOWN).await;
    res.assert_error(404, "not_found");
}

/// Metadata numbers come back exactly as sent, or are refused: never stored
/// as another value (docs/decisions.md).
#[tokio::test]
async fn metadata_numbers_round_trip_exactly_or_are_422() {
    let app = spawn_app().await;
    let exact = r#"{"metadata": {"big": 18446744073709551615, "neg": -9223372036854775808, "f": 0.30000000000000004, "p": 12345678901234567}}"#;
    let res = app.send_raw("POST", "/v1/end-users", "application/json", exact);
    let res = res.await.assert_status(201);
    assert!(res.text.contains("18446744073709551615"));
    assert!(res.text.contains("-9223372036854775808"));
    assert!(res.text.contains("0.30000000000000004"));
    assert!(res.text.contains("12345678901234567"));
    let path = format!("/v1/end-users/{}", id(&res.body));
    let read = app.get(&path).await;
    assert_eq!(read.body["metadata"], res.body["metadata"]);
    assert!(read.text.contains("18446744073709551615"));
    for body in [
        r#"{"metadata": {"n": 123456789012345678901234567890}}"#,
        r#"{"metadata": {"deep": [{"x": 1.00000000000000001}]}}"#,
    ] {
        let res = app.send_raw("POST", "/v1/end-users", "application/json", body);
        let res = res.await;
        res.assert_error(422, "validation_failed");
        assert_eq!(res.body["details"]["fields"][0]["field"], "metadata");
        let patch = app.send_raw("PATCH", &path, "application/json", body);
        patch.await.assert_error(422, "validation_failed");
    }
    let count = app.get("/v1/end-users").await;
    assert_eq!(count.data().len(), 1);
}
