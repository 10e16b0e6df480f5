//! Access tokens, the JWKS, `GET /v1/me` (SPEC §5, §10).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::json;
use tether::clock::Clock as _;
use tether_tests::As;
use tether_tests::id;
use tether_tests::{TestApp, TestResponse, spawn_app, spawn_app_with_user};

/// `GET /v1/me` as the end user of the access token `token`.
async fn me(app: &TestApp, token: &str) -> TestResponse {
    app.get_with_token(token, "/v1/me").await
}

/// Asserts that `GET /v1/me` with `token` is refused: 401
/// `invalid_credentials`.
async fn assert_token_refused(app: &TestApp, token: &str) {
    let res = me(app, token).await;
    res.assert_error(401, "invalid_credentials");
}

/// The keys `GET /.well-known/jwks.json` publishes (asserting 200).
async fn published_keys(app: &TestApp) -> JwkSet {
    let request = app.request("GET", "/.well-known/jwks.json").no_key();
    let jwks = request.send().await.assert_status(200);
    serde_json::from_value(jwks.body).unwrap()
}

/// The end user's own SSO link of `provider`, as `subject`, with `token`.
async fn sso_link(app: &TestApp, token: &str, provider: &str, subject: &str) -> TestResponse {
    let now = app.clock.now().unix_timestamp();
    let id_token = tether_tests::idp::id_token(subject, now);
    let body = json!({"identity_provider_id": provider, "id_token": id_token});
    app.send_as("POST", "/v1/me/sso/link", As::Bearer(token), Some(&body))
        .await
}

#[tokio::test]
async fn a_minted_token_opens_the_user_api_and_verifies_against_the_jwks() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"email": "ada@example.com"})).await;
    let res = app
        .request("POST", &format!("/v1/end-users/{}/tokens", id(&user)))
        .send()
        .await
        .assert_status(201);
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 900);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let token = res.body["access_token"].as_str().unwrap();

    let mine = me(&app, token).await.assert_status(200);
    assert_eq!(mine.body, user);
    assert!(
        mine.header("x-ratelimit-limit").is_some(),
        "user tokens are charged to the organization"
    );

    let set = published_keys(&app).await;
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let key = DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["org"], user["organization_id"]);
    assert_eq!(claims["iss"], "tether");
    assert!(
        claims["jti"].as_str().is_some()
            && claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() == 900
    );
}

#[tokio::test]
async fn bad_missing_and_expired_tokens_are_401() {
    let (app, user) = spawn_app_with_user().await;
    let token = app.user_token(&user);
    // No bearer token: none at all, the organization's API key, Basic.
    let basic = format!("Basic {token}");
    for request in [
        app.request("GET", "/v1/me").no_key(),
        app.request("GET", "/v1/me"),
        app.request("GET", "/v1/me")
            .header("authorization", &basic)
            .no_key(),
    ] {
        let res = request.send().await;
        res.assert_error(401, "missing_credentials");
    }
    let mut tampered = token.clone();
    tampered.insert(tampered.len() / 2, 'x');
    for bad in ["garbage", &tampered] {
        assert_token_refused(&app, bad).await;
    }
    app.clock.advance(time::Duration::minutes(16));
    assert_token_refused(&app, &token).await;
}

#[tokio::test]
async fn tokens_need_read_write_and_an_existing_active_user() {
    let (app, user) = spawn_app_with_user().await;
    let path = format!("/v1/end-users/{}/tokens", id(&user));
    let reader = app.create_read_key().await;
    app.send_as("POST", &path, As::Key(&reader), None)
        .await
        .assert_error(403, "insufficient_scope");
    let unknown = "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162/tokens";
    app.request("POST", unknown)
        .send()
        .await
        .assert_error(404, "not_found");
    app.post(&path, &json!({"ttl": 5}))
        .await
        .assert_error(422, "validation_failed");
    let deleted = app.delete(&format!("/v1/end-users/{}", id(&user))).await;
    assert_eq!(deleted.status, 202);
    app.request("POST", &path)
        .send()
        .await
        .assert_error(409, "user_deleting");
}

