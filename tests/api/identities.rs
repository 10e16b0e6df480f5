//! Identity providers and `POST/GET/DELETE /v1/users/{user_id}/identities` (SPEC §9, seed 001).

use serde_json::{Value, json};
use std::sync::Arc;
use tether_tests::As;
use tether_tests::id;
use tether_tests::{TestApp, TestResponse, idp, spawn_app};

async fn world() -> (TestApp, Value, String) {
    let app = spawn_app().await;
    let provider = app.create_provider().await;
    let user = app.create_user(json!({"email": "ada@example.com"})).await;
    let id = id(&provider).to_owned();
    (app, user, id)
}

fn identities_path(user: &Value) -> String {
    format!("/v1/users/{}/identities", id(user))
}

fn link_body(provider: &str, external_id: &str) -> Value {
    json!({"identity_provider_id": provider, "external_id": external_id, "external_username": "ada", "external_email": "ada@corp.example", "external_display_name": "Ada L."})
}

/// How many identity items and identity-pair items the organization holds.
async fn identities_and_pairs(app: &TestApp) -> (usize, usize) {
    let identities = crate::org_items(app, "IDENT#").await;
    (identities, crate::org_items(app, "IDPAIR#").await)
}

/// The path of the identity `linked` (as linked) of `user`.
fn identity_path(user: &Value, linked: &Value) -> String {
    format!("{}/{}", identities_path(user), id(linked))
}

/// The organization's link of `user` to `provider` as `external_id`.
async fn link(app: &TestApp, user: &Value, provider: &str, external_id: &str) -> TestResponse {
    link_as(app, &app.admin_key, user, provider, external_id).await
}

/// [`link`] with the API key `key`.
async fn link_as(
    app: &TestApp,
    key: &str,
    user: &Value,
    provider: &str,
    external_id: &str,
) -> TestResponse {
    let body = link_body(provider, external_id);
    let path = identities_path(user);
    app.send_as("POST", &path, As::Key(key), Some(&body)).await
}

#[tokio::test]
async fn providers_are_created_listed_and_their_jwks_validated() {
    let app = spawn_app().await;
    let provider = app.create_provider().await;
    assert_eq!(provider["issuer"], idp::ISSUER);
    assert_eq!(provider["client_id"], idp::CLIENT_ID);
    assert_eq!(provider["jwks"]["keys"].as_array().unwrap().len(), 3);
    assert_eq!(id(&provider).len(), 36);
    let list = app.get("/v1/identity-providers").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"], json!([provider]));

    let mut private = idp::provider_body();
    private["jwks"]["keys"][0]["d"] = json!("c2VjcmV0");
    let mut symmetric = idp::provider_body();
    symmetric["jwks"] = json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]});
    let mut missing = idp::provider_body();
    missing.as_object_mut().unwrap().remove("client_id");
    let mut bad_issuer = idp::provider_body();
    bad_issuer["issuer"] = json!("not a url");
    for (body, field) in [
        (private, "jwks"),
        (symmetric, "jwks"),
        (missing, "client_id"),
        (bad_issuer, "issuer"),
    ] {
        let res = app.post("/v1/identity-providers", &body).await;
        res.assert_error(422, "validation_failed");
        assert_eq!(
            res.body["details"]["fields"][0]["field"], field,
            "{}",
            res.text
        );
    }
    assert_eq!(
        crate::org_items(&app, "IDP#").await,
        1,
        "refused providers are not stored"
    );

    let writer = app.create_read_write_key().await;
    let res = app
        .send_as(
            "POST",
            "/v1/identity-providers",
            As::Key(&writer),
            Some(&idp::provider_body()),
        )
        .await;
    res.assert_error(403, "insufficient_scope");
    assert_eq!(res.body["details"]["required_scope"], "admin");
}

