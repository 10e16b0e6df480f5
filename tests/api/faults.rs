//! Faults DynamoDB Local cannot produce, injected at the SDK (aws-smithy-mocks
//! rules on a real client, passing every call through to DynamoDB Local and
//! replacing the *answer* of the faulted one — the worst case: the write may
//! have committed, yet the caller is told it failed), and transport faults
//! from a local TCP server that hangs or resets. Every one ends in the
//! documented envelope with a request id, after bounded retries, and the table
//! is all-or-nothing afterwards: never a user without its count, an identity
//! without its pair, or half an update.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::error::{
    InternalServerError, ProvisionedThroughputExceededException, ThrottlingException,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, mock};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tether::App;
use tether::config::Config;
use tether_tests::{TestApp, TestResponse, id, proxy, spawn_app};

/// The test's app, its client wrapped with `rules` (everything else passes through).
fn faulty(app: &TestApp, rules: &[&Rule]) -> Arc<App> {
    let mut interceptor = MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .allow_passthrough();
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let client = app.dynamodb_config().interceptor(interceptor);
    app.function_with(
        Config::from_lookup(|_| None).unwrap(),
        client.retry_config(quick_retries()),
    )
}

/// The SDK's standard retries, 3 attempts, backing off a millisecond.
fn quick_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

/// `method path` with the JSON `body`, as `test`'s admin, through `app`.
async fn send(
    app: Arc<App>,
    test: &TestApp,
    method: &str,
    path: &str,
    body: Value,
) -> TestResponse {
    test.request(method, path).json(&body).send_via(&app).await
}

/// A rule that fails every `TransactWriteItems` with `error()`.
fn failing_transactions(error: fn() -> TransactWriteItemsError) -> Rule {
    mock!(Client::transact_write_items)
        .sequence()
        .error(error)
        .repeatedly()
        .build()
}

/// Asserts that the organization counts exactly the end users it has
/// (at most one): a creation is all or nothing.
async fn assert_users_all_or_nothing(app: &TestApp) {
    let (users, counted) = counts(app).await;
    assert!(
        users <= 1 && counted == users.to_string(),
        "all or nothing: {users} users, {counted} counted"
    );
}

/// DynamoDB's error metadata for `code` (what the SDK's retry classifier reads).
fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("injected")
        .build()
}

async fn counts(app: &TestApp) -> (usize, String) {
    let users = app.get("/v1/end-users?limit=100").await.data().len();
    let org = crate::stored_item(app, &format!("ORG#{}", app.org_id), "ORG")
        .await
        .unwrap();
    (users, org["relationships_active"].as_n().unwrap().clone())
}

#[tokio::test]
async fn a_throttled_write_is_503_after_bounded_retries_and_leaves_nothing_partial() {
    let app = spawn_app().await;
    let throttled = failing_transactions(|| {
        TransactWriteItemsError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .meta(meta("ProvisionedThroughputExceededException"))
                .build(),
        )
    });
    let via = faulty(&app, &[&throttled]);
    let res = send(
        via,
        &app,
        "POST",
        "/v1/end-users",
        json!({"email": "a@b.co"}),
    )
    .await;
    res.assert_error(503, "service_unavailable");
    let attempts = throttled.num_calls();
    assert_eq!(attempts, 3, "the SDK's bounded retries: 3 attempts");
    assert_users_all_or_nothing(&app).await;
}

#[tokio::test]
async fn a_transaction_that_keeps_conflicting_is_503_after_bounded_retries() {
    let app = spawn_app().await;
    let conflict = failing_transactions(|| {
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message("injected")
                .cancellation_reasons(reason("TransactionConflict"))
                .cancellation_reasons(reason("None"))
                .build(),
        )
    });
    let via = faulty(&app, &[&conflict]);
    let res = send(via, &app, "POST", "/v1/end-users", json!({})).await;
    res.assert_error(503, "service_unavailable");
    assert_eq!(
        conflict.num_calls(),
        tether::relationships::ATTEMPTS as usize,
        "retried a bounded number of times, then given up"
    );
    assert_users_all_or_nothing(&app).await;
}

#[tokio::test]
async fn a_500_from_dynamodb_on_an_update_is_503_and_the_update_is_all_or_nothing() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"metadata": {"v": 1}})).await;
    let before = crate::stored_user(&app, &user).await.unwrap();
    let broken = mock!(Client::update_item)
        .match_requests(|req| {
            req.key().is_some_and(|k| {
                k.get("SK")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk.starts_with("USER#"))
            })
        })
        .sequence()
        .error(|| {
            UpdateItemError::InternalServerError(
                InternalServerError::builder()
                    .meta(meta("InternalServerError"))
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let path = format!("/v1/end-users/{}", id(&user));
    let via = faulty(&app, &[&broken]);
    let res = send(via, &app, "PATCH", &path, json!({"metadata": {"v": 2}})).await;
    res.assert_error(503, "service_unavailable");
    assert!(
        (1..=3).contains(&broken.num_calls()),
        "bounded: {}",
        broken.num_calls()
    );
    let after = crate::stored_user(&app, &user).await.unwrap();
    let consistent = after == before
        || (after["metadata_json"].as_s().unwrap() == r#"{"v":2}"#
            && after["version"].as_n().unwrap() == "2");
    assert!(
        consistent,
        "either untouched or the whole update: {after:?}"
    );
}

#[tokio::test]
async fn a_failed_identity_link_leaves_both_items_or_neither() {
    let app = spawn_app().await;
    let provider = app.create_provider_id().await;
    let user = app.create_user(json!({})).await;
    let throttled = failing_transactions(|| {
        let error = ThrottlingException::builder().meta(meta("ThrottlingException"));
        TransactWriteItemsError::ThrottlingException(error.build())
    });
    let path = format!("/v1/users/{}/identities", id(&user));
    let link = json!({"identity_provider_id": provider, "external_id": "x"});
    let res = send(faulty(&app, &[&throttled]), &app, "POST", &path, link).await;
    res.assert_error(503, "service_unavailable");
    let identities = app.get(&path).await.data().len();
    let pairs = crate::org_items(&app, "IDPAIR#").await;
    assert_eq!(pairs, identities, "an identity and its pair, or neither");
}

/// A TCP server on loopback that accepts and then either hangs or resets.
async fn fault_server(reset: bool) -> String {
    proxy::serve_for(Duration::from_secs(20), move |socket| {
        if reset {
            #[allow(
                deprecated,
                reason = "a zero linger sends RST at once and never blocks: exactly the fault wanted"
            )]
            let _ = socket.set_linger(Some(Duration::ZERO));
            drop(socket);
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                drop(socket);
            });
        }
    })
    .await
}

