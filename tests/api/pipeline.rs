//! The pipeline's guarantees: panics and unexpected errors become an opaque
//! 500 and an unreachable DynamoDB a 503 (the log line: tests/logging).

use lambda_http::http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tether::ApiError;
use tether::App;
use tether::config::Config;
use tether::organizations::Plan;
use tether::pipeline::{FromBody, NoBody, Operation, OrgCtx, Reply, handle};
use tether::routes;
use tether::store::Store;
use tether_tests::id;
use tether_tests::{TestResponse, spawn_app};

/// Serves `req` of `endpoint` with `op` standing in for its operation.
async fn serve<O: Operation<A>, A>(
    app: Arc<App>,
    endpoint: &'static tether::endpoint::Endpoint,
    req: lambda_http::Request,
    op: O,
) -> lambda_http::Response<lambda_http::Body> {
    let kept = tether::pipeline::keep::<O, A>(&app, endpoint).expect("a test app has every key");
    handle(app, endpoint, kept, req, op).await
}

fn get_request(app: &tether_tests::TestApp, path: &str) -> lambda_http::Request {
    let event = app.request("GET", path).event();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// `GET /v1/end-users` in a new world, `op` standing in for its operation.
async fn list_end_users_served_by<O: Operation<A>, A>(op: O) -> TestResponse {
    let app = spawn_app().await;
    let req = get_request(&app, "/v1/end-users");
    let endpoint = &routes::LIST_END_USERS;
    serve(app.app.clone(), endpoint, req, op).await.into()
}

#[tokio::test]
async fn a_panicking_operation_is_an_opaque_500_with_the_request_id() {
    let res = list_end_users_served_by(|_: OrgCtx, _: NoBody| async {
        if true {
            panic!("secret detail: table=t-internal");
        }
        Reply::json(StatusCode::OK, &json!({}))
    })
    .await;
    res.assert_error(500, "internal_error");
    assert!(
        !res.text.contains("secret detail") && !res.text.contains("t-internal"),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn an_unexpected_error_is_an_opaque_500() {
    let res = list_end_users_served_by(|_: OrgCtx, _: NoBody| async {
        let leak = "connection string postgres://admin:hunter2@db";
        Err::<Reply, _>(ApiError::internal(leak))
    })
    .await;
    res.assert_error(500, "internal_error");
    assert!(!res.text.contains("hunter2"));
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_503_service_unavailable() {
    let app = spawn_app().await;
    // Same table name, but a port nothing listens on, and no retries.
    let config = Config::from_lookup(|name| match name {
        "AWS_ENDPOINT_URL_DYNAMODB" => Some("http://127.0.0.1:9".to_owned()),
        "TETHER_DYNAMODB_MAX_ATTEMPTS" => Some("1".to_owned()),
        "TETHER_TABLE" => Some(app.app.store.table().to_owned()),
        _ => None,
    })
    .unwrap();
    let client = aws_sdk_dynamodb::Client::from_conf(
        app.app
            .store
            .client()
            .config()
            .to_builder()
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(1),
            )
            .build(),
    );
    let down = Arc::new(App::new(
        config,
        Store::new(client, app.app.store.table()),
        app.clock.clone(),
    ));
    let req = get_request(&app, "/v1/end-users");
    let res: TestResponse = tether_tests::dispatch(down, Some(&routes::LIST_END_USERS), req)
        .await
        .into();
    res.assert_error(503, "service_unavailable");
}

#[tokio::test]
async fn the_connection_warm_up_is_one_call_that_consumes_nothing() {
    let app = spawn_app().await;
    let before = app.app.store.call_totals();
    app.app.store.warm_up().await;
    let spent = app.app.store.call_totals().since(&before);
    assert_eq!(spent.calls, 1);
    assert_eq!(spent.capacity_units, 0.0);
}

#[tokio::test]
async fn every_request_knows_its_dynamodb_calls_capacity_and_time() {
    let app = spawn_app().await;
    let user = app.create_user(json!({})).await;
    let before = app.app.store.call_totals();
    let res = app.get(&format!("/v1/end-users/{}", id(&user))).await;
    assert_eq!(res.status, 200);
    let spent = app.app.store.call_totals().since(&before);
    // The limiter's UpdateItem and the GetItem (key and organization cached).
    assert_eq!(spent.calls, 2);
    assert!(
        spent.read_units > 0.0 && spent.write_units() > 0.0,
        "{spent:?}"
    );
    assert!(spent.busy_micros > 0);
}

/// SPEC's order of answers holds though the body is parsed while the
/// admission's round trip is out: a bad body is answered only after the
/// credentials (401), the decision (403 for a scope or a policy) and the
/// limit (429) — on a warm function, where the parse runs early — and a
/// bad policy text is a 422 only for a caller who may upload one.
#[tokio::test]
async fn a_bad_body_is_answered_after_credentials_decision_and_limit() {
    let one_a_second = tether::organizations::LimitOverrides {
        rate_limit: Some(1),
        burst: Some(20),
        ..tether_tests::UNLIMITED
    };
    let app = tether_tests::spawn_app_with(Plan::Free, one_a_second).await;
    let reader = app.create_read_key().await;
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}", id(&user));
    // Warm: the organization, its key and policies are held by the function.
    assert_eq!(app.get(&path).await.status, 200);
    let patch = |key: Option<&str>| {
        let mut req = app
            .request("PATCH", &path)
            .raw_body("application/json", "{");
        if let Some(key) = key {
            req = req.key(key);
        }
        req.send()
    };
    let bad_key = format!("tk_{}", "f".repeat(48));
    patch(Some(&bad_key))
        .await
        .assert_error(401, "invalid_credentials");
    patch(Some(&reader))
        .await
        .assert_error(403, "insufficient_scope");
    app.request("PUT", "/v1/policies")
        .key(&reader)
        .raw_body("text/plain", "permit (principal, action, resource);")
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    app.put_policies(
        r#"@notice("frozen")
forbid (principal, action == Action::"end_users.update", resource);"#,
    )
    .await;
    patch(None).await.assert_error(403, "policy_denied");
    // The clock stands still, so the bucket does not refill: spend it.
    let mut spent = false;
    for _ in 0..20 {
        if app.get(&path).await.status == 429 {
            spent = true;
            break;
        }
    }
    assert!(spent, "the burst of 20 is spent");
    patch(None).await.assert_error(429, "rate_limited");
    let upload_permit = || {
        app.request("PUT", "/v1/policies")
            .raw_body("text/plain", "permit (principal, action, resource);")
            .send()
    };
    upload_permit().await.assert_error(429, "rate_limited");
    app.clock.advance(time::Duration::seconds(1));
    upload_permit().await.assert_error(422, "validation_failed");
    app.clock.advance(time::Duration::seconds(1));
    patch(None).await.assert_error(403, "policy_denied");
}

/// Bodies read through [`CountedBody`] (only the test below uses it).
static BODIES_READ: AtomicUsize = AtomicUsize::new(0);

/// A body type that counts its reads.
struct CountedBody;

impl FromBody for CountedBody {
    const SCHEMA: Option<tether::wire::SchemaFn> = <tether::authz::PolicyText as FromBody>::SCHEMA;

    fn from_body(_: &lambda_http::http::HeaderMap, _: &[u8]) -> Result<Self, ApiError> {
        BODIES_READ.fetch_add(1, Ordering::SeqCst);
        Ok(CountedBody)
    }
}

/// The body is read while the admission is out only for a verified caller
/// (an unknown key gets nothing parsed for it: a policy text's parse is
/// milliseconds), and never twice. A verified caller refused by the decision
/// had it read early — the price of the overlap, charged to its own bucket.
#[tokio::test]
async fn the_body_is_read_early_only_for_a_verified_caller_and_once() {
    let app = spawn_app().await;
    let reader = app.create_read_key().await;
    let user = app.create_user(json!({})).await;
    let path = format!("/v1/end-users/{}", id(&user));
    assert_eq!(app.get(&path).await.status, 200, "warm");
    assert_eq!(app.get_as(&reader, &path).await.status, 200);
    let send = |key: String| {
        let event = app
            .request("PATCH", &path)
            .key(&key)
            .raw_body("application/json", "{}")
            .event();
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        serve(
            app.app.clone(),
            &routes::UPDATE_END_USER,
            req,
            |_: OrgCtx, _: CountedBody| async { Reply::json(StatusCode::OK, &json!({})) },
        )
    };
    let read = || BODIES_READ.load(Ordering::SeqCst);
    let unknown: TestResponse = send(format!("tk_{}", "e".repeat(48))).await.into();
    unknown.assert_error(401, "invalid_credentials");
    assert_eq!(read(), 0, "nothing read for an unknown key");
    let refused: TestResponse = send(reader).await.into();
    refused.assert_error(403, "insufficient_scope");
    assert_eq!(
        read(),
        1,
        "read beside the write, before the decision refused it"
    );
    let admitted: TestResponse = send(app.admin_key.clone()).await.into();
    assert_eq!(admitted.status, 200, "{}", admitted.text);
    assert_eq!(read(), 2, "read once");
}

/// What an operation's signature names is loaded at the cold start or the
/// function does not start: no request finds a key missing.
#[tokio::test]
async fn a_function_lacking_what_its_operation_uses_does_not_start() {
    let app = spawn_app().await;
    let bare = Arc::new(App::new(
        app.app.config.clone(),
        app.app.store.clone(),
        app.clock.clone(),
    ));
    let mut needing = 0;
    for endpoint in routes::ALL.iter().chain([&routes::NOT_FOUND]) {
        let started = (endpoint.start)(Arc::clone(&bare), endpoint);
        if endpoint.needs == tether::app::Needs::NONE {
            assert!(started.is_ok(), "{} needs nothing", endpoint.function);
        } else {
            needing += 1;
            let missing = started.err().expect("refused without its keys");
            assert_eq!(missing.function, endpoint.function);
        }
        assert!(
            (endpoint.start)(Arc::clone(&app.app), endpoint).is_ok(),
            "{} starts with every key",
            endpoint.function
        );
    }
    // Every POST (its idempotency key) and every function with a key or
    // client of its own.
    assert!(needing >= 19, "{needing}");
    // Derived from the handlers' types, at compile time.
    const {
        assert!(routes::CREATE_TOKEN.needs.token_keys);
        assert!(routes::GET_JWKS.needs.token_keys && !routes::GET_JWKS.needs.idempotency_key);
        assert!(routes::LINK_SSO.needs.own_hostnames && routes::LINK_SSO.needs.token_keys);
        assert!(routes::CREATE_WEBHOOK_ENDPOINT.needs.webhook_key);
        assert!(routes::TEST_WEBHOOK_ENDPOINT.needs.delivery_queue);
        assert!(!routes::LIST_END_USERS.needs.token_keys);
    }
}
