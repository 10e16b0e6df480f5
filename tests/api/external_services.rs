//! The external-service API (SPEC §11, seed 002) and the organization's
//! connect tokens (SPEC §9).

use serde_json::{Value, json};
use std::sync::Arc;
use tether_tests::As;
use tether_tests::id;
use tether_tests::{TestApp, TestResponse, spawn_app};

const BASE: &str = "/api/v1/external-services";

/// A policy that refuses every claim of the organization.
const NO_CRM_CLAIMS: &str = r#"@notice("No CRM integrations")
forbid (principal, action == Action::"organization_relations.claim", resource);"#;

struct World {
    app: TestApp,
    service: String,
    token: String,
}

async fn world() -> World {
    world_of(spawn_app().await).await
}

/// `app` with an external service of every scope.
async fn world_of(app: TestApp) -> World {
    let (service, token) = app.create_service(&[]).await;
    World {
        app,
        service,
        token,
    }
}

impl World {
    /// `method path` with the service's own token.
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> TestResponse {
        self.app
            .send_as(method, path, As::Bearer(&self.token), body)
            .await
    }

    /// `GET` the organizations related to the service, `query` appended
    /// (`""`, or `"?limit=1"`), with its own token.
    async fn organizations(&self, query: &str) -> TestResponse {
        let path = format!("{BASE}/{}/organizations{query}", self.service);
        self.send("GET", &path, None).await
    }

    /// A new connect token of the organization, claimed by the service for
    /// `external_org` (asserting 200); returns the token and the relation.
    async fn relate(&self, external_org: &str) -> (Value, Value) {
        let connect = self.app.create_connect_token(&self.service).await;
        let claimed = self.claim(&connect["token"], external_org).await;
        (connect, claimed.assert_status(200).body)
    }

    async fn claim(&self, connect_token: &Value, external_org: &str) -> TestResponse {
        self.app
            .claim_relation(&self.service, &self.token, connect_token, external_org)
            .await
    }

    /// `put_user` with only a `subscription`.
    async fn put_subscription(&self, org: &str, user: &str, subscription: &str) -> TestResponse {
        self.put_user(org, user, json!({ "subscription": subscription }))
            .await
    }

    async fn put_user(&self, org: &str, user: &str, body: Value) -> TestResponse {
        self.app
            .send_as(
                "PUT",
                &format!("{BASE}/{}/organizations/{org}/users/{user}", self.service),
                As::Bearer(&self.token),
                Some(&body),
            )
            .await
    }
}

#[tokio::test]
async fn connect_tokens_are_issued_read_and_cancelled_by_the_organization() {
    let w = world().await;
    let created = w.app.create_connect_token(&w.service).await;
    let token = created["token"].as_str().unwrap();
    // tct_<organization id>_<48 hex>: the claim reads token and policies together.
    let org = w.app.org_id.to_string();
    assert!(
        token.starts_with(&format!("tct_{org}_")) && token.len() == 4 + 36 + 1 + 48,
        "{token}"
    );
    assert_eq!(created["status"], "pending");
    assert_eq!(created["external_service_id"], w.service.as_str());
    assert!(created["expires_at"].as_str().unwrap().ends_with('Z'));
    let path = format!("/v1/connect-tokens/{}", id(&created));
    let read = w.app.get(&path).await;
    assert_eq!(read.status, 200);
    assert!(read.body.get("token").is_none(), "the secret is shown once");
    assert_eq!(read.body["status"], "pending");

    let cancel = |path: String| w.app.request("POST", &format!("{path}/cancel")).send();
    let cancelled = cancel(path.clone()).await.assert_status(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancel(path).await.status, 200, "idempotent");
    w.claim(&created["token"], "x")
        .await
        .assert_service_error(409, "connect_token_unusable");

    let (claimed, _) = w.relate("acct").await;
    cancel(format!("/v1/connect-tokens/{}", id(&claimed)))
        .await
        .assert_error(409, "connect_token_unusable");
}

