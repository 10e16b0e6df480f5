//! Identity providers' key sources (SPEC §9, §16): OIDC Discovery and
//! `jwks_uri`, the key cache shared through DynamoDB, refetches on an
//! unknown `kid` at most once a minute, stale-if-error, PATCH, and the
//! outbound-HTTP guard — against a scriptable issuer on loopback.

use serde_json::{Value, json};
use std::time::Duration;
use tether::clock::Clock;
use tether_tests::issuer::FakeIssuer;
use tether_tests::{As, TestApp, TestAppBuilder, TestResponse, id, idp, spawn_app};

const CLIENT: &str = "tether-web";

/// A test world with an issuer serving `ed-1` (seed 1).
async fn world() -> (TestApp, FakeIssuer) {
    let app = spawn_app().await;
    let issuer = FakeIssuer::start(json!({ "keys": [idp::ed_jwk(1, "ed-1")] })).await;
    (app, issuer)
}

async fn register(app: &TestApp, body: &Value) -> TestResponse {
    app.post("/v1/identity-providers", body).await
}

/// Registers `issuer` by its issuer identifier alone (discovery).
async fn by_issuer(app: &TestApp, issuer: &FakeIssuer) -> Value {
    let res = register(
        app,
        &json!({"name": "Acme", "issuer": issuer.issuer, "client_id": CLIENT}),
    )
    .await
    .assert_status(201);
    res.body
}

/// An id_token of `issuer` for `sub`, signed by the Ed25519 key `seed`/`kid`.
fn token(app: &TestApp, issuer: &FakeIssuer, seed: u8, kid: &str, sub: &str) -> String {
    let mut claims = idp::claims(sub, app.clock.now().unix_timestamp());
    claims["iss"] = json!(issuer.issuer);
    claims["aud"] = json!(CLIENT);
    idp::sign_ed(seed, kid, &claims)
}

/// `POST /v1/me/sso/link` as a new end user of `app`.
async fn link(app: &TestApp, provider: &Value, id_token: &str) -> TestResponse {
    let user = app.create_user(json!({})).await;
    app.send_as(
        "POST",
        "/v1/me/sso/link",
        As::Bearer(&app.user_token(&user)),
        Some(&json!({"identity_provider_id": provider["id"], "id_token": id_token})),
    )
    .await
}

