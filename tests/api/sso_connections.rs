//! Login connections (SPEC §17): a provider becomes one with `PATCH
//! /v1/identity-providers/{id}` `{login}` — its endpoints discovered, its
//! client secret sealed and never shown, under `sso_connections.configure`.

use serde_json::{Value, json};
use tether_tests::oidc::OidcProvider;
use tether_tests::sso::{APP, Browser, connect, encode};
use tether_tests::{TestApp, spawn_app};

fn path(provider: &Value) -> String {
    format!(
        "/v1/identity-providers/{}",
        provider["id"].as_str().unwrap()
    )
}

fn login(secret: Option<&str>) -> Value {
    let mut login = json!({
        "enabled": true,
        "client_auth": "client_secret_post",
        "redirect_uris": [APP],
        "provisioning": "create",
    });
    if let Some(secret) = secret {
        login["client_secret"] = json!(secret);
    }
    login
}

/// A provider of `op` registered by issuer, not yet a login connection.
async fn registered(app: &TestApp, op: &OidcProvider) -> Value {
    app.post(
        "/v1/identity-providers",
        &json!({"name": "SSO", "issuer": op.issuer, "client_id": "rs256"}),
    )
    .await
    .assert_status(201)
    .body
}

async fn authorize(app: &TestApp, query: &str) -> tether_tests::TestResponse {
    Browser::new(app, "198.51.100.7")
        .authorize(&format!("{query}&redirect_uri={}", encode(APP)))
        .await
}

#[tokio::test]
async fn the_client_secret_is_sealed_never_shown_and_kept_when_not_sent() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = registered(&app, &op).await;
    // None stored yet: it is required.
    let res = app
        .patch(&path(&provider), &json!({"login": login(None)}))
        .await;
    res.assert_error(422, "validation_failed");
    assert_eq!(
        res.body["details"]["fields"][0]["field"],
        "login.client_secret"
    );
    let res = app
        .patch(&path(&provider), &json!({"login": login(Some("secret"))}))
        .await
        .assert_status(200);
    let shown = &res.body["login"];
    assert_eq!(shown["has_client_secret"], true);
    // The connection's own callback, for the provider's administrator.
    let callback = shown["callback_url"].as_str().unwrap();
    assert_eq!(
        callback,
        format!(
            "http://127.0.0.1:9000/v1/sso/callback/{}",
            provider["id"].as_str().unwrap()
        )
    );
    op.register_redirect_uri(callback).await;
    assert_eq!(shown["client_auth"], "client_secret_post");
    assert_eq!(shown["redirect_uris"], json!([APP]));
    assert_eq!(shown["provisioning"], "create");
    for read in [
        res.body.clone(),
        app.get(&path(&provider)).await.body,
        app.get("/v1/identity-providers").await.body["data"][0].clone(),
    ] {
        assert_eq!(read["login"], *shown);
        let text = read.to_string();
        assert!(
            !text.contains("\"secret\"") && !text.contains("sealed"),
            "{text}"
        );
    }
    let item = crate::stored_item(
        &app,
        &format!("ORG#{}", app.org_id),
        &format!("IDP#{}", provider["id"].as_str().unwrap()),
    )
    .await
    .unwrap();
    let stored = item["login"].as_m().unwrap();
    let sealed = stored["client_secret_sealed"].as_s().unwrap();
    assert!(!sealed.contains("secret") && sealed.len() > 30, "{sealed}");
    // A change without the secret keeps it: the sign-in still works.
    let mut changed = login(None);
    changed["provisioning"] = json!("create");
    changed["redirect_uris"] = json!([APP, "http://127.0.0.1:9200/callback"]);
    app.patch(&path(&provider), &json!({"login": changed}))
        .await
        .assert_status(200);
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "vic", "")
        .await;
    assert!(back.contains_key("code"), "{back:?}");
}

#[tokio::test]
async fn a_wrong_client_secret_fails_the_sign_in_with_server_error() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = registered(&app, &op).await;
    let res = app
        .patch(
            &path(&provider),
            &json!({"login": login(Some("not-the-secret"))}),
        )
        .await
        .assert_status(200);
    op.register_redirect_uri(res.body["login"]["callback_url"].as_str().unwrap())
        .await;
    let back = Browser::new(&app, "198.51.100.7")
        .sign_in(&op, &provider, "wes", "")
        .await;
    assert_eq!(back["error"], "server_error", "{back:?}");
    assert_eq!(app.get("/v1/end-users").await.data().len(), 0);
}

