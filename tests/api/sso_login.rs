//! SSO login end to end (SPEC §17): a browser goes through Tether's
//! authorize and callback and a genuine OpenID Provider's own sign-in
//! (panva's `oidc-provider`, IdentityPython's `idpyoidc`), and the app
//! exchanges the one-time code. Nothing on the provider's side is mocked.

use serde_json::{Value, json};
use tether::clock::Clock as _;
use tether_tests::oidc::{Implementation, OidcProvider};
use tether_tests::sso::{APP, Browser, connect, encode, exchange, query_of};
use tether_tests::{TestApp, spawn_app};

const CLIENTS: [&str; 6] = [
    "rs256",
    "rs256-basic",
    "es256",
    "es256-basic",
    "eddsa",
    "eddsa-basic",
];

/// Signs `login` in through `provider` and exchanges the code: the token
/// response.
async fn sign_in_and_exchange(
    app: &TestApp,
    op: &OidcProvider,
    provider: &Value,
    login: &str,
) -> Value {
    let mut browser = Browser::new(app, "198.51.100.7");
    let back = browser.sign_in(op, provider, login, "").await;
    assert_eq!(back.get("state").map(String::as_str), Some("app-state"));
    let code = back
        .get("code")
        .unwrap_or_else(|| panic!("no code: {back:?}"));
    assert!(code.starts_with("tsc_"), "{code}");
    let res = exchange(app, code).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    res.body
}

/// Every algorithm with both token-endpoint methods, each provider
/// enforcing its client's method: a new end user with its identity, and an
/// access token that works.
async fn every_client_signs_in(op: &OidcProvider, login: &str) {
    let app = spawn_app().await;
    for client in CLIENTS {
        let provider = connect(&app, op, client, "create").await;
        let token = sign_in_and_exchange(&app, op, &provider, login).await;
        // panva's subject is the login; idpyoidc's a hash of it.
        let sub = token["profile"]["sub"].as_str().expect("sub");
        if op.implementation == Implementation::Panva {
            assert_eq!(sub, login, "{client}");
        }
        assert_eq!(token["identity"]["external_id"], sub);
        assert_eq!(token["profile"]["issuer"], op.issuer);
        assert_eq!(token["profile"]["email"], format!("{login}@example.com"));
        assert_eq!(token["profile"]["email_verified"], true);
        assert_eq!(token["identity"]["linked_by"], "sso");
        assert_eq!(token["identity"]["identity_provider_id"], provider["id"]);
        assert_eq!(token["identity"]["user_id"], token["end_user"]["id"]);
        assert_eq!(token["end_user"]["email"], format!("{login}@example.com"));
        assert_eq!(token["token_type"], "Bearer");
        let me = app
            .request("GET", "/v1/me")
            .no_key()
            .header(
                "authorization",
                &format!("Bearer {}", token["access_token"].as_str().unwrap()),
            )
            .send()
            .await;
        assert_eq!(me.status, 200, "{client}: {}", me.text);
        assert_eq!(me.body["id"], token["end_user"]["id"]);
        // Signing in again is the same end user, by its identity.
        let again = sign_in_and_exchange(&app, op, &provider, login).await;
        assert_eq!(again["end_user"]["id"], token["end_user"]["id"], "{client}");
    }
}

#[tokio::test]
async fn every_algorithm_and_client_auth_signs_in() {
    every_client_signs_in(&OidcProvider::start("g1").await, "ada").await;
}

#[tokio::test]
async fn a_second_implementation_signs_in_with_every_algorithm_and_client_auth() {
    every_client_signs_in(&OidcProvider::start_idpy().await, "ada").await;
}

/// A panva provider with one login connection of `provisioning` (client
/// `rs256`, client_secret_post).
async fn panva(app: &TestApp, provisioning: &str) -> (OidcProvider, Value) {
    let op = OidcProvider::start("g1").await;
    let provider = connect(app, &op, "rs256", provisioning).await;
    (op, provider)
}