#[tokio::test]
async fn a_provider_registered_by_issuer_alone_is_discovered_and_its_keys_cached() {
    let (app, issuer) = world().await;
    let provider = by_issuer(&app, &issuer).await;
    assert_eq!(provider["key_source"], "jwks_uri");
    assert_eq!(provider["jwks_uri"], issuer.jwks_uri());
    assert!(provider["keys_fetched_at"].is_string());
    assert!(
        provider.get("jwks").is_none(),
        "fetched keys are not echoed"
    );
    assert_eq!(
        (
            issuer.hits("/.well-known/openid-configuration"),
            issuer.hits("/jwks")
        ),
        (1, 1)
    );

    link(&app, &provider, &token(&app, &issuer, 1, "ed-1", "ada"))
        .await
        .assert_status(201);
    // A cold function verifies with the keys stored on the provider.
    let cold = app.cold_instance();
    link(&cold, &provider, &token(&cold, &issuer, 1, "ed-1", "bob"))
        .await
        .assert_status(201);
    assert_eq!(issuer.hits("/jwks"), 1, "no link fetched");

    let got = app
        .get(&format!("/v1/identity-providers/{}", id(&provider)))
        .await;
    assert_eq!(got.body, provider);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_a_minute_across_functions() {
    let (app, issuer) = world().await;
    let provider = by_issuer(&app, &issuer).await;
    // The issuer rotates: a new key signs, the old one is still published.
    issuer.script(|s| s.jwks = json!({"keys": [idp::ed_jwk(2, "ed-2"), idp::ed_jwk(1, "ed-1")]}));
    link(&app, &provider, &token(&app, &issuer, 2, "ed-2", "ada"))
        .await
        .assert_status(201);
    assert_eq!(issuer.hits("/jwks"), 2, "one refetch for the new kid");

    // Another function meets the new kid: the claim it loses hands it the
    // keys the first one fetched, without a fetch.
    let other = app.cold_instance();
    link(&other, &provider, &token(&other, &issuer, 2, "ed-2", "bob"))
        .await
        .assert_status(201);
    // Bogus kids within the minute, on any function, fetch nothing.
    for (n, instance) in [&app, &other, &app.cold_instance()].into_iter().enumerate() {
        let res = link(
            instance,
            &provider,
            &token(instance, &issuer, 9, &format!("bogus-{n}"), "eve"),
        )
        .await;
        res.assert_error(422, "invalid_id_token");
        assert_eq!(res.body["details"]["reason"], "unknown_key");
    }
    assert_eq!(issuer.hits("/jwks"), 2);

    app.clock.advance(time::Duration::seconds(61));
    let res = link(
        &other,
        &provider,
        &token(&other, &issuer, 9, "bogus-3", "eve"),
    )
    .await;
    assert_eq!(res.body["details"]["reason"], "unknown_key");
    assert_eq!(issuer.hits("/jwks"), 3, "a minute later one refetch again");

    // The old key retired: tokens it signs stop verifying once the keys are refetched.
    issuer.script(|s| s.jwks = json!({"keys": [idp::ed_jwk(2, "ed-2")]}));
    app.clock.advance(time::Duration::seconds(3601));
    link(&app, &provider, &token(&app, &issuer, 2, "ed-2", "carol"))
        .await
        .assert_status(201);
    let res = link(&app, &provider, &token(&app, &issuer, 1, "ed-1", "dave")).await;
    assert_eq!(res.body["details"]["reason"], "unknown_key", "{}", res.text);
}

#[tokio::test]
async fn keys_live_as_long_as_cache_control_says_clamped_to_five_minutes_and_a_day() {
    for (header, lifetime) in [
        (Some("public, max-age=600"), 600_i64),
        (Some("max-age=10"), 300),
        (Some("no-store"), 300),
        (Some("max-age=9999999"), 86_400),
        (None, 3600),
    ] {
        let (app, issuer) = world().await;
        issuer.script(|s| s.cache_control = header.map(str::to_owned));
        let provider = by_issuer(&app, &issuer).await;
        // (seconds on, subject, fetches so far, what the keys then are)
        for (later, subject, fetches, state) in [
            (lifetime - 5, "a", 1, "fresh until"),
            (10, "b", 2, "stale after"),
        ] {
            app.clock.advance(time::Duration::seconds(later));
            let token = token(&app, &issuer, 1, "ed-1", subject);
            link(&app, &provider, &token).await.assert_status(201);
            let hits = issuer.hits("/jwks");
            assert_eq!(hits, fetches, "{header:?}: {state} {lifetime} s");
        }
    }
}

#[tokio::test]
async fn stale_keys_keep_serving_while_the_issuer_fails() {
    let (app, issuer) = world().await;
    let provider = by_issuer(&app, &issuer).await;
    issuer.script(|s| s.status = 503);
    app.clock.advance(time::Duration::seconds(3601));
    let res = link(&app, &provider, &token(&app, &issuer, 1, "ed-1", "ada")).await;
    assert_eq!(res.status, 201, "stale-if-error: {}", res.text);
    assert_eq!(issuer.hits("/jwks"), 2, "the refresh was tried");
    // The failure does not make every request try again.
    link(&app, &provider, &token(&app, &issuer, 1, "ed-1", "bob"))
        .await
        .assert_status(201);
    assert_eq!(issuer.hits("/jwks"), 2);
}

#[tokio::test]
async fn a_stalled_issuer_costs_a_link_at_most_one_fetch_of_three_seconds() {
    let (app, issuer) = world().await;
    let provider = by_issuer(&app, &issuer).await;
    issuer.script(|s| s.delay = Duration::from_secs(10));
    app.clock.advance(time::Duration::seconds(3601));
    let started = std::time::Instant::now();
    // Stale keys and an unknown kid: still one fetch, cut at 3 s.
    let res = link(&app, &provider, &token(&app, &issuer, 2, "ed-2", "ada")).await;
    let took = started.elapsed();
    assert_eq!(res.body["details"]["reason"], "unknown_key", "{}", res.text);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(issuer.hits("/jwks"), 2, "one fetch, not two");
}

#[tokio::test]
async fn registration_reports_an_unreachable_or_invalid_issuer() {
    let (app, issuer) = world().await;
    let body =
        |issuer: &FakeIssuer| json!({"name": "Acme", "issuer": issuer.issuer, "client_id": CLIENT});
    type Fault = fn(&mut tether_tests::issuer::Script);
    let cases: [(Fault, &str, &str); 5] = [
        (
            |s| s.status = 404,
            "http_status",
            "/.well-known/openid-configuration",
        ),
        (
            |s| s.claimed_issuer = Some("https://evil.example".into()),
            "issuer_mismatch",
            "/.well-known/openid-configuration",
        ),
        (
            |s| s.raw_jwks = Some(b"<html>".to_vec()),
            "invalid_document",
            "/jwks",
        ),
        (
            |s| s.raw_jwks = Some(vec![b' '; 70 * 1024]),
            "too_large",
            "/jwks",
        ),
        (
            |s| s.jwks = json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}),
            "invalid_document",
            "/jwks",
        ),
    ];
    for (script, reason, path) in cases {
        let issuer = FakeIssuer::start(json!({ "keys": [idp::ed_jwk(1, "ed-1")] })).await;
        issuer.script(script);
        let res = register(&app, &body(&issuer)).await;
        res.assert_error(422, "identity_provider_unreachable");
        assert_eq!(res.body["details"]["reason"], reason, "{}", res.text);
        assert_eq!(
            res.body["details"]["url"],
            format!("{}{path}", issuer.issuer)
        );
    }
    // Nothing was registered.
    let list = app.get("/v1/identity-providers").await;
    assert_eq!(list.body["data"], json!([]));
    drop(issuer);
}

