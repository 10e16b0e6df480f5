//! Organization Cedar policies (SPEC §8): upload, validation, and denials
//! with notices.

use serde_json::json;
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
    let text_plain = "text/plain; charset=utf-8";
    let put = app.send_raw("PUT", "/v1/policies", text_plain, EXAMPLE_ONLY);
    let put = put.await.assert_status(200);
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
    assert_eq!(policies_of(&app).await, "");
}

#[tokio::test]
async fn invalid_policies_are_422_with_every_error_and_change_nothing() {
    let app = spawn_app().await;
    app.put_policies(EXAMPLE_ONLY).await;
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
        let res = app.put_policies_as(&app.admin_key, text).await;
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
    assert_eq!(policies_of(&app).await, EXAMPLE_ONLY, "unchanged");
}

#[tokio::test]
async fn a_forbid_with_a_notice_denies_with_policy_denied() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let second = r#"@notice("A second rule also applies")
forbid (principal, action == Action::"identities.create", resource) when { context.external_id like "blocked*" };"#;
    let text = format!("{EXAMPLE_ONLY}\n{second}");
    app.put_policies(&text).await;
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
    app.post(&path, &json!({"identity_provider_id": provider, "external_id": "ok-1", "external_email": "ada@example.com"})).await.assert_status(201);
    // Scope denials are the built-in rules' alone: no notices.
    let reader = app.create_read_key().await;
    let scope = app.send_as("POST", &path, As::Key(&reader), Some(&json!({"identity_provider_id": provider, "external_id": "ok-2", "external_email": "a@example.com"}))).await;
    scope.assert_error(403, "insufficient_scope");
    assert!(scope.body.get("notices").is_none());
}

#[tokio::test]
async fn policies_need_admin_and_belong_to_one_organization() {
    let app = spawn_app().await;
    let writer = app.create_read_write_key().await;
    app.put_policies_as(&writer, EXAMPLE_ONLY)
        .await
        .assert_error(403, "insufficient_scope");
    app.get_as(&writer, "/v1/policies")
        .await
        .assert_error(403, "insufficient_scope");
    app.put_policies(EXAMPLE_ONLY).await;
    let (_, b_key) = app.create_org("B").await;
    assert_eq!(
        app.get_as(&b_key, "/v1/policies").await.body["policies"],
        ""
    );
}

#[tokio::test]
async fn an_organization_policy_can_forbid_any_action() {
    let app = spawn_app().await;
    let rule = r#"@notice("End users are read-only during the migration")
forbid (principal, action == Action::"end_users.update", resource);"#;
    app.put_policies(rule).await;
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
    store_as_written(&app, stale).await;
    let cold = app.cold_instance();
    let res = cold
        .request("POST", "/v1/end-users")
        .json(&json!({}))
        .send()
        .await;
    res.assert_error(403, "policy_denied");
    assert_eq!(res.body["notices"], json!(["no new end users"]));
    // The stored permit grants nothing beyond the scopes.
    let reader = app.create_read_key().await;
    cold.put_policies_as(&reader, "")
        .await
        .assert_error(403, "insufficient_scope");
    // Uploading the same text is refused (strict validation on upload).
    cold.put_policies_as(&cold.admin_key, stale)
        .await
        .assert_error(422, "validation_failed");
}

/// SPEC §8, no self-lockout: organization policies never apply to an admin
/// key's `policies.*` and `api_keys.*` actions. A `forbid` on everything
/// stops every other operation, yet the policies can be read and undone and
/// keys created and revoked; without admin scope they still cannot.
#[tokio::test]
async fn a_forbid_on_everything_cannot_lock_the_organization_out() {
    let app = spawn_app().await;
    let everything = r#"@notice("locked")
forbid (principal, action, resource);"#;
    app.put_policies(everything).await;
    let cold = app.cold_instance();
    for instance in [&app, &cold] {
        instance
            .get("/v1/end-users")
            .await
            .assert_error(403, "policy_denied");
        let shown = instance.get("/v1/policies").await.assert_status(200);
        assert_eq!(shown.body["policies"], everything);
    }
    let created = app
        .post("/v1/api-keys", &json!({"scopes": ["read"]}))
        .await
        .assert_status(201);
    assert_eq!(app.get("/v1/api-keys").await.status, 200);
    let rolled = app
        .post_empty(&format!("/v1/api-keys/{}/roll", id(&created.body)))
        .await
        .assert_status(201);
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{}", id(&rolled.body)))
            .await
            .status,
        204
    );
    // A key without admin scope gets nothing of it.
    let writer = app.create_read_write_key().await;
    app.put_policies_as(&writer, "")
        .await
        .assert_error(403, "insufficient_scope");
    // The admin undoes the lockdown; everything works again.
    app.put_policies("").await;
    assert_eq!(cold.get("/v1/end-users").await.status, 200);
    assert_eq!(app.get("/v1/end-users").await.status, 200);
}

