//! Authentication and tenancy (SPEC §5) through the pipeline.

use aws_sdk_dynamodb::types::AttributeValue;
use key_hash::hash_hex;
use serde_json::json;
use tether_tests::spawn_app;

/// SHA-256 hex of a key, as the store keys it (via the crate's own hashing).
mod key_hash {
    pub fn hash_hex(key: &str) -> String {
        let secret = tether::auth::ApiKeySecret::parse(key).expect("a well-formed key");
        secret.hash().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[tokio::test]
async fn missing_key_is_401_missing_credentials() {
    let app = spawn_app().await;
    let res = app.request("GET", "/v1/end-users").no_key().send().await;
    res.assert_error(401, "missing_credentials");
}

#[tokio::test]
async fn malformed_unknown_and_duplicated_keys_are_401_invalid_credentials() {
    let app = spawn_app().await;
    let unknown = format!("tk_{}", "0".repeat(48));
    for key in [
        "",
        "tk_short",
        "Bearer nope",
        unknown.as_str(),
        &app.admin_key.to_uppercase(),
    ] {
        let res = app.get_as(key, "/v1/end-users").await;
        res.assert_error(401, "invalid_credentials");
    }
    let dup = app
        .request("GET", "/v1/end-users")
        .header("x-api-key", &app.admin_key)
        .send()
        .await;
    dup.assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn a_revoked_key_is_401() {
    let app = spawn_app().await;
    let (id, key) = app.create_key_of(tether::auth::Scope::Admin).await;
    // Warm: the key is cached by this function.
    assert_eq!(app.get_as(&key, "/v1/end-users").await.status, 200);
    app.delete(&format!("/v1/api-keys/{id}"))
        .await
        .assert_status(204);
    app.get_as(&key, "/v1/end-users")
        .await
        .assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let item = crate::stored_item(
        &app,
        &format!("APIKEY#{}", hash_hex(&app.admin_key)),
        "APIKEY",
    )
    .await
    .unwrap();
    let dump = format!("{item:?}");
    assert!(
        !dump.contains(&app.admin_key[3..3 + 48]),
        "the secret is not stored"
    );
    assert_eq!(
        item["organization_id"].as_s().unwrap(),
        &app.org_id.to_string()
    );
}

#[tokio::test]
async fn lookups_are_cached_in_the_warm_function() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    // Remove the key item: the warm cache still knows the key (≤ 60 s).
    app.app
        .store
        .client()
        .delete_item()
        .table_name(app.app.store.table())
        .key(
            "PK",
            AttributeValue::S(format!("APIKEY#{}", hash_hex(&app.admin_key))),
        )
        .key("SK", AttributeValue::S("APIKEY".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(app.get("/v1/end-users").await.status, 200);
}

#[tokio::test]
async fn tenant_header_must_name_the_keys_organization() {
    let app = spawn_app().await;
    let own = app.org_id.to_string();
    for tenant in [own.clone(), own.to_uppercase()] {
        let res = app
            .request("GET", "/v1/end-users")
            .header("X-Tenant-ID", &tenant)
            .send()
            .await;
        assert_eq!(res.status, 200, "{tenant}: {}", res.text);
    }
    let (other_org, _) = app.create_org("Other").await;
    for tenant in [
        other_org.to_string(),
        "not-a-uuid".to_owned(),
        String::new(),
    ] {
        let res = app
            .request("POST", "/v1/end-users")
            .header("X-Tenant-ID", &tenant)
            .json(&json!({"email": "x@y.z"}))
            .send()
            .await;
        res.assert_error(403, "tenant_mismatch");
    }
    let dup = app
        .request("GET", "/v1/end-users")
        .header("X-Tenant-ID", &own)
        .header("X-Tenant-ID", &own)
        .send()
        .await;
    dup.assert_error(403, "tenant_mismatch");
    let list = app.get("/v1/end-users").await;
    assert_eq!(
        list.body["data"],
        json!([]),
        "no end user was created by the refused requests"
    );
}

/// A key names its organization (so a cold function reads the key and the
/// organization in one round trip); the name is covered by the key's hash,
/// so the secret works under no other name, cold or warm. Keys issued before
/// keys named their organization keep working until revoked.
#[tokio::test]
async fn a_keys_organization_cannot_be_renamed_and_older_keys_still_work() {
    let app = spawn_app().await;
    let (other_org, other_key) = app.create_org("Other").await;
    let random = &app.admin_key[..3 + 48];
    assert_eq!(app.admin_key, format!("{random}_{}", app.org_id));
    let renamed = format!("{random}_{other_org}");
    let unnamed = random.to_owned();
    let borrowed = format!("{}_{}", &other_key[..3 + 48], app.org_id);
    // Cold (nothing cached), then warm (the key and both organizations cached).
    let cold = app.cold_instance();
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    assert_eq!(app.get_as(&other_key, "/v1/end-users").await.status, 200);
    for (instance, state) in [(&cold, "cold"), (&app, "warm")] {
        let res = instance
            .request("GET", "/v1/end-users")
            .header("X-Tenant-ID", &other_org.to_string())
            .send()
            .await;
        res.assert_error(403, "tenant_mismatch");
        for key in [&renamed, &unnamed, &borrowed] {
            instance
                .get_as(key, "/v1/end-users")
                .await
                .assert_error(401, "invalid_credentials");
        }
        assert_eq!(instance.get("/v1/end-users").await.status, 200, "{state}");
    }

    let (older_id, older) = app
        .create_older_form_key(app.org_id, &[tether::auth::Scope::Admin])
        .await;
    for instance in [&app.cold_instance(), &app] {
        instance
            .get_as(&older, "/v1/end-users")
            .await
            .assert_status(200);
    }
    app.delete(&format!("/v1/api-keys/{older_id}"))
        .await
        .assert_status(204);
    for instance in [&app.cold_instance(), &app] {
        instance
            .get_as(&older, "/v1/end-users")
            .await
            .assert_error(401, "invalid_credentials");
    }
}

#[tokio::test]
async fn every_response_has_its_own_request_id() {
    let app = spawn_app().await;
    let a = app.get("/v1/end-users").await;
    let b = app.request("GET", "/v1/end-users").no_key().send().await;
    let (a, b) = (
        a.header("x-request-id").unwrap().to_owned(),
        b.header("x-request-id").unwrap().to_owned(),
    );
    assert_ne!(a, b);
    assert!(ulid::Ulid::from_string(&a).is_ok() && ulid::Ulid::from_string(&b).is_ok());
}
