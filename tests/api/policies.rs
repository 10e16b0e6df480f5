//! Organization Cedar policies (SPEC §8): upload, validation, and denials
//! with notices.

use serde_json::json;
use tether::auth::Scope;
use tether::clock::Clock;
use tether_tests::As;
use tether_tests::id;
use tether_tests::spawn_app;

const EXAMPLE_ONLY: &str = r#"@notice("Identities need an example.com email")
forbid (principal, action == Action::"identities.create", resource)
unless { context has external_email && context.external_email like "*@example.com" };"#;

#[tokio::test]
async fn policies_round_trip_as_text_or_json() {
    let app = spawn_app().await;
    let empty = app.get("/v1/policies").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"policies": "", "updated_at": null}));
    let put = app
        .request("PUT", "/v1/policies")
        .raw_body("text/plain; charset=utf-8", EXAMPLE_ONLY)
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["policies"], EXAMPLE_ONLY);
    let got = app.get("/v1/policies").await;
    assert_eq!(got.body["policies"], EXAMPLE_ONLY);
    assert!(got.body["updated_at"].as_str().is_some());
    let json_put = app
        .request("PUT", "/v1/policies")
        .json(&json!({"policies": ""}))
        .send()
        .await;
    assert_eq!(json_put.status, 200, "an empty set clears the policies");
    assert_eq!(app.get("/v1/policies").await.body["policies"], "");
}

#[tokio::test]
async fn invalid_policies_are_422_with_every_error_and_change_nothing() {
    let app = spawn_app().await;
    assert_eq!(
        app.request("PUT", "/v1/policies")
            .raw_body("text/plain", EXAMPLE_ONLY)
            .send()
            .await
            .status,
        200
    );
    for (text, needle) in [
        ("forbid (principal, action, resource", "policies"),
        ("permit (principal, action, resource);", "may only forbid"),
        (
            r#"forbid (principal, action == Action::"identities.create", resource) when { context.nonexistent == "x" };"#,
            "policy 0",
        ),
        (
            r#"forbid (principal, action == Action::"no_such.action", resource);"#,
            "policy 0",
        ),
        (
            r#"forbid (principal is Robot, action, resource);"#,
            "policy 0",
        ),
    ] {
        let res = app
            .request("PUT", "/v1/policies")
            .raw_body("text/plain", text)
            .send()
            .await;
        res.assert_error(422, "validation_failed");
        let problems = res.body["details"]["fields"].as_array().unwrap();
        assert!(!problems.is_empty());
        assert!(problems.iter().all(|p| p["field"] == "policies"));
        assert!(res.text.contains(needle), "{text}: {}", res.text);
    }
    for body in [
        json!({}),
        json!({"policies": 5}),
        json!({"policies": "", "extra": true}),
    ] {
        app.request("PUT", "/v1/policies")
            .json(&body)
            .send()
            .await
            .assert_error(422, "validation_failed");
    }
    app.request("PUT", "/v1/policies")
        .raw_body("application/json", "{")
        .send()
        .await
        .assert_error(400, "invalid_json");
    assert_eq!(
        app.get("/v1/policies").await.body["policies"],
        EXAMPLE_ONLY,
        "unchanged"
    );
}

#[tokio::test]
async fn a_forbid_with_a_notice_denies_with_policy_denied() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let second = r#"@notice("A second rule also applies")
forbid (principal, action == Action::"identities.create", resource) when { context.external_id like "blocked*" };"#;
    let text = format!("{EXAMPLE_ONLY}\n{second}");
    assert_eq!(
        app.request("PUT", "/v1/policies")
            .raw_body("text/plain", &text)
            .send()
            .await
            .status,
        200
    );
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/users/{}/identities", id(&user));
    let denied = app.post(&path, &json!({"identity_provider_id": provider, "external_id": "blocked-1", "external_email": "eve@evil.test"})).await;
    denied.assert_error(403, "policy_denied");
    assert_eq!(
        denied.body["notices"],
        json!([
            "A second rule also applies",
            "Identities need an example.com email"
        ]),
        "sorted"
    );
    let allowed = app.post(&path, &json!({"identity_provider_id": provider, "external_id": "ok-1", "external_email": "ada@example.com"})).await;
    assert_eq!(allowed.status, 201, "{}", allowed.text);
    // Scope denials are the built-in rules' alone: no notices.
    let reader = app.create_key(app.org_id, &[Scope::Read]).await;
    let scope = app.send_as("POST", &path, As::Key(&reader), Some(&json!({"identity_provider_id": provider, "external_id": "ok-2", "external_email": "a@example.com"}))).await;
    scope.assert_error(403, "insufficient_scope");
    assert!(scope.body.get("notices").is_none());
}

#[tokio::test]
async fn policies_need_admin_and_belong_to_one_organization() {
    let app = spawn_app().await;
    let writer = app.create_key(app.org_id, &[Scope::ReadWrite]).await;
    app.request("PUT", "/v1/policies")
        .key(&writer)
        .raw_body("text/plain", EXAMPLE_ONLY)
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    app.send_as("GET", "/v1/policies", As::Key(&writer), None)
        .await
        .assert_error(403, "insufficient_scope");
    assert_eq!(
        app.request("PUT", "/v1/policies")
            .raw_body("text/plain", EXAMPLE_ONLY)
            .send()
            .await
            .status,
        200
    );
    let (_, b_key) = app.create_org("B").await;
    assert_eq!(
        app.send_as("GET", "/v1/policies", As::Key(&b_key), None)
            .await
            .body["policies"],
        ""
    );
}

#[tokio::test]
async fn an_organization_policy_can_forbid_any_action() {
    let app = spawn_app().await;
    let rule = r#"@notice("End users are read-only during the migration")
forbid (principal, action == Action::"end_users.update", resource);"#;
    assert_eq!(
        app.request("PUT", "/v1/policies")
            .raw_body("text/plain", rule)
            .send()
            .await
            .status,
        200
    );
    let user = app.create_user(json!({})).await;
    let res = app
        .patch(
            &format!("/v1/end-users/{}", id(&user)),
            &json!({"metadata": {}}),
        )
        .await;
    res.assert_error(403, "policy_denied");
    assert_eq!(
        res.body["notices"],
        json!(["End users are read-only during the migration"])
    );
}

/// SPEC §8: stored policies that no longer validate (here: naming an action
/// the schema does not have) are still enforced, never dropped; a stored
/// `permit` never grants.
#[tokio::test]
async fn stored_policies_that_no_longer_validate_are_still_enforced() {
    let app = spawn_app().await;
    let stale = r#"@notice("no new end users")
forbid (principal, action in [Action::"end_users.create", Action::"legacy.action"], resource);
permit (principal, action == Action::"policies.write", resource);"#;
    tether::authz::write_policies(&app.app.store, app.org_id, stale, app.clock.now())
        .await
        .unwrap();
    let cold = app.cold_instance();
    let res = cold
        .request("POST", "/v1/end-users")
        .json(&json!({}))
        .send()
        .await;
    res.assert_error(403, "policy_denied");
    assert_eq!(res.body["notices"], json!(["no new end users"]));
    // The stored permit grants nothing beyond the scopes.
    let reader = app.create_key(app.org_id, &[Scope::Read]).await;
    cold.request("PUT", "/v1/policies")
        .key(&reader)
        .raw_body("text/plain", "")
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    // Uploading the same text is refused (strict validation on upload).
    cold.request("PUT", "/v1/policies")
        .raw_body("text/plain", stale)
        .send()
        .await
        .assert_error(422, "validation_failed");
}