/// SPEC §8: policy text is parsed only once the caller may write policies,
/// and text nested too deep or chained too long for Cedar's recursion is a
/// 422 — never a stack overflow of the function. (Parsed early for a
/// read-only caller, the nesting below aborted the whole process.)
#[tokio::test]
async fn deep_policy_text_is_refused_and_parsed_only_for_a_policy_writer() {
    let app = spawn_app().await;
    let parenthesised = format!("{}true{}", "(".repeat(2_000), ")".repeat(2_000));
    let deep = forbid_when(&parenthesised);
    let chained = forbid_when(&vec!["true"; 4_000].join(" || "));
    let ifs = format!(
        "{}true{}",
        "if true then ".repeat(40),
        " else false".repeat(40)
    );
    let nested_ifs = forbid_when(&ifs);
    // A comment ends at a carriage return, as Cedar's lexer ends it.
    let behind_a_comment = forbid_when(&format!("// hidden\r{parenthesised}"));
    let reader = app.create_read_key().await;
    for text in [&deep, &chained, &nested_ifs, &behind_a_comment] {
        app.put_policies_as(&reader, text)
            .await
            .assert_error(403, "insufficient_scope");
        let res = app.put_policies_as(&app.admin_key, text).await;
        res.assert_error(422, "validation_failed");
        assert_eq!(res.body["details"]["fields"][0]["field"], "policies");
    }
    let problem = |text: &str| {
        let app = &app;
        let text = text.to_owned();
        async move {
            app.put_policies_as(&app.admin_key, &text).await.body["details"]["fields"][0]["problem"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert!(problem(&deep).await.contains("levels deep"));
    assert!(problem(&behind_a_comment).await.contains("levels deep"));
    assert!(problem(&chained).await.contains("operators"));
    // Ordinary nesting and long-but-bounded policies are fine.
    let fine = r#"forbid (principal, action == Action::"identities.create", resource)
when { (context has external_email && (context.external_email like "*@a.example"
       || [context.identity_provider_id].contains("x"))) || context.source_ip == "10.0.0.1" };"#;
    app.put_policies(fine).await;
    assert_eq!(policies_of(&app).await, fine);
}

/// SPEC §4: policies are capped per organization (plan-set, 100 by
/// default): beyond the cap, 409 `limit_reached` and nothing stored.
#[tokio::test]
async fn policies_beyond_the_organizations_cap_are_409() {
    let capped = tether::organizations::LimitOverrides {
        policies_cap: Some(2),
        ..tether_tests::UNLIMITED
    };
    let app = tether_tests::spawn_app_with(tether::organizations::Plan::Free, capped).await;
    let one = "forbid (principal, action == Action::\"end_users.delete\", resource);\n";
    app.put_policies(&one.repeat(2)).await;
    let res = app.put_policies_as(&app.admin_key, &one.repeat(3)).await;
    res.assert_error(409, "limit_reached");
    assert_eq!(res.body["details"], json!({"limit": "policies", "max": 2}));
    assert_eq!(policies_of(&app).await, one.repeat(2));
}

/// SPEC §8: the webhook actions are named `webhook_endpoints.*`; a policy
/// stored with their first names (`webhooks.*`) keeps working — read as the
/// new names, its text left as written — and the old names are accepted on
/// upload as aliases.
#[tokio::test]
async fn policies_written_with_the_first_webhook_action_names_keep_working() {
    let app = spawn_app().await;
    let legacy = r#"@notice("no webhooks")
forbid (principal, action in [Action::"webhooks.create", Action::"webhooks.roll"], resource);"#;
    store_as_written(&app, legacy).await;
    let cold = app.cold_instance();
    let res = cold.post_webhook_endpoint("http://127.0.0.1:9/hooks").await;
    res.assert_error(403, "policy_denied");
    assert_eq!(res.body["notices"], json!(["no webhooks"]));
    assert_eq!(policies_of(&cold).await, legacy);
    assert_eq!(cold.get("/v1/webhook-endpoints").await.status, 200);
    // Uploaded with the old names: accepted, enforced, stored as written.
    let list = r#"forbid (principal, action == Action::"webhooks.list", resource);"#;
    app.put_policies(list).await;
    app.get("/v1/webhook-endpoints")
        .await
        .assert_error(403, "policy_denied");
    assert_eq!(policies_of(&app).await, list);
    let current = r#"forbid (principal, action == Action::"webhook_endpoints.read", resource);"#;
    app.put_policies(current).await;
    assert_eq!(app.get("/v1/webhook-endpoints").await.status, 200);
}

/// SPEC §8: stored text that no longer parses at all (written by an older
/// version, or by hand) is never decided without: every decision it takes
/// part in fails — but the admin's own repeal, which organization policies
/// never decide, goes through, and so do policies stored beyond today's
/// upload limits (enforced as written).
#[tokio::test]
async fn stored_policies_that_no_longer_parse_block_all_but_their_repeal() {
    let app = spawn_app().await;
    let broken = "forbid (principal, action, resource";
    store_as_written(&app, broken).await;
    let cold = app.cold_instance();
    cold.get("/v1/end-users")
        .await
        .assert_error(500, "internal_error");
    assert_eq!(policies_of(&cold).await, broken);
    cold.put_policies("").await;
    assert_eq!(cold.get("/v1/end-users").await.status, 200);
    // Longer than an upload may be now, stored before: enforced.
    let long = format!(
        "@notice(\"long\")\nforbid (principal, action == Action::\"end_users.list\", resource) when {{ {} }};",
        vec!["context.source_ip != \"x\""; 700].join(" && ")
    );
    app.put_policies_as(&app.admin_key, &long)
        .await
        .assert_error(422, "validation_failed");
    let written = tether::authz::write_policies(&app.app.store, app.org_id, &long, app.clock.now())
        .await
        .unwrap();
    assert!(written.is_some());
    assert_eq!(policies_of(&app).await, long);
    let res = app.cold_instance().get("/v1/end-users").await;
    res.assert_error(403, "policy_denied");
    assert_eq!(res.body["notices"], json!(["long"]));
}

/// A forbid whose evaluation fails (here an arithmetic overflow; elsewhere
/// Cedar's recursion limit, a deep chain on a small stack) applies: Cedar
/// skips a failing policy, and a skipped forbid would let through exactly
/// what it was written to stop.
#[tokio::test]
async fn a_forbid_that_fails_to_evaluate_denies() {
    let app = spawn_app().await;
    let failing = r#"@notice("no listing")
forbid (principal, action == Action::"end_users.list", resource)
when { 9223372036854775807 + 1 > 0 };"#;
    app.put_policies(failing).await;
    let res = app.get("/v1/end-users").await;
    res.assert_error(403, "policy_denied");
    assert_eq!(res.body["notices"], json!(["no listing"]));
    assert_eq!(app.get("/v1/policies").await.status, 200);
}

/// Stores `text` as the organization's policies as it is, valid or not (as
/// an older version, or a hand, wrote it).
async fn store_as_written(app: &tether_tests::TestApp, text: &str) {
    let now = app.clock.now();
    tether::authz::write_policies(&app.app.store, app.org_id, text, now)
        .await
        .unwrap();
}

/// The organization's policies as `GET /v1/policies` shows them.
async fn policies_of(app: &tether_tests::TestApp) -> serde_json::Value {
    app.get("/v1/policies").await.body["policies"].clone()
}

/// A `forbid` of every action when `condition` holds.
fn forbid_when(condition: &str) -> String {
    format!("forbid (principal, action, resource) when {{ {condition} }};")
}