async fn minted(app: &TestApp, user: &serde_json::Value) -> String {
    let res = app
        .request("POST", &format!("/v1/end-users/{}/tokens", id(user)))
        .send()
        .await
        .assert_status(201);
    res.body["access_token"].as_str().unwrap().to_owned()
}

/// SPEC §5: revoking an end user's tokens refuses every token minted before
/// — on both user-API operations, from the next request — and tokens minted
/// afterwards work.
#[tokio::test]
async fn revoked_tokens_are_401_from_the_next_request_and_new_ones_work() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = app.create_user(json!({})).await;
    let old = minted(&app, &user).await;
    assert_eq!(me(&app, &old).await.status, 200);
    let revoke = format!("/v1/end-users/{}/tokens/revoke", id(&user));
    app.post_empty(&revoke).await.assert_status(204);
    assert_token_refused(&app, &old).await;
    sso_link(&app, &old, &provider, "ada")
        .await
        .assert_error(401, "invalid_credentials");
    let new = minted(&app, &user).await;
    assert_eq!(me(&app, &new).await.status, 200);
    sso_link(&app, &new, &provider, "ada")
        .await
        .assert_status(201);
    // Revoking is idempotent; unknown, malformed and another organization's users.
    assert_eq!(app.post_empty(&revoke).await.status, 204);
    assert_token_refused(&app, &new).await;
    app.post(
        "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162/tokens/revoke",
        &json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.post("/v1/end-users/nope/tokens/revoke", &json!({}))
        .await
        .assert_error(400, "invalid_path_parameter");
    app.post(&revoke, &json!({"all": true}))
        .await
        .assert_error(422, "validation_failed");
    let (_, other_key) = app.create_org("B").await;
    app.send_as("POST", &revoke, As::Key(&other_key), Some(&json!({})))
        .await
        .assert_error(404, "not_found");
    let reader = app.create_read_key().await;
    app.send_as("POST", &revoke, As::Key(&reader), Some(&json!({})))
        .await
        .assert_error(403, "insufficient_scope");
}

/// Deleting an end user revokes its tokens too (docs/decisions.md).
#[tokio::test]
async fn a_deleted_end_users_token_is_401_at_once() {
    let (app, user) = spawn_app_with_user().await;
    let token = minted(&app, &user).await;
    assert_eq!(me(&app, &token).await.status, 200);
    let deleted = app.delete(&format!("/v1/end-users/{}", id(&user))).await;
    assert_eq!(deleted.status, 202);
    assert_token_refused(&app, &token).await;
}

/// A signing-key rotation without a single 401 (docs/operations.md): a function that
/// signs with the new key and still verifies the old one accepts tokens of
/// both and publishes both keys; once the old key is gone, only its tokens fail.
#[tokio::test]
async fn a_signing_key_rotation_keeps_every_live_token_working() {
    use tether::tokens::TokenKeys;
    let (app, user) = spawn_app_with_user().await;
    let old_token = minted(&app, &user).await;
    // The test apps sign with seed [42; 32]; the new key is [43; 32].
    let rotating = app.cold_instance_with_tokens(
        TokenKeys::from_seed([43; 32], "tether").with_verification_keys(&[[42; 32]]),
    );
    let new_token = minted(&rotating, &user).await;
    for token in [&old_token, &new_token] {
        me(&rotating, token).await.assert_status(200);
    }
    let set = published_keys(&rotating).await;
    assert_eq!(set.keys.len(), 2);
    for token in [&old_token, &new_token] {
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(set.find(&kid).expect("published")).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&["tether"]);
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).unwrap();
    }
    let rotated = app.cold_instance_with_tokens(TokenKeys::from_seed([43; 32], "tether"));
    assert_eq!(me(&rotated, &new_token).await.status, 200);
    assert_token_refused(&rotated, &old_token).await;
}