#[tokio::test]
async fn linking_creates_the_identity_and_its_uniqueness_item_together() {
    let (app, user, provider) = world().await;
    let res = link(&app, &user, &provider, "ext-1")
        .await
        .assert_status(201);
    let identity = &res.body;
    assert_eq!(identity["linked_by"], "auto");
    assert_eq!(identity["user_id"], user["id"]);
    assert_eq!(identity["identity_provider_id"], provider.as_str());
    assert_eq!(identity["external_id"], "ext-1");
    assert_eq!(identity["external_username"], "ada");
    assert_eq!(identity["external_email"], "ada@corp.example");
    assert_eq!(identity["external_display_name"], "Ada L.");
    assert_eq!(identities_and_pairs(&app).await, (1, 1));

    // The same pair on the same user: 200 with the existing identity.
    let again = link(&app, &user, &provider, "ext-1")
        .await
        .assert_status(200);
    assert_eq!(again.body, *identity);
    assert_eq!(crate::org_items(&app, "IDENT#").await, 1);

    // On another user: 409, nothing written.
    let other = app.create_user(json!({})).await;
    let taken = link(&app, &other, &provider, "ext-1").await;
    taken.assert_error(409, "identity_already_linked");
    assert!(
        !taken.text.contains(id(&user)),
        "the owner is not disclosed"
    );
    assert_eq!(crate::org_items(&app, "IDENT#").await, 1);

    let list = app.get(&identities_path(&user)).await;
    assert_eq!(list.body["data"], json!([identity]));
    let empty = app.get(&identities_path(&other)).await;
    assert_eq!(empty.body["data"], json!([]));
}

#[tokio::test]
async fn unknown_users_deleting_users_and_unknown_providers_are_refused() {
    let (app, user, provider) = world().await;
    let ghost = "/v1/users/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162/identities";
    app.post(ghost, &link_body(&provider, "x"))
        .await
        .assert_error(404, "not_found");
    app.get(ghost).await.assert_error(404, "not_found");

    let unknown_provider = link_body("0192f0c5-7b7a-7c3e-9a4b-1d2e3f405199", "x");
    app.post(&identities_path(&user), &unknown_provider)
        .await
        .assert_error(422, "unknown_identity_provider");

    let deleting = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}", id(&deleting));
    assert_eq!(app.delete(&path).await.status, 202);
    link(&app, &deleting, &provider, "y")
        .await
        .assert_error(409, "user_deleting");
    assert_eq!(identities_and_pairs(&app).await, (0, 0));
}

#[tokio::test]
async fn malformed_link_bodies_are_422_and_tenant_mismatch_403() {
    let (app, user, provider) = world().await;
    let long = "x".repeat(257);
    for (body, field) in [
        (json!({"external_id": "a"}), "identity_provider_id"),
        (
            json!({"identity_provider_id": provider, "external_id": ""}),
            "external_id",
        ),
        (
            json!({"identity_provider_id": provider, "external_id": long}),
            "external_id",
        ),
        (
            json!({"identity_provider_id": "nope", "external_id": "a"}),
            "identity_provider_id",
        ),
        (
            json!({"identity_provider_id": provider, "external_id": 5}),
            "external_id",
        ),
        (
            json!({"identity_provider_id": provider, "external_id": "a", "extra": 1}),
            "extra",
        ),
    ] {
        let res = app.post(&identities_path(&user), &body).await;
        res.assert_error(422, "validation_failed");
        assert_eq!(
            res.body["details"]["fields"][0]["field"], field,
            "{}",
            res.text
        );
    }
    let (other_org, _) = app.create_org("B").await;
    let res = app
        .request("POST", &identities_path(&user))
        .header("X-Tenant-ID", &other_org.to_string())
        .json(&link_body(&provider, "z"))
        .send()
        .await;
    res.assert_error(403, "tenant_mismatch");
    let reader = app.create_read_key().await;
    link_as(&app, &reader, &user, &provider, "z")
        .await
        .assert_error(403, "insufficient_scope");
    assert_eq!(
        app.get_as(&reader, &identities_path(&user)).await.status,
        200
    );
    assert_eq!(crate::org_items(&app, "IDENT#").await, 0);
}

