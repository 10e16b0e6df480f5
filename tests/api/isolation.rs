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
    let list = app
        .send_as("GET", "/v1/end-users", As::Key(&b_key), None)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"], json!([]));
    // A's cursor is meaningless in B's partition: it cannot reveal A's users.
    let a_page = app.get("/v1/end-users?limit=1").await;
    assert_eq!(a_page.body["data"][0]["id"], user["id"]);

    assert_eq!(stored_user(&app, &user).await.unwrap(), before);
    let own = app.get(&path).await;
    assert_eq!(own.body["status"], "active");
}