async fn against(endpoint: String, test: &TestApp) -> (TestResponse, Duration) {
    let config = Config::from_lookup(|name| match name {
        "TETHER_DYNAMODB_ATTEMPT_TIMEOUT_MS" => Some("200".into()),
        "TETHER_DYNAMODB_OPERATION_TIMEOUT_MS" => Some("1000".into()),
        "TETHER_DYNAMODB_MAX_ATTEMPTS" => Some("2".into()),
        _ => None,
    })
    .unwrap();
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(config.dynamodb_attempt_timeout)
        .operation_timeout(config.dynamodb_operation_timeout)
        .build();
    let retries = RetryConfig::standard().with_max_attempts(config.dynamodb_max_attempts);
    let client = test.dynamodb_config().endpoint_url(endpoint);
    let app = test.function_with(
        config,
        client.timeout_config(timeouts).retry_config(retries),
    );
    let started = Instant::now();
    let res = test.request("GET", "/v1/end-users").send_via(&app).await;
    (res, started.elapsed())
}

#[tokio::test]
async fn a_dynamodb_that_hangs_is_503_within_the_operation_timeout() {
    let app = spawn_app().await;
    let (res, elapsed) = against(fault_server(false).await, &app).await;
    res.assert_error(503, "service_unavailable");
    assert!(
        elapsed < Duration::from_secs(3),
        "bounded by the timeouts: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_dynamodb_that_resets_connections_is_503() {
    let app = spawn_app().await;
    let (res, elapsed) = against(fault_server(true).await, &app).await;
    res.assert_error(503, "service_unavailable");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

/// A proxy on loopback in front of the emulator that forwards everything but
/// the answer to the first `TransactWriteItems`: that one it lets commit,
/// then closes the connection unanswered — a commit whose response is lost.
/// Returns its endpoint and whether it has dropped an answer yet.
async fn losing_proxy() -> (String, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let tripped = Arc::clone(&dropped);
    let endpoint = proxy::to_emulator(Duration::from_secs(30), Duration::ZERO, move || {
        let tripped = Arc::clone(&tripped);
        let lose_next = Arc::new(AtomicBool::new(false));
        let lose = Arc::clone(&lose_next);
        let requests = move |chunk: &[u8]| {
            if chunk.windows(18).any(|w| w == b"TransactWriteItems")
                && tripped
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                lose.store(true, Ordering::SeqCst);
            }
            true
        };
        // Once the transaction went upstream (and committed), its answer is lost.
        let answers = move |_: &[u8]| !lose_next.load(Ordering::SeqCst);
        (requests, answers)
    })
    .await;
    (endpoint, dropped)
}

/// An app whose DynamoDB client goes through `endpoint`.
fn app_via(endpoint: String, test: &TestApp) -> Arc<App> {
    let client = test.dynamodb_config().endpoint_url(endpoint);
    test.function_with(
        Config::from_lookup(|_| None).unwrap(),
        client.retry_config(quick_retries()),
    )
}

/// SPEC §12: an SDK retry of a transaction that committed, its answer lost,
/// is that commit — never a 409 or a stored 500.
#[tokio::test]
async fn a_committed_transaction_whose_answer_is_lost_is_a_success() {
    let test = spawn_app().await;
    let (endpoint, dropped) = losing_proxy().await;
    let app = app_via(endpoint, &test);
    let ada = json!({"email": "ada@example.com"});
    let res = send(app, &test, "POST", "/v1/end-users", ada).await;
    assert!(dropped.load(Ordering::SeqCst), "the answer was lost");
    assert_eq!(res.status, 201, "{}", res.text);
    let (users, counter) = counts(&test).await;
    assert_eq!((users, counter.as_str()), (1, "1"));

    // The claim: the token becomes claimed once, the relation exists once.
    let test = spawn_app().await;
    let (service, service_token) = test.create_service(&[]).await;
    let connect = test.create_connect_token(&service).await;
    let (endpoint, dropped) = losing_proxy().await;
    let app = app_via(endpoint, &test);
    let path = format!("/api/v1/external-services/{service}/organization-relations/claim");
    let claim = json!({"connectToken": connect["token"], "externalOrganizationId": "acct"});
    let request = test.request("POST", &path).bearer(&service_token);
    let res = request.json(&claim).send_via(&app).await;
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(res.status, 200, "{}", res.text);
    let token = test
        .get(&format!("/v1/connect-tokens/{}", id(&connect)))
        .await;
    assert_eq!(token.body["status"], "claimed");
}
