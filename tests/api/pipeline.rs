//! The pipeline's guarantees: panics and unexpected errors become an opaque
//! 500, an unreachable DynamoDB a 503, and every request one JSON log line.

use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tether::ApiError;
use tether::App;
use tether::config::Config;
use tether::pipeline::{Ctx, NoBody, Reply, handle};
use tether::routes;
use tether::store::Store;
use tether_tests::{TestResponse, spawn_app};

fn get_request(app: &tether_tests::TestApp, path: &str) -> lambda_http::Request {
    let event = app.request("GET", path).event();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn a_panicking_operation_is_an_opaque_500_with_the_request_id() {
    let app = spawn_app().await;
    let req = get_request(&app, "/v1/end-users");
    let res: TestResponse = handle(
        app.app.clone(),
        &routes::LIST_END_USERS,
        req,
        |_: Ctx, _: NoBody| async {
            if true {
                panic!("secret detail: table=t-internal");
            }
            Reply::json(StatusCode::OK, &json!({}))
        },
    )
    .await
    .into();
    res.assert_error(500, "internal_error");
    assert!(
        !res.text.contains("secret detail") && !res.text.contains("t-internal"),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn an_unexpected_error_is_an_opaque_500() {
    let app = spawn_app().await;
    let req = get_request(&app, "/v1/end-users");
    let res: TestResponse = handle(
        app.app.clone(),
        &routes::LIST_END_USERS,
        req,
        |_: Ctx, _: NoBody| async {
            Err::<Reply, _>(ApiError::internal(
                "connection string postgres://admin:hunter2@db",
            ))
        },
    )
    .await
    .into();
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

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_request_writes_one_json_line_without_secrets() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"metadata": {"a": 1}})).await;
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber_for_tests(move || writer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let path = format!("/v1/end-users/{}", user["id"].as_str().unwrap());
    let res = app
        .request("PATCH", &path)
        .json(&json!({"metadata": {"b": 2}}))
        .send()
        .await;
    assert_eq!(res.status, 200);
    let unauthenticated = app
        .request("GET", "/v1/end-users")
        .key("tk_bad")
        .send()
        .await;
    assert_eq!(unauthenticated.status, 401);

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        !text.contains(&app.admin_key),
        "the API key is never logged"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "tether::request")
        .collect();
    assert_eq!(requests.len(), 2, "{text}");
    let patch = requests[0];
    assert_eq!(patch["requestId"], res.header("x-request-id").unwrap());
    assert_eq!(patch["method"], "PATCH");
    assert_eq!(patch["route"], "/v1/end-users/{user_id}");
    assert_eq!(patch["status"], 200);
    assert!(patch["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(patch["organization_id"], app.org_id.to_string());
    assert_eq!(patch["credential_id"].as_str().map(str::len), Some(36));
    let refused = requests[1];
    assert_eq!(
        refused["requestId"],
        unauthenticated.header("x-request-id").unwrap()
    );
    assert_eq!(refused["status"], 401);
    assert!(refused.get("organization_id").is_none());
}

fn tracing_subscriber_for_tests(
    make_writer: impl Fn() -> Capture + Send + Sync + 'static,
) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .event_format(tether::logging::JsonLines)
        .with_writer(make_writer)
        .finish()
}
