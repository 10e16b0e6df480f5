//! CORS (SPEC §10): the user API and the JWKS answer browsers of the
//! configured origins (any localhost origin on local stacks; the template's
//! `UserApi` in AWS); the other surfaces send no CORS headers.

use serde_json::json;
use tether_tests::{TestApp, spawn_app};

const ORIGIN: &str = "http://localhost:5173";

async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
) -> tether_tests::TestResponse {
    app.request("OPTIONS", path)
        .no_key()
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
}

#[tokio::test]
async fn the_user_api_and_the_jwks_answer_preflights_of_allowed_origins() {
    let app = spawn_app().await;
    for (path, method) in [
        ("/v1/me/sso/link", "POST"),
        ("/v1/me", "GET"),
        ("/.well-known/jwks.json", "GET"),
    ] {
        let res = preflight(&app, path, ORIGIN, method).await;
        assert_eq!(res.status, 204, "{path}: {}", res.text);
        assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
        let allowed = res.header("access-control-allow-headers").unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert!(
            res.header("access-control-allow-methods")
                .unwrap()
                .contains(method)
        );
        assert!(res.header("x-request-id").is_some());

        let refused = preflight(&app, path, "https://evil.example", method).await;
        assert_eq!(refused.status, 204);
        assert_eq!(
            refused.header("access-control-allow-origin"),
            None,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_browsers_simple_and_actual_requests_carry_the_allowed_origin() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let token = app.user_token(&user);
    let me = app
        .request("GET", "/v1/me")
        .bearer(&token)
        .header("origin", ORIGIN)
        .send()
        .await
        .assert_status(200);
    assert_eq!(me.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(
        me.header("access-control-expose-headers")
            .unwrap()
            .contains("x-request-id")
    );
    // Errors too: a browser's script must be able to read why.
    let denied = app
        .request("POST", "/v1/me/sso/link")
        .bearer(&token)
        .header("origin", ORIGIN)
        .json(&json!({}))
        .send()
        .await;
    denied.assert_error(422, "validation_failed");
    assert_eq!(denied.header("access-control-allow-origin"), Some(ORIGIN));
    let jwks = app
        .request("GET", "/.well-known/jwks.json")
        .no_key()
        .header("origin", ORIGIN)
        .send()
        .await;
    assert_eq!(jwks.header("access-control-allow-origin"), Some(ORIGIN));
    let other = app
        .request("GET", "/v1/me")
        .bearer(&token)
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn other_surfaces_send_no_cors_headers() {
    let app = spawn_app().await;
    let list = app
        .request("GET", "/v1/end-users")
        .header("origin", ORIGIN)
        .send()
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.header("access-control-allow-origin"), None);
    let preflight = preflight(&app, "/v1/end-users", ORIGIN, "GET").await;
    preflight.assert_error(404, "not_found");
    assert_eq!(preflight.header("access-control-allow-origin"), None);
}

#[test]
fn the_template_gives_only_the_browser_api_a_cors_configuration() {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/template.yaml"
    ))
    .unwrap();
    assert_eq!(template.matches("CorsConfiguration:").count(), 1);
    let user_api = &template[template.find("  UserApi:").unwrap()..];
    let user_api = &user_api[..user_api.find("\n\n").unwrap()];
    assert!(
        user_api.contains("AllowOrigins: !Ref CorsAllowedOrigins"),
        "{user_api}"
    );
    for route in [
        "ApiId: !Ref UserApi, Method: GET, Path: /v1/me }",
        "ApiId: !Ref UserApi, Method: POST, Path: /v1/me/sso/link }",
        "ApiId: !Ref UserApi, Method: GET, Path: /.well-known/jwks.json }",
    ] {
        assert!(template.contains(route), "{route}");
    }
    assert_eq!(
        template.matches("ApiId: !Ref UserApi").count(),
        3,
        "only the browser routes"
    );
}
