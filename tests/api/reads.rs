//! Reads beside the limiter's write: a warm GET sends its read
//! while the limiter's write is still in flight — one round trip of
//! latency — and keeps the answer only when the write admits it. Observed
//! through a proxy in front of DynamoDB Local that holds every answer for
//! 150 ms and counts the requests outstanding at once.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tether::App;
use tether::config::Config;
use tether_tests::{TestApp, TestResponse, id, proxy, spawn_app};

/// The most DynamoDB requests the proxy held at once, and a reset; and
/// how many times it went from holding none to holding one (the round trips
/// a request waited for in turn: each is held 150 ms, and the calls of one
/// round are sent together).
#[derive(Debug, Default)]
struct Outstanding {
    now: AtomicUsize,
    most: AtomicUsize,
    rounds: AtomicUsize,
}

impl Outstanding {
    /// Forgets the most held at once and the rounds so far.
    fn reset(&self) {
        self.most.store(0, Ordering::SeqCst);
        self.rounds.store(0, Ordering::SeqCst);
    }

    /// The most requests held at once since the last reset.
    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// The round trips waited for in turn since the last reset.
    fn rounds(&self) -> usize {
        self.rounds.load(Ordering::SeqCst)
    }
}

/// A proxy to DynamoDB Local that delays every answer by 150 ms.
async fn slow_proxy() -> (String, Arc<Outstanding>) {
    let counts = Arc::new(Outstanding::default());
    let shared = Arc::clone(&counts);
    let lifetime = Duration::from_secs(600);
    let endpoint = proxy::to_emulator(lifetime, Duration::from_millis(150), move || {
        let (counts, answered) = (Arc::clone(&shared), Arc::clone(&shared));
        let requests = move |chunk: &[u8]| {
            if chunk.starts_with(b"POST ") {
                let now = counts.now.fetch_add(1, Ordering::SeqCst) + 1;
                counts.most.fetch_max(now, Ordering::SeqCst);
                if now == 1 {
                    counts.rounds.fetch_add(1, Ordering::SeqCst);
                }
            }
            true
        };
        let answers = move |chunk: &[u8]| {
            if chunk.starts_with(b"HTTP/") {
                answered.now.fetch_sub(1, Ordering::SeqCst);
            }
            true
        };
        (requests, answers)
    })
    .await;
    (endpoint, counts)
}

/// A new end user with `email`, and its path.
async fn user_at(test: &TestApp, email: &str) -> (Value, String) {
    let user = test.create_user_with_email(email).await;
    let path = format!("/v1/end-users/{}", id(&user));
    (user, path)
}

/// A warm function of `test`'s world whose DynamoDB calls go through `endpoint`.
fn app_via(endpoint: String, test: &TestApp, beside: bool) -> Arc<App> {
    let config = Config::from_lookup(|name| {
        (name == "TETHER_READS_BESIDE_LIMITER").then(|| beside.to_string())
    });
    let client = test.dynamodb_config().endpoint_url(endpoint);
    test.function_with(config.unwrap(), client)
}

async fn send(app: &Arc<App>, test: &TestApp, method: &str, path: &str) -> TestResponse {
    let mut req = test.request(method, path);
    if method != "GET" {
        req = req.json(&json!({"metadata": {"n": 1}}));
    }
    req.send_via(app).await
}