/// The authorize query for `provider` with `extra` parameters.
fn authorize_query(provider: &Value, extra: &str) -> String {
    format!(
        "identity_provider_id={}&redirect_uri={}&state=app-state{extra}",
        provider["id"].as_str().unwrap(),
        encode(APP)
    )
}

/// The sign-in's failure as the app hears it: `error`, with its state and
/// a description, and no code.
fn assert_failed(back: &std::collections::HashMap<String, String>, error: &str) {
    assert_eq!(
        back.get("error").map(String::as_str),
        Some(error),
        "{back:?}"
    );
    assert_eq!(back.get("state").map(String::as_str), Some("app-state"));
    assert!(back.contains_key("error_description"), "{back:?}");
    assert!(!back.contains_key("code"), "{back:?}");
}

/// Links `external_id` at `provider` to a new end user through the
/// organization API: the end user.
async fn linked_user(app: &TestApp, provider: &Value, external_id: &str) -> Value {
    let user = app.create_user(json!({})).await;
    app.post(
        &format!("/v1/users/{}/identities", user["id"].as_str().unwrap()),
        &json!({"identity_provider_id": provider["id"], "external_id": external_id}),
    )
    .await
    .assert_status(201);
    user
}

#[tokio::test]
async fn provisioning_off_signs_in_linked_identities_only() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "off").await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "bob", "")
        .await;
    assert_failed(&back, "user_not_found");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);

    let user = linked_user(&app, &provider, "bob").await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "bob", "")
        .await;
    let token = exchange(&app, &back["code"]).await.assert_status(200).body;
    assert_eq!(token["end_user"]["id"], user["id"]);
    assert_eq!(token["identity"]["linked_by"], "auto");
}

#[tokio::test]
async fn provisioning_link_verified_email_links_only_the_one_active_user_with_that_verified_email()
{
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "link_verified_email").await;
    let carol = app.create_user(json!({"email": "carol@example.com"})).await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "carol", "")
        .await;
    let token = exchange(&app, &back["code"]).await.assert_status(200).body;
    assert_eq!(token["end_user"]["id"], carol["id"]);
    assert_eq!(token["identity"]["linked_by"], "sso");
    let identities = app
        .get(&format!(
            "/v1/users/{}/identities",
            carol["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(identities.data().len(), 1);

    // An address the provider does not say is verified never matches.
    app.create_user(json!({"email": "unverified-dan@example.com"}))
        .await;
    // Nobody with the address; two people with it.
    app.create_user(json!({"email": "fay@example.com"})).await;
    app.create_user(json!({"email": "fay@example.com"})).await;
    for login in ["unverified-dan", "erin", "fay"] {
        let back = Browser::new(&app, "198.51.100.7")
            .sign_in(&op, &provider, login, "")
            .await;
        assert_failed(&back, "user_not_found");
    }
    assert_eq!(app.get("/v1/end-users").await.data().len(), 4);
}

#[tokio::test]
async fn provisioning_create_makes_the_user_with_its_identity_and_counts_it() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "unverified-gus", "")
        .await;
    let token = exchange(&app, &back["code"]).await.assert_status(200).body;
    // An unverified address is not the new user's.
    assert_eq!(token["end_user"]["email"], Value::Null);
    assert_eq!(token["profile"]["email_verified"], false);
    assert_eq!(token["end_user"]["display_name"], "User unverified-gus");
    let org = app.organization().await;
    assert_eq!(
        tether::relationships::counted(&app.app.store, Some(org))
            .await
            .unwrap()
            .unwrap()
            .relationships_active,
        1
    );

    // At the ceiling: nothing is created and the app hears server_error.
    app.override_limits(
        app.org_id,
        tether::organizations::LimitOverrides {
            relationship_ceiling: Some(1),
            ..tether_tests::UNLIMITED
        },
    )
    .await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "hal", "")
        .await;
    assert_failed(&back, "server_error");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 1);
}

