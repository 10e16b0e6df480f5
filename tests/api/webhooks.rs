//! Webhook endpoints (SPEC §15): created with a `whsec_` secret shown once
//! and kept sealed, listed and read without it, changed, re-enabled, rolled
//! (both secrets sign for 24 h), deleted; URLs under SPEC §16.

use serde_json::{Value, json};
use tether::clock::Clock;
use tether::ids::WebhookEndpointId;
use tether::sealed::Keyring;
use tether::webhooks::endpoints;
use tether_tests::{
    TestApp, TestAppBuilder, TestResponse, id, spawn_app, spawn_app_following_stream,
};

const URL: &str = "http://127.0.0.1:8089/hooks";

async fn create(app: &TestApp, body: Value) -> Value {
    let res = app
        .post("/v1/webhook-endpoints", &body)
        .await
        .assert_status(201);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    res.body
}

/// The secrets that sign the endpoint's deliveries now, as the worker reads them.
async fn signing(app: &TestApp, endpoint: &Value) -> Vec<String> {
    signing_with(app, endpoint, &tether_tests::webhook_key())
        .await
        .expect("the test key opens the secrets")
}

/// The secrets that sign the endpoint's deliveries now, opened with `ring`
/// (`None`: it opens them not).
async fn signing_with(app: &TestApp, endpoint: &Value, ring: &Keyring) -> Option<Vec<String>> {
    let id = WebhookEndpointId::parse(id(endpoint)).unwrap();
    let record = endpoints::get(&app.app.store, app.org_id, id)
        .await
        .unwrap()
        .unwrap();
    let now = app.clock.now().unix_timestamp();
    let secrets = record.signing_secrets(ring, now).ok()?;
    Some(
        secrets
            .iter()
            .map(tether::webhooks::SigningSecret::expose)
            .collect(),
    )
}

/// Whether the Standard Webhooks reference library accepts a delivery
/// signed with `signers` when it holds `secret`.
fn verified(secret: &str, signers: &[String]) -> bool {
    let signers: Vec<_> = signers
        .iter()
        .map(|s| tether::webhooks::SigningSecret::parse(s).unwrap())
        .collect();
    let refs: Vec<_> = signers.iter().collect();
    let body = br#"{"type":"ping"}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut headers = http::HeaderMap::new();
    for (name, value) in tether::webhooks::headers(&refs, "evt_x", now, body) {
        headers.insert(name, value.parse().unwrap());
    }
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(body, &headers)
        .is_ok()
}

#[tokio::test]
async fn an_endpoints_secret_is_shown_once_and_kept_sealed() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"url": URL, "event_types": ["end_user.created"], "description": "CRM"}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["event_types"], json!(["end_user.created"]));

    // The table holds no usable secret: not the text, not the key bytes.
    let item = crate::stored_item(
        &app,
        &format!("ORG#{}", app.org_id),
        &format!("WHE#{}", id(&created)),
    )
    .await
    .unwrap();
    let stored = format!("{item:?}");
    assert!(!stored.contains(&secret) && !stored.contains(&secret["whsec_".len()..]));
    // Yet the deployment signs with it, and a verifier we did not write agrees.
    let signers = signing(&app, &created).await;
    assert_eq!(signers, std::slice::from_ref(&secret));
    assert!(verified(&secret, &signers));

    for path in [
        "/v1/webhook-endpoints".to_owned(),
        format!("/v1/webhook-endpoints/{}", id(&created)),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status, 200);
        assert!(!res.text.contains("whsec_"), "{path} shows the secret");
    }
    let listed = app.get("/v1/webhook-endpoints").await;
    assert_eq!(listed.body["data"][0]["id"], created["id"]);
    assert_eq!(listed.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_replayed_creation_returns_the_same_secret_and_one_endpoint() {
    let app = spawn_app().await;
    let body = json!({"url": URL});
    let first = app
        .post_once("/v1/webhook-endpoints", "hook-1", &body)
        .await;
    let again = app
        .post_once("/v1/webhook-endpoints", "hook-1", &body)
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["secret"], first.body["secret"]);
    let listed = app.get("/v1/webhook-endpoints").await;
    assert_eq!(listed.data().len(), 1);
}