#[tokio::test]
async fn a_provider_with_pinned_keys_or_without_a_token_endpoint_cannot_sign_in() {
    let app = spawn_app().await;
    let pinned = app.create_provider().await;
    let res = app
        .patch(&path(&pinned), &json!({"login": login(Some("secret"))}))
        .await;
    res.assert_error(422, "validation_failed");
    assert_eq!(res.body["details"]["fields"][0]["field"], "login");
    // An issuer whose discovery names no token endpoint.
    let fake = tether_tests::issuer::FakeIssuer::start(json!({"keys": []})).await;
    let keys = tether_tests::idp::provider_body()["jwks"].clone();
    fake.script(|s| s.jwks = keys);
    let provider = app
        .post(
            "/v1/identity-providers",
            &json!({"name": "No token endpoint", "issuer": fake.issuer, "client_id": "c"}),
        )
        .await
        .assert_status(201)
        .body;
    let res = app
        .patch(&path(&provider), &json!({"login": login(Some("secret"))}))
        .await;
    res.assert_error(422, "identity_provider_unreachable");
    assert_eq!(res.body["details"]["reason"], "invalid_document");
    // A login connection's keys stay with its issuer.
    let op = OidcProvider::start("g1").await;
    let connected = connect(&app, &op, "rs256", "create").await;
    let res = app
        .patch(
            &path(&connected),
            &json!({"jwks": tether_tests::idp::provider_body()["jwks"]}),
        )
        .await;
    res.assert_error(422, "validation_failed");
    assert_eq!(res.body["details"]["fields"][0]["field"], "jwks");
}

#[tokio::test]
async fn redirect_uris_are_exact_https_or_loopback_urls_at_most_ten() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = registered(&app, &op).await;
    let mut bad = login(Some("secret"));
    bad["redirect_uris"] = json!(["http://app.example.com/cb", "https://a.example/cb#f", 7]);
    let res = app.patch(&path(&provider), &json!({"login": bad})).await;
    res.assert_error(422, "validation_failed");
    let fields: Vec<&str> = res.body["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "login.redirect_uris[0]",
            "login.redirect_uris[1]",
            "login.redirect_uris[2]"
        ]
    );
    let mut many = login(Some("secret"));
    many["redirect_uris"] = json!(
        (0..11)
            .map(|i| format!("https://app.example.com/{i}"))
            .collect::<Vec<_>>()
    );
    app.patch(&path(&provider), &json!({"login": many}))
        .await
        .assert_error(422, "validation_failed");
    let mut bad = login(Some("secret"));
    bad["client_auth"] = json!("private_key_jwt");
    bad["provisioning"] = json!("invite");
    app.patch(&path(&provider), &json!({"login": bad}))
        .await
        .assert_error(422, "validation_failed");
    // Nothing was stored.
    assert!(app.get(&path(&provider)).await.body.get("login").is_none());
}

#[tokio::test]
async fn configuring_login_needs_sso_connections_configure() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = registered(&app, &op).await;
    let live = connect(&app, &op, "es256", "create").await;
    app.put_policies(
        r#"forbid (principal, action == Action::"sso_connections.configure", resource);"#,
    )
    .await;
    // A live connection's client id and keys are its configuration too.
    app.patch(&path(&live), &json!({"client_id": "other"}))
        .await
        .assert_error(403, "policy_denied");
    app.patch(&path(&live), &json!({"name": "Renamed live"}))
        .await
        .assert_status(200);
    let res = app
        .patch(&path(&provider), &json!({"login": login(Some("secret"))}))
        .await;
    res.assert_error(403, "policy_denied");
    app.patch(&path(&provider), &json!({"login": null}))
        .await
        .assert_error(403, "policy_denied");
    // The provider's other members are identity_providers.update alone.
    app.patch(&path(&provider), &json!({"name": "Renamed"}))
        .await
        .assert_status(200);
    // A read_write key is short of admin.
    let key = app.create_read_write_key().await;
    let res = app
        .request("PATCH", &path(&provider))
        .key(&key)
        .json(&json!({"login": login(Some("secret"))}))
        .send()
        .await;
    res.assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn disabling_removing_or_deleting_a_connection_stops_its_sign_ins() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = connect(&app, &op, "rs256", "create").await;
    let by_id = format!("identity_provider_id={}", provider["id"].as_str().unwrap());
    authorize(&app, &by_id).await.assert_status(302);
    let mut disabled = login(None);
    disabled["enabled"] = json!(false);
    let res = app
        .patch(&path(&provider), &json!({"login": disabled}))
        .await
        .assert_status(200);
    assert_eq!(res.body["login"]["enabled"], false);
    authorize(&app, &by_id)
        .await
        .assert_error(422, "unknown_identity_provider");
    app.patch(&path(&provider), &json!({"login": login(None)}))
        .await
        .assert_status(200);
    authorize(&app, &by_id).await.assert_status(302);
    let res = app
        .patch(&path(&provider), &json!({"login": null}))
        .await
        .assert_status(200);
    assert!(res.body.get("login").is_none());
    authorize(&app, &by_id)
        .await
        .assert_error(422, "unknown_identity_provider");
    // Deleted: the connection goes with it.
    let again = connect(&app, &op, "es256", "create").await;
    let by_id = format!("identity_provider_id={}", again["id"].as_str().unwrap());
    authorize(&app, &by_id).await.assert_status(302);
    app.delete(&path(&again)).await.assert_status(204);
    authorize(&app, &by_id)
        .await
        .assert_error(422, "unknown_identity_provider");
    let pointers = crate::table_items(&app)
        .await
        .into_iter()
        .filter(|item| {
            // The connection items and the organization's markers of them.
            item["PK"].as_s().is_ok_and(|pk| pk.starts_with("SSOCONN#"))
                || item["SK"].as_s().is_ok_and(|sk| sk.starts_with("SSOCONN#"))
        })
        .count();
    assert_eq!(pointers, 0);
}