#[tokio::test]
async fn a_jwks_uri_given_explicitly_is_fetched_and_validated() {
    let (app, issuer) = world().await;
    let res = register(
        &app,
        &json!({"name": "Acme", "issuer": "https://login.acme.example", "client_id": CLIENT, "jwks_uri": issuer.jwks_uri()}),
    )
    .await.assert_status(201);
    assert_eq!(res.body["key_source"], "jwks_uri");
    assert_eq!(
        issuer.hits("/.well-known/openid-configuration"),
        0,
        "no discovery"
    );
    let both = register(
        &app,
        &json!({"name": "A", "issuer": "https://a.example", "client_id": "c", "jwks_uri": issuer.jwks_uri(), "jwks": idp::jwks()}),
    )
    .await;
    both.assert_error(422, "validation_failed");
}

#[tokio::test]
async fn a_deployed_stack_fetches_only_https_urls_of_public_addresses() {
    let app = TestAppBuilder {
        deployed_outbound: true,
        ..TestAppBuilder::default()
    }
    .spawn()
    .await;
    let issuer = FakeIssuer::start(json!({ "keys": [idp::ed_jwk(1, "ed-1")] })).await;
    for (field, url) in [
        ("jwks_uri", issuer.jwks_uri()),
        (
            "jwks_uri",
            "https://169.254.169.254/latest/meta-data/".to_owned(),
        ),
        ("jwks_uri", "https://[fd00::1]/jwks".to_owned()),
        ("jwks_uri", "https://10.0.0.7/jwks".to_owned()),
        ("jwks_uri", "https://localhost/jwks".to_owned()),
        ("jwks_uri", "https://2852039166/jwks".to_owned()),
        ("issuer", issuer.issuer.clone()),
        ("issuer", "https://192.168.1.1".to_owned()),
    ] {
        let mut body = json!({"name": "x", "issuer": "https://login.example", "client_id": "c"});
        body[field] = json!(url);
        let res = register(&app, &body).await;
        res.assert_error(422, "invalid_url");
        assert_eq!(res.body["details"]["fields"][0]["field"], field, "{url}");
    }
    assert_eq!(
        issuer.hits("/jwks") + issuer.hits("/.well-known/openid-configuration"),
        0
    );
}

#[tokio::test]
async fn redirects_to_a_disallowed_address_are_refused() {
    let (app, issuer) = world().await;
    issuer.script(|s| s.redirect_jwks = Some("http://10.1.2.3/jwks".into()));
    let res = register(
        &app,
        &json!({"name": "x", "issuer": issuer.issuer, "client_id": "c"}),
    )
    .await;
    res.assert_error(422, "identity_provider_unreachable");
    assert_eq!(
        res.body["details"]["reason"], "url_not_allowed",
        "{}",
        res.text
    );
}

