//! Faults DynamoDB Local cannot produce, injected at the SDK (aws-smithy-mocks
//! rules on a real client, passing every call through to DynamoDB Local and
//! replacing the *answer* of the faulted one — the worst case: the write may
//! have committed, yet the caller is told it failed), and transport faults
//! from a local TCP server that hangs or resets. Every one ends in the
//! documented envelope with a request id, after bounded retries, and the table
//! is all-or-nothing afterwards: never a user without its count, an identity
//! without its pair, or half an update.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::error::{
    InternalServerError, ProvisionedThroughputExceededException, ThrottlingException,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, mock};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tether::App;
use tether::config::Config;
use tether::routes;
use tether::store::Store;
use tether_tests::id;
use tether_tests::{TestApp, TestResponse, dispatch, spawn_app};

/// The test's app, its client wrapped with `rules` (everything else passes through).
fn faulty(app: &TestApp, rules: &[&Rule]) -> Arc<App> {
    let mut interceptor = MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .allow_passthrough();
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let builder = app
        .app
        .store
        .client()
        .config()
        .to_builder()
        .interceptor(interceptor)
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        );
    let store = Store::from_builder(builder, app.app.store.table());
    let mut faulty = App::new(
        Config::from_lookup(|_| None).unwrap(),
        store,
        app.clock.clone(),
    );
    tether_tests::give_keys(&mut faulty);
    Arc::new(faulty)
}

async fn send(
    app: Arc<App>,
    test: &TestApp,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> TestResponse {
    let mut req = test.request(method, path);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let event = req.event();
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let endpoint = routes::route(method, path.split('?').next().unwrap());
    dispatch(app, endpoint, request).await.into()
}

/// DynamoDB's error metadata for `code` (what the SDK's retry classifier reads).
fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("injected")
        .build()
}

async fn counts(app: &TestApp) -> (usize, String) {
    let users = app.get("/v1/end-users?limit=100").await.body["data"]
        .as_array()
        .unwrap()
        .len();
    let org = crate::stored_item(app, &format!("ORG#{}", app.org_id), "ORG")
        .await
        .unwrap();
    (users, org["relationships_active"].as_n().unwrap().clone())
}