#[tokio::test]
async fn unlinking_frees_the_pair() {
    let (app, user, provider) = world().await;
    let linked = link(&app, &user, &provider, "free-me").await;
    let path = identity_path(&user, &linked.body);
    let res = app.delete(&path).await.assert_status(204);
    assert!(res.text.is_empty());
    assert_eq!(identities_and_pairs(&app).await, (0, 0));
    app.delete(&path).await.assert_error(404, "not_found");

    let other = app.create_user(json!({})).await;
    let relinked = link(&app, &other, &provider, "free-me").await;
    assert_eq!(
        relinked.status, 201,
        "the pair is free again: {}",
        relinked.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_users_racing_for_one_identity_one_wins() {
    let (app, _, provider) = world().await;
    let app = Arc::new(app);
    let mut users = Vec::new();
    for _ in 0..12 {
        users.push(app.create_user(json!({})).await);
    }
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| {
            let (app, provider) = (app.clone(), provider.clone());
            tokio::spawn(async move {
                let res = link(&app, &user, &provider, "contested").await;
                (res.status, res.body["code"].clone())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, code) = task.await.unwrap();
        if status == 409 {
            assert_eq!(code, "identity_already_linked");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [201, 409, 409, 409, 409, 409, 409, 409, 409, 409, 409, 409]
    );
    assert_eq!(identities_and_pairs(&app).await, (1, 1));
}

#[tokio::test]
async fn another_organizations_key_gets_404_on_every_identity_route() {
    let (app, user, provider) = world().await;
    let linked = link(&app, &user, &provider, "mine").await;
    let identity_path = identity_path(&user, &linked.body);
    let (_, b_key) = app.create_org("Org B").await;
    for req in [
        app.request("GET", &identities_path(&user)).key(&b_key),
        app.request("POST", &identities_path(&user))
            .key(&b_key)
            .json(&link_body(&provider, "theirs")),
        app.request("DELETE", &identity_path).key(&b_key),
        app.request("POST", &format!("/v1/end-users/{}/tokens", id(&user)))
            .key(&b_key),
    ] {
        req.send().await.assert_error(404, "not_found");
    }
    // A's provider is not B's, and B sees no providers or policies of A.
    let b_user = app
        .send_as("POST", "/v1/end-users", As::Key(&b_key), Some(&json!({})))
        .await
        .body;
    link_as(&app, &b_key, &b_user, &provider, "x")
        .await
        .assert_error(422, "unknown_identity_provider");
    assert_eq!(
        app.get_as(&b_key, "/v1/identity-providers").await.body["data"],
        json!([])
    );
    assert_eq!(crate::org_items(&app, "IDENT#").await, 1);
}

/// SPEC §9 lookups: "who is this login?" in one read, for a read key, within
/// the organization only.
#[tokio::test]
async fn a_login_is_looked_up_by_provider_and_external_id_in_one_read() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = app.create_user(json!({})).await;
    let linked = app
        .post(
            &format!("/v1/users/{}/identities", id(&user)),
            &json!({"identity_provider_id": provider, "external_id": "sub/ä 1", "external_email": "a@example.com"}),
        )
        .await.assert_status(201);
    let reader = app.create_read_key().await;
    let query = |external: &str| {
        format!(
            "/v1/identities?identity_provider_id={provider}&external_id={}",
            urlencoding(external)
        )
    };
    app.get_as(&reader, &query("sub/ä 1")).await;
    let before = app.app.store.call_totals();
    let found = app
        .get_as(&reader, &query("sub/ä 1"))
        .await
        .assert_status(200);
    assert_eq!(found.body["data"], json!([linked.body]));
    assert_eq!(found.body["data"][0]["user_id"], user["id"]);
    assert_eq!(
        app.app.store.call_totals().since(&before).calls,
        2,
        "the limiter and one GetItem"
    );
    let none = app.get(&query("sub/ä 2")).await;
    assert_eq!(none.body["data"], json!([]));
    // Another organization finds nothing, even with the same provider id.
    let (_, other_key) = app.create_org("B").await;
    let theirs = app.get_as(&other_key, &query("sub/ä 1")).await;
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.body["data"], json!([]));
    // Unlinked: gone from the lookup.
    let unlink = app
        .delete(&format!(
            "/v1/users/{}/identities/{}",
            id(&user),
            id(&linked.body)
        ))
        .await;
    assert_eq!(unlink.status, 204);
    assert_eq!(app.get(&query("sub/ä 1")).await.body["data"], json!([]));
    for bad in [
        "/v1/identities".to_owned(),
        format!("/v1/identities?identity_provider_id={provider}"),
        "/v1/identities?identity_provider_id=nope&external_id=x".to_owned(),
        format!("/v1/identities?identity_provider_id={provider}&external_id="),
        format!(
            "/v1/identities?identity_provider_id={provider}&external_id={}",
            "x".repeat(257)
        ),
        format!("/v1/identities?identity_provider_id={provider}&external_id=a&external_id=b"),
        format!("/v1/identities?identity_provider_id={provider}&external_id=a&email=x"),
    ] {
        app.get(&bad)
            .await
            .assert_error(400, "invalid_query_parameter");
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /v1/identity-providers/{id}` (SPEC §9): read scope, like the list;
/// another organization's provider is a 404.
#[tokio::test]
async fn a_provider_is_read_by_id_with_a_read_key_and_only_in_its_organization() {
    let app = spawn_app().await;
    let created = app.create_provider().await;
    let path = format!("/v1/identity-providers/{}", id(&created));
    let reader = app.create_read_key().await;
    let got = app.get_as(&reader, &path).await.assert_status(200);
    assert_eq!(got.body, created);
    let listed = app.get_as(&reader, "/v1/identity-providers").await;
    assert_eq!(listed.status, 200, "reading providers is the read scope's");
    app.send_as(
        "POST",
        "/v1/identity-providers",
        As::Key(&reader),
        Some(&json!({"name": "x"})),
    )
    .await
    .assert_error(403, "insufficient_scope");
    let (_, other_key) = app.create_org("B").await;
    app.get_as(&other_key, &path)
        .await
        .assert_error(404, "not_found");
    app.get("/v1/identity-providers/0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162")
        .await
        .assert_error(404, "not_found");
    app.get("/v1/identity-providers/nope")
        .await
        .assert_error(400, "invalid_path_parameter");
}

/// SPEC §9: a provider goes only when no identity uses it (409 otherwise,
/// and linking keeps working); once deleted, no function links through it,
/// a warm one included.
#[tokio::test]
async fn a_provider_is_deleted_only_when_unused_and_then_refused_everywhere() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = app.create_user(json!({})).await;
    let link = |external: &'static str| {
        let app = &app;
        let path = format!("/v1/users/{}/identities", id(&user));
        let body = json!({"identity_provider_id": provider, "external_id": external});
        async move { app.post(&path, &body).await }
    };
    link("in-use").await.assert_status(201);
    let path = format!("/v1/identity-providers/{provider}");
    app.delete(&path)
        .await
        .assert_error(409, "identity_provider_in_use");
    assert_eq!(link("still-works").await.status, 201, "the mark is lifted");
    // Unlink both; the provider can go. A warm function that verified with it
    // before refuses it from the next request.
    let listed = app
        .get(&format!("/v1/users/{}/identities", id(&user)))
        .await;
    for identity in listed.data() {
        let unlink = app
            .delete(&format!(
                "/v1/users/{}/identities/{}",
                id(&user),
                id(identity)
            ))
            .await;
        assert_eq!(unlink.status, 204);
    }
    let other = app.cold_instance();
    let (_, other_key) = app.create_org("B").await;
    app.send_as("DELETE", &path, As::Key(&other_key), None)
        .await
        .assert_error(404, "not_found");
    let reader = app.create_read_key().await;
    app.send_as("DELETE", &path, As::Key(&reader), None)
        .await
        .assert_error(403, "insufficient_scope");
    assert_eq!(other.delete(&path).await.status, 204);
    app.get(&path).await.assert_error(404, "not_found");
    link("after")
        .await
        .assert_error(422, "unknown_identity_provider");
    app.delete(&path).await.assert_error(404, "not_found");
    app.delete("/v1/identity-providers/nope")
        .await
        .assert_error(400, "invalid_path_parameter");
}
