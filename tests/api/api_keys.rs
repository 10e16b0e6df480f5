//! API keys over their life (SPEC §5): created, listed, revoked, rolled,
//! expiring, the last admin key kept — each change seen by the next request.

use serde_json::{Value, json};
use tether::auth::Scope;
use tether::clock::Clock as _;
use tether_tests::{As, TestApp, id, spawn_app};

async fn create(app: &TestApp, body: Value) -> Value {
    let res = app.post("/v1/api-keys", &body).await.assert_status(201);
    assert_eq!(
        res.headers["cache-control"], "no-store",
        "a secret is never cached"
    );
    res.body
}

fn key(created: &Value) -> &str {
    created["key"].as_str().expect("a secret")
}

#[tokio::test]
async fn a_created_key_is_shown_once_works_at_once_and_is_listed_without_its_secret() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"scopes": ["read_write", "read"], "name": "backend"}),
    )
    .await;
    let secret = key(&created);
    assert_eq!(
        secret,
        format!("{}_{}", &secret[..3 + 48], app.org_id),
        "tk_, 48 hex digits, the organization"
    );
    assert!(secret.starts_with("tk_") && secret[3..51].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        created["scopes"],
        json!(["read_write", "read"]),
        "echoed as sent"
    );
    assert_eq!(created["name"], "backend");
    assert_eq!(created["prefix"], &secret[3..11]);
    assert_eq!(created["expires_at"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);
    app.get_as(secret, "/v1/end-users").await.assert_status(200);

    let listed = app.get("/v1/api-keys").await.assert_status(200);
    assert!(!listed.text.contains(&secret[3..51]), "no secret in a list");
    let data = listed.data();
    assert_eq!(data.len(), 2, "the admin key and the new one");
    let mine = data.iter().find(|k| k["id"] == created["id"]).unwrap();
    assert!(mine.get("key").is_none());
    assert_eq!(mine["prefix"], created["prefix"]);
    // Used once: its last use, to the minute.
    let used = mine["last_used_at"].as_str().expect("recorded");
    assert!(used.ends_with(":00Z"), "{used}");
    // Pages of one, never cut short.
    let first = app.get("/v1/api-keys?limit=1").await;
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/v1/api-keys?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second.data().len(), 1);
    assert_eq!(second.body["next_cursor"], Value::Null);
    assert_ne!(first.body["data"][0]["id"], second.body["data"][0]["id"]);
}

#[tokio::test]
async fn last_used_costs_one_write_per_minute_not_per_request() {
    let app = spawn_app().await;
    let created = create(&app, json!({"scopes": ["read"]})).await;
    let secret = key(&created);
    let read = || app.get_as(secret, "/v1/end-users");
    let calls = || app.app.store.call_totals().calls;
    assert_eq!(read().await.status, 200, "first use: recorded");
    let before = calls();
    assert_eq!(read().await.status, 200);
    let same_minute = calls() - before;
    assert_eq!(
        same_minute, 2,
        "the same minute: the limiter and the list, no write"
    );
    app.clock.advance(time::Duration::minutes(1));
    let before = calls();
    assert_eq!(read().await.status, 200);
    assert_eq!(calls() - before, same_minute + 1, "a new minute: one write");
}