#[tokio::test]
async fn the_provider_answering_access_denied_returns_to_the_app() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser.authorize(&authorize_query(&provider, "")).await;
    let back = browser
        .at_provider(&op, res.header("location").unwrap(), "ida", true)
        .await;
    assert_eq!(
        back.query_pairs()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v.into_owned()),
        Some("access_denied".to_owned())
    );
    let res = browser.callback(&back).await.assert_status(302);
    assert_failed(&query_of(res.header("location").unwrap()), "access_denied");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_invalid_id_token() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser.authorize(&authorize_query(&provider, "")).await;
    // The browser changes the nonce on its way to the provider; state and
    // PKCE stay as Tether sent them.
    let mut to = url::Url::parse(res.header("location").unwrap()).unwrap();
    let pairs: Vec<(String, String)> = to
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                "attackers-nonce".into()
            } else {
                v
            };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    to.query_pairs_mut().clear().extend_pairs(&pairs);
    let back = browser.at_provider(&op, to.as_str(), "jo", false).await;
    let res = browser.callback(&back).await.assert_status(302);
    assert_failed(
        &query_of(res.header("location").unwrap()),
        "invalid_id_token",
    );
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);
}

#[tokio::test]
async fn a_reused_code_is_invalid_grant_and_revokes_the_first_exchanges_token() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "kim", "")
        .await;
    let first = exchange(&app, &back["code"]).await.assert_status(200).body;
    let me = |token: &Value| {
        app.request("GET", "/v1/me")
            .no_key()
            .header(
                "authorization",
                &format!("Bearer {}", token["access_token"].as_str().unwrap()),
            )
            .send()
    };
    me(&first).await.assert_status(200);
    let again = exchange(&app, &back["code"]).await;
    again.assert_error(422, "invalid_grant");
    assert_eq!(again.body["details"]["reason"], "reused");
    me(&first).await.assert_error(401, "invalid_credentials");
    // Another organization's key never finds the code.
    let (_, other_key) = app.create_org("Other").await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "kim", "")
        .await;
    let res = app
        .request("POST", "/v1/sso/token")
        .key(&other_key)
        .json(&json!({"code": back["code"]}))
        .send()
        .await;
    res.assert_error(422, "invalid_grant");
    assert_eq!(res.body["details"]["reason"], "unknown");
    // Still unused for its own organization.
    exchange(&app, &back["code"]).await.assert_status(200);
}

#[tokio::test]
async fn a_code_lives_sixty_seconds() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "lee", "")
        .await;
    app.clock.advance(time::Duration::seconds(61));
    let res = exchange(&app, &back["code"]).await;
    res.assert_error(422, "invalid_grant");
    assert_eq!(res.body["details"]["reason"], "expired");
}

#[tokio::test]
async fn an_attempt_older_than_ten_minutes_returns_access_denied() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser.authorize(&authorize_query(&provider, "")).await;
    let back = browser
        .at_provider(&op, res.header("location").unwrap(), "max", false)
        .await;
    app.clock.advance(time::Duration::seconds(601));
    let res = browser.callback(&back).await.assert_status(302);
    assert_failed(&query_of(res.header("location").unwrap()), "access_denied");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);
}

#[tokio::test]
async fn an_attempt_completes_only_in_the_browser_that_started_it_and_only_once() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let mut victim = Browser::new(&app, "198.51.100.7");
    let res = victim.authorize(&authorize_query(&provider, "")).await;
    let back = victim
        .at_provider(&op, res.header("location").unwrap(), "ned", false)
        .await;
    // No cookie, and another attempt's cookie: refused, nothing consumed.
    let mut stranger = Browser::new(&app, "203.0.113.9");
    let res = stranger.callback(&back).await;
    res.assert_error(400, "invalid_login_attempt");
    assert_eq!(res.body["details"]["reason"], "browser_mismatch");
    assert!(res.header("location").is_none());
    stranger
        .authorize(&authorize_query(&provider, ""))
        .await
        .assert_status(302);
    let res = stranger.callback(&back).await;
    res.assert_error(400, "invalid_login_attempt");
    assert_eq!(res.body["details"]["reason"], "browser_mismatch");
    // The browser that started it completes it, once.
    let res = victim.callback(&back).await.assert_status(302);
    assert!(query_of(res.header("location").unwrap()).contains_key("code"));
    let res = victim.callback(&back).await;
    res.assert_error(400, "invalid_login_attempt");
    assert_eq!(res.body["details"]["reason"], "unknown");
}

