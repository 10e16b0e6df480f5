//! Directories (SPEC §18): the SCIM connections of an organization, created
//! with a `scim_` bearer token shown once, listed and read without it,
//! capped, rolled and deleted.

use serde_json::{Value, json};
use tether_tests::{TestApp, id, spawn_app};

async fn create(app: &TestApp, name: &str) -> Value {
    let res = app
        .post("/v1/directories", &json!({ "name": name }))
        .await
        .assert_status(201);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    res.body
}

fn token(directory: &Value) -> &str {
    directory["bearer_token"].as_str().expect("a bearer token")
}

#[tokio::test]
async fn a_directory_shows_its_token_once_and_never_again() {
    let app = spawn_app().await;
    let created = create(&app, "Okta").await;
    let token = token(&created);
    assert!(token.starts_with("scim_") && token.len() == 53, "{token}");
    let id = id(&created);
    assert_eq!(created["name"], "Okta");
    assert_eq!(created["token_prefix"], token[5..13]);
    assert!(
        created["scim_base_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/{id}")),
        "{created}"
    );
    let got = app
        .get(&format!("/v1/directories/{id}"))
        .await
        .assert_status(200);
    let listed = app.get("/v1/directories").await.assert_status(200);
    for shown in [&got.body, &listed.data()[0]] {
        assert!(shown.get("bearer_token").is_none(), "{shown}");
        assert!(!shown.to_string().contains(&token[5..]), "{shown}");
        assert_eq!(shown["scim_base_url"], created["scim_base_url"]);
    }
    // Nothing stored holds the token, not even the Idempotency-Key's record
    // of the response in plaintext.
    let replayed = app
        .request("POST", "/v1/directories")
        .header("Idempotency-Key", "dir-1")
        .json(&json!({"name": "Entra"}))
        .send()
        .await
        .assert_status(201);
    let again = app
        .request("POST", "/v1/directories")
        .header("Idempotency-Key", "dir-1")
        .json(&json!({"name": "Entra"}))
        .send()
        .await
        .assert_status(201);
    assert_eq!(
        again.body, replayed.body,
        "a retry replays the first answer"
    );
    assert_eq!(app.get("/v1/directories").await.data().len(), 2);
    let table = format!("{:?}", crate::table_items(&app).await);
    for secret in [token, self::token(&replayed.body)] {
        assert!(!table.contains(&secret[5..]), "the table holds a token");
    }
}

#[tokio::test]
async fn directories_are_capped_per_organization_even_in_parallel() {
    let app = spawn_app().await;
    let bodies: Vec<Value> = (0..10).map(|n| json!({"name": format!("d{n}")})).collect();
    let creations = bodies.iter().map(|body| app.post("/v1/directories", body));
    let answers = futures_util::future::join_all(creations).await;
    let created: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 5, "exactly the default cap");
    for refused in answers.iter().filter(|r| r.status != 201) {
        refused.assert_error(409, "limit_reached");
        assert_eq!(
            refused.body["details"],
            json!({"limit": "directories", "max": 5})
        );
    }
    let deleted = app
        .delete(&format!("/v1/directories/{}", id(&created[0].body)))
        .await;
    assert_eq!(deleted.status, 204);
    create(&app, "after a deletion").await;
    app.post("/v1/directories", &json!({"name": "one more"}))
        .await
        .assert_error(409, "limit_reached");
}

#[tokio::test]
async fn a_roll_shows_the_new_token_once_and_a_deletion_is_final() {
    let app = spawn_app().await;
    let created = create(&app, "Okta").await;
    let path = format!("/v1/directories/{}", id(&created));
    let rolled = app
        .post_empty(&format!("{path}/roll-token"))
        .await
        .assert_status(200);
    assert_eq!(rolled.header("cache-control"), Some("no-store"));
    assert_ne!(token(&rolled.body), token(&created));
    assert_eq!(rolled.body["token_prefix"], token(&rolled.body)[5..13]);
    assert!(rolled.body["token_rolled_at"].is_string());
    let got = app.get(&path).await.assert_status(200);
    assert_eq!(got.body["token_prefix"], rolled.body["token_prefix"]);
    assert_eq!(app.delete(&path).await.status, 204);
    app.get(&path).await.assert_error(404, "not_found");
    app.delete(&path).await.assert_error(404, "not_found");
    app.post_empty(&format!("{path}/roll-token"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn another_organizations_directory_is_404_and_needs_an_admin_key() {
    let app = spawn_app().await;
    let created = create(&app, "Okta").await;
    let path = format!("/v1/directories/{}", id(&created));
    let (_, other) = app.create_org("Org B").await;
    for (method, path) in [
        ("GET", path.clone()),
        ("DELETE", path.clone()),
        ("POST", format!("{path}/roll-token")),
    ] {
        let res = app.request(method, &path).key(&other).send().await;
        res.assert_error(404, "not_found");
        assert_eq!(res.body["details"]["resource"], "directory");
    }
    assert_eq!(
        app.get_as(&other, "/v1/directories").await.body["data"],
        json!([])
    );
    let (_, read_write) = app.create_key_of(tether::auth::Scope::ReadWrite).await;
    app.request("POST", "/v1/directories")
        .key(&read_write)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    app.get("/v1/directories/not-a-uuid")
        .await
        .assert_error(400, "invalid_path_parameter");
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({"name": "x".repeat(101)}),
    ] {
        app.post("/v1/directories", &body)
            .await
            .assert_error(422, "validation_failed");
    }
    // The directory is still there, its token unrolled.
    let got = app.get(&path).await.assert_status(200);
    assert_eq!(got.body["token_prefix"], created["token_prefix"]);
}
