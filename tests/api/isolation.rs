//! Tenant isolation: organization B's key on every organization A resource is a 404.

use crate::stored_user;
use serde_json::json;
use tether_tests::As;
use tether_tests::id;
use tether_tests::spawn_app;

#[tokio::test]
async fn another_organizations_key_sees_nothing_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app
        .create_user(json!({"email": "a@a.io", "metadata": {"k": "v"}}))
        .await;
    let path = format!("/v1/end-users/{}", id(&user));
    let before = stored_user(&app, &user).await.unwrap();
    let (_, b_key) = app.create_org("Org B").await;

    let attempts = [
        app.request("GET", &path).key(&b_key),
        app.request("PATCH", &path)
            .key(&b_key)
            .json(&json!({"metadata": {"stolen": true}})),
        app.request("PATCH", &path).key(&b_key).json(&json!({})),
        app.request("PATCH", &path)
            .key(&b_key)
            .header("If-Match", "\"1\"")
            .json(&json!({"metadata": {}})),
        app.request("DELETE", &path).key(&b_key),
    ];
    for attempt in attempts {
        let res = attempt.send().await;
        res.assert_error(404, "not_found");
        assert_eq!(res.body["details"]["resource"], "end_user");
    }
    let list = app.get_as(&b_key, "/v1/end-users").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"], json!([]));
    // A's cursor is meaningless in B's partition: it cannot reveal A's users.
    let a_page = app.get("/v1/end-users?limit=1").await;
    assert_eq!(a_page.body["data"][0]["id"], user["id"]);

    assert_eq!(stored_user(&app, &user).await.unwrap(), before);
    let own = app.get(&path).await;
    assert_eq!(own.body["status"], "active");
}

/// SPEC §8: the resource of a decision is the stored object, its
/// organization read from the item — so Cedar's built-in tenant rule is a
/// real second check behind the keys derived from the caller. Here a key
/// derivation gone wrong is simulated: organization B's end user, webhook
/// endpoint and identity provider are copied under organization A's keys.
/// A's key is answered 404 on each, never B's object.
#[tokio::test]
async fn an_item_of_another_organization_under_the_callers_keys_is_not_served() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = spawn_app().await;
    let (_, b_key) = app.create_org("Org B").await;
    let as_b = |method: &'static str, path: &'static str, body: serde_json::Value| {
        let app = &app;
        let b_key = b_key.clone();
        async move {
            app.send_as(method, path, As::Key(&b_key), Some(&body))
                .await
                .body
        }
    };
    let user = as_b("POST", "/v1/end-users", json!({"email": "b@b.io"})).await;
    let hook = as_b(
        "POST",
        "/v1/webhook-endpoints",
        json!({"url": "http://127.0.0.1:9/hooks"}),
    )
    .await;
    let provider = as_b(
        "POST",
        "/v1/identity-providers",
        tether_tests::idp::provider_body(),
    )
    .await;
    let b_pk = format!("ORG#{}", user["organization_id"].as_str().unwrap());
    let copies = [
        (
            format!("USER#{}", id(&user)),
            format!("/v1/end-users/{}", id(&user)),
        ),
        (
            format!("WHE#{}", id(&hook)),
            format!("/v1/webhook-endpoints/{}", id(&hook)),
        ),
        (
            format!("IDP#{}", id(&provider)),
            format!("/v1/identity-providers/{}", id(&provider)),
        ),
    ];
    for (sk, path) in copies {
        let mut item = crate::stored_item(&app, &b_pk, &sk)
            .await
            .unwrap_or_else(|| panic!("{sk} is stored under {b_pk}"));
        item.insert(
            "PK".into(),
            AttributeValue::S(format!("ORG#{}", app.org_id)),
        );
        app.put_raw_item(item).await;
        let res = app.get(&path).await;
        res.assert_error(404, "not_found");
        assert!(!res.text.contains("b@b.io"));
    }
}