#[tokio::test]
async fn urls_are_checked_as_every_outbound_url_is() {
    let local = spawn_app().await;
    for url in [
        "http://hooks.example.com/x",
        "https://10.0.0.3/x",
        "https://169.254.169.254/",
        "ftp://x.example",
    ] {
        let res = local
            .post("/v1/webhook-endpoints", &json!({"url": url}))
            .await;
        res.assert_error(422, "invalid_url");
        assert_eq!(res.body["details"]["fields"][0]["field"], "url");
    }
    let deployed = TestAppBuilder {
        deployed_outbound: true,
        ..TestAppBuilder::default()
    }
    .spawn()
    .await;
    deployed
        .post("/v1/webhook-endpoints", &json!({"url": URL}))
        .await
        .assert_error(422, "invalid_url");
    let created = create(&local, json!({"url": URL})).await;
    local
        .patch(
            &format!("/v1/webhook-endpoints/{}", id(&created)),
            &json!({"url": "https://192.168.0.1/x"}),
        )
        .await
        .assert_error(422, "invalid_url");
}

/// SPEC §16: name resolution counts inside the outbound timeout — a DNS
/// server that never answers cannot hold a registration past 3 s, whether
/// the URL is only resolved (a webhook endpoint) or fetched (an issuer).
#[tokio::test]
async fn a_dns_server_that_never_answers_cannot_hold_a_registration() {
    use std::sync::Arc;
    let lookups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&lookups);
    let silent = tether::outbound::Resolver::with(Arc::new(move |_name: String| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            Ok(Vec::new())
        })
    }));
    let app = TestAppBuilder {
        deployed_outbound: true,
        resolver: Some(silent),
        ..TestAppBuilder::default()
    }
    .spawn()
    .await;
    let started = std::time::Instant::now();
    let res = app
        .post(
            "/v1/webhook-endpoints",
            &json!({"url": "https://hooks.slow-dns.example/x"}),
        )
        .await;
    res.assert_error(422, "invalid_url");
    let webhook = started.elapsed();
    let started = std::time::Instant::now();
    let res = app
        .post(
            "/v1/identity-providers",
            &json!({"name": "Slow", "issuer": "https://idp.slow-dns.example", "client_id": "c"}),
        )
        .await;
    res.assert_error(422, "identity_provider_unreachable");
    let provider = started.elapsed();
    for (what, took) in [("webhook", webhook), ("issuer", provider)] {
        assert!(
            took >= std::time::Duration::from_millis(2_900)
                && took < std::time::Duration::from_secs(5),
            "{what}: {took:?}"
        );
    }
    assert_eq!(lookups.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn endpoints_change_are_re_enabled_and_deleted() {
    let app = spawn_app().await;
    let created = create(&app, json!({"url": URL})).await;
    let path = format!("/v1/webhook-endpoints/{}", id(&created));
    let changed = app
        .patch(&path, &json!({"description": "billing", "event_types": ["identity.linked"], "status": "enabled"}))
        .await.assert_status(200);
    assert_eq!(changed.body["description"], "billing");
    assert_eq!(changed.body["event_types"], json!(["identity.linked"]));
    assert!(changed.body.get("secret").is_none());
    for bad in [
        json!({"status": "disabled"}),
        json!({"event_types": ["end_user.exploded"]}),
        json!({"url": ""}),
        json!({"secret": "whsec_mine"}),
    ] {
        app.patch(&path, &bad)
            .await
            .assert_error(422, "validation_failed");
    }
    assert_eq!(app.delete(&path).await.status, 204);
    app.get(&path).await.assert_error(404, "not_found");
    app.delete(&path).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_rolled_secret_signs_beside_the_new_one_for_a_day() {
    let app = spawn_app().await;
    let created = create(&app, json!({"url": URL})).await;
    let old = created["secret"].as_str().unwrap().to_owned();
    let rolled = roll_secret(&app, &created).await.assert_status(200);
    assert_eq!(rolled.header("cache-control"), Some("no-store"));
    let new = rolled.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let signers = signing(&app, &created).await;
    assert_eq!(signers, [new.clone(), old.clone()]);
    assert!(
        verified(&old, &signers) && verified(&new, &signers),
        "both verify"
    );
    app.clock.advance(time::Duration::hours(25));
    let signers = signing(&app, &created).await;
    assert_eq!(signers, std::slice::from_ref(&new));
    assert!(!verified(&old, &signers));
}

#[tokio::test]
async fn endpoints_belong_to_one_organization_and_need_admin() {
    let app = spawn_app().await;
    let created = create(&app, json!({"url": URL})).await;
    let path = format!("/v1/webhook-endpoints/{}", id(&created));
    let (_, other) = app.create_org("Other").await;
    for (method, target) in [
        ("GET", path.clone()),
        ("PATCH", path.clone()),
        ("DELETE", path.clone()),
        ("POST", format!("{path}/roll-secret")),
    ] {
        let res = app
            .request(method, &target)
            .key(&other)
            .json(&json!({}))
            .send()
            .await;
        res.assert_error(404, "not_found");
    }
    let theirs = app.get_as(&other, "/v1/webhook-endpoints").await;
    assert_eq!(theirs.body["data"], json!([]));
    let read = app.create_read_key().await;
    app.get_as(&read, "/v1/webhook-endpoints")
        .await
        .assert_error(403, "insufficient_scope");
    app.get("/v1/webhook-endpoints/not-an-id")
        .await
        .assert_error(400, "invalid_path_parameter");
    for bad in [
        json!({}),
        json!({"url": 7}),
        json!({"url": URL, "event_types": "all"}),
    ] {
        app.post("/v1/webhook-endpoints", &bad)
            .await
            .assert_error(422, "validation_failed");
    }
}

#[tokio::test]
async fn endpoint_changes_are_events_without_the_secret() {
    let app = spawn_app_following_stream().await;
    let created = create(&app, json!({"url": URL})).await;
    let path = format!("/v1/webhook-endpoints/{}", id(&created));
    assert_eq!(
        app.patch(&path, &json!({"description": "x"})).await.status,
        200
    );
    assert_eq!(
        app.post_empty(&format!("{path}/roll-secret")).await.status,
        200
    );
    assert_eq!(app.delete(&path).await.status, 204);
    let records = tether_tests::stream_changes(&app).await;

    assert!(
        tether::events::handle(&app.app.store, &records, app.clock.now())
            .await
            .is_empty()
    );
    let page = app.get("/v1/events?limit=100&types=webhook_endpoint.created,webhook_endpoint.updated,webhook_endpoint.deleted").await;
    let types: Vec<&str> = page
        .data()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "webhook_endpoint.created",
            "webhook_endpoint.updated",
            "webhook_endpoint.deleted"
        ]
    );
    assert!(!page.text.contains("whsec_") && !page.text.contains("sealed"));
}

