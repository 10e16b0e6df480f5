//! Every change applies from the next request, everywhere (SPEC §5): a warm
//! function is warmed, the thing is changed through *another* function (or
//! the core functions `tetherctl` runs), and the warm function's very next
//! request sees it — at no extra DynamoDB call while nothing changes.

use serde_json::json;
use tether::clock::Clock as _;
use tether::organizations::{Changed, LimitOverrides};
use tether_tests::{TestApp, id, spawn_app};

async fn link(
    app: &TestApp,
    user: &str,
    provider: &str,
    email: &str,
) -> tether_tests::TestResponse {
    app.post(
        &format!("/v1/users/{user}/identities"),
        &json!({
            "identity_provider_id": provider,
            "external_id": format!("ext-{}", ulid::Ulid::generate()),
            "external_email": email,
        }),
    )
    .await
}

/// A policy that forbids every end-user update.
const FROZEN: &str = r#"@notice("frozen")
forbid (principal, action == Action::"end_users.update", resource);"#;

#[tokio::test]
async fn a_policy_put_through_another_function_denies_the_next_request_of_a_warm_one() {
    let warm = spawn_app().await;
    let provider = warm.create_provider_id().await;
    let user = warm.create_user(json!({})).await;
    // Warm: this function has read (and cached) the organization's policies.
    assert_eq!(
        link(&warm, id(&user), &provider, "a@other.com")
            .await
            .status,
        201
    );
    let other = warm.cold_instance();
    other
        .put_policies(
            r#"@notice("example.com only")
forbid (principal, action == Action::"identities.create", resource)
unless { context has external_email && context.external_email like "*@example.com" };"#,
        )
        .await;
    let denied = link(&warm, id(&user), &provider, "b@other.com").await;
    denied.assert_error(403, "policy_denied");
    assert_eq!(denied.body["notices"], json!(["example.com only"]));
    // And cleared again, also at once.
    other.put_policies("").await;
    assert_eq!(
        link(&warm, id(&user), &provider, "c@other.com")
            .await
            .status,
        201
    );
}

/// A warm function takes its decision while the limiter's write is in
/// flight, with the policies it holds: a change made through
/// another function makes that write return a newer version, and the
/// decision is taken again — on a read, a write and an end user's call.
#[tokio::test]
async fn a_policy_change_applies_to_a_warm_functions_next_decision_on_reads_writes_and_user_calls()
{
    let warm = spawn_app().await;
    let user = warm.create_user(json!({})).await;
    let token = warm.user_token(&user);
    let path = format!("/v1/end-users/{}", id(&user));
    let statuses = || async {
        let read = warm.get(&path).await;
        let write = warm.patch(&path, &json!({"metadata": {"n": 1}})).await;
        let me = warm.get_with_token(&token, "/v1/me").await;
        [read, write, me]
    };
    for _ in 0..2 {
        for res in statuses().await {
            assert_eq!(res.status, 200, "{}", res.text);
        }
    }
    let other = warm.cold_instance();
    other.put_policies(r#"@notice("frozen")
forbid (principal, action in [Action::"end_users.read", Action::"end_users.update", Action::"me.read"], resource);"#,
    )
    .await;
    for res in statuses().await {
        res.assert_error(403, "policy_denied");
        assert_eq!(res.body["notices"], json!(["frozen"]));
    }
    other.put_policies("").await;
    for res in statuses().await {
        assert_eq!(res.status, 200, "{}", res.text);
    }
}

