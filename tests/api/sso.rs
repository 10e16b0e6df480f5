//! `POST /v1/me/sso/link` (SPEC §10, seed 000): id_token verification and
//! linking by the end user.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tether::clock::Clock;
use tether_tests::As;
use tether_tests::id;
use tether_tests::{TestApp, TestResponse, idp, spawn_app};

/// `claims` signed with the provider's RSA key (`rsa-1`, RS256).
fn rs256(claims: &Value) -> String {
    idp::sign(Algorithm::RS256, Some("rsa-1"), claims)
}

struct Sso {
    app: TestApp,
    user: Value,
    token: String,
    provider: String,
}

async fn sso() -> Sso {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = app.create_user(json!({})).await;
    let token = app.user_token(&user);
    Sso {
        app,
        user,
        token,
        provider,
    }
}

impl Sso {
    fn now(&self) -> i64 {
        self.app.clock.now().unix_timestamp()
    }

    async fn link(&self, id_token: &str) -> TestResponse {
        self.link_to(&self.provider, id_token).await
    }

    /// [`Sso::link`] of a fresh id_token of the provider for `subject`.
    async fn link_subject(&self, subject: &str) -> TestResponse {
        self.link(&idp::id_token(subject, self.now())).await
    }

    /// `POST /v1/me/sso/link` naming `provider`, as the test's end user.
    async fn link_to(&self, provider: &str, id_token: &str) -> TestResponse {
        self.link_as(&self.token, provider, id_token).await
    }

    /// `POST /v1/me/sso/link` naming `provider`, as the end user of the
    /// access token `token`.
    async fn link_as(&self, token: &str, provider: &str, id_token: &str) -> TestResponse {
        let body = json!({"identity_provider_id": provider, "id_token": id_token});
        self.app
            .send_as("POST", "/v1/me/sso/link", As::Bearer(token), Some(&body))
            .await
    }

    async fn identities(&self) -> Value {
        let path = format!("/v1/users/{}/identities", id(&self.user));
        self.app.get(&path).await.body["data"].clone()
    }
}

