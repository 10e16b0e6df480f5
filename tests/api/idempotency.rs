//! `Idempotency-Key` on every POST (SPEC §9).

use serde_json::json;
use std::sync::Arc;
use tether::clock::Clock;
use tether::idempotency::{self, IdempotencyKey, Secret};
use tether_tests::id;
use tether_tests::{TestApp, TestResponse, spawn_app};

/// `POST /v1/connect-tokens` for `service` with the Idempotency-Key `key`.
async fn create_connect_token_once(app: &TestApp, key: &str, service: &str) -> TestResponse {
    let body = json!({"external_service_id": service});
    app.post_once("/v1/connect-tokens", key, &body).await
}

/// Another instance of the same world whose idempotency key ring is `secret`
/// (a rotation, or another deployment).
fn instance_with(app: &TestApp, secret: Secret) -> TestApp {
    let mut instance = app.cold_instance();
    Arc::get_mut(&mut instance.app).unwrap().idempotency = Some(secret);
    instance
}

/// An idempotency key ring as the setting spells it (`old,new`, ...).
fn ring(setting: &str) -> Secret {
    Secret::parse(setting).unwrap()
}

async fn user_count(app: &TestApp) -> usize {
    app.get("/v1/end-users?limit=100").await.data().len()
}

#[tokio::test]
async fn a_retry_replays_the_first_response_byte_for_byte() {
    let app = spawn_app().await;
    let body = json!({"email": "ada@example.com", "metadata": {"k": 1}});
    let first = app.post_once("/v1/end-users", "create-ada", &body).await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = app.post_once("/v1/end-users", "create-ada", &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.text, first.text, "byte-identical");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_ne!(
        again.header("x-request-id"),
        first.header("x-request-id"),
        "a new request id"
    );
    assert!(again.header("x-ratelimit-limit").is_some());
    assert_eq!(user_count(&app).await, 1, "one resource");
    let org = crate::stored_item(&app, &format!("ORG#{}", app.org_id), "ORG")
        .await
        .unwrap();
    assert_eq!(org["relationships_active"].as_n().unwrap(), "1");
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422() {
    let app = spawn_app().await;
    let key = "order-7";
    assert_eq!(
        app.post_once("/v1/end-users", key, &json!({"email": "a@b.co"}))
            .await
            .status,
        201
    );
    let other_body = app
        .post_once("/v1/end-users", key, &json!({"email": "c@d.co"}))
        .await;
    other_body.assert_error(422, "idempotency_key_reused");
    let provider = app
        .post_once(
            "/v1/identity-providers",
            key,
            &tether_tests::idp::provider_body(),
        )
        .await;
    provider.assert_error(422, "idempotency_key_reused");
    assert_eq!(user_count(&app).await, 1);
    // Keys are per organization.
    let (_, b_key) = app.create_org("B").await;
    let b = app
        .request("POST", "/v1/end-users")
        .key(&b_key)
        .header("Idempotency-Key", key)
        .json(&json!({"email": "c@d.co"}))
        .send()
        .await;
    assert_eq!(b.status, 201);
}

#[tokio::test]
async fn error_responses_of_the_operation_are_replayed_too() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let path = "/v1/users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162/identities";
    let body = json!({"identity_provider_id": provider, "external_id": "x"});
    let first = app.post_once(path, "link-1", &body).await;
    first.assert_error(404, "not_found");
    let again = app.post_once(path, "link-1", &body).await;
    assert_eq!(again.status, 404);
    assert_eq!(
        again.text, first.text,
        "the stored error, its request id included"
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // A request refused before the operation (here: the body) stores nothing.
    let bad = app
        .post_once("/v1/end-users", "bad-1", &json!({"email": 1}))
        .await;
    bad.assert_error(422, "validation_failed");
    app.post_once("/v1/end-users", "bad-1", &json!({"email": "ok@b.co"}))
        .await
        .assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_concurrent_posts_with_one_key_create_one_resource() {
    let app = Arc::new(spawn_app().await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let res = app
                    .post_once("/v1/end-users", "burst", &json!({"email": "once@b.co"}))
                    .await;
                (res.status, res.body["code"].clone())
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, _) => created += 1,
            (409, code) => assert_eq!(code, "idempotency_in_progress"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(created >= 1);
    assert_eq!(
        user_count(&app).await,
        1,
        "one end user however the race went"
    );
}

#[tokio::test]
async fn a_request_in_progress_is_409_until_its_lease_expires() {
    let app = spawn_app().await;
    let body = json!({"email": "slow@b.co"});
    let text = body.to_string();
    let fingerprint = idempotency::fingerprint("POST", "/v1/end-users", text.as_bytes());
    let key = IdempotencyKey::parse("slow-1").unwrap();
    let owner = idempotency::Scope::api_key(app.admin_key_id);
    let now = app.clock.now().unix_timestamp();
    // Another function claimed the key and is still running (or died).
    assert!(matches!(
        idempotency::begin(
            &app.app.store,
            &tether_tests::idempotency_secret(),
            &owner,
            &key,
            &fingerprint,
            now,
        )
        .await
        .unwrap(),
        idempotency::Begin::Run(_)
    ));
    let send = || {
        let request = app.request("POST", "/v1/end-users");
        let request = request.header("Idempotency-Key", "slow-1");
        request.raw_body("application/json", &text).send()
    };
    send().await.assert_error(409, "idempotency_in_progress");
    assert_eq!(user_count(&app).await, 0);
    app.clock
        .advance(time::Duration::seconds(idempotency::LEASE_SECONDS + 1));
    send().await.assert_status(201);
}

#[tokio::test]
async fn keys_last_24_hours() {
    let app = spawn_app().await;
    let first = app.post_once("/v1/end-users", "daily", &json!({})).await;
    assert_eq!(first.status, 201);
    let now = app.clock.now().unix_timestamp();
    let mut found = None;
    let items = crate::table_items(&app).await;
    for item in items {
        if item["PK"].as_s().unwrap().starts_with("IDEMP#") {
            found = Some(
                item[tether::store::TTL_ATTRIBUTE]
                    .as_n()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap(),
            );
        }
    }
    assert_eq!(found, Some(now + 24 * 3600), "TTL attribute 24 h ahead");
    app.clock
        .advance(time::Duration::hours(24) + time::Duration::seconds(1));
    let later = app
        .post_once("/v1/end-users", "daily", &json!({"email": "new@b.co"}))
        .await;
    assert_eq!(later.status, 201, "an expired key is free again");
    assert!(later.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn malformed_keys_are_422_and_other_methods_ignore_the_header() {
    let app = spawn_app().await;
    for key in ["k".repeat(256), "tab\there".to_owned()] {
        let res = app.post_once("/v1/end-users", &key, &json!({})).await;
        res.assert_error(422, "validation_failed");
        assert_eq!(res.body["details"]["fields"][0]["field"], "Idempotency-Key");
    }
    // (A repeated header reaches the function joined with commas by API
    // Gateway: "a,b" is then simply the key.)
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}", id(&user));
    for _ in 0..2 {
        let res = app
            .request("PATCH", &path)
            .header("Idempotency-Key", "p")
            .json(&json!({"metadata": {"n": 1}}))
            .send()
            .await;
        assert_eq!(res.status, 200);
        assert!(res.header("idempotent-replayed").is_none());
    }
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn service_claims_are_idempotent_too() {
    let app = spawn_app().await;
    let (service, token) = app.create_service(&[]).await;
    let connect = app.create_connect_token(&service).await;
    let path = format!("/api/v1/external-services/{service}/organization-relations/claim");
    let body = json!({"connectToken": connect["token"], "externalOrganizationId": "acct"});
    let claim = || {
        let request = app.request("POST", &path).bearer(&token);
        request
            .header("Idempotency-Key", "claim-1")
            .json(&body)
            .send()
    };
    let first = claim().await.assert_status(200);
    let again = claim().await;
    assert_eq!(
        again.status, 200,
        "a replay, not connect_token_unusable: {}",
        again.text
    );
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

/// SPEC §9: keys belong to the principal; a request is authorized before its
/// key is looked at. Each case was a cross-principal leak or a stored refusal.
#[tokio::test]
async fn keys_are_scoped_to_the_principal_and_touched_only_after_authorization() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let now = app.clock.now().unix_timestamp();
    let (a, b) = (
        app.create_user(json!({})).await,
        app.create_user(json!({})).await,
    );
    let id_token = tether_tests::idp::id_token("ada", now);
    let link = |user: &serde_json::Value| {
        app.request("POST", "/v1/me/sso/link")
            .bearer(&app.user_token(user))
            .header("Idempotency-Key", "k")
            .json(&json!({"identity_provider_id": provider, "id_token": id_token}))
    };
    // End users A and B with one key and one body: B runs its own request
    // (the id_token is A's, so B is refused), never A's stored response.
    link(&a).send().await.assert_status(201);
    let other = link(&b).send().await;
    assert!(other.header("idempotent-replayed").is_none());
    assert_ne!(other.body["user_id"], a["id"], "{}", other.text);
    assert_eq!(other.status, 422, "{}", other.text);

    // An admin's stored 201 is not replayed to a read key: it is 403.
    let read_key = app.create_read_key().await;
    let create = |key: &str| {
        app.request("POST", "/v1/end-users")
            .key(key)
            .header("Idempotency-Key", "same")
            .json(&json!({"email": "x@example.com"}))
    };
    assert_eq!(create(&app.admin_key).send().await.status, 201);
    create(&read_key)
        .send()
        .await
        .assert_error(403, "insufficient_scope");

    // A read key's 403 is not stored: the admin's request with that key runs.
    let fresh = |key: &str| {
        app.request("POST", "/v1/end-users")
            .key(key)
            .header("Idempotency-Key", "read-first")
            .json(&json!({}))
    };
    fresh(&read_key)
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    let admin = fresh(&app.admin_key).send().await.assert_status(201);
    assert!(admin.header("idempotent-replayed").is_none());

    // Another key of the same organization shares nothing with the admin's.
    let writer = app.create_read_write_key().await;
    let mine = fresh(&writer).send().await.assert_status(201);
    assert!(mine.header("idempotent-replayed").is_none());
    assert_ne!(mine.body["id"], admin.body["id"]);

    // An end user's key does not block the organization backend's identical one.
    app
        .request("POST", "/v1/me/sso/link")
        .bearer(&app.user_token(&b))
        .header("Idempotency-Key", "shared")
        .json(&json!({"identity_provider_id": provider, "id_token": tether_tests::idp::id_token("bob", now)}))
        .send()
        .await.assert_status(201);
    app.post_once("/v1/end-users", "shared", &json!({}))
        .await
        .assert_status(201);
}

/// SPEC §2, §9: no secret or token sits in the table in plaintext, yet the
/// holder of the Idempotency-Key gets its replay.
#[tokio::test]
async fn stored_responses_hold_no_secret_and_still_replay() {
    let app = spawn_app().await;
    let (service, _) = app.create_service(&[]).await;
    let user = app.create_user(json!({})).await;
    let connect = create_connect_token_once(&app, "ct-1", &service).await;
    let connect = connect.assert_status(201);
    assert_eq!(connect.header("cache-control"), Some("no-store"));
    let tokens_path = format!("/v1/end-users/{}/tokens", id(&user));
    let mint = || {
        let request = app.request("POST", &tokens_path);
        request.header("Idempotency-Key", "tok-1").send()
    };
    let token = mint().await.assert_status(201);
    // The connect token's secret part (`tct_<org>_<48 hex>`) and the access
    // token's signature (a JWT's last part: base64url, which may itself hold
    // `_`, so it is split on `.` only).
    let secrets = [
        connect.body["token"]
            .as_str()
            .unwrap()
            .rsplit('_')
            .next()
            .unwrap(),
        token.body["access_token"]
            .as_str()
            .unwrap()
            .rsplit('.')
            .next()
            .unwrap(),
    ];
    let items = crate::table_items(&app).await;
    let dump = format!("{:?}", items);
    for secret in secrets {
        assert!(secret.len() >= 40, "a whole secret part: {secret}");
        assert!(!dump.contains(secret), "a secret is stored in plaintext");
    }
    assert!(!dump.contains("tct_"), "no connect token at rest");
    assert!(
        !dump.contains("\"ct-1\"") && !dump.contains("tok-1"),
        "keys only as hashes"
    );
    let again = create_connect_token_once(&app, "ct-1", &service).await;
    assert_eq!(again.text, connect.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("cache-control"), Some("no-store"));
    assert_eq!(mint().await.text, token.text);
}

/// SPEC §9: a reader of the table — its items, stream or a backup — who also
/// knows (or guesses) the Idempotency-Key cannot find the record by it nor
/// open the stored response without the deployment's idempotency key; the
/// deployment, which holds that key, replays it.
#[tokio::test]
async fn the_table_and_the_key_alone_open_no_stored_response() {
    use aws_lc_rs::digest::{SHA256, digest};
    let app = spawn_app().await;
    let (service, _) = app.create_service(&[]).await;
    let first = create_connect_token_once(&app, "create-42", &service).await;
    let first = first.assert_status(201);
    let records: Vec<_> = crate::table_items(&app)
        .await
        .into_iter()
        .filter(|i| i["PK"].as_s().is_ok_and(|pk| pk.starts_with("IDEMP#")))
        .collect();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let pk = record["PK"].as_s().unwrap();
    let sealed = record["response_sealed"].as_s().unwrap();
    let scope = format!("KEY#{}", app.admin_key_id);
    // What an attacker derives from the key alone: its hash for the record
    // and a digest of scope and key for the seal (how records were once
    // kept), and the same HMAC labels under keys it can guess.
    let key_hash = hex_of(digest(&SHA256, b"create-42").as_ref());
    assert!(
        !pk.contains(&key_hash),
        "the key's plain hash names the record"
    );
    let mut guesses: Vec<[u8; 32]> = vec![
        digest(
            &SHA256,
            &length_prefixed(&[
                b"tether/idempotency/seal/v1",
                scope.as_bytes(),
                b"create-42",
            ]),
        )
        .as_ref()
        .try_into()
        .unwrap(),
        digest(&SHA256, b"create-42").as_ref().try_into().unwrap(),
    ];
    for guessed_secret in [[0u8; 32], [1u8; 32]] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &guessed_secret);
        let tag = aws_lc_rs::hmac::sign(
            &key,
            &length_prefixed(&[
                b"tether/idempotency/seal/v2",
                scope.as_bytes(),
                b"create-42",
            ]),
        );
        guesses.push(tag.as_ref().try_into().unwrap());
    }
    for guess in guesses {
        let key = tether::sealed::key(&guess).unwrap();
        assert!(
            tether::sealed::open(&key, pk, sealed).is_none(),
            "the stored response opened without the deployment key"
        );
    }
    let dump = format!("{records:?}");
    let secret_part = first.body["token"]
        .as_str()
        .unwrap()
        .rsplit('_')
        .next()
        .unwrap();
    assert!(!dump.contains(secret_part));
    // The deployment replays it; an instance under another key finds nothing
    // to replay (the request runs again).
    let again = create_connect_token_once(&app, "create-42", &service).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    let other = instance_with(&app, Secret::from_bytes([12; 32]));
    let elsewhere = create_connect_token_once(&other, "create-42", &service).await;
    assert_eq!(elsewhere.status, 201);
    assert_eq!(elsewhere.header("idempotent-replayed"), None);
    assert_ne!(elsewhere.body["token"], first.body["token"]);
}

/// During a rotation of the idempotency key (new key first, old one kept),
/// a response stored under the old key still replays.
#[tokio::test]
async fn a_rotated_key_still_replays_what_the_old_one_stored() {
    let app = spawn_app().await;
    let body = json!({"email": "rotate@example.com"});
    let first = app.post_once("/v1/end-users", "rot-1", &body).await;
    let first = first.assert_status(201);
    let (old, new) = (base64_of(&[11; 32]), base64_of(&[13; 32]));
    let rotated = instance_with(&app, ring(&format!("{new},{old}")));
    let again = rotated.post_once("/v1/end-users", "rot-1", &body).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    rotated
        .post_once(
            "/v1/end-users",
            "rot-1",
            &json!({"email": "other@example.com"}),
        )
        .await
        .assert_error(422, "idempotency_key_reused");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `parts`, each preceded by its length (8 bytes, big-endian): how the
/// idempotency labels are put together.
fn length_prefixed(parts: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for part in parts {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part);
    }
    bytes
}

/// A rotation in three steps — publish the next key (`old,new`), derive
/// under it (`new,old`), retire the old one — never lets two instances that
/// hold different rings both run one request: a claim under one key is a
/// transaction conditioned on no record under the others. Ten identical
/// POSTs at once, spread over instances of two adjacent steps, create one
/// end user.
#[tokio::test]
async fn instances_of_adjacent_rotation_steps_run_a_request_once() {
    let app = spawn_app().await;
    let with_ring = |setting: String| instance_with(&app, ring(&setting));
    let (old, new) = (base64_of(&[11; 32]), base64_of(&[14; 32]));
    let steps = [
        (old.clone(), format!("{old},{new}")),
        (format!("{old},{new}"), format!("{new},{old}")),
        (format!("{new},{old}"), new.clone()),
    ];
    for (n, (before, after)) in steps.into_iter().enumerate() {
        let (a, b) = (with_ring(before), with_ring(after));
        let key = format!("rotate-{n}");
        let body = json!({"email": format!("step{n}@example.com")});
        let sends = (0..10).map(|i| {
            let instance = if i % 2 == 0 { &a } else { &b };
            instance.post_once("/v1/end-users", &key, &body)
        });
        let answers = futures_util::future::join_all(sends).await;
        let created: std::collections::HashSet<_> = answers
            .iter()
            .filter(|r| r.status == 201)
            .map(|r| r.body["id"].clone())
            .collect();
        assert_eq!(created.len(), 1, "step {n}: one end user");
        for res in &answers {
            assert!(
                res.status == 201 || res.status == 409,
                "step {n}: {} {}",
                res.status,
                res.text
            );
        }
        let listed = app
            .get(&format!("/v1/end-users?email=step{n}%40example.com"))
            .await;
        assert_eq!(listed.data().len(), 1, "step {n}");
    }
}

/// Records stored before deployment keys (a plain hash of the key, sealed
/// under a digest of the key) still replay while the ring names
/// `sha256-v1` — the 24 hours after upgrading.
#[tokio::test]
async fn records_of_the_key_only_derivation_replay_while_the_ring_names_it() {
    use aws_lc_rs::digest::{SHA256, digest};
    use tether::store::AttributeValue;
    let app = spawn_app().await;
    let scope = format!("KEY#{}", app.admin_key_id);
    let key = "before-upgrade";
    let pk = format!(
        "IDEMP#{scope}#{}",
        hex_of(digest(&SHA256, key.as_bytes()).as_ref())
    );
    let body = json!({"email": "early@example.com"});
    let text = body.to_string();
    // What the first request answered, as the earlier version stored it.
    let first = app.post("/v1/end-users", &body).await;
    assert_eq!(first.status, 201);
    let stored = tether::idempotency::StoredResponse {
        status: 201,
        body: Some(first.text.clone()),
        headers: ["etag", "location"]
            .iter()
            .map(|h| (h.to_string(), first.header(h).unwrap().to_owned()))
            .collect(),
    };
    let parts = length_prefixed(&[
        b"tether/idempotency/seal/v1",
        scope.as_bytes(),
        key.as_bytes(),
    ]);
    let seal = tether::sealed::key(digest(&SHA256, &parts).as_ref()).unwrap();
    let sealed = tether::sealed::seal(&seal, &pk, &serde_json::to_vec(&stored).unwrap()).unwrap();
    let now = app.clock.now().unix_timestamp();
    app.app
        .store
        .client()
        .put_item()
        .table_name(app.app.store.table())
        .item("PK", AttributeValue::S(pk))
        .item("SK", AttributeValue::S("IDEMP".into()))
        .item("status", AttributeValue::S("completed".into()))
        .item(
            "fingerprint",
            AttributeValue::S(tether::idempotency::fingerprint(
                "POST",
                "/v1/end-users",
                text.as_bytes(),
            )),
        )
        .item("response_sealed", AttributeValue::S(sealed))
        .item(
            "expires_at_epoch",
            AttributeValue::N((now + 3600).to_string()),
        )
        .send()
        .await
        .unwrap();
    let upgrading = instance_with(&app, ring(&format!("{},sha256-v1", base64_of(&[11; 32]))));
    let replayed = upgrading.post_once("/v1/end-users", key, &body).await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.text, first.text);
    // Without the entry, the record is not honoured: the request runs.
    let plain = app.post_once("/v1/end-users", key, &body).await;
    assert_eq!(plain.status, 201);
    assert_eq!(plain.header("idempotent-replayed"), None);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