#[tokio::test]
async fn ten_parallel_callbacks_of_one_attempt_complete_it_once() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser.authorize(&authorize_query(&provider, "")).await;
    let back = browser
        .at_provider(&op, res.header("location").unwrap(), "ola", false)
        .await;
    let answers = futures_util::future::join_all((0..10).map(|_| {
        let mut browser = browser.clone();
        let back = back.clone();
        async move { browser.callback(&back).await }
    }))
    .await;
    let won: Vec<_> = answers.iter().filter(|r| r.status == 302).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(query_of(won[0].header("location").unwrap()).contains_key("code"));
    for lost in answers.iter().filter(|r| r.status != 302) {
        lost.assert_error(400, "invalid_login_attempt");
        assert_eq!(lost.body["details"]["reason"], "unknown");
    }
    assert_eq!(app.get("/v1/end-users").await.data().len(), 1);
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_400_without_redirect_cookie_or_attempt() {
    let app = spawn_app().await;
    let (_op, provider) = panva(&app, "create").await;
    let id = provider["id"].as_str().unwrap();
    for uri in [
        "https://evil.example.com/callback",
        "https://app.example.com/callback/",
        "https://APP.example.com/callback",
        "https://app.example.com/callback?next=/admin",
        "https://app.example.com/callback#x",
        "http://app.example.com/callback",
        "https://user@app.example.com/callback",
        "//evil.example.com/callback",
        "",
    ] {
        let res = Browser::new(&app, "198.51.100.7")
            .authorize(&format!(
                "identity_provider_id={id}&redirect_uri={}&state=s",
                encode(uri)
            ))
            .await;
        res.assert_error(400, "invalid_query_parameter");
        assert!(res.header("location").is_none(), "{uri}");
        assert!(res.header("set-cookie").is_none(), "{uri}");
        assert_eq!(res.header("cache-control"), Some("no-store"), "{uri}");
        assert_eq!(res.header("referrer-policy"), Some("no-referrer"), "{uri}");
    }
    let attempts = crate::table_items(&app)
        .await
        .into_iter()
        .filter(|item| {
            item["PK"]
                .as_s()
                .is_ok_and(|pk| pk.starts_with("SSOATTEMPT#"))
        })
        .count();
    assert_eq!(attempts, 0);
}

#[tokio::test]
async fn the_apps_pkce_challenge_needs_its_verifier_at_the_exchange() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let verifier = "app-verifier-0123456789-0123456789-0123456789";
    let challenge = tether::sso_login::s256_challenge(verifier);
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(
            &op,
            &provider,
            "pam",
            &format!("&code_challenge={challenge}&code_challenge_method=S256"),
        )
        .await;
    for sent in [
        json!({"code": back["code"]}),
        json!({"code": back["code"], "code_verifier": format!("{verifier}x")}),
    ] {
        let res = app.post("/v1/sso/token", &sent).await;
        res.assert_error(422, "invalid_grant");
        assert_eq!(res.body["details"]["reason"], "pkce");
    }
    app.post(
        "/v1/sso/token",
        &json!({"code": back["code"], "code_verifier": verifier}),
    )
    .await
    .assert_status(200);
    // A verifier for a code without a challenge is refused (no downgrade).
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "pam", "")
        .await;
    let res = app
        .post(
            "/v1/sso/token",
            &json!({"code": back["code"], "code_verifier": verifier}),
        )
        .await;
    res.assert_error(422, "invalid_grant");
    assert_eq!(res.body["details"]["reason"], "pkce");
}

