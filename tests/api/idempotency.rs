//! `Idempotency-Key` on every POST (SPEC §9).

use serde_json::json;
use std::sync::Arc;
use tether::clock::Clock;
use tether::idempotency::{self, IdempotencyKey};
use tether_tests::{TestApp, spawn_app};

async fn user_count(app: &TestApp) -> usize {
    app.request("GET", "/v1/end-users?limit=100")
        .send()
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_retry_replays_the_first_response_byte_for_byte() {
    let app = spawn_app().await;
    let body = json!({"email": "ada@example.com", "metadata": {"k": 1}});
    let first = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "create-ada")
        .json(&body)
        .send()
        .await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "create-ada")
        .json(&body)
        .send()
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.text, first.text, "byte-identical");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_ne!(
        again.header("x-request-id"),
        first.header("x-request-id"),
        "a new request id"
    );
    assert!(again.header("x-ratelimit-limit").is_some());
    assert_eq!(user_count(&app).await, 1, "one resource");
    let org = crate::stored_item(&app, &format!("ORG#{}", app.org_id), "ORG")
        .await
        .unwrap();
    assert_eq!(org["relationships_active"].as_n().unwrap(), "1");
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422() {
    let app = spawn_app().await;
    let key = "order-7";
    assert_eq!(
        app.request("POST", "/v1/end-users")
            .header("Idempotency-Key", key)
            .json(&json!({"email": "a@b.co"}))
            .send()
            .await
            .status,
        201
    );
    let other_body = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", key)
        .json(&json!({"email": "c@d.co"}))
        .send()
        .await;
    other_body.assert_error(422, "idempotency_key_reused");
    let provider = app
        .request("POST", "/v1/identity-providers")
        .header("Idempotency-Key", key)
        .json(&tether_tests::idp::provider_body())
        .send()
        .await;
    provider.assert_error(422, "idempotency_key_reused");
    assert_eq!(user_count(&app).await, 1);
    // Keys are per organization.
    let (_, b_key) = app.create_org("B").await;
    let b = app
        .request("POST", "/v1/end-users")
        .key(&b_key)
        .header("Idempotency-Key", key)
        .json(&json!({"email": "c@d.co"}))
        .send()
        .await;
    assert_eq!(b.status, 201);
}

#[tokio::test]
async fn error_responses_of_the_operation_are_replayed_too() {
    let app = spawn_app().await;
    let provider = app.create_provider().await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = "/v1/users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162/identities";
    let body = json!({"identity_provider_id": provider, "external_id": "x"});
    let first = app
        .request("POST", path)
        .header("Idempotency-Key", "link-1")
        .json(&body)
        .send()
        .await;
    first.assert_error(404, "not_found");
    let again = app
        .request("POST", path)
        .header("Idempotency-Key", "link-1")
        .json(&body)
        .send()
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(
        again.text, first.text,
        "the stored error, its request id included"
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // A request refused before the operation (here: the body) stores nothing.
    let bad = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "bad-1")
        .json(&json!({"email": 1}))
        .send()
        .await;
    bad.assert_error(422, "validation_failed");
    let fixed = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "bad-1")
        .json(&json!({"email": "ok@b.co"}))
        .send()
        .await;
    assert_eq!(fixed.status, 201, "{}", fixed.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_concurrent_posts_with_one_key_create_one_resource() {
    let app = Arc::new(spawn_app().await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let res = app
                    .request("POST", "/v1/end-users")
                    .header("Idempotency-Key", "burst")
                    .json(&json!({"email": "once@b.co"}))
                    .send()
                    .await;
                (res.status, res.body["code"].clone())
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, _) => created += 1,
            (409, code) => assert_eq!(code, "idempotency_in_progress"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(created >= 1);
    assert_eq!(
        user_count(&app).await,
        1,
        "one end user however the race went"
    );
}

#[tokio::test]
async fn a_request_in_progress_is_409_until_its_lease_expires() {
    let app = spawn_app().await;
    let body = json!({"email": "slow@b.co"});
    let text = body.to_string();
    let fingerprint = idempotency::fingerprint("POST", "/v1/end-users", text.as_bytes());
    let key = IdempotencyKey::parse("slow-1").unwrap();
    let owner = format!("ORG#{}", app.org_id);
    let now = app.clock.now().unix_timestamp();
    // Another function claimed the key and is still running (or died).
    assert!(matches!(
        idempotency::begin(&app.app.store, &owner, &key, &fingerprint, now)
            .await
            .unwrap(),
        idempotency::Begin::Run(_)
    ));
    let busy = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "slow-1")
        .raw_body("application/json", &text)
        .send()
        .await;
    busy.assert_error(409, "idempotency_in_progress");
    assert_eq!(user_count(&app).await, 0);
    app.clock
        .advance(time::Duration::seconds(idempotency::LEASE_SECONDS + 1));
    let taken_over = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "slow-1")
        .raw_body("application/json", &text)
        .send()
        .await;
    assert_eq!(taken_over.status, 201, "{}", taken_over.text);
}