#[tokio::test]
async fn organization_id_picks_the_organizations_only_connection() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let by_org = format!("organization_id={}", app.org_id);
    let res = authorize(&app, &by_org).await;
    res.assert_error(422, "no_login_connection");
    assert_eq!(res.body["details"]["reason"], "none");
    let only = connect(&app, &op, "rs256", "create").await;
    let res = authorize(&app, &by_org).await.assert_status(302);
    let to = tether_tests::sso::query_of(res.header("location").unwrap());
    assert_eq!(to["client_id"], "rs256");
    assert_eq!(
        to["redirect_uri"],
        only["login"]["callback_url"].as_str().unwrap()
    );
    assert_eq!(to["response_type"], "code");
    assert_eq!(to["scope"], "openid email profile");
    assert_eq!(to["code_challenge_method"], "S256");
    registered(&app, &op).await; // not a login connection: not counted
    authorize(&app, &by_org).await.assert_status(302);
    connect(&app, &op, "es256", "create").await;
    let res = authorize(&app, &by_org).await;
    res.assert_error(422, "no_login_connection");
    assert_eq!(res.body["details"]["reason"], "several");
    // Another organization's connection is not found through this one's id.
    let (other, _) = app.create_org("Other").await;
    let res = authorize(&app, &format!("organization_id={other}")).await;
    assert_eq!(res.body["details"]["reason"], "none");
}

#[tokio::test]
async fn authorize_refuses_malformed_parameters_before_any_write() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = connect(&app, &op, "rs256", "create").await;
    let id = provider["id"].as_str().unwrap();
    let app_uri = encode(APP);
    for (query, parameter) in [
        (format!("identity_provider_id={id}"), "redirect_uri"),
        (format!("redirect_uri={app_uri}"), "identity_provider_id"),
        (
            format!(
                "identity_provider_id={id}&organization_id={}&redirect_uri={app_uri}",
                app.org_id
            ),
            "identity_provider_id",
        ),
        (
            format!("identity_provider_id=nope&redirect_uri={app_uri}"),
            "identity_provider_id",
        ),
        (
            format!(
                "identity_provider_id={id}&redirect_uri={app_uri}&code_challenge=short&code_challenge_method=S256"
            ),
            "code_challenge",
        ),
        (
            format!(
                "identity_provider_id={id}&redirect_uri={app_uri}&code_challenge={}&code_challenge_method=plain",
                "a".repeat(43)
            ),
            "code_challenge_method",
        ),
        (
            format!(
                "identity_provider_id={id}&redirect_uri={app_uri}&state={}",
                "s".repeat(513)
            ),
            "state",
        ),
        (
            format!("identity_provider_id={id}&redirect_uri={app_uri}&prompt=none"),
            "prompt",
        ),
    ] {
        let res = Browser::new(&app, "198.51.100.7").authorize(&query).await;
        res.assert_error(400, "invalid_query_parameter");
        assert_eq!(res.body["details"]["parameter"], parameter, "{query}");
        assert!(res.header("location").is_none() && res.header("set-cookie").is_none());
    }
    // An unknown provider id is 422, never a redirect.
    let res = authorize(
        &app,
        &format!(
            "identity_provider_id={}",
            tether::ids::IdentityProviderId::generate()
        ),
    )
    .await;
    res.assert_error(422, "unknown_identity_provider");
}