#[tokio::test]
async fn a_policy_forbidding_sso_login_is_policy_denied_and_creates_nothing() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    app.put_policies(
        r#"forbid (principal, action == Action::"sso.login", resource) when { context.external_id == "quinn" };"#,
    )
    .await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "quinn", "")
        .await;
    assert_failed(&back, "policy_denied");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "rae", "")
        .await;
    assert!(back.contains_key("code"), "{back:?}");
}

#[tokio::test]
async fn nothing_the_request_carries_is_reflected_unescaped() {
    let app = spawn_app().await;
    let (_op, provider) = panva(&app, "create").await;
    let script = "<script>alert(1)</script>";
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser
        .authorize(
            &authorize_query(&provider, &format!("&login_hint={}", encode(script)))
                .replace("state=app-state", &format!("state={}", encode(script))),
        )
        .await
        .assert_status(302);
    let tether_state = query_of(res.header("location").unwrap())["state"].clone();
    // The provider's own words are never passed on.
    let res = browser
        .get(&format!(
            "/v1/sso/callback?state={tether_state}&error=access_denied&error_description={}&other={}",
            encode(script),
            encode(script)
        ))
        .await
        .assert_status(302);
    let location = res.header("location").unwrap();
    // The app's own state goes back as it came, encoded in the URL; the
    // description is Tether's fixed text.
    assert!(
        !location.contains('<') && !location.contains('>'),
        "{location}"
    );
    let back = query_of(location);
    assert_eq!(back["state"], script);
    assert_eq!(
        back["error_description"],
        "the sign-in was declined at the identity provider"
    );
    assert!(!back.contains_key("other"));
    // An unknown attempt answers JSON, reflecting nothing.
    let res = browser
        .get(&format!(
            "/v1/sso/callback?state={}&code={}",
            encode(script),
            encode(script)
        ))
        .await;
    res.assert_error(400, "invalid_login_attempt");
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        !res.text.contains("<script>") && !res.text.contains("alert"),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn authorize_and_callback_are_charged_to_the_source_ip() {
    let app = tether_tests::TestAppBuilder {
        source_ip_rate: (1, 3),
        ..tether_tests::TestAppBuilder::default()
    }
    .spawn()
    .await;
    let (_op, provider) = panva(&app, "create").await;
    let query = authorize_query(&provider, "");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            Browser::new(&app, "198.51.100.7")
                .authorize(&query)
                .await
                .status,
        );
    }
    assert_eq!(statuses, [302, 302, 302, 429, 429]);
    let res = Browser::new(&app, "198.51.100.7")
        .get("/v1/sso/callback?state=x")
        .await;
    res.assert_error(429, "rate_limited");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    // Another address has its own bucket.
    Browser::new(&app, "203.0.113.9")
        .authorize(&query)
        .await
        .assert_status(302);
}

/// Every string the table holds, nested ones included.
fn strings(value: &aws_sdk_dynamodb::types::AttributeValue, out: &mut Vec<String>) {
    use aws_sdk_dynamodb::types::AttributeValue;
    match value {
        AttributeValue::S(s) => out.push(s.clone()),
        AttributeValue::M(m) => m.values().for_each(|v| strings(v, out)),
        AttributeValue::L(l) => l.iter().for_each(|v| strings(v, out)),
        AttributeValue::Ss(l) => out.extend(l.iter().cloned()),
        _ => {}
    }
}

async fn table_strings(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for item in crate::table_items(app).await {
        for (name, value) in &item {
            out.push(name.clone());
            strings(value, &mut out);
        }
    }
    out
}