#[tokio::test]
async fn a_connect_token_is_one_plain_write_and_its_service_is_read_once() {
    let w = world().await;
    w.app.create_connect_token(&w.service).await;
    let (service, _) = w.app.create_service(&[]).await;
    let store = &w.app.app.store;
    // Each creation for a service this function has not seen, then has
    // seen: the limiter's write, one consistent read of the service the
    // first time only, one conditional PutItem — no transaction, no
    // condition check. (Exact units differ between the emulators; DynamoDB
    // Local bills 1 RCU and 3 WCU: docs/performance.md.)
    let mut writes = Vec::new();
    for (calls, reads_service) in [(3, true), (2, false)] {
        let before = store.call_totals();
        w.app.create_connect_token(&service).await;
        let spent = store.call_totals().since(&before);
        assert_eq!(spent.calls, calls);
        assert_eq!(spent.read_units > 0.0, reads_service, "{spent:?}");
        writes.push(spent.write_units());
    }
    assert_eq!(writes[0], writes[1], "the same writes both times");
    // An unknown service is asked every time and writes nothing.
    let unknown = json!({"external_service_id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162"});
    for _ in 0..2 {
        let before = store.call_totals();
        w.app
            .post("/v1/connect-tokens", &unknown)
            .await
            .assert_error(422, "validation_failed");
        // The limiter's write and the service's read: no write of a token.
        assert_eq!(store.call_totals().since(&before).calls, 2);
    }
}

#[tokio::test]
async fn connect_token_requests_are_validated_and_admin_only() {
    let w = world().await;
    for (body, field) in [
        (json!({}), "external_service_id"),
        (
            json!({"external_service_id": "nope"}),
            "external_service_id",
        ),
        (
            json!({"external_service_id": "0192f0c5-7b7a-7c3e-9a4b-1d2e3f405162"}),
            "external_service_id",
        ),
        (
            json!({"external_service_id": w.service, "expires_in_seconds": 0}),
            "expires_in_seconds",
        ),
        (
            json!({"external_service_id": w.service, "expires_in_seconds": 604_801}),
            "expires_in_seconds",
        ),
        (
            json!({"external_service_id": w.service, "expires_in_seconds": 1.5}),
            "expires_in_seconds",
        ),
        (
            json!({"external_service_id": w.service, "expires_in_seconds": "60"}),
            "expires_in_seconds",
        ),
    ] {
        let res = w.app.post("/v1/connect-tokens", &body).await;
        res.assert_error(422, "validation_failed");
        assert_eq!(
            res.body["details"]["fields"][0]["field"], field,
            "{}",
            res.text
        );
    }
    let writer = w.app.create_read_write_key().await;
    let body = json!({"external_service_id": w.service});
    w.app
        .send_as("POST", "/v1/connect-tokens", As::Key(&writer), Some(&body))
        .await
        .assert_error(403, "insufficient_scope");
    let created = w.app.create_connect_token(&w.service).await;
    let (_, b_key) = w.app.create_org("B").await;
    let path = format!("/v1/connect-tokens/{}", id(&created));
    for (method, path) in [("GET", path.clone()), ("POST", format!("{path}/cancel"))] {
        let res = w.app.send_as(method, &path, As::Key(&b_key), None).await;
        res.assert_error(404, "not_found");
    }
    assert_eq!(w.app.get(&path).await.body["status"], "pending");
}