#[tokio::test]
async fn a_throttled_write_is_503_after_bounded_retries_and_leaves_nothing_partial() {
    let app = spawn_app().await;
    let throttled = mock!(Client::transact_write_items)
        .sequence()
        .error(|| {
            TransactWriteItemsError::ProvisionedThroughputExceededException(
                ProvisionedThroughputExceededException::builder()
                    .meta(meta("ProvisionedThroughputExceededException"))
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let res = send(
        faulty(&app, &[&throttled]),
        &app,
        "POST",
        "/v1/end-users",
        Some(json!({"email": "a@b.co"})),
    )
    .await;
    res.assert_error(503, "service_unavailable");
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK's bounded retries: 3 attempts"
    );
    let (users, counted) = counts(&app).await;
    assert!(
        users <= 1 && counted == users.to_string(),
        "all or nothing: {users} users, {counted} counted"
    );
}

#[tokio::test]
async fn a_transaction_that_keeps_conflicting_is_503_after_bounded_retries() {
    let app = spawn_app().await;
    let conflict = mock!(Client::transact_write_items)
        .sequence()
        .error(|| {
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .message("injected")
                    .cancellation_reasons(
                        CancellationReason::builder()
                            .code("TransactionConflict")
                            .build(),
                    )
                    .cancellation_reasons(CancellationReason::builder().code("None").build())
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let res = send(
        faulty(&app, &[&conflict]),
        &app,
        "POST",
        "/v1/end-users",
        Some(json!({})),
    )
    .await;
    res.assert_error(503, "service_unavailable");
    assert_eq!(conflict.num_calls(), 8, "retried 8 times, then given up");
    let (users, counted) = counts(&app).await;
    assert!(
        users <= 1 && counted == users.to_string(),
        "all or nothing: {users} users, {counted} counted"
    );
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
    let res = send(
        faulty(&app, &[&broken]),
        &app,
        "PATCH",
        &path,
        Some(json!({"metadata": {"v": 2}})),
    )
    .await;
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
    let throttled = mock!(Client::transact_write_items)
        .sequence()
        .error(|| {
            TransactWriteItemsError::ThrottlingException(
                ThrottlingException::builder()
                    .meta(meta("ThrottlingException"))
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let path = format!("/v1/users/{}/identities", id(&user));
    let res = send(
        faulty(&app, &[&throttled]),
        &app,
        "POST",
        &path,
        Some(json!({"identity_provider_id": provider, "external_id": "x"})),
    )
    .await;
    res.assert_error(503, "service_unavailable");
    let identities = app.get(&path).await.body["data"].as_array().unwrap().len();
    let pairs = crate::org_items(&app, "IDPAIR#").await;
    assert_eq!(pairs, identities, "an identity and its pair, or neither");
}

/// A TCP server on loopback that accepts and then either hangs or resets.
async fn fault_server(reset: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Ok(Ok((socket, _))) =
                tokio::time::timeout(Duration::from_secs(1), listener.accept()).await
            else {
                continue;
            };
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
        }
    });
    format!("http://{address}")
}

async fn against(endpoint: String, test: &TestApp) -> (TestResponse, Duration) {
    let config = Config::from_lookup(|name| match name {
        "TETHER_DYNAMODB_ATTEMPT_TIMEOUT_MS" => Some("200".into()),
        "TETHER_DYNAMODB_OPERATION_TIMEOUT_MS" => Some("1000".into()),
        "TETHER_DYNAMODB_MAX_ATTEMPTS" => Some("2".into()),
        _ => None,
    })
    .unwrap();
    let client = Client::from_conf(
        test.app
            .store
            .client()
            .config()
            .to_builder()
            .endpoint_url(endpoint)
            .timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(config.dynamodb_attempt_timeout)
                    .operation_timeout(config.dynamodb_operation_timeout)
                    .build(),
            )
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                    .with_max_attempts(config.dynamodb_max_attempts),
            )
            .build(),
    );
    let app = Arc::new(App::new(
        config,
        Store::new(client, test.app.store.table()),
        test.clock.clone(),
    ));
    let started = Instant::now();
    let res = send(app, test, "GET", "/v1/end-users", None).await;
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
async fn losing_proxy() -> (String, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = tether_tests::dynamodb_endpoint()
        .trim_start_matches("http://")
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let tripped = Arc::clone(&dropped);
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Ok(Ok((client, _))) =
                tokio::time::timeout(Duration::from_secs(1), listener.accept()).await
            else {
                continue;
            };
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let tripped = Arc::clone(&tripped);
            let lose_next = Arc::new(AtomicBool::new(false));
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let lose = Arc::clone(&lose_next);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = client_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let chunk = &buf[..n];
                    if chunk.windows(18).any(|w| w == b"TransactWriteItems")
                        && tripped
                            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                    {
                        lose.store(true, Ordering::SeqCst);
                    }
                    if server_write.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = server_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if lose_next.load(Ordering::SeqCst) {
                        // The transaction committed upstream; its answer is lost.
                        break;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (format!("http://{address}"), dropped)
}

/// An app whose DynamoDB client goes through `endpoint`.
fn app_via(endpoint: String, test: &TestApp) -> Arc<App> {
    let client = Client::from_conf(
        test.app
            .store
            .client()
            .config()
            .to_builder()
            .endpoint_url(endpoint)
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build(),
    );
    let mut app = App::new(
        Config::from_lookup(|_| None).unwrap(),
        Store::new(client, test.app.store.table()),
        test.clock.clone(),
    );
    tether_tests::give_keys(&mut app);
    Arc::new(app)
}

/// SPEC §12: an SDK retry of a transaction that committed, its answer lost,
/// is that commit — never a 409 or a stored 500.
#[tokio::test]
async fn a_committed_transaction_whose_answer_is_lost_is_a_success() {
    let test = spawn_app().await;
    let (endpoint, dropped) = losing_proxy().await;
    let app = app_via(endpoint, &test);
    let res = send(
        Arc::clone(&app),
        &test,
        "POST",
        "/v1/end-users",
        Some(json!({"email": "ada@example.com"})),
    )
    .await;
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the answer was lost"
    );
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
    let event = test
        .request("POST", &path)
        .bearer(&service_token)
        .json(&json!({"connectToken": connect["token"], "externalOrganizationId": "acct"}))
        .event();
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let res: TestResponse = dispatch(app, routes::route("POST", &path), request)
        .await
        .into();
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(res.status, 200, "{}", res.text);
    let token = test
        .get(&format!("/v1/connect-tokens/{}", id(&connect)))
        .await;
    assert_eq!(token.body["status"], "claimed");
}