#[tokio::test]
async fn a_valid_id_token_links_the_identity_to_the_caller() {
    let s = sso().await;
    let res = s.link_subject("ada").await.assert_status(201);
    assert_eq!(res.body["linked_by"], "user");
    assert_eq!(res.body["user_id"], s.user["id"]);
    assert_eq!(res.body["external_id"], "ada");
    assert_eq!(res.body["external_email"], "ada@example.com");
    assert_eq!(res.body["external_username"], "ada");
    assert_eq!(res.body["external_display_name"], "User ada");
    assert!(res.header("x-ratelimit-remaining").is_some());

    let again = s.link_subject("ada").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"], res.body["id"]);

    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let sub = format!("sub-{alg:?}");
        let token = idp::sign(alg, Some(idp::kid(alg)), &idp::claims(&sub, s.now()));
        let res = s.link(&token).await;
        assert_eq!(res.status, 201, "{alg:?}: {}", res.text);
    }
    assert_eq!(s.identities().await.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_identity_of_another_user_is_409_without_disclosing_them() {
    let s = sso().await;
    let owner = s.app.create_user(json!({})).await;
    let owner_token = s.app.user_token(&owner);
    let shared = idp::id_token("shared", s.now());
    let first = s.link_as(&owner_token, &s.provider, &shared).await;
    assert_eq!(first.status, 201);
    // Another genuine token for the same subject, presented by another user.
    let res = s.link_subject("shared").await;
    res.assert_error(409, "identity_already_linked");
    assert!(!res.text.contains(id(&owner)));
    assert_eq!(s.identities().await, json!([]));
}

#[tokio::test]
async fn every_forged_or_invalid_id_token_is_422_with_its_reason() {
    let s = sso().await;
    let now = s.now();
    let valid = idp::claims("victim", now);
    let with = |key: &str, value: Value| {
        let mut claims = valid.clone();
        claims[key] = value;
        claims
    };
    let public_rsa_bytes = serde_json::to_vec(&idp::jwks()["keys"][0]).unwrap();
    let hs256_with_public_key = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("rsa-1".into()),
            ..jsonwebtoken::Header::new(Algorithm::HS256)
        },
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(&public_rsa_bytes),
    )
    .unwrap();
    let mut bad_signature = idp::id_token("victim", now);
    let payload_start = bad_signature.find('.').unwrap() + 1;
    bad_signature.replace_range(
        payload_start..payload_start + 1,
        if bad_signature[payload_start..].starts_with('e') {
            "f"
        } else {
            "e"
        },
    );
    // The valid token with one claim changed: (case, claim, value, reason).
    let changed_claims = [
        ("wrong iss", "iss", json!("https://evil.example"), "issuer"),
        ("wrong aud", "aud", json!("someone-else"), "audience"),
        ("expired", "exp", json!(now - 120), "expired"),
        ("iat in the future", "iat", json!(now + 600), "expired"),
        ("iss as an array", "iss", json!([idp::ISSUER]), "issuer"),
        (
            "several aud, no azp",
            "aud",
            json!([idp::CLIENT_ID, "other-client"]),
            "audience",
        ),
        (
            "azp another client",
            "azp",
            json!("other-client"),
            "audience",
        ),
        ("exp beyond i64", "exp", json!(u64::MAX), "malformed"),
        ("nbf not a number", "nbf", json!("soon"), "malformed"),
        ("nbf beyond i64", "nbf", json!(u64::MAX), "malformed"),
        (
            "nbf a fraction in the future",
            "nbf",
            json!((now + 600) as f64 + 0.5),
            "expired",
        ),
        ("nbf in the future", "nbf", json!(now + 600), "expired"),
    ];
    let mut cases: Vec<(&str, String, &str)> = changed_claims
        .into_iter()
        .map(|(case, claim, value, reason)| (case, rs256(&with(claim, value)), reason))
        .collect();
    cases.extend([
        (
            "alg none",
            idp::raw_token(&json!({"alg": "none", "kid": "rsa-1"}), &valid, b""),
            "malformed",
        ),
        (
            "HS256 with the public key",
            hs256_with_public_key,
            "signature",
        ),
        (
            "unknown kid",
            idp::sign(Algorithm::RS256, Some("nope"), &valid),
            "unknown_key",
        ),
        (
            "typ at+jwt (an access token)",
            idp::sign_with(
                &jsonwebtoken::Header {
                    typ: Some("at+jwt".into()),
                    kid: Some("rsa-1".into()),
                    ..jsonwebtoken::Header::new(Algorithm::RS256)
                },
                &valid,
            ),
            "malformed",
        ),
        (
            "several aud, azp another client",
            rs256(&{
                let mut c = with("aud", json!([idp::CLIENT_ID, "other-client"]));
                c["azp"] = json!("other-client");
                c
            }),
            "audience",
        ),
        (
            "RSA kid with ES256",
            idp::sign(Algorithm::ES256, Some("rsa-1"), &valid),
            "signature",
        ),
        ("bad signature", bad_signature, "signature"),
        (
            "no sub",
            rs256(&{
                let mut c = valid.clone();
                c.as_object_mut().unwrap().remove("sub");
                c
            }),
            "malformed",
        ),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
        ("empty segments", "..".to_owned(), "malformed"),
    ]);
    for (name, token, reason) in cases {
        let res = s.link(&token).await;
        assert_eq!(res.status, 422, "{name}: {}", res.text);
        res.assert_error(422, "invalid_id_token");
        assert_eq!(
            res.body["details"]["reason"], reason,
            "{name}: {}",
            res.text
        );
    }
    // Within the 60 s leeway both ways it is still fine.
    let lenient = rs256(&with("exp", json!(now - 30)));
    assert_eq!(s.link(&lenient).await.status, 201);
    assert_eq!(
        s.identities().await.as_array().unwrap().len(),
        1,
        "only the valid token linked"
    );
}