#[tokio::test]
async fn a_claim_creates_the_relation_and_a_second_confirms_it() {
    let w = world().await;
    let first = w.app.create_connect_token(&w.service).await;
    let res = w.claim(&first["token"], "acct-1").await.assert_status(200);
    let relation = res.body.clone();
    assert_eq!(relation["externalServiceId"], w.service.as_str());
    assert_eq!(relation["organizationId"], w.app.org_id.to_string());
    assert_eq!(relation["externalOrganizationId"], "acct-1");
    assert_eq!(relation["createdAt"], relation["updatedAt"]);
    assert_eq!(
        res.header("x-ratelimit-limit"),
        Some("50"),
        "the service's own bucket"
    );
    let status = connect_token_status(&w.app, id(&first)).await;
    assert_eq!(status, "claimed");

    w.app.clock.advance(time::Duration::seconds(10));
    let second = w.app.create_connect_token(&w.service).await;
    let confirmed = w.claim(&second["token"], "acct-1").await.assert_status(200);
    assert_eq!(
        confirmed.body["id"], relation["id"],
        "the same relation, confirmed"
    );
    assert_eq!(confirmed.body["createdAt"], relation["createdAt"]);
    assert_ne!(confirmed.body["updatedAt"], relation["updatedAt"]);

    let third = w.app.create_connect_token(&w.service).await;
    w.claim(&third["token"], "acct-2")
        .await
        .assert_service_error(409, "external_organization_id_mismatch");
    let status = connect_token_status(&w.app, id(&third)).await;
    assert_eq!(status, "pending", "a refused claim leaves the token usable");

    // The same external id for another organization of this service is taken.
    let (b_org, b_key) = w.app.create_org("Org B").await;
    let b_token = w.app.create_connect_token_as(&b_key, &w.service).await;
    w.claim(&b_token["token"], "acct-1")
        .await
        .assert_service_error(409, "external_organization_id_already_in_use");
    let ok = w
        .claim(&b_token["token"], "acct-b")
        .await
        .assert_status(200);
    assert_eq!(ok.body["organizationId"], b_org.to_string());

    let list = w.organizations("?limit=1").await.assert_status(200);
    assert_eq!(list.data().len(), 1);
    let cursor = list.body["nextCursor"].as_str().unwrap();
    let rest = w.organizations(&format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(rest.data().len(), 1);
    assert_eq!(rest.body["nextCursor"], Value::Null);
    let mut names: Vec<&str> = [&list.body, &rest.body]
        .iter()
        .map(|b| b["data"][0]["organizationName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Org B", "Test Org"]);
    assert!(
        list.body["data"][0]["relationId"].as_str().is_some()
            && list.body["data"][0]["createdAt"].as_str().is_some()
    );

    // Query problems are schema problems on this surface (found by the
    // schemathesis contract run: the type was the organization API's code).
    for query in ["limit=0", "limit=1&limit=2", "sort=name", "cursor=%%%"] {
        let res = w.organizations(&format!("?{query}")).await;
        res.assert_service_error(400, "invalid_schema");
        assert_eq!(
            res.body["error"]["issues"].as_array().map(Vec::len),
            Some(1),
            "{query}"
        );
    }
}

impl World {
    /// The same world served by a freshly started function that has served
    /// this service once (its token is cached: a refused claim) but has seen
    /// no organization.
    async fn instance_new_to_organizations(&self) -> World {
        let fresh = World {
            app: self.app.cold_instance(),
            service: self.service.clone(),
            token: self.token.clone(),
        };
        fresh
            .claim(&json!("abc"), "a")
            .await
            .assert_service_error(400, "malformed_connect_token");
        fresh
    }
}

#[tokio::test]
async fn a_cold_claim_reads_the_token_and_the_policies_in_one_round_trip() {
    let w = world().await;
    w.app.put_policies(NO_CRM_CLAIMS).await;
    let token = w.app.create_connect_token(&w.service).await;

    // A function that has never seen the organization: limiter, one
    // BatchGetItem (token + policies) — and the policy is applied.
    let cold = w.instance_new_to_organizations().await;
    let before = cold.app.app.store.call_totals();
    let res = cold.claim(&token["token"], "acct").await;
    res.assert_service_error(403, "organization_access_denied");
    assert_eq!(cold.app.app.store.call_totals().since(&before).calls, 2);

    // Without the policy, a new relation is three: limiter, BatchGetItem, transaction.
    w.app.put_policies("").await;
    let cold = w.instance_new_to_organizations().await;
    let before = cold.app.app.store.call_totals();
    cold.claim(&token["token"], "acct").await.assert_status(200);
    let spent = cold.app.app.store.call_totals().since(&before);
    assert_eq!(spent.calls, 3, "{spent:?}");
    assert!(spent.read_units > 0.0, "{spent:?}");

    // Warm, the policies are read again with the token (one BatchGetItem):
    // the service's bucket cannot tell whether a cached copy is current.
    let before = cold.app.app.store.call_totals();
    let res = cold.claim(&token["token"], "acct").await;
    res.assert_service_error(409, "connect_token_unusable");
    let spent = cold.app.app.store.call_totals().since(&before);
    // Two small items: 1 RCU each strongly consistent (DynamoDB Local, AWS);
    // moto bills batch reads as eventually consistent (0.5), so the bound is ≤ 2.
    assert_eq!(spent.calls, 2, "{spent:?}");
    assert!(
        spent.read_units > 0.0 && spent.read_units <= 2.0,
        "{spent:?}"
    );
}

/// Well-formed connect tokens that were never issued are 404: for this
/// organization, for one that does not exist, or a real token with its
/// organization part changed (the hash covers it).
async fn unissued_tokens_are_not_found(w: &World) {
    for org in [
        w.app.org_id.to_string(),
        tether::ids::OrganizationId::generate().to_string(),
    ] {
        w.claim(&json!(format!("tct_{org}_{}", "2".repeat(48))), "acct")
            .await
            .assert_service_error(404, "connect_token_not_found");
    }
    let real = w.app.create_connect_token(&w.service).await;
    let real = real["token"].as_str().unwrap();
    let moved = real.replace(
        &w.app.org_id.to_string(),
        &tether::ids::OrganizationId::generate().to_string(),
    );
    w.claim(&json!(moved), "acct")
        .await
        .assert_service_error(404, "connect_token_not_found");
}

#[tokio::test]
async fn every_error_type_of_the_claim_with_its_status() {
    let w = world().await;
    let path = format!("{BASE}/{}/organization-relations/claim", w.service);
    let valid = w.app.create_connect_token(&w.service).await;
    let body = json!({"connectToken": valid["token"], "externalOrganizationId": "acct"});

    let res = w
        .app
        .request("POST", &path)
        .no_key()
        .json(&body)
        .send()
        .await;
    res.assert_service_error(401, "missing_api_token");
    for unknown in [&format!("tst_{}", "1".repeat(48)), "tk_not_a_service_token"] {
        w.app
            .send_as("POST", &path, As::Bearer(unknown), Some(&body))
            .await
            .assert_service_error(401, "invalid_api_token");
    }

    let (other, other_token) = w.app.create_service(&[]).await;
    let res = w
        .app
        .claim_relation(&w.service, &other_token, &valid["token"], "acct")
        .await;
    res.assert_service_error(403, "external_service_access_denied");
    let (reader, reader_token) = w.app.create_service(&["organizations:read"]).await;
    let res = w
        .app
        .claim_relation(&reader, &reader_token, &valid["token"], "acct")
        .await;
    res.assert_service_error(403, "scope_permission_denied");

    for bad in [
        json!({}),
        json!({"connectToken": 5, "externalOrganizationId": "a"}),
        json!({"connectToken": "tct_x"}),
        json!({"connectToken": "x", "externalOrganizationId": "a", "more": 1}),
    ] {
        let res = w.send("POST", &path, Some(&bad)).await;
        res.assert_service_error(400, "invalid_schema");
        let issues = res.body["error"]["issues"].as_array().unwrap();
        assert!(
            !issues.is_empty()
                && issues
                    .iter()
                    .all(|i| i["path"].is_array() && i["message"].is_string()),
            "{}",
            res.text
        );
    }
    let res = w.app.request("POST", &path).bearer(&w.token);
    let res = res.raw_body("application/json", "{").send().await;
    res.assert_service_error(400, "invalid_schema");

    for malformed in [json!("abc"), json!(format!("tct_{}", "2".repeat(48)))] {
        let res = w.claim(&malformed, "acct").await;
        res.assert_service_error(400, "malformed_connect_token");
    }
    unissued_tokens_are_not_found(&w).await;
    let for_other = w.app.create_connect_token(&other).await;
    let res = w.claim(&for_other["token"], "acct").await;
    res.assert_service_error(404, "connect_token_not_found");

    let expiring = json!({"external_service_id": w.service, "expires_in_seconds": 60});
    let short = w.app.post("/v1/connect-tokens", &expiring).await.body;
    w.app.clock.advance(time::Duration::seconds(61));
    let res = w.claim(&short["token"], "acct").await;
    res.assert_service_error(410, "expired_connect_token");

    // A policy of the organization can refuse the service.
    w.app.put_policies(NO_CRM_CLAIMS).await;
    let res = w.claim(&valid["token"], "acct").await;
    res.assert_service_error(403, "organization_access_denied");
    let res = w.app.request("PUT", "/v1/policies");
    let res = res.json(&json!({"policies": ""})).send().await;
    assert_eq!(res.status, 200);
    w.app.clock.advance(time::Duration::seconds(11));

    assert_eq!(w.claim(&valid["token"], "acct").await.status, 200);
    let res = w.claim(&valid["token"], "acct").await;
    res.assert_service_error(409, "connect_token_unusable");
    // (external_organization_id_mismatch and _already_in_use:
    // a_claim_creates_the_relation_and_a_second_confirms_it.)

    // A path id that is not a UUID.
    let nope = format!("{BASE}/nope/organization-relations/claim");
    let res = w.send("POST", &nope, Some(&body)).await;
    res.assert_service_error(400, "invalid_schema");
    assert_eq!(
        res.body["error"]["issues"][0]["path"][0],
        "externalServiceId"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_claims_of_one_token_one_wins() {
    let w = Arc::new(world().await);
    let connect = w.app.create_connect_token(&w.service).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (w, token) = (w.clone(), connect["token"].clone());
            tokio::spawn(async move {
                let res = w.claim(&token, &format!("acct-{i}")).await;
                (res.status, res.body["error"]["type"].clone())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, kind) = task.await.unwrap();
        if status != 200 {
            assert_eq!(kind, "connect_token_unusable");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let list = w
        .app
        .send_as(
            "GET",
            &format!("{BASE}/{}/organizations", w.service),
            As::Bearer(&w.token),
            None,
        )
        .await;
    assert_eq!(list.data().len(), 1, "one relation");
}

#[tokio::test]
async fn users_are_linked_then_their_subscription_updated() {
    let w = world().await;
    let org = w.app.org_id.to_string();
    let connect = w.app.create_connect_token(&w.service).await;
    assert_eq!(w.claim(&connect["token"], "acct").await.status, 200);

    let created = w
        .put_user(
            &org,
            "crm-7",
            json!({"email": "ada@example.com", "displayName": "Ada", "subscription": "PRO"}),
        )
        .await
        .assert_status(201);
    assert_eq!(created.body["externalUserId"], "crm-7");
    assert_eq!(created.body["subscription"], "PRO");
    assert_eq!(created.body["externallyManaged"], true);
    assert_eq!(created.body["displayName"], "Ada");
    let user_path = format!("/v1/end-users/{}", id(&created.body));
    assert_subscription(&w.app, &user_path, "pro", true).await;

    let updated = w
        .put_subscription(&org, "crm-7", "FREE")
        .await
        .assert_status(200);
    assert_eq!(updated.body["id"], created.body["id"]);
    assert_eq!(updated.body["externallyManaged"], false);
    assert_eq!(
        updated.body["email"], "ada@example.com",
        "fields not sent are kept"
    );
    assert_subscription(&w.app, &user_path, "free", false).await;

    // Free-text ids: any characters, percent-encoded in the path.
    let odd = w
        .put_subscription(&org, "user%2Fwith%20space", "FREE")
        .await
        .assert_status(201);
    assert_eq!(odd.body["externalUserId"], "user/with space");
    let active = relationships_active(&w.app, &org).await;
    assert_eq!(active, "2", "creations count toward relationships");

    for body in [
        json!({}),
        json!({"subscription": "GOLD"}),
        json!({"subscription": "PRO", "email": "nope"}),
        json!({"subscription": "PRO", "plan": 1}),
    ] {
        w.put_user(&org, "crm-8", body)
            .await
            .assert_service_error(400, "invalid_schema");
    }
}

#[tokio::test]
async fn services_act_only_on_organizations_related_to_them() {
    let w = world().await;
    let (b_org, _) = w.app.create_org("Unrelated").await;
    let res = w.put_subscription(&b_org.to_string(), "crm-1", "PRO").await;
    res.assert_service_error(403, "organization_access_denied");
    let (other_service, _) = w.app.create_service(&[]).await;
    let theirs = format!("{BASE}/{other_service}/organizations");
    let res = w.send("GET", &theirs, None).await;
    res.assert_service_error(403, "external_service_access_denied");
    let writing = ["organization-relations:write"];
    let (_, writer) = w.app.create_service(&writing).await;
    let ours = format!("{BASE}/{}/organizations", w.service);
    let res = w.app.get_with_token(&writer, &ours).await;
    res.assert_service_error(403, "external_service_access_denied");
    let active = relationships_active(&w.app, &b_org.to_string()).await;
    assert_eq!(active, "0", "nothing was created");
}

#[tokio::test]
async fn removing_a_relation_consumes_its_token_and_revokes_access() {
    let w = world().await;
    let org = w.app.org_id.to_string();
    let (connect, relation) = w.relate("acct").await;
    let user = w.put_subscription(&org, "crm-1", "PRO");
    assert_eq!(user.await.status, 201);

    let (_, b_key) = w.app.create_org("B").await;
    let path = format!("/v1/external-service-relations/{}", id(&relation));
    w.app
        .send_as("DELETE", &path, As::Key(&b_key), None)
        .await
        .assert_error(404, "not_found");
    let writer = w.app.create_read_write_key().await;
    w.app
        .send_as("DELETE", &path, As::Key(&writer), None)
        .await
        .assert_error(403, "insufficient_scope");
    w.app.delete(&path).await.assert_status(204);
    w.app.delete(&path).await.assert_error(404, "not_found");

    let status = connect_token_status(&w.app, id(&connect)).await;
    assert_eq!(status, "consumed");
    w.put_subscription(&org, "crm-1", "FREE")
        .await
        .assert_service_error(403, "organization_access_denied");
    assert_eq!(w.organizations("").await.body["data"], json!([]));
    w.claim(&connect["token"], "acct")
        .await
        .assert_service_error(409, "connect_token_unusable");
    // The external id is free again: a new token can relate the organization anew.
    w.relate("acct").await;
}

/// A service's scope is decided while its limiter write is out: the request
/// is charged (SPEC §6: every authenticated request), and a missing scope is
/// still answered before the rate limit (SPEC §11's order).
#[tokio::test]
async fn a_services_missing_scope_is_charged_and_answered_before_its_rate_limit() {
    let w = world().await;
    let (reader, reader_token) = w.app.create_service(&["organizations:read"]).await;
    let list = format!("{BASE}/{reader}/organizations");
    let read = || w.app.get_with_token(&reader_token, &list);
    assert_eq!(read().await.header("x-ratelimit-remaining"), Some("99"));
    let connect = w.app.create_connect_token(&reader).await;
    let denied = w
        .app
        .claim_relation(&reader, &reader_token, &connect["token"], "acct")
        .await;
    denied.assert_service_error(403, "scope_permission_denied");
    assert_eq!(denied.header("x-ratelimit-remaining"), Some("98"));
    assert_eq!(read().await.header("x-ratelimit-remaining"), Some("97"));
    for _ in 0..97 {
        assert_eq!(read().await.status, 200);
    }
    read().await.assert_service_error(429, "rate_limited");
    let denied = w
        .app
        .claim_relation(&reader, &reader_token, &connect["token"], "acct")
        .await;
    denied.assert_service_error(403, "scope_permission_denied");
}

#[tokio::test]
async fn a_service_has_its_own_bucket_of_50_rps_burst_100() {
    let w = world().await;
    let path = format!("{BASE}/{}/organizations", w.service);
    for _ in 0..100 {
        let res = w
            .app
            .get_with_token(&w.token, &path)
            .await
            .assert_status(200);
        assert_eq!(res.header("x-ratelimit-limit"), Some("50"));
    }
    let res = w.app.get_with_token(&w.token, &path).await;
    res.assert_service_error(429, "rate_limited");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(
        res.header("x-quota-turns-used").is_none(),
        "services count no organization's turns"
    );
    // The organization's own bucket is untouched.
    assert_eq!(w.app.get("/v1/end-users").await.status, 200);
}

#[tokio::test]
async fn a_service_creation_beyond_the_ceiling_is_403_with_the_relationship_headers() {
    let overrides = tether::organizations::LimitOverrides {
        relationship_ceiling: Some(1),
        ..tether_tests::UNLIMITED
    };
    let app = tether_tests::TestAppBuilder {
        overrides,
        ..Default::default()
    }
    .spawn()
    .await;
    let w = world_of(app).await;
    w.relate("acct").await;
    let org = w.app.org_id.to_string();
    let one = w.put_subscription(&org, "one", "PRO");
    assert_eq!(one.await.status, 201);
    let res = w.put_subscription(&org, "two", "PRO").await;
    res.assert_service_error(403, "relationship_quota_exceeded");
    assert_eq!(res.header("x-quota-relationships-active"), Some("1"));
    assert_eq!(res.header("x-quota-relationships-limit"), Some("1"));
    assert!(res.header("x-quota-reset").is_some());
}

/// SPEC §11: every token that claimed or confirmed a relation is consumed
/// when the organization removes it — not only the first.
#[tokio::test]
async fn removing_a_relation_consumes_every_token_that_confirmed_it() {
    let w = world().await;
    let tokens: Vec<Value> =
        futures_util::future::join_all((0..3).map(|_| w.app.create_connect_token(&w.service)))
            .await;
    let mut relation = Value::Null;
    for token in &tokens {
        relation = w
            .claim(&token["token"], "acct")
            .await
            .assert_status(200)
            .body;
    }
    assert_eq!(w.app.remove_relation(&relation).await.status, 204);
    for token in &tokens {
        assert_eq!(connect_token_status(&w.app, id(token)).await, "consumed");
        w.claim(&token["token"], "acct")
            .await
            .assert_service_error(409, "connect_token_unusable");
    }
}

/// SPEC §9: the organization sees its relations — with each service's name —
/// paged, and only its own; the ids are what the removal takes.
#[tokio::test]
async fn an_organization_lists_its_relations_and_removes_one_by_the_listed_id() {
    let w = world().await;
    let (second, second_token) = w.app.create_service(&[]).await;
    w.relate("acct-1").await;
    let connect = w.app.create_connect_token(&second).await;
    let second_claim = w
        .app
        .claim_relation(&second, &second_token, &connect["token"], "acct-2");
    second_claim.await.assert_status(200);

    let page = w.app.get("/v1/external-service-relations?limit=1").await;
    let page = page.assert_status(200);
    assert_eq!(page.data().len(), 1);
    let cursor = page.body["next_cursor"].as_str().expect("a second page");
    let rest = w
        .app
        .get(&format!(
            "/v1/external-service-relations?limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest.data().len(), 1);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let listed: Vec<&Value> = [&page.body["data"][0], &rest.body["data"][0]].into();
    let mut services: Vec<&str> = listed
        .iter()
        .map(|r| r["external_service_id"].as_str().unwrap())
        .collect();
    services.sort_unstable();
    let mut expected = [w.service.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(services, expected);
    for relation in &listed {
        assert!(
            relation["external_service_name"].as_str().is_some(),
            "{relation}"
        );
        assert!(
            relation["external_organization_id"]
                .as_str()
                .unwrap()
                .starts_with("acct-")
        );
        assert!(
            relation["created_at"].as_str().is_some() && relation["updated_at"].as_str().is_some()
        );
    }
    // Another organization sees none of them, and cannot remove them.
    let (_, other_key) = w.app.create_org("B").await;
    let relations = "/v1/external-service-relations";
    let theirs = w.app.get_as(&other_key, relations);
    assert_eq!(theirs.await.body["data"], json!([]));
    let path = format!("{relations}/{}", id(listed[0]));
    w.app
        .send_as("DELETE", &path, As::Key(&other_key), None)
        .await
        .assert_error(404, "not_found");
    // Bad queries and scope.
    for query in ["limit=0", "cursor=bogus", "sort=name"] {
        w.app
            .get(&format!("/v1/external-service-relations?{query}"))
            .await
            .assert_error(400, "invalid_query_parameter");
    }
    let writer = w.app.create_read_write_key().await;
    w.app
        .get_as(&writer, relations)
        .await
        .assert_error(403, "insufficient_scope");
    // The listed id is what the removal takes.
    assert_eq!(w.app.delete(&path).await.status, 204);
    let after = w.app.get("/v1/external-service-relations").await;
    assert_eq!(after.data().len(), 1);
}

/// SPEC §4: removing a relation consumes the tokens that claimed and
/// confirmed it in one transaction — a fixed number of items, because a
/// relation keeps at most 96 confirming tokens. A service confirming 100
/// times leaves 96 on the relation; the removal still consumes them all at
/// once, and the later confirmations' tokens stay `claimed` (as unusable).
#[tokio::test]
async fn a_relation_keeps_a_bounded_number_of_confirming_tokens() {
    let w = world().await;
    let (app, service) = (&w.app, &w.service);
    let (_, first) = w.relate("acct-9").await;
    let mut tokens = Vec::new();
    for _ in 0..100 {
        app.clock.advance(time::Duration::seconds(1));
        let (connect, _) = w.relate("acct-9").await;
        tokens.push(id(&connect).to_owned());
    }
    let item = crate::stored_item(
        app,
        &format!("SVC#{service}"),
        &format!("REL#ORG#{}", app.org_id),
    )
    .await
    .unwrap();
    let kept = item["confirming_token_hashes"].as_l().unwrap().len();
    assert_eq!(
        kept,
        tether::external_services::relations::MAX_CONFIRMING_KEPT
    );
    app.remove_relation(&first).await.assert_status(204);
    for (n, status) in [(0, "consumed"), (95, "consumed"), (96, "claimed")] {
        assert_eq!(connect_token_status(app, &tokens[n]).await, status);
    }
    // Never consumed with the relation, it expires as a consumed one does.
    let hash_of = |n: usize| {
        let token = tokens[n].clone();
        async move {
            crate::table_items(app)
                .await
                .into_iter()
                .find(|i| i.get("id").and_then(|v| v.as_s().ok()) == Some(&token))
                .unwrap()
        }
    };
    assert!(hash_of(96).await.contains_key("expires_at_epoch"));
}

/// Asserts that the organization's API reads the end user at `user_path`
/// with `subscription`, externally managed or not.
async fn assert_subscription(app: &TestApp, user_path: &str, subscription: &str, managed: bool) {
    let seen = app.get(user_path).await.body;
    let read = (&seen["subscription"], &seen["externally_managed"]);
    assert_eq!(read, (&json!(subscription), &json!(managed)));
}

/// The stored `relationships_active` counter of organization `org`.
async fn relationships_active(app: &TestApp, org: &str) -> String {
    let item = crate::stored_item(app, &format!("ORG#{org}"), "ORG").await;
    item.unwrap()["relationships_active"]
        .as_n()
        .unwrap()
        .clone()
}

/// The `status` the organization reads of its connect token `connect_id`.
async fn connect_token_status(app: &TestApp, connect_id: &str) -> Value {
    let path = format!("/v1/connect-tokens/{connect_id}");
    app.get(&path).await.body["status"].clone()
}