#[tokio::test]
async fn keys_last_24_hours() {
    let app = spawn_app().await;
    let first = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "daily")
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(first.status, 201);
    let now = app.clock.now().unix_timestamp();
    let mut found = None;
    let items = app
        .app
        .store
        .client()
        .scan()
        .table_name(app.app.store.table())
        .send()
        .await
        .unwrap();
    for item in items.items() {
        if item["PK"].as_s().unwrap().starts_with("IDEMP#") {
            found = Some(
                item[tether::store::TTL_ATTRIBUTE]
                    .as_n()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap(),
            );
        }
    }
    assert_eq!(found, Some(now + 24 * 3600), "TTL attribute 24 h ahead");
    app.clock
        .advance(time::Duration::hours(24) + time::Duration::seconds(1));
    let later = app
        .request("POST", "/v1/end-users")
        .header("Idempotency-Key", "daily")
        .json(&json!({"email": "new@b.co"}))
        .send()
        .await;
    assert_eq!(later.status, 201, "an expired key is free again");
    assert!(later.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn malformed_keys_are_422_and_other_methods_ignore_the_header() {
    let app = spawn_app().await;
    for key in ["k".repeat(256), "tab\there".to_owned()] {
        let res = app
            .request("POST", "/v1/end-users")
            .header("Idempotency-Key", &key)
            .json(&json!({}))
            .send()
            .await;
        res.assert_error(422, "validation_failed");
        assert_eq!(res.body["details"]["fields"][0]["field"], "Idempotency-Key");
    }
    // (A repeated header reaches the function joined with commas by API
    // Gateway: "a,b" is then simply the key.)
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}", user["id"].as_str().unwrap());
    for _ in 0..2 {
        let res = app
            .request("PATCH", &path)
            .header("Idempotency-Key", "p")
            .json(&json!({"metadata": {"n": 1}}))
            .send()
            .await;
        assert_eq!(res.status, 200);
        assert!(res.header("idempotent-replayed").is_none());
    }
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn service_claims_are_idempotent_too() {
    let app = spawn_app().await;
    let (service, token) = app.create_service(&[]).await;
    let connect = app.create_connect_token(&service).await;
    let path = format!("/api/v1/external-services/{service}/organization-relations/claim");
    let body = json!({"connectToken": connect["token"], "externalOrganizationId": "acct"});
    let first = app
        .request("POST", &path)
        .bearer(&token)
        .header("Idempotency-Key", "claim-1")
        .json(&body)
        .send()
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = app
        .request("POST", &path)
        .bearer(&token)
        .header("Idempotency-Key", "claim-1")
        .json(&body)
        .send()
        .await;
    assert_eq!(
        again.status, 200,
        "a replay, not connect_token_unusable: {}",
        again.text
    );
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}