#[tokio::test]
async fn a_sign_in_stores_none_of_the_flows_secrets_in_plaintext() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = connect(&app, &op, "rs256-basic", "create").await;
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser
        .authorize(&authorize_query(&provider, "").replace("app-state", "app-state-7c1f9e"))
        .await;
    let location = res.header("location").unwrap().to_owned();
    let sent = query_of(&location);
    let cookie = browser.cookie.clone().unwrap();
    let cookie_value = cookie.split_once('=').unwrap().1.to_owned();
    let mut secrets = vec![
        sent["state"].clone(),
        sent["nonce"].clone(),
        cookie_value,
        "app-state-7c1f9e".to_owned(),
        tether_tests::sso::client_secret(&op, "rs256-basic").to_owned(),
    ];
    let stored = table_strings(&app).await;
    for secret in &secrets {
        assert!(
            !stored.iter().any(|s| s.contains(secret.as_str())),
            "{secret} in the table"
        );
    }
    let back = browser.at_provider(&op, &location, "sam", false).await;
    let code_at_provider = query_of(back.as_str())["code"].clone();
    let res = browser.callback(&back).await.assert_status(302);
    let code = query_of(res.header("location").unwrap())["code"].clone();
    let token = exchange(&app, &code).await.assert_status(200).body;
    secrets.extend([
        code,
        code_at_provider,
        token["access_token"].as_str().unwrap().to_owned(),
    ]);
    let stored = table_strings(&app).await;
    for secret in &secrets {
        assert!(
            !stored.iter().any(|s| s.contains(secret.as_str())),
            "{secret} in the table"
        );
    }
    // No id_token either: nothing stored looks like a JWS.
    assert!(
        !stored.iter().any(|s| s.starts_with("eyJ")),
        "a JWT in the table"
    );
}

#[tokio::test]
async fn sign_ins_are_events_with_their_outcome_and_no_token_material() {
    let app = tether_tests::spawn_app_following_stream().await;
    let (op, provider) = panva(&app, "link_verified_email").await;
    let user = app.create_user(json!({"email": "tia@example.com"})).await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "tia", "")
        .await;
    let code = back["code"].clone();
    let failed = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "uma", "")
        .await;
    assert_failed(&failed, "user_not_found");
    let records = tether_tests::stream_changes(&app).await;
    assert!(
        tether::events::handle(&app.app.store, &records, app.clock.now())
            .await
            .is_empty()
    );
    let events = app
        .get("/v1/events?types=sso.login_succeeded,sso.login_failed")
        .await
        .assert_status(200);
    let events = events.data();
    assert_eq!(events.len(), 2, "{events:?}");
    let succeeded = events
        .iter()
        .find(|e| e["type"] == "sso.login_succeeded")
        .unwrap();
    let object = &succeeded["data"]["object"];
    assert_eq!(object["outcome"], "succeeded");
    assert_eq!(object["end_user_id"], user["id"]);
    assert_eq!(object["identity_provider_id"], provider["id"]);
    assert!(object["identity_id"].is_string());
    let failed = events
        .iter()
        .find(|e| e["type"] == "sso.login_failed")
        .unwrap();
    assert_eq!(failed["data"]["object"]["error"], "user_not_found");
    assert_eq!(failed["data"]["object"]["reason"], "no_user_with_email");
    assert!(failed["data"]["object"].get("end_user_id").is_none());
    let text = serde_json::to_string(&events).unwrap();
    for secret in [code.as_str(), "tsc_", "eyJ", "secret", "nonce", "state"] {
        assert!(!text.contains(secret), "an event carries {secret}: {text}");
    }
}

/// The stored reason of the organization's failed sign-ins.
async fn failure_reasons(app: &TestApp) -> Vec<String> {
    crate::table_items(app)
        .await
        .into_iter()
        .filter(|item| {
            item["SK"]
                .as_s()
                .is_ok_and(|sk| sk.starts_with("SSOLOGIN#"))
        })
        .filter_map(|item| item.get("reason").and_then(|r| r.as_s().ok()).cloned())
        .collect()
}