#[tokio::test]
async fn a_key_revoked_through_another_function_is_refused_by_a_warm_one() {
    let warm = spawn_app().await;
    let (key_id, key) = warm.create_key_of(tether::auth::Scope::Read).await;
    let read = || warm.get_as(&key, "/v1/end-users");
    assert_eq!(read().await.status, 200);
    assert_eq!(read().await.status, 200, "cached now");
    let other = warm.cold_instance();
    assert_eq!(
        other.delete(&format!("/v1/api-keys/{key_id}")).await.status,
        204
    );
    read().await.assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn a_lowered_plan_applies_to_the_next_request_of_a_warm_function() {
    let warm = spawn_app().await;
    warm.create_user(json!({})).await;
    assert_eq!(warm.get("/v1/end-users").await.status, 200);
    let lowered = LimitOverrides {
        relationship_ceiling: Some(1),
        turn_ceiling: Some(1_000),
        ..LimitOverrides::default()
    };
    warm.override_limits(warm.org_id, lowered).await;
    let refused = warm.post("/v1/end-users", &json!({})).await;
    refused.assert_error(403, "relationship_quota_exceeded");
    assert_eq!(refused.headers["x-quota-relationships-limit"], "1");
    let res = warm.get("/v1/end-users").await;
    assert_eq!(res.status, 200);
    // The turn ceiling is the new one too (the headers report it on a quota refusal).
    let exhausted = LimitOverrides {
        turn_ceiling: Some(1),
        ..LimitOverrides::default()
    };
    warm.override_limits(warm.org_id, exhausted).await;
    warm.get("/v1/end-users")
        .await
        .assert_error(429, "turn_quota_exhausted");
}

#[tokio::test]
async fn a_revoked_service_token_is_refused_by_a_warm_function_and_a_rolled_one_has_its_grace() {
    let warm = spawn_app().await;
    let (service, token) = warm.create_service(&[]).await;
    let path = format!("/api/v1/external-services/{service}/organizations");
    let list = async |token: &str| warm.get_with_token(token, &path).await.status;
    assert_eq!(list(&token).await, 200);
    assert_eq!(list(&token).await, 200, "cached now");
    let service_id = tether::ids::ExternalServiceId::parse(&service).unwrap();
    let now = warm.clock.now();
    let rolled = tether::external_services::roll_token(
        &warm.app.store,
        service_id,
        time::Duration::minutes(10),
        now,
    )
    .await
    .unwrap()
    .expect("a live token to roll");
    let new = rolled.expose().to_owned();
    assert_eq!(list(&token).await, 200, "in its grace period");
    assert_eq!(list(&new).await, 200);
    warm.clock.advance(time::Duration::minutes(10));
    assert_eq!(list(&token).await, 401, "the grace period is over");
    let revoked =
        tether::external_services::revoke_tokens(&warm.app.store, service_id, warm.clock.now())
            .await
            .unwrap();
    assert_eq!(revoked, 1, "the new token; the old one had ended");
    assert_eq!(list(&new).await, 401);
}

/// What freshness costs (docs/performance.md): nothing while nothing
/// changes; right after a change, one refused limiter write, and one read of
/// each cached thing the request needs.
#[tokio::test]
async fn freshness_costs_no_call_while_nothing_changes() {
    let warm = spawn_app().await;
    let calls = || warm.app.store.call_totals().calls;
    assert_eq!(warm.get("/v1/end-users").await.status, 200);
    assert_eq!(warm.get("/v1/end-users").await.status, 200);
    let before = calls();
    assert_eq!(warm.get("/v1/end-users").await.status, 200);
    assert_eq!(
        calls() - before,
        2,
        "the limiter's write and the list's query"
    );
    // Changed through another function (the uploading one keeps its upload).
    warm.cold_instance().put_policies("").await;
    let before = calls();
    assert_eq!(warm.get("/v1/end-users").await.status, 200);
    // The list read beside the limiter's write (discarded: the caches were
    // outdated), the outdated limiter write, the organization, the write
    // again, the key, the policies, the list again.
    assert_eq!(calls() - before, 7);
    let before = calls();
    assert_eq!(warm.get("/v1/end-users").await.status, 200);
    assert_eq!(calls() - before, 2, "warm again");
}

/// A change's transaction writes the organization's bucket item, which every
/// request writes too: under real parallel load the two meet
/// (`TransactionConflict` on either side) and both retry — no request fails
/// for it, and every change lands.
#[tokio::test]
async fn changes_under_parallel_load_fail_no_request_and_all_land() {
    let app = spawn_app().await;
    let reads = (0..24).map(|_| app.get("/v1/end-users"));
    let puts = (0..4).map(|i| {
        app.request("PUT", "/v1/policies")
            .raw_body(
                "text/plain",
                if i % 2 == 0 {
                    r#"forbid (principal, action == Action::"identities.create", resource) when { context.external_id == "x" };"#
                } else {
                    ""
                },
            )
            .send()
    });
    let (reads, puts) = tokio::join!(
        futures_util::future::join_all(reads),
        futures_util::future::join_all(puts)
    );
    for res in reads.iter().chain(puts.iter()) {
        assert!(res.status == 200, "{} {}", res.status, res.text);
    }
    let org = app.organization().await;
    assert_eq!(org.revision, 4, "every change bumped the version once");
}

/// The organization item is written by every end-user creation (its
/// relationship counter): it carries no index entry, so the versioning and
/// the operator's organization list cost those writes nothing (a `GSI1`
/// entry on it had made a creation 3 → 7 write units in `make bench`).
#[tokio::test]
async fn an_end_user_creation_writes_no_index_of_the_organization() {
    let app = spawn_app().await;
    app.create_user(json!({})).await;
    let before = app.app.store.call_totals();
    app.create_user(json!({})).await;
    let spent = app.app.store.call_totals().since(&before);
    assert_eq!(spent.calls, 2, "{spent:?}");
    // The limiter (1) and a two-item transaction (2 × 1 on DynamoDB Local,
    // which bills transactional writes like plain ones); moto bills less.
    assert!(spent.write_units() <= 3.0, "{spent:?}");
    let org = crate::stored_item(&app, &format!("ORG#{}", app.org_id), "ORG")
        .await
        .unwrap();
    assert!(!org.contains_key("GSI1PK"), "{org:?}");
}

/// The function that uploads policies keeps what it parsed, current at the
/// version its change committed: its next request decides by them without
/// reading the policy item back (nor parsing it again), and a later change
/// made elsewhere still replaces them.
#[tokio::test]
async fn a_functions_own_policy_upload_is_its_copy_without_a_read_back() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}", id(&user));
    assert_eq!(app.get(&path).await.status, 200, "warm");
    app.put_policies(FROZEN).await;
    let org = app.organization().await;
    let (stamp, kept) = app.app.policies.get(&app.org_id).expect("kept");
    assert_eq!(stamp, org.revision, "current at the change's version");
    assert_eq!(kept.expect("some policies").text, FROZEN);
    let before = app.app.store.call_totals();
    let denied = app.patch(&path, &json!({"metadata": {"a": 1}})).await;
    denied.assert_error(403, "policy_denied");
    // The limiter's write finds the organization changed (nothing counted),
    // the organization and the key are read again and the request charged:
    // 4 calls, no read of the policy item (which would be a fifth). Calls,
    // not read units: moto bills reads differently (docs/decisions.md).
    let spent = app.app.store.call_totals().since(&before);
    assert_eq!(spent.calls, 4, "{spent:?}");
    // Another function clears them: this one's next request is allowed.
    let other = app.cold_instance();
    other.put_policies("").await;
    app.patch(&path, &json!({"metadata": {"a": 1}}))
        .await
        .assert_status(200);
}

