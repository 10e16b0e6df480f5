//! SSO against genuine OpenID Providers (`tests/support/oidc.rs`): each is
//! registered by its issuer alone, and its own id_tokens — RS256, ES256
//! and EdDSA, from the authorization-code flow through its sign-in, the
//! code exchanged by `outbound::Outbound::post_form` (the token request of
//! the coming SSO login; no endpoint makes one yet) — link, through a key
//! rotation and after the old keys are retired.

use serde_json::{Value, json};
use tether_tests::oidc::OidcProvider;
use tether_tests::{As, TestApp, spawn_app};

const CLIENTS: [&str; 3] = ["rs256", "es256", "eddsa"];

/// Links the provider's id_token for `login` as a new end user; the response.
async fn link(
    app: &TestApp,
    provider: &Value,
    id_token: &str,
    nonce: &str,
) -> tether_tests::TestResponse {
    let user = app.create_user(json!({})).await;
    app.send_as(
        "POST",
        "/v1/me/sso/link",
        As::Bearer(&app.user_token(&user)),
        Some(
            &json!({"identity_provider_id": provider["id"], "id_token": id_token, "nonce": nonce}),
        ),
    )
    .await
}

#[tokio::test]
async fn a_real_provider_links_through_discovery_rotation_and_retirement() {
    let mut op = OidcProvider::start("g1").await;
    let app = spawn_app().await;
    // One Tether provider per client of the issuer, each by issuer alone.
    let mut providers = Vec::new();
    for client in CLIENTS {
        let res = app
            .post(
                "/v1/identity-providers",
                &json!({"name": format!("OP {client}"), "issuer": op.issuer, "client_id": client}),
            )
            .await
            .assert_status(201);
        assert_eq!(res.body["jwks_uri"], format!("{}/jwks", op.issuer));
        providers.push(res.body);
    }

    for (phase, generations) in [
        ("before", None),
        ("rotated", Some("g2,g1")),
        ("retired", Some("g2")),
    ] {
        if let Some(generations) = generations {
            op.rotate(generations).await;
        }
        for (client, provider) in CLIENTS.iter().zip(&providers) {
            let login = format!("{phase}-{client}");
            let nonce = format!("n-{login}");
            let id_token = op.id_token(client, &login, &nonce).await;
            let res = link(&app, provider, &id_token, &nonce).await;
            assert_eq!(res.status, 201, "{phase} {client}: {}", res.text);
            assert_eq!(res.body["external_id"], login);
            assert_eq!(res.body["external_email"], format!("{login}@example.com"));
            assert_eq!(res.body["external_email_verified"], true);
            assert_eq!(res.body["external_username"], login);
            // The nonce binds the token to the request that asked for it.
            let replay = link(
                &app,
                provider,
                &op.id_token(client, &login, &nonce).await,
                "other",
            )
            .await;
            replay.assert_error(422, "invalid_id_token");
            assert_eq!(replay.body["details"]["reason"], "nonce");
        }
    }
}

#[tokio::test]
async fn the_token_request_authenticates_by_basic_and_by_post() {
    use tether::outbound::{ClientAuth, FetchError};
    let id_of = |auth: ClientAuth<'static>| match auth {
        ClientAuth::Basic { id, .. } | ClientAuth::Post { id, .. } => id,
        _ => unreachable!("the two methods of this test"),
    };
    let op = OidcProvider::start("g1").await;
    // Tether's outbound client exchanges the codes: by Basic (a secret with `:`,
    // `%`, `+`, `/`, `&` and `=`, form-encoded first) and in the form.
    for client in CLIENTS
        .iter()
        .flat_map(|c| [c.to_string(), format!("{c}-basic")])
    {
        let id_token = op.id_token(&client, "ada", "n-1").await;
        assert_eq!(id_token.split('.').count(), 3, "{client}: a signed JWT");
    }
    // The provider checks the credentials (so the Basic exchanges above
    // sent the secret it holds): a wrong secret, by either method, is
    // refused, and a refused exchange is a status, its body unread.
    for auth in [
        ClientAuth::Basic {
            id: "rs256-basic",
            secret: "s3:c%r+t/~&",
        },
        ClientAuth::Post {
            id: "rs256",
            secret: "secreT",
        },
    ] {
        let code = op.code(id_of(auth), "ada", "n-2").await;
        let refused = op.exchange_with(&code, auth).await;
        assert!(
            matches!(refused, Err(FetchError::Status(401))),
            "{refused:?}"
        );
    }
    // A code is single use at the provider too.
    let code = op.code("es256-basic", "ada", "n-4").await;
    assert!(op.exchange("es256-basic", &code).await.is_ok());
    let replayed = op.exchange("es256-basic", &code).await;
    assert!(
        matches!(replayed, Err(FetchError::Status(400))),
        "{replayed:?}"
    );
}

#[tokio::test]
async fn a_second_implementations_id_tokens_link_by_every_algorithm_and_client_auth() {
    use base64::Engine as _;
    // IdentityPython's idpyoidc: another code base's signing, discovery and
    // token endpoint, its login page filled in over HTTP.
    let op = OidcProvider::start_idpy().await;
    let app = spawn_app().await;
    for client in CLIENTS
        .iter()
        .flat_map(|c| [c.to_string(), format!("{c}-basic")])
    {
        let provider = app
            .post(
                "/v1/identity-providers",
                &json!({"name": format!("idpy {client}"), "issuer": op.issuer, "client_id": client}),
            )
            .await
            .assert_status(201)
            .body;
        assert_eq!(provider["jwks_uri"], format!("{}/jwks", op.issuer));
        for login in ["ada", "bob"] {
            let nonce = format!("n-{client}-{login}");
            let id_token = op.id_token(&client, login, &nonce).await;
            let header = id_token.split('.').next().expect("a JWT");
            let header: Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(header)
                    .expect("base64url"),
            )
            .expect("JSON");
            let alg = header["alg"].as_str().expect("alg").to_lowercase();
            assert!(client.starts_with(&alg), "{client} signed with {alg}");
            let res = link(&app, &provider, &id_token, &nonce).await;
            assert_eq!(res.status, 201, "{client} {login}: {}", res.text);
            assert_eq!(res.body["external_email"], format!("{login}@example.com"));
            assert_eq!(res.body["external_email_verified"], true);
            assert_eq!(res.body["external_username"], login);
            // Its nonce binds it too.
            let other = link(&app, &provider, &id_token, "other").await;
            other.assert_error(422, "invalid_id_token");
        }
    }
    // It holds each client to its method, so the exchanges above used the
    // one asked for: the other method, with the right secret, is refused.
    use tether::outbound::{ClientAuth, FetchError};
    for (client, auth) in [
        (
            "es256-basic",
            ClientAuth::Post {
                id: "es256-basic",
                secret: "basic-secret_1.x",
            },
        ),
        (
            "es256",
            ClientAuth::Basic {
                id: "es256",
                secret: "secret",
            },
        ),
    ] {
        let code = op.code(client, "eve", "n-method").await;
        let refused = op.exchange_with(&code, auth).await;
        assert!(
            matches!(refused, Err(FetchError::Status(400 | 401))),
            "{client}: {refused:?}"
        );
    }
}