/// The OAuth mix-up attack (RFC 9207): a provider's answer arriving at
/// another connection's callback — as when a malicious connection's
/// authorization endpoint sends the browser on to an honest provider —
/// ends the attempt before its code is sent anywhere.
#[tokio::test]
async fn a_code_at_another_connections_callback_goes_to_no_token_endpoint() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let attacker = connect(&app, &op, "rs256", "create").await;
    let honest = connect(&app, &op, "es256", "create").await;
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser.authorize(&authorize_query(&attacker, "")).await;
    let back = browser
        .at_provider(&op, res.header("location").unwrap(), "vera", false)
        .await;
    // The answer comes back at the honest connection's callback instead.
    let elsewhere = format!(
        "/v1/sso/callback/{}?{}",
        honest["id"].as_str().unwrap(),
        back.query().unwrap()
    );
    let res = browser.get(&elsewhere).await.assert_status(302);
    assert_failed(&query_of(res.header("location").unwrap()), "server_error");
    assert_eq!(failure_reasons(&app).await, ["wrong_callback"]);
    // The attempt is spent: its own callback finds nothing now.
    browser
        .callback(&back)
        .await
        .assert_error(400, "invalid_login_attempt");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);
}

/// `/v1/sso/callback`, shared by every connection, takes only answers
/// whose provider names itself (`iss`, RFC 9207): both providers here do;
/// the same answer without it is refused.
#[tokio::test]
async fn the_shared_callback_takes_only_answers_naming_their_provider() {
    let app = spawn_app().await;
    for op in [
        OidcProvider::start("g1").await,
        OidcProvider::start_idpy().await,
    ] {
        let provider = connect(&app, &op, "rs256", "create").await;
        for named in [true, false] {
            let mut browser = Browser::new(&app, "198.51.100.7");
            let res = browser.authorize(&authorize_query(&provider, "")).await;
            let back = browser
                .at_provider(&op, res.header("location").unwrap(), "ada", false)
                .await;
            assert!(
                back.query_pairs()
                    .any(|(k, v)| k == "iss" && v == op.issuer.as_str())
            );
            let query: Vec<(String, String)> = back
                .query_pairs()
                .filter(|(k, _)| named || k != "iss")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&query)
                .finish();
            let res = browser
                .get(&format!("/v1/sso/callback?{query}"))
                .await
                .assert_status(302);
            let answer = query_of(res.header("location").unwrap());
            if named {
                assert!(answer.contains_key("code"), "{answer:?}");
            } else {
                assert_failed(&answer, "server_error");
            }
        }
    }
    assert_eq!(
        failure_reasons(&app).await,
        ["issuer_missing", "issuer_missing"]
    );
}

#[tokio::test]
async fn a_redirect_uri_removed_during_the_sign_in_is_not_returned_to() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "create").await;
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser.authorize(&authorize_query(&provider, "")).await;
    let back = browser
        .at_provider(&op, res.header("location").unwrap(), "wyn", false)
        .await;
    app.patch(
        &format!(
            "/v1/identity-providers/{}",
            provider["id"].as_str().unwrap()
        ),
        &json!({"login": {"enabled": true, "client_auth": "client_secret_post",
            "redirect_uris": ["https://app.example.com/other"], "provisioning": "create"}}),
    )
    .await
    .assert_status(200);
    let res = browser.callback(&back).await;
    res.assert_error(400, "invalid_login_attempt");
    assert_eq!(res.body["details"]["reason"], "redirect_uri_removed");
    assert!(res.header("location").is_none());
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);
    // Nor after a failure: an attempt answered `access_denied` once its
    // connection is removed goes nowhere either.
    let mut browser = Browser::new(&app, "198.51.100.7");
    let res = browser
        .authorize(
            &authorize_query(&provider, "")
                .replace(&encode(APP), &encode("https://app.example.com/other")),
        )
        .await
        .assert_status(302);
    let state = query_of(res.header("location").unwrap())["state"].clone();
    app.patch(
        &format!(
            "/v1/identity-providers/{}",
            provider["id"].as_str().unwrap()
        ),
        &json!({"login": null}),
    )
    .await
    .assert_status(200);
    let res = browser
        .get(&format!(
            "/v1/sso/callback/{}?state={state}&error=access_denied",
            provider["id"].as_str().unwrap()
        ))
        .await;
    res.assert_error(400, "invalid_login_attempt");
    assert_eq!(res.body["details"]["reason"], "connection_changed");
    assert!(res.header("location").is_none());
}