#[tokio::test]
async fn a_warm_read_overlaps_the_limiters_write_and_a_write_does_not() {
    let test = spawn_app().await;
    let (_, path) = user_at(&test, "r@example.com").await;
    let (endpoint, counts) = slow_proxy().await;
    // TETHER_READS_BESIDE_LIMITER=false (the kill switch) serialises reads too.
    for beside in [true, false] {
        let app = app_via(endpoint.clone(), &test, beside);
        // Warm: the key and the organization are cached.
        assert_eq!(send(&app, &test, "GET", &path).await.status, 200);
        let read = if beside { 2 } else { 1 };
        for (method, path, overlapped) in [
            ("GET", path.as_str(), read),
            ("GET", "/v1/end-users", read),
            ("GET", "/v1/events", read),
            ("PATCH", path.as_str(), 1),
        ] {
            counts.reset();
            let before = app.store.call_totals();
            let started = std::time::Instant::now();
            let res = send(&app, &test, method, path).await;
            let wall_ms = started.elapsed().as_millis() as u64;
            assert_eq!(res.status, 200, "{method} {path}: {}", res.text);
            // (calls, DynamoDB requests outstanding at once)
            let spent = app.store.call_totals().since(&before);
            let observed = (spent.calls, counts.most());
            assert_eq!(
                observed,
                (2, overlapped),
                "{method} {path} (beside: {beside})"
            );
            // Busy time is the union of the calls' intervals: two calls held
            // 150 ms each by the proxy count ≥ 150 ms side by side and ≥ 300 ms
            // in turn, and never more than the request's wall time (a sum of
            // two overlapping calls would be).
            let busy_ms = spent.busy_micros / 1000;
            let least = 150 * (3 - overlapped) as u64;
            assert!(
                busy_ms >= least && busy_ms <= wall_ms,
                "{method} {path} (beside: {beside}): busy {busy_ms} ms, at least {least}, wall {wall_ms}"
            );
        }
    }
}

#[tokio::test]
async fn a_read_made_before_a_change_is_discarded_and_made_again() {
    let test = spawn_app().await;
    let (_, path) = user_at(&test, "d@example.com").await;
    let (key_id, read_key) = test.create_key_of(tether::auth::Scope::Read).await;
    let warm = test.cold_instance();
    let as_reader = || warm.get_as(&read_key, &path);
    assert_eq!(as_reader().await.status, 200);
    assert_eq!(as_reader().await.status, 200);
    // The key is revoked by another function: the read this warm function
    // runs beside its limiter write (with the key as cached) is not answered.
    test.delete(&format!("/v1/api-keys/{key_id}"))
        .await
        .assert_status(204);
    as_reader().await.assert_error(401, "invalid_credentials");
    // The admin key still reads, judged afresh.
    let res = warm.get(&path).await.assert_status(200);
    assert_eq!(res.body["email"], "d@example.com");
}

#[tokio::test]
async fn reads_with_a_read_of_their_own_still_take_one_round_trip() {
    let test = spawn_app().await;
    let user = test.create_user(json!({})).await;
    let provider = test.create_provider_id().await;
    let identities = format!("/v1/users/{}/identities", id(&user));
    test.post(
        &identities,
        &json!({"identity_provider_id": provider, "external_id": "x-1"}),
    )
    .await
    .assert_status(201);
    let (service, token) = test.create_service(&[]).await;
    let connect = test.create_connect_token(&service).await;
    let claimed = test.claim_relation(&service, &token, &connect["token"], "acct-1");
    claimed.await.assert_status(200);
    let organizations = format!("/api/v1/external-services/{service}/organizations");

    let (endpoint, counts) = slow_proxy().await;
    let app = app_via(endpoint, &test, true);
    // (path, as the service, calls): the user check beside the identities
    // page; the relations page with its services' names remembered; the
    // service's own organizations list, beside the service's limiter write.
    let cases = [
        (identities.as_str(), false, 3),
        ("/v1/external-service-relations", false, 2),
        (organizations.as_str(), true, 2),
    ];
    for (path, as_service, calls) in cases {
        let request = || {
            let req = test.request("GET", path);
            if as_service { req.bearer(&token) } else { req }
        };
        // Warm: credentials, organization and service names are cached.
        let warm = request().send_via(&app).await;
        assert_eq!(warm.status, 200, "{path}: {}", warm.text);
        counts.reset();
        let before = app.store.call_totals();
        let res = request().send_via(&app).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
        assert_eq!(res.body["data"].as_array().map(Vec::len), Some(1), "{path}");
        let spent = app.store.call_totals().since(&before);
        assert_eq!(spent.calls, calls, "{path}");
        assert_eq!(
            counts.most(),
            calls as usize,
            "{path}: every call of the request outstanding at once"
        );
    }
}