/// A change that leaves the policies as they were (a plan, here) makes a
/// warm function read them again — a version cannot tell what changed — but
/// not parse them again: the same text is the same parse, kept under the
/// new stamp.
#[tokio::test]
async fn policies_read_again_unchanged_are_not_parsed_again() {
    let app = spawn_app().await;
    app.cold_instance().put_policies(FROZEN).await;
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    let (stamp, first) = app.app.policies.get(&app.org_id).expect("read");
    let first = first.expect("some policies");
    let raised = LimitOverrides {
        turn_ceiling: Some(1_000_000),
        ..LimitOverrides::default()
    };
    app.override_limits(app.org_id, raised).await;
    let before = app.app.store.call_totals();
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    let spent = app.app.store.call_totals().since(&before);
    let (restamped, second) = app.app.policies.get(&app.org_id).expect("read again");
    assert!(restamped > stamp, "read again after the change: {spent:?}");
    assert!(
        std::sync::Arc::ptr_eq(&first, &second.expect("still some")),
        "the same parse"
    );
}

/// A change made by a request starts from the organization that request
/// already holds (current at its version), not from a read of it: a policy
/// upload and a key's revocation on a warm function each spend one call
/// fewer. A record that moved on meanwhile is found out by the revision
/// condition and the change is built again from a read: it still lands.
#[tokio::test]
async fn a_change_starts_from_the_organization_the_request_holds() {
    let app = spawn_app().await;
    let (key_id, _) = app.create_key_of(tether::auth::Scope::Read).await;
    app.put_policies("").await;
    assert_eq!(app.get("/v1/end-users").await.status, 200, "warm");
    // The limiter's write and the change's transaction.
    let before = app.app.store.call_totals();
    app.put_policies(FROZEN).await;
    let spent = app.app.store.call_totals().since(&before);
    assert_eq!(spent.calls, 2, "upload: {spent:?}");
    // (Its next request finds the organization changed and reads it again.)
    assert_eq!(app.get("/v1/end-users").await.status, 200);
    // The limiter's write, the key's entry and the change's transaction.
    let before = app.app.store.call_totals();
    app.delete(&format!("/v1/api-keys/{key_id}"))
        .await
        .assert_status(204);
    let spent = app.app.store.call_totals().since(&before);
    assert_eq!(spent.calls, 3, "revocation: {spent:?}");

    // A stale record: another change came first.
    let stale = app.organization().await;
    app.cold_instance().put_policies("").await;
    let changed =
        tether::organizations::change_at(&app.app.store, app.org_id, Some(&stale), |_| {
            Ok(tether::organizations::Edit {
                set: vec!["#name = :name".into()],
                names: vec![("#name", "name")],
                values: vec![(":name", tether::store::s("Renamed"))],
                ..Default::default()
            })
        })
        .await
        .unwrap();
    let Changed::Done { version } = changed else {
        panic!("{changed:?}");
    };
    let now = app.organization().await;
    assert_eq!(
        version,
        stale.revision + 2,
        "built again after the other change"
    );
    assert_eq!((now.revision, now.name.as_str()), (version, "Renamed"));
}
