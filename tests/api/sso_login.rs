//! SSO login end to end (SPEC §17): a browser goes through Tether's
//! authorize and callback and a genuine OpenID Provider's own sign-in
//! (panva's `oidc-provider`, IdentityPython's `idpyoidc`), and the app
//! exchanges the one-time code. Nothing on the provider's side is mocked.

use serde_json::{Value, json};
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