/// `POST /v1/sso/token`'s malformed bodies are 422 without a read, and a
/// retry with the same Idempotency-Key replays the first answer — it is not
/// a reuse, and revokes nothing.
#[tokio::test]
async fn the_token_exchange_refuses_malformed_bodies_and_replays_with_its_idempotency_key() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"code": 7}),
        json!({"code": "tsc_short"}),
        json!({"code": format!("tk_{}", "a".repeat(43))}),
        json!({"code": format!("tsc_{}", "a".repeat(43)), "code_verifier": "short"}),
        json!({"code": format!("tsc_{}", "a".repeat(43)), "extra": true}),
    ] {
        let res = app.post("/v1/sso/token", &body).await;
        res.assert_error(422, "validation_failed");
    }
    let (op, provider) = panva(&app, "create").await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "yan", "")
        .await;
    let body = json!({"code": back["code"]});
    let first = app
        .post_once("/v1/sso/token", "exchange-1", &body)
        .await
        .assert_status(200);
    let again = app
        .post_once("/v1/sso/token", "exchange-1", &body)
        .await
        .assert_status(200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("cache-control"), Some("no-store"));
    app.request("GET", "/v1/me")
        .no_key()
        .header(
            "authorization",
            &format!("Bearer {}", first.body["access_token"].as_str().unwrap()),
        )
        .send()
        .await
        .assert_status(200);
}

/// A callback without a usable state is refused before anything is read
/// (400, no redirect); a path that names no provider id is a 400 too.
#[tokio::test]
async fn malformed_callbacks_are_400_without_redirect() {
    let app = spawn_app().await;
    let id = tether::ids::IdentityProviderId::generate();
    for path in [
        format!("/v1/sso/callback/{id}"),
        format!("/v1/sso/callback/{id}?code=x"),
        format!("/v1/sso/callback/{id}?state={}", "s".repeat(513)),
        "/v1/sso/callback?code=x".to_owned(),
    ] {
        let res = Browser::new(&app, "198.51.100.7").get(&path).await;
        res.assert_error(400, "invalid_login_attempt");
        assert_eq!(res.body["details"]["reason"], "malformed", "{path}");
        assert!(res.header("location").is_none());
        assert_eq!(res.header("cache-control"), Some("no-store"));
    }
    // A state but no cookie: nothing to bind it to.
    let res = Browser::new(&app, "198.51.100.7")
        .get(&format!("/v1/sso/callback/{id}?state=abc"))
        .await;
    assert_eq!(res.body["details"]["reason"], "browser_mismatch");
    let res = Browser::new(&app, "198.51.100.7")
        .get("/v1/sso/callback/not-an-id?state=abc")
        .await;
    res.assert_error(400, "invalid_path_parameter");
}

/// SPEC §18: a directory's suspension reaches SSO login — a sign-in returns
/// `user_suspended`, a code issued before the suspension is not exchanged —
/// and reactivation restores it.
#[tokio::test]
async fn a_suspended_users_sign_in_returns_user_suspended_until_reactivated() {
    let app = spawn_app().await;
    let (op, provider) = panva(&app, "link_verified_email").await;
    let dir = tether_tests::scim::Directory::create(&app).await;
    let user = dir.create_user("gus@example.com").await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let set_active = |active: bool| {
        let dir = &dir;
        let user_id = user_id.clone();
        async move {
            dir.patch_user(
                &user_id,
                json!({"op": "replace", "value": {"active": active}}),
            )
            .await
            .assert_status(200);
        }
    };
    // A code from before the suspension is refused at the exchange.
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "gus", "")
        .await;
    set_active(false).await;
    exchange(&app, &back["code"])
        .await
        .assert_error(409, "user_suspended");
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "gus", "")
        .await;
    assert_failed(&back, "user_suspended");
    set_active(true).await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "gus", "")
        .await;
    let token = exchange(&app, &back["code"]).await.assert_status(200).body;
    assert_eq!(token["end_user"]["id"], user_id);
}