#[tokio::test]
async fn a_cold_functions_first_read_waits_for_the_fewest_round_trips() {
    let test = spawn_app().await;
    let (user, path) = user_at(&test, "c@example.com").await;
    let token = test.user_token(&user);
    let (_, older) = test
        .create_older_form_key(test.org_id, &[tether::auth::Scope::Read])
        .await;
    let (endpoint, counts) = slow_proxy().await;
    // (request, calls, rounds) on a function that has nothing cached:
    // an API key names its organization, so the key, the organization, its
    // policies and its limiter bucket come in one BatchGetItem (1), then the
    // limiter's write, the key's last use and the read go together (3) — two
    // rounds. A key of the older form, which names no organization, is found
    // by its hash first (one more round). An access token names its
    // organization: two rounds.
    let reads = [
        ("API key", test.request("GET", &path), 4, 2),
        ("older key", test.request("GET", &path).key(&older), 5, 3),
        (
            "access token",
            test.request("GET", "/v1/me").bearer(&token),
            3,
            2,
        ),
    ];
    for (case, request, calls, rounds) in reads {
        let cold = app_via(endpoint.clone(), &test, true);
        counts.reset();
        let before = cold.store.call_totals();
        let res = request.send_via(&cold).await;
        assert_eq!(res.status, 200, "{case}: {}", res.text);
        assert_eq!(res.body["id"], user["id"], "{case}");
        let spent = cold.store.call_totals().since(&before);
        assert_eq!(spent.calls, calls, "{case}: calls of a cold function");
        assert_eq!(
            counts.rounds(),
            rounds,
            "{case}: round trips a cold function waited for in turn"
        );
    }
}

/// A write's own reads go out beside its limiter's write too (the claim's
/// connect token and policies: `pipeline::overlap`, `Early`); the write follows
/// the admission. The kill switch puts them back after it.
#[tokio::test]
async fn a_claim_reads_its_token_and_policies_beside_the_services_limiter_write() {
    let test = spawn_app().await;
    let (service, token) = test.create_service(&[]).await;
    let claim_path = format!("/api/v1/external-services/{service}/organization-relations/claim");
    let (endpoint, counts) = slow_proxy().await;
    for (beside, most, rounds) in [(true, 2, 2), (false, 1, 3)] {
        let app = app_via(endpoint.clone(), &test, beside);
        // (warm, measured): the first claim caches the service's token.
        for measured in [false, true] {
            let connect = test.create_connect_token(&service).await;
            let request = test.request("POST", &claim_path).bearer(&token).json(
                &json!({"connectToken": connect["token"], "externalOrganizationId": "acct-r"}),
            );
            counts.reset();
            let before = app.store.call_totals();
            let res = request.send_via(&app).await.assert_status(200);
            assert_eq!(res.body["externalOrganizationId"], "acct-r");
            if measured {
                // The limiter's write, the BatchGetItem, the transaction.
                // (calls, DynamoDB requests outstanding at once, round
                // trips waited for in turn)
                let spent = app.store.call_totals().since(&before);
                let observed = (spent.calls, counts.most(), counts.rounds());
                assert_eq!(observed, (3, most, rounds), "beside: {beside}");
            }
            // Removed, so that the next claim creates the relation again.
            assert_eq!(test.remove_relation(&res.body).await.status, 204);
        }
    }
}

/// A claim refused for its service's rate reads nothing ahead once the
/// function has seen that bucket empty: a flood costs the limiter's write
/// only, as before.
#[tokio::test]
async fn claims_refused_for_the_services_rate_read_nothing_ahead() {
    let test = spawn_app().await;
    let (service, token) = test.create_service(&[]).await;
    let claim_path = format!("/api/v1/external-services/{service}/organization-relations/claim");
    let connect = test.create_connect_token(&service).await;
    let body = json!({"connectToken": connect["token"], "externalOrganizationId": "acct-f"});
    let claim = || {
        test.send_as(
            "POST",
            &claim_path,
            tether_tests::As::Bearer(&token),
            Some(&body),
        )
    };
    // The bucket holds its burst (SPEC §6); the clock stands still.
    let burst = tether::limits::EXTERNAL_SERVICE_RATE.burst;
    let mut admitted = 0;
    while claim().await.status != 429 {
        admitted += 1;
        assert!(admitted <= burst + 1, "never refused");
    }
    for _ in 0..5 {
        let before = test.app.store.call_totals();
        claim().await.assert_status(429);
        let spent = test.app.store.call_totals().since(&before);
        assert_eq!(spent.calls, 1, "the limiter's write only");
    }
}