#[tokio::test]
async fn unknown_providers_bad_bodies_and_api_keys_are_refused() {
    let s = sso().await;
    let nowhere = "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405199";
    let res = s.link_to(nowhere, &idp::id_token("a", s.now())).await;
    res.assert_error(422, "unknown_identity_provider");
    for body in [
        json!({}),
        json!({"identity_provider_id": s.provider}),
        json!({"identity_provider_id": s.provider, "id_token": 1}),
    ] {
        s.app
            .send_as("POST", "/v1/me/sso/link", As::Bearer(&s.token), Some(&body))
            .await
            .assert_error(422, "validation_failed");
    }
    s.app
        .request("POST", "/v1/me/sso/link")
        .bearer(&s.token)
        .raw_body("application/json", "{")
        .send()
        .await
        .assert_error(400, "invalid_json");
    // The organization's API key is not an end user's credential.
    let res = s
        .app
        .post(
            "/v1/me/sso/link",
            &json!({"identity_provider_id": s.provider, "id_token": "x"}),
        )
        .await;
    res.assert_error(401, "missing_credentials");
}

#[tokio::test]
async fn an_organization_policy_can_forbid_sso_links_with_a_notice() {
    let s = sso().await;
    let policy = r#"@notice("SSO links need a company address")
forbid (principal, action == Action::"sso.link", resource)
unless { context has external_email && context.external_email like "*@corp.example" };"#;
    s.app.put_policies(policy).await;
    let res = s.link_subject("ada").await;
    res.assert_error(403, "policy_denied");
    assert_eq!(
        res.body["notices"],
        json!(["SSO links need a company address"])
    );
    // An unverified company address does not meet the policy (SPEC §8).
    let mut claims = idp::claims("ada", s.now());
    claims["email"] = json!("ada@corp.example");
    claims["email_verified"] = json!(false);
    s.link(&rs256(&claims))
        .await
        .assert_error(403, "policy_denied");
    claims["email_verified"] = json!(true);
    claims["jti"] = json!("another");
    let allowed = s.link(&rs256(&claims)).await.assert_status(201);
    assert_eq!(allowed.body["external_email_verified"], true);
}

#[tokio::test]
async fn a_warm_link_is_two_round_trips_with_the_provider_cached() {
    let s = sso().await;
    s.link_subject("first").await.assert_status(201);
    let before = s.app.app.store.call_totals();
    s.link_subject("second").await.assert_status(201);
    // The limiter's UpdateItem and the link transaction: the provider and its
    // keys come from the warm cache, the caller's organization too.
    assert_eq!(s.app.app.store.call_totals().since(&before).calls, 2);
    // An unknown provider is not cached as absent: registering it later works.
    let later = "01937c5e-0000-7000-8000-000000000000";
    let unknown = s.link_to(later, &idp::id_token("x", s.now())).await;
    unknown.assert_error(422, "unknown_identity_provider");
}

/// SPEC §10: a token without `kid` uses the set's only key of its algorithm;
/// an `exp` at the end of time neither overflows nor reads as expired.
#[tokio::test]
async fn edge_tokens_that_are_valid_link() {
    let s = sso().await;
    s.link(&idp::sign(
        Algorithm::RS256,
        None,
        &idp::claims("nokid", s.now()),
    ))
    .await
    .assert_status(201);
    let mut far = idp::claims("far", s.now());
    far["exp"] = json!(i64::MAX);
    s.link(&rs256(&far)).await.assert_status(201);
    // NumericDates may have fractions (RFC 7519 §2).
    let mut fractional = idp::claims("fraction", s.now());
    fractional["exp"] = json!((s.now() + 300) as f64 + 0.25);
    fractional["iat"] = json!(s.now() as f64 - 0.5);
    s.link(&rs256(&fractional)).await.assert_status(201);
    let mut one_audience = idp::claims("azp", s.now());
    one_audience["aud"] = json!([idp::CLIENT_ID, "other"]);
    one_audience["azp"] = json!(idp::CLIENT_ID);
    s.link(&rs256(&one_audience)).await.assert_status(201);
    // Two keys of one algorithm and no kid: which one is unknowable.
    let mut twice = idp::jwks();
    let mut second = twice["keys"][0].clone();
    second["kid"] = json!("rsa-2");
    twice["keys"].as_array_mut().unwrap().push(second);
    let mut body = idp::provider_body();
    body["jwks"] = twice;
    let provider = s.app.post("/v1/identity-providers", &body).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.link_to(
        &provider,
        &idp::sign(Algorithm::RS256, None, &idp::claims("two", s.now())),
    )
    .await
    .assert_error(422, "invalid_id_token");
    let res = s
        .link_to(
            &provider,
            &idp::sign(Algorithm::RS256, None, &idp::claims("two", s.now())),
        )
        .await;
    assert_eq!(res.body["details"]["reason"], "unknown_key");
}