#[tokio::test]
async fn a_rotation_of_the_deployment_key_reseals_client_secrets() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use tether::sealed::Keyring;
    use tether::webhooks::reseal::{Resealed, reseal};
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = connect(&app, &op, "rs256", "create").await;
    let shown = app.get(&path(&provider)).await.body;
    let (old, new) = (B64.encode([9u8; 32]), B64.encode([10u8; 32]));
    let rotating = Keyring::parse(&format!("{new},{old}")).unwrap();
    let store = &app.app.store;
    assert_eq!(
        reseal(store, app.org_id, &rotating).await.unwrap(),
        Resealed {
            stale: 1,
            resealed: 1,
            unopenable: 0
        }
    );
    assert_eq!(
        reseal(store, app.org_id, &rotating).await.unwrap(),
        Resealed::default()
    );
    let (pk, sk) = (
        format!("ORG#{}", app.org_id),
        format!("IDP#{}", provider["id"].as_str().unwrap()),
    );
    let item = crate::stored_item(&app, &pk, &sk).await.unwrap();
    let sealed = item["login"].as_m().unwrap()["client_secret_sealed"]
        .as_s()
        .unwrap()
        .clone();
    let aad = tether::identity_providers::login::LoginRecord::secret_aad(&pk, &sk);
    let opened = Keyring::parse(&new).unwrap().open(&aad, &sealed);
    assert_eq!(opened.as_deref(), Some(&b"secret"[..]));
    assert_eq!(Keyring::parse(&old).unwrap().open(&aad, &sealed), None);
    // The connection item's copy (what the flow reads) is the new sealing too.
    let copy = crate::stored_item(
        &app,
        &format!("SSOCONN#{}", provider["id"].as_str().unwrap()),
        "SSOCONN",
    )
    .await
    .unwrap();
    assert_eq!(copy["client_secret_sealed"].as_s().unwrap(), &sealed);
    assert_eq!(
        app.get(&path(&provider)).await.body,
        shown,
        "nothing shown changed"
    );
}

#[tokio::test]
async fn another_organizations_provider_is_404_to_a_login_patch() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = registered(&app, &op).await;
    let (_, other_key) = app.create_org("Other").await;
    let res = app
        .request("PATCH", &path(&provider))
        .key(&other_key)
        .json(&json!({"login": login(Some("secret"))}))
        .send()
        .await;
    res.assert_error(404, "not_found");
    assert!(app.get(&path(&provider)).await.body.get("login").is_none());
}

/// Parallel PATCHes of one connection — its client id, its redirect URIs,
/// its removal — leave the connection item the flow reads exactly as the
/// provider says: each change is written over the revision it was built
/// from, and built again when another came first.
#[tokio::test]
async fn parallel_changes_leave_the_connection_item_as_the_provider_says() {
    let app = spawn_app().await;
    let op = OidcProvider::start("g1").await;
    let provider = connect(&app, &op, "rs256", "create").await;
    for round in 0..3 {
        let bodies: Vec<Value> = (0..8)
            .map(|i| match i % 4 {
                0 => json!({"client_id": format!("client-{round}-{i}")}),
                1 => json!({"login": null}),
                _ => {
                    let mut body = login(None);
                    body["redirect_uris"] = json!([format!("https://app.example.com/{round}/{i}")]);
                    json!({ "login": body })
                }
            })
            .collect();
        let at = path(&provider);
        let answers =
            futures_util::future::join_all(bodies.iter().map(|body| app.patch(&at, body))).await;
        for res in &answers {
            // Once removed, a PATCH without a secret has none to keep: 422.
            // A change that lost every retry to the others is a 503 to
            // retry (the item stays consistent either way).
            assert!(
                matches!(res.status, 200 | 422 | 503),
                "{} {}",
                res.status,
                res.text
            );
        }
        let shown = app.get(&path(&provider)).await.body;
        let copy = crate::stored_item(
            &app,
            &format!("SSOCONN#{}", provider["id"].as_str().unwrap()),
            "SSOCONN",
        )
        .await;
        let marker = crate::stored_item(
            &app,
            &format!("ORG#{}", app.org_id),
            &format!("SSOCONN#{}", provider["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(
            marker.is_some(),
            copy.is_some(),
            "round {round}: the marker follows the copy"
        );
        match shown.get("login").filter(|l| l["enabled"] == true) {
            None => assert!(copy.is_none(), "round {round}: a copy of no connection"),
            Some(login) => {
                let copy = copy.unwrap_or_else(|| panic!("round {round}: no copy of {login}"));
                assert_eq!(
                    copy["client_id"].as_s().unwrap(),
                    shown["client_id"].as_str().unwrap()
                );
                let uris: Vec<&str> = copy["redirect_uris"]
                    .as_l()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_s().unwrap().as_str())
                    .collect();
                assert_eq!(json!(uris), login["redirect_uris"], "round {round}");
            }
        }
        // Back to a connection for the next round.
        app.patch(&path(&provider), &json!({"login": login(Some("secret"))}))
            .await
            .assert_status(200);
    }
}
