//! `events/`: one API Gateway HTTP API (v2) event per function. Each parses as
//! Lambda would parse it and reaches its handler with the right path
//! parameters (placeholders swapped for a live key and end user).

use serde_json::{Value, json};
use std::path::PathBuf;
use tether::clock::Clock;
use tether::routes;
use tether_tests::id;
use tether_tests::spawn_app;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn load(function: &str) -> Value {
    let path = events_dir().join(format!("{function}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let event: Value = serde_json::from_str(&text).unwrap();
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{function}.json does not parse: {e}"));
    event
}

#[test]
fn there_is_exactly_one_event_per_function() {
    let mut expected: Vec<String> = routes::ALL.iter().map(|e| e.function.to_owned()).collect();
    expected.push(routes::NOT_FOUND.function.to_owned());
    expected.extend(routes::EVENT_FUNCTIONS.iter().map(|f| f.name.to_owned()));
    expected.sort();
    let mut found: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_owned)
        })
        .collect();
    found.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn every_event_reaches_its_handler_with_its_path_parameters() {
    let app = spawn_app().await;
    let provider = app.create_provider().await;
    let provider_id = id(&provider);
    let (service, service_token) = app.create_service(&[]).await;
    // The SCIM surface's directory, its token and (made per request) a user.
    let scim = tether_tests::scim::Directory::create(&app).await;
    let scim_token = format!("scim_{}", "0".repeat(48));
    for endpoint in routes::ALL.iter().chain([&routes::NOT_FOUND]) {
        // A related service (claimed with one token) and a pending token.
        let used = app.create_connect_token(&service).await;
        let claimed = app
            .claim_relation(&service, &service_token, &used["token"], "crm-acct-1")
            .await
            .assert_status(200);
        let pending = app.create_connect_token(&service).await;
        // A world for each event: an end user with one linked identity.
        let user = app.create_user(json!({})).await;
        let user_id = id(&user);
        let linked = app.post(&format!("/v1/users/{user_id}/identities"), &json!({"identity_provider_id": provider_id, "external_id": format!("pre-{user_id}"), "external_email": "pre@example.com"})).await.assert_status(201);
        let now = app.clock.now().unix_timestamp();
        let (api_key, _) = app.create_key_of(tether::auth::Scope::Read).await;
        let unused_provider = app.create_provider_id().await;
        let webhook = app
            .create_webhook_endpoint("http://127.0.0.1:8089/hook")
            .await;
        let ping_path = format!("/v1/webhook-endpoints/{}/test", id(&webhook));
        let ping = app.post_empty(&ping_path).await.assert_status(202);
        // Directories are capped (5): one made for the requests that name one.
        let directory = if endpoint.path.starts_with("/v1/directories/") {
            let created = app.post("/v1/directories", &json!({"name": "Okta"})).await;
            id(&created.assert_status(201).body).to_owned()
        } else {
            scim.id.clone()
        };
        let group = if endpoint.path.contains("/Groups/")
            || endpoint.path.starts_with("/v1/groups/")
        {
            let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": endpoint.function});
            id(&scim
                .send("POST", "/Groups", &body)
                .await
                .assert_status(201)
                .body)
            .to_owned()
        } else {
            String::new()
        };
        let scim_user = if endpoint.path.starts_with("/scim/") {
            let name = format!("{}@example.com", endpoint.function);
            id(&scim.create_user(&name).await).to_owned()
        } else {
            String::new()
        };
        // (the placeholder in the sample events, what stands for it in this
        // world), in this order: the connect token holds the organization's id.
        let id_token = tether_tests::idp::id_token(&format!("sso-{user_id}"), now);
        let connect_token = pending["token"].as_str().unwrap();
        // An IT admin's portal session, a link to open, a link to end.
        let (admin, _) = tether_tests::portal::Admin::signed_in(&app, "all").await;
        let session = admin.cookies.get("tether_portal").cloned().unwrap();
        let mut reader = admin.clone();
        let page = reader.get("/portal/directory").await;
        let csrf = tether_tests::portal::input_value(&page.text, "csrf").unwrap();
        let to_open =
            tether_tests::portal::token_of(&tether_tests::portal::mint(&app, "sso").await);
        let to_end = tether_tests::portal::mint(&app, "sso").await;
        let replacements: [(&str, &str); 23] = [
            (
                "tps_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051b2_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                &session,
            ),
            (
                "tpl_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051b3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                &to_open,
            ),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051b1", id(&to_end)),
            ("PORTAL-CSRF", &csrf),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a1", &directory),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a2", &scim_user),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051a3", &group),
            (&scim_token, &scim.token),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ab", &api_key.to_string()),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bc", &unused_provider),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ae", id(&webhook)),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ad", id(&ping.body)),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162", user_id),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051aa", id(&linked.body)),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051bb", provider_id),
            (
                "eyJhbGciOiJFZERTQSJ9.placeholder.signature",
                &app.user_token(&user),
            ),
            (
                "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.placeholder.signature",
                &id_token,
            ),
            (
                "tst_000000000000000000000000000000000000000000000000",
                &service_token,
            ),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051cc", &service),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051dd", id(&pending)),
            (
                "tct_0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ff_000000000000000000000000000000000000000000000000",
                connect_token,
            ),
            ("0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ee", id(&claimed.body)),
            (
                "0192f0c5-7b7a-7c3e-9a4b-1d2e3f4051ff",
                &app.org_id.to_string(),
            ),
        ];
        let mut text = load(endpoint.function).to_string();
        for (placeholder, value) in replacements {
            text = text.replace(placeholder, value);
        }
        let mut event: Value = serde_json::from_str(&text).unwrap();
        if event["headers"].get("x-api-key").is_some() {
            event["headers"]["x-api-key"] = json!(app.admin_key);
        }
        let method = event["requestContext"]["http"]["method"].as_str().unwrap();
        let path = event["rawPath"].as_str().unwrap();
        let routed = routes::route(method, path).map_or(routes::NOT_FOUND.function, |e| e.function);
        assert_eq!(
            routed, endpoint.function,
            "{}.json routes elsewhere",
            endpoint.function
        );
        if event["routeKey"] != "$default" {
            assert_eq!(
                event["routeKey"],
                format!("{} {}", endpoint.method, endpoint.path)
            );
        }

        // A function of its own, so the DynamoDB actions counted are this
        // request's: each must be one its IAM policy allows (derived from
        // the declaration: cargo xtask generate).
        let function = app.cold_instance();
        let res = function.send_event(&event).await;
        let allowed = endpoint.dynamodb_actions();
        for action in function.app.store.actions_used() {
            let ok = match action.strip_suffix(" on index") {
                Some(query) => endpoint.reads_indexes() && allowed.contains(&query),
                None => allowed.contains(&action.as_str()),
            };
            assert!(
                ok,
                "{} used {action}, which its declaration does not allow ({allowed:?})",
                endpoint.function
            );
        }
        // The SSO flow's examples carry a state or code no attempt made:
        // their handlers' own refusals show they were reached.
        let sso_refusal = match endpoint.function {
            "sso-authorize" => Some((422, "unknown_identity_provider")),
            "sso-callback" | "sso-shared-callback" => Some((400, "invalid_login_attempt")),
            "sso-token" => Some((422, "invalid_grant")),
            _ => None,
        };
        if endpoint.function == routes::NOT_FOUND.function {
            res.assert_error(404, "not_found");
        } else if endpoint.portal {
            // A page, a redirect, or the view's answer to its example form
            // (a provider no network reaches is the form's 422): admitted,
            // authorized, reached its handler.
            assert!(
                ![401, 403].contains(&res.status) && res.status < 500,
                "{}: {} {}",
                endpoint.function,
                res.status,
                res.text
            );
        } else if let Some((status, code)) = sso_refusal {
            res.assert_error(status, code);
        } else {
            assert!(
                (200..300).contains(&res.status),
                "{}: {} {}",
                endpoint.function,
                res.status,
                res.text
            );
        }
        if endpoint.path.contains("{user_id}")
            && endpoint.path.starts_with("/v1/end-users/{user_id}")
            && endpoint.method != "POST"
            && !endpoint.docs.paginated
        {
            assert_eq!(
                res.body["id"], user["id"],
                "{} got the event's user_id",
                endpoint.function
            );
        }
    }
}