/// Rotating the webhook key: with the new key first in the ring and the old
/// one after it, `tetherctl webhook-endpoint reseal` seals every secret (a
/// rolled one's predecessor too) again under the new key. The old key can
/// then leave the ring, and every endpoint still signs with the secrets its
/// owner holds, as the Standard Webhooks library verifies. A secret no key
/// of the ring opens is reported, not overwritten.
#[tokio::test]
async fn the_webhook_key_rotates_without_changing_a_secret() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use tether::webhooks::reseal::{Resealed, reseal};
    let app = spawn_app().await;
    let plain = create(&app, json!({"url": URL})).await;
    let rolled = create(&app, json!({"url": URL})).await;
    let roll = roll_secret(&app, &rolled).await.assert_status(200);
    let before = [signing(&app, &plain).await, signing(&app, &rolled).await];
    assert_eq!(before[1].len(), 2, "the rolled secret still signs");
    let shown = app.get("/v1/webhook-endpoints").await.body;

    let (old, new) = (B64.encode([9u8; 32]), B64.encode([10u8; 32]));
    let rotating = Keyring::parse(&format!("{new},{old}")).unwrap();
    let store = &app.app.store;
    assert_eq!(
        reseal(store, app.org_id, &rotating).await.unwrap(),
        Resealed {
            stale: 2,
            resealed: 2,
            unopenable: 0
        }
    );
    assert_eq!(
        reseal(store, app.org_id, &rotating).await.unwrap(),
        Resealed::default(),
        "nothing left under the old key"
    );

    let rotated = Keyring::parse(&new).unwrap();
    let old_only = Keyring::parse(&old).unwrap();
    for (endpoint, secrets) in [(&plain, &before[0]), (&rolled, &before[1])] {
        let after = signing_with(&app, endpoint, &rotated).await;
        assert_eq!(after.as_ref(), Some(secrets));
        assert_eq!(signing_with(&app, endpoint, &old_only).await, None);
    }
    let plain_signers = signing_with(&app, &plain, &rotated).await.unwrap();
    assert!(verified(plain["secret"].as_str().unwrap(), &plain_signers));
    let rolled_signers = signing_with(&app, &rolled, &rotated).await.unwrap();
    assert!(verified(
        roll.body["secret"].as_str().unwrap(),
        &rolled_signers
    ));
    assert!(verified(
        rolled["secret"].as_str().unwrap(),
        &rolled_signers
    ));
    assert_eq!(
        app.get("/v1/webhook-endpoints").await.body,
        shown,
        "nothing the API shows changed"
    );

    // Another organization's endpoints are its own run's.
    let lost = Keyring::parse(&B64.encode([11u8; 32])).unwrap();
    let (other, _) = app.create_org("Other").await;
    assert_eq!(
        reseal(store, other, &lost).await.unwrap(),
        Resealed::default()
    );
    assert_eq!(
        reseal(store, app.org_id, &lost).await.unwrap(),
        Resealed {
            stale: 2,
            resealed: 0,
            unopenable: 2
        }
    );
    assert!(signing_with(&app, &plain, &rotated).await.is_some());
}