/// SPEC §4: a GET whose caller the scopes or the organization's policies
/// then refuse has run none of its operation's reads — the read beside the
/// limiter's write starts only once the decision foreseen for it admits.
/// Counted on a warm function: the refusal costs the limiter's write alone,
/// where an admitted read makes one call more.
#[tokio::test]
async fn a_refused_caller_costs_no_read_of_the_operation() {
    let test = spawn_app().await;
    let user = test.create_user(json!({})).await;
    let user_path = format!("/v1/end-users/{}", id(&user));
    let reader = test.create_read_key().await;
    let (service, token) = test.create_service(&["organization-relations:write"]).await;
    let warm = test.cold_instance();
    let spent = |res: &TestResponse, before: &tether::store::CallTotals| {
        let _ = res;
        warm.app.store.call_totals().since(before).calls
    };
    // Warm the reader's key, the organization and its (empty) policies.
    assert_eq!(warm.get_as(&reader, "/v1/end-users").await.status, 200);
    let before = warm.app.store.call_totals();
    let admitted = warm.get_as(&reader, "/v1/end-users").await;
    assert_eq!(admitted.status, 200);
    assert_eq!(
        spent(&admitted, &before),
        2,
        "the limiter's write and the query"
    );
    // Refused by scope: events need admin.
    let before = warm.app.store.call_totals();
    let refused = warm.get_as(&reader, "/v1/events").await;
    refused.assert_error(403, "insufficient_scope");
    assert_eq!(spent(&refused, &before), 1, "the limiter's write alone");
    // Refused by a policy, once this function holds the policies.
    test.put_policies(r#"forbid (principal, action == Action::"end_users.read", resource);"#)
        .await;
    let first = warm.get_as(&reader, &user_path).await;
    first.assert_error(403, "policy_denied");
    let before = warm.app.store.call_totals();
    let refused = warm.get_as(&reader, &user_path).await;
    refused.assert_error(403, "policy_denied");
    assert_eq!(spent(&refused, &before), 1, "the limiter's write alone");
    // A service without the scope to list its organizations.
    let organizations = format!("/api/v1/external-services/{service}/organizations");
    let as_service = || {
        warm.send_as(
            "GET",
            &organizations,
            tether_tests::As::Bearer(&token),
            None,
        )
    };
    assert_eq!(as_service().await.status, 403);
    let before = warm.app.store.call_totals();
    let refused = as_service().await.assert_status(403);
    assert_eq!(
        spent(&refused, &before),
        1,
        "the service's limiter write alone"
    );
}

/// SPEC §4: a service's token on another service's claim route is refused
/// (403) before anything of the route is read — the claim's read-ahead
/// (the connect token, the organization's policies) starts only for the
/// path's own service.
#[tokio::test]
async fn another_services_claim_route_reads_nothing_ahead() {
    let test = spawn_app().await;
    let (_, token) = test.create_service(&[]).await;
    let (other, _) = test.create_service(&[]).await;
    let connect = test.create_connect_token(&other).await;
    let path = format!("/api/v1/external-services/{other}/organization-relations/claim");
    let body = json!({"connectToken": connect["token"], "externalOrganizationId": "acct-x"});
    let claim = || test.send_as("POST", &path, tether_tests::As::Bearer(&token), Some(&body));
    // The first request reads the token itself; the second finds it cached.
    let before = test.app.store.call_totals();
    claim().await.assert_status(403);
    let spent = test.app.store.call_totals().since(&before);
    assert_eq!(spent.calls, 1, "the token's read only");
    let before = test.app.store.call_totals();
    claim().await.assert_status(403);
    let spent = test.app.store.call_totals().since(&before);
    assert_eq!(
        spent.calls, 0,
        "nothing read for a route of another service"
    );
}