/// SPEC §10: `nonce` in the body must equal the token's.
#[tokio::test]
async fn a_nonce_sent_must_match_the_tokens() {
    let s = sso().await;
    let link = |token: String, nonce: &str| {
        s.app
            .request("POST", "/v1/me/sso/link")
            .bearer(&s.token)
            .json(&json!({"identity_provider_id": s.provider, "id_token": token, "nonce": nonce}))
            .send()
    };
    let mut claims = idp::claims("n", s.now());
    claims["nonce"] = json!("n-2");
    let wrong = link(rs256(&claims), "n-1").await;
    wrong.assert_error(422, "invalid_id_token");
    assert_eq!(wrong.body["details"]["reason"], "nonce");
    let missing = link(idp::id_token("n", s.now()), "n-1").await;
    assert_eq!(missing.body["details"]["reason"], "nonce");
    claims["nonce"] = json!("n-1");
    link(rs256(&claims), "n-1").await.assert_status(201);
}

/// SPEC §10: an id_token is bound to the first end user who presents it —
/// a retry by that user is answered as usual; anyone else, even after an
/// unlink, gets `replayed`.
#[tokio::test]
async fn an_id_token_is_bound_to_the_first_user_who_presents_it() {
    let s = sso().await;
    let token = idp::id_token("ada", s.now());
    let first = s.link(&token).await.assert_status(201);
    s.link(&token).await.assert_status(200);
    let unlink = format!("/v1/users/{}/identities/{}", id(&s.user), id(&first.body));
    assert_eq!(s.app.delete(&unlink).await.status, 204);
    let other = s.app.create_user(json!({})).await;
    let other_token = s.app.user_token(&other);
    let stolen = s.link_as(&other_token, &s.provider, &token).await;
    stolen.assert_error(422, "invalid_id_token");
    assert_eq!(stolen.body["details"]["reason"], "replayed");
    // The table holds the token only as a hash.
    let items = crate::table_items(&s.app).await;
    let signature = token.rsplit('.').next().unwrap();
    assert!(!format!("{:?}", items).contains(signature));
}

/// SPEC §8: a policy may demand a verified address through
/// `context.external_email_verified`; it is accepted at upload and applies
/// to SSO links (from the id_token) and backend links (from the body).
#[tokio::test]
async fn a_policy_can_demand_a_verified_email() {
    let s = sso().await;
    let policy = r#"@notice("verified addresses only")
forbid (principal, action in [Action::"sso.link", Action::"identities.create"], resource)
unless { context.external_email_verified };"#;
    s.app.put_policies(policy).await;
    s.link_subject("plain")
        .await
        .assert_error(403, "policy_denied");
    let mut claims = idp::claims("verified", s.now());
    claims["email_verified"] = json!(true);
    let ok = s.link(&rs256(&claims)).await.assert_status(201);
    assert_eq!(ok.body["external_email_verified"], true);
    let path = format!("/v1/users/{}/identities", id(&s.user));
    let body = |verified: bool| {
        json!({"identity_provider_id": s.provider, "external_id": format!("b-{verified}"),
               "external_email": "b@example.com", "external_email_verified": verified})
    };
    s.app
        .post(&path, &body(false))
        .await
        .assert_error(403, "policy_denied");
    let linked = s.app.post(&path, &body(true)).await.assert_status(201);
    assert_eq!(linked.body["external_email_verified"], true);
}

/// A provider deleted through another function is refused by a warm one
/// that had verified with it (its cached keys are dropped at the new version).
#[tokio::test]
async fn a_provider_deleted_elsewhere_is_refused_by_a_warm_function() {
    let s = sso().await;
    let linked = s.link_subject("ada").await.assert_status(201);
    let unlink = s
        .app
        .delete(&format!(
            "/v1/users/{}/identities/{}",
            id(&s.user),
            id(&linked.body)
        ))
        .await;
    assert_eq!(unlink.status, 204);
    let other = s.app.cold_instance();
    other
        .delete(&format!("/v1/identity-providers/{}", s.provider))
        .await
        .assert_status(204);
    s.link_subject("grace")
        .await
        .assert_error(422, "unknown_identity_provider");
}