/// SPEC §4/§15: at most 20 webhook endpoints by default, plan-set (here
/// 3): the cap holds under parallel creations (a conditional counter, never
/// a count read first), a deletion frees a place, and the 409 names it.
#[tokio::test]
async fn webhook_endpoints_are_capped_per_organization_even_in_parallel() {
    let app = tether_tests::spawn_app_with(
        tether::organizations::Plan::Free,
        tether::organizations::LimitOverrides {
            webhook_endpoints_cap: Some(3),
            identity_providers_cap: Some(1),
            ..tether_tests::UNLIMITED
        },
    )
    .await;
    let body = json!({"url": URL});
    let creations = (0..10).map(|_| app.post("/v1/webhook-endpoints", &body));
    let answers = futures_util::future::join_all(creations).await;
    let created: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 3, "exactly the cap");
    for refused in answers.iter().filter(|r| r.status != 201) {
        refused.assert_error(409, "limit_reached");
        assert_eq!(
            refused.body["details"],
            json!({"limit": "webhook_endpoints", "max": 3})
        );
    }
    let listed = app.get("/v1/webhook-endpoints").await;
    assert_eq!(listed.data().len(), 3);
    assert_eq!(
        app.delete(&format!("/v1/webhook-endpoints/{}", id(&created[0].body)))
            .await
            .status,
        204
    );
    assert_eq!(create(&app, json!({"url": URL})).await["status"], "enabled");
    app.post("/v1/webhook-endpoints", &json!({"url": URL}))
        .await
        .assert_error(409, "limit_reached");
    // An endpoint from before the caps (no `counted` mark) takes no place,
    // and its deletion gives none back.
    let mut legacy = crate::stored_item(
        &app,
        &format!("ORG#{}", app.org_id),
        &format!("WHE#{}", id(&created[1].body)),
    )
    .await
    .unwrap();
    let legacy_id = tether::ids::WebhookEndpointId::generate().to_string();
    legacy.remove("counted");
    legacy.insert(
        "SK".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(format!("WHE#{legacy_id}")),
    );
    legacy.insert(
        "id".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(legacy_id.clone()),
    );
    app.put_raw_item(legacy).await;
    assert_eq!(
        app.delete(&format!("/v1/webhook-endpoints/{legacy_id}"))
            .await
            .status,
        204
    );
    app.post("/v1/webhook-endpoints", &body)
        .await
        .assert_error(409, "limit_reached");
    // Another organization's endpoints count for it alone.
    let (_, other) = app.create_org("Other").await;
    assert_eq!(
        app.send_as(
            "POST",
            "/v1/webhook-endpoints",
            tether_tests::As::Key(&other),
            Some(&json!({"url": URL}))
        )
        .await
        .status,
        201
    );
    // A cap of zero admits none; identity providers are capped likewise.
    let (zero, zero_key) = app.create_org("Zero").await;
    let no_endpoints = tether::organizations::LimitOverrides {
        webhook_endpoints_cap: Some(0),
        ..Default::default()
    };
    app.override_limits(zero, no_endpoints).await;
    app.send_as(
        "POST",
        "/v1/webhook-endpoints",
        tether_tests::As::Key(&zero_key),
        Some(&body),
    )
    .await
    .assert_error(409, "limit_reached");
    assert_eq!(
        app.post(
            "/v1/identity-providers",
            &tether_tests::idp::provider_body()
        )
        .await
        .status,
        201
    );
    let second = app
        .post(
            "/v1/identity-providers",
            &tether_tests::idp::provider_body(),
        )
        .await;
    second.assert_error(409, "limit_reached");
    assert_eq!(
        second.body["details"],
        json!({"limit": "identity_providers", "max": 1})
    );
}

/// `POST /v1/webhook-endpoints/{id}/roll-secret` of `endpoint`.
async fn roll_secret(app: &TestApp, endpoint: &Value) -> TestResponse {
    let path = format!("/v1/webhook-endpoints/{}/roll-secret", id(endpoint));
    app.post_empty(&path).await
}