#[tokio::test]
async fn bad_bodies_are_422_with_every_field_and_store_nothing() {
    let app = spawn_app().await;
    for (body, fields) in [
        (json!({}), vec!["scopes"]),
        (json!({"scopes": []}), vec!["scopes"]),
        (json!({"scopes": ["read", "read"]}), vec!["scopes"]),
        (json!({"scopes": ["write"]}), vec!["scopes"]),
        (json!({"scopes": "read"}), vec!["scopes"]),
        (
            json!({"scopes": ["read"], "name": "n".repeat(101)}),
            vec!["name"],
        ),
        (
            json!({"scopes": ["read"], "expires_at": "tomorrow"}),
            vec!["expires_at"],
        ),
        (
            json!({"scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}),
            vec!["expires_at"],
        ),
        (
            // In the calendar only with its offset: stored clamped, it
            // would be enforced as sent.
            json!({"scopes": ["read"], "expires_at": "9999-12-31T23:30:00-01:00"}),
            vec!["expires_at"],
        ),
        (json!({"scopes": ["read"], "key": "tk_mine"}), vec!["key"]),
    ] {
        let res = app.post("/v1/api-keys", &body).await;
        res.assert_error(422, "validation_failed");
        for field in fields {
            let named = res.body["details"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["field"] == field);
            assert!(named, "{body}: {}", res.text);
        }
    }
    let listed = app.get("/v1/api-keys").await;
    assert_eq!(listed.data().len(), 1, "nothing stored");
    let roll = format!("/v1/api-keys/{}/roll", app.admin_key_id);
    for grace in [json!(-1), json!(604_801), json!("60"), json!(1.5)] {
        app.post(&roll, &json!({"expires_in_seconds": grace}))
            .await
            .assert_error(422, "validation_failed");
    }
    app.delete("/v1/api-keys/not-a-uuid")
        .await
        .assert_error(400, "invalid_path_parameter");
}

#[tokio::test]
async fn keys_need_admin_and_another_organizations_key_is_404() {
    let app = spawn_app().await;
    let writer = app.create_read_write_key().await;
    for (method, path) in [
        ("GET", "/v1/api-keys".to_owned()),
        ("POST", "/v1/api-keys".to_owned()),
        ("DELETE", format!("/v1/api-keys/{}", app.admin_key_id)),
        ("POST", format!("/v1/api-keys/{}/roll", app.admin_key_id)),
    ] {
        app.send_as(
            method,
            &path,
            As::Key(&writer),
            Some(&json!({"scopes": ["read"]})),
        )
        .await
        .assert_error(403, "insufficient_scope");
    }
    let (other_org, other_key) = app.create_org("B").await;
    let (theirs, _) = app.create_key_with_id(other_org, &[Scope::Read]).await;
    app.delete(&format!("/v1/api-keys/{theirs}"))
        .await
        .assert_error(404, "not_found");
    app.post_empty(&format!("/v1/api-keys/{theirs}/roll"))
        .await
        .assert_error(404, "not_found");
    let listed = app.get_as(&other_key, "/v1/api-keys").await;
    let ids: Vec<&Value> = listed.data().iter().map(|k| &k["id"]).collect();
    assert_eq!(ids.len(), 2, "B's own two keys only");
    assert!(!ids.contains(&&json!(app.admin_key_id.to_string())));
    // B's key still works: nothing of A's reached it.
    assert_eq!(app.get_as(&other_key, "/v1/end-users").await.status, 200);
}

#[tokio::test]
async fn the_last_non_expiring_admin_key_cannot_be_revoked_but_can_be_rolled() {
    let app = spawn_app().await;
    let own = format!("/v1/api-keys/{}", app.admin_key_id);
    app.delete(&own).await.assert_error(409, "last_admin_key");
    // An expiring admin key does not count.
    let in_an_hour =
        tether::clock::Timestamp::from(app.clock.now() + time::Duration::hours(1)).to_string();
    create(&app, json!({"scopes": ["admin"], "expires_at": in_an_hour})).await;
    app.delete(&own).await.assert_error(409, "last_admin_key");
    // Rolling it is allowed: the new key takes its place.
    let rolled = app
        .post_empty(&format!("{own}/roll"))
        .await
        .assert_status(201);
    assert_eq!(rolled.body["scopes"], json!(["admin"]));
    let new = key(&rolled.body).to_owned();
    app.get_as(&app.admin_key, "/v1/end-users")
        .await
        .assert_error(401, "invalid_credentials");
    // With another non-expiring admin key the rolled one can go.
    let second = app
        .send_as(
            "POST",
            "/v1/api-keys",
            As::Key(&new),
            Some(&json!({"scopes": ["admin"]})),
        )
        .await
        .body;
    let rolled_path = format!("/v1/api-keys/{}", id(&rolled.body));
    let revoke_rolled = || app.send_as("DELETE", &rolled_path, As::Key(key(&second)), None);
    revoke_rolled().await.assert_status(204);
    app.get_as(&new, "/v1/end-users")
        .await
        .assert_error(401, "invalid_credentials");
    revoke_rolled().await.assert_error(404, "not_found");
}

#[tokio::test]
async fn two_admins_revoking_each_other_at_once_leave_exactly_one() {
    let app = spawn_app().await;
    let second = create(&app, json!({"scopes": ["admin"]})).await;
    let first_path = format!("/v1/api-keys/{}", app.admin_key_id);
    let second_path = format!("/v1/api-keys/{}", id(&second));
    let (a, b) = tokio::join!(
        app.send_as("DELETE", &second_path, As::Key(&app.admin_key), None),
        app.send_as("DELETE", &first_path, As::Key(key(&second)), None),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    // One revocation wins; the other is the last admin key (409) or, when it
    // came after its own key was revoked, a 401.
    assert_eq!(statuses[0], 204, "{} / {}", a.text, b.text);
    assert!(matches!(statuses[1], 401 | 409), "{} / {}", a.text, b.text);
    let org = app.organization().await;
    assert_eq!(org.admin_keys, 1, "never zero admin keys");
}

#[tokio::test]
async fn a_rolled_key_works_through_its_grace_period_and_not_after() {
    let app = spawn_app().await;
    let old = create(&app, json!({"scopes": ["read"], "name": "reporting"})).await;
    let rolled = app
        .post(
            &format!("/v1/api-keys/{}/roll", id(&old)),
            &json!({"expires_in_seconds": 3600}),
        )
        .await
        .assert_status(201);
    assert_eq!(rolled.headers["cache-control"], "no-store");
    assert_eq!(rolled.body["name"], "reporting");
    assert_ne!(rolled.body["key"], old["key"]);
    let app = &app;
    let read = |secret: String| async move { app.get_as(&secret, "/v1/end-users").await.status };
    let (old_secret, new_secret) = (key(&old).to_owned(), key(&rolled.body).to_owned());
    assert_eq!(read(old_secret.clone()).await, 200, "in its grace period");
    assert_eq!(read(new_secret.clone()).await, 200);
    let listed = app.get("/v1/api-keys").await;
    let old_listed = listed
        .data()
        .iter()
        .find(|k| k["id"] == old["id"])
        .unwrap()
        .clone();
    let expected =
        tether::clock::Timestamp::from(app.clock.now() + time::Duration::hours(1)).to_string();
    assert_eq!(old_listed["expires_at"], expected.as_str());
    app.clock.advance(time::Duration::seconds(3600));
    assert_eq!(read(old_secret).await, 401, "the grace period is over");
    assert_eq!(read(new_secret).await, 200);
    app.post_empty(&format!("/v1/api-keys/{}/roll", id(&old)))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_key_with_an_expiry_stops_working_then() {
    let app = spawn_app().await;
    let at =
        tether::clock::Timestamp::from(app.clock.now() + time::Duration::minutes(5)).to_string();
    let created = create(&app, json!({"scopes": ["read"], "expires_at": at})).await;
    assert_eq!(created["expires_at"], at.as_str());
    let secret = key(&created).to_owned();
    let read = || app.get_as(&secret, "/v1/end-users");
    assert_eq!(read().await.status, 200);
    app.clock.advance(time::Duration::minutes(5));
    read().await.assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn a_retried_creation_replays_the_same_key_to_the_same_admin() {
    let app = spawn_app().await;
    let body = json!({"scopes": ["read"]});
    let first = app.post_once("/v1/api-keys", "create-key-1", &body).await;
    let again = app.post_once("/v1/api-keys", "create-key-1", &body).await;
    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["key"], first.body["key"]);
    let listed = app.get("/v1/api-keys").await;
    assert_eq!(listed.data().len(), 2, "one key made");
    // The stored replay never holds the secret in plaintext.
    let items = crate::table_items(&app).await;
    let secret = first.body["key"].as_str().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["PK"].as_s().is_ok_and(|pk| pk.starts_with("IDEMP#"))),
        "the response is stored"
    );
    assert!(
        !format!("{items:?}").contains(&secret[3..51]),
        "no plaintext secret at rest"
    );
}
