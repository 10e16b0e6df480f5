//! Access tokens, the JWKS, `GET /v1/me` (SPEC §5, §10).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::json;
use tether::auth::Scope;
use tether_tests::As;
use tether_tests::id;
use tether_tests::spawn_app;

#[tokio::test]
async fn a_minted_token_opens_the_user_api_and_verifies_against_the_jwks() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"email": "ada@example.com"})).await;
    let res = app
        .request("POST", &format!("/v1/end-users/{}/tokens", id(&user)))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 900);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let token = res.body["access_token"].as_str().unwrap();

    let me = app.send_as("GET", "/v1/me", As::Bearer(token), None).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body, user);
    assert!(
        me.header("x-ratelimit-limit").is_some(),
        "user tokens are charged to the organization"
    );

    let jwks = app
        .request("GET", "/.well-known/jwks.json")
        .no_key()
        .send()
        .await;
    assert_eq!(jwks.status, 200);
    let set: JwkSet = serde_json::from_value(jwks.body.clone()).unwrap();
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
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let token = app.user_token(&user);
    app.request("GET", "/v1/me")
        .no_key()
        .send()
        .await
        .assert_error(401, "missing_credentials");
    app.get("/v1/me")
        .await
        .assert_error(401, "missing_credentials");
    app.send_as("GET", "/v1/me", As::Bearer("garbage"), None)
        .await
        .assert_error(401, "invalid_credentials");
    let mut tampered = token.clone();
    tampered.insert(tampered.len() / 2, 'x');
    app.send_as("GET", "/v1/me", As::Bearer(&tampered), None)
        .await
        .assert_error(401, "invalid_credentials");
    app.request("GET", "/v1/me")
        .header("authorization", &format!("Basic {token}"))
        .no_key()
        .send()
        .await
        .assert_error(401, "missing_credentials");
    app.clock.advance(time::Duration::minutes(16));
    app.send_as("GET", "/v1/me", As::Bearer(&token), None)
        .await
        .assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn tokens_need_read_write_and_an_existing_active_user() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}/tokens", id(&user));
    let reader = app.create_key(app.org_id, &[Scope::Read]).await;
    app.send_as("POST", &path, As::Key(&reader), None)
        .await
        .assert_error(403, "insufficient_scope");
    app.request(
        "POST",
        "/v1/end-users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162/tokens",
    )
    .send()
    .await
    .assert_error(404, "not_found");
    app.post(&path, &json!({"ttl": 5}))
        .await
        .assert_error(422, "validation_failed");
    assert_eq!(
        app.delete(&format!("/v1/end-users/{}", id(&user)))
            .await
            .status,
        202
    );
    app.request("POST", &path)
        .send()
        .await
        .assert_error(409, "user_deleting");
}