#[tokio::test]
async fn patch_switches_the_key_source_and_reaches_warm_functions_at_once() {
    let (app, issuer) = world().await;
    let provider = by_issuer(&app, &issuer).await;
    let path = format!("/v1/identity-providers/{}", id(&provider));
    let warm = app.cold_instance();
    link(&warm, &provider, &token(&warm, &issuer, 1, "ed-1", "ada"))
        .await
        .assert_status(201);

    // Pin a key the issuer does not publish: the warm function uses it next.
    let pinned = app
        .patch(&path, &json!({"jwks": {"keys": [idp::ed_jwk(3, "ed-3")]}}))
        .await
        .assert_status(200);
    assert_eq!(pinned.body["key_source"], "pinned");
    assert_eq!(pinned.body["jwks_uri"], Value::Null);
    assert_eq!(pinned.body["jwks"]["keys"][0]["kid"], "ed-3");
    link(&warm, &provider, &token(&warm, &issuer, 3, "ed-3", "bob"))
        .await
        .assert_status(201);
    let res = link(&warm, &provider, &token(&warm, &issuer, 1, "ed-1", "carol")).await;
    assert_eq!(res.body["details"]["reason"], "unknown_key");

    // Back to the issuer's keys (fetched by the PATCH), and a new client id.
    let hits = issuer.hits("/jwks");
    let res = app
        .patch(
            &path,
            &json!({"jwks_uri": issuer.jwks_uri(), "client_id": "renamed", "name": "Acme 2"}),
        )
        .await
        .assert_status(200);
    assert_eq!(
        (res.body["key_source"].as_str(), res.body["name"].as_str()),
        (Some("jwks_uri"), Some("Acme 2"))
    );
    assert_eq!(issuer.hits("/jwks"), hits + 1);
    let old_audience = link(&warm, &provider, &token(&warm, &issuer, 1, "ed-1", "dave")).await;
    assert_eq!(
        old_audience.body["details"]["reason"], "audience",
        "{}",
        old_audience.text
    );
    let mut claims = idp::claims("erin", app.clock.now().unix_timestamp());
    claims["iss"] = json!(issuer.issuer);
    claims["aud"] = json!("renamed");
    link(&warm, &provider, &idp::sign_ed(1, "ed-1", &claims))
        .await
        .assert_status(201);

    // The PATCH's fetch does not count against the minute: a rotation right
    // after it is followed at once.
    issuer.script(|s| s.jwks = json!({"keys": [idp::ed_jwk(4, "ed-4"), idp::ed_jwk(1, "ed-1")]}));
    claims["sub"] = json!("frank");
    claims["jti"] = json!("after-patch");
    link(&warm, &provider, &idp::sign_ed(4, "ed-4", &claims))
        .await
        .assert_status(201);
    assert_eq!(issuer.hits("/jwks"), hits + 2);
}

#[tokio::test]
async fn patch_refuses_bad_input_and_other_organizations_providers() {
    let (app, issuer) = world().await;
    let provider = by_issuer(&app, &issuer).await;
    let path = format!("/v1/identity-providers/{}", id(&provider));
    let same = app.patch(&path, &json!({})).await;
    assert_eq!(same.status, 200);
    assert_eq!(same.body, provider);
    for bad in [
        json!({"issuer": "https://other.example"}),
        json!({"name": ""}),
        json!({"client_id": 7}),
        json!({"jwks": {"keys": []}}),
        json!({"jwks": idp::jwks(), "jwks_uri": issuer.jwks_uri()}),
    ] {
        app.patch(&path, &bad)
            .await
            .assert_error(422, "validation_failed");
    }
    app.patch(&path, &json!({"jwks_uri": "ftp://x.example/jwks"}))
        .await
        .assert_error(422, "invalid_url");
    app.patch("/v1/identity-providers/nope", &json!({}))
        .await
        .assert_error(400, "invalid_path_parameter");

    let (_, other_key) = app.create_org("Other").await;
    app.request("PATCH", &path)
        .key(&other_key)
        .json(&json!({"name": "mine"}))
        .send()
        .await
        .assert_error(404, "not_found");
    let unchanged = app.get(&path).await;
    assert_eq!(unchanged.body["name"], "Acme");
}

#[tokio::test]
async fn a_token_request_follows_no_redirect_and_is_checked_like_every_url() {
    use tether::outbound::{ClientAuth, FetchError, Outbound, UrlPolicy};
    let issuer = FakeIssuer::start(json!({ "keys": [] })).await;
    // The target would be allowed: the request carries credentials, so it
    // is not followed anyway.
    issuer.script(|s| s.redirect_jwks = Some(format!("{}/elsewhere", issuer.issuer)));
    let url = url::Url::parse(&issuer.jwks_uri()).expect("URL");
    let auth = ClientAuth::Post {
        id: "app",
        secret: "secret",
    };
    let local = Outbound::new(UrlPolicy {
        allow_loopback: true,
        ..UrlPolicy::default()
    });
    let form = [("grant_type", "authorization_code"), ("code", "c")];
    let answered = local.post_form(&url, auth, &form).await;
    assert!(
        matches!(answered, Err(FetchError::Status(302))),
        "{answered:?}"
    );
    assert_eq!(issuer.hits("/elsewhere"), 0);
    // A deployed stack's policy refuses loopback before connecting.
    let deployed = Outbound::new(UrlPolicy::default());
    let refused = deployed.post_form(&url, auth, &form).await;
    assert!(
        matches!(refused, Err(FetchError::Refused(_))),
        "{refused:?}"
    );
    assert_eq!(issuer.hits("/jwks"), 1);
}
