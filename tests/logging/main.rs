//! One JSON log line per request (SPEC §14). Its own test binary: the
//! subscriber is process-global here, so no parallel test can race tracing's
//! per-callsite interest cache.

use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tether_tests::spawn_app;

/// Every byte the subscriber writes, kept in memory (a `Vec` the writer's
/// clones share).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().flush()
    }
}

#[tokio::test]
async fn every_request_writes_one_json_line_without_secrets() {
    let app = spawn_app().await;
    let user = app.create_user(json!({"metadata": {"a": 1}})).await;
    let capture = Capture::default();
    let writer = capture.clone();
    // TRACE, the most a deployment can set: still no secret in any line.
    let subscriber = tether::logging::subscriber("trace", move || writer.clone());
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber of this binary");
    // What dependencies log at TRACE: the Lambda runtime the raw event, key
    // included; aws-sigv4 the request it signs, session token included; the
    // HTTP stacks their frames.
    let key = &app.admin_key;
    tracing::trace!(target: "lambda_runtime::layers::api_response", body = %key, "raw JSON event received from Lambda");
    tracing::trace!(target: "aws_sigv4::http_request::sign", request = %key, "signing request");
    tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", response = %key, "a response");
    tracing::trace!(target: "hyper_util::client::legacy::pool", frame = %key, "a frame");
    tracing::trace!(target: "h2::codec::framed_write", frame = %key, "a frame");
    tracing::trace!(target: "reqwest::connect", frame = %key, "a frame");
    tracing::trace!(target: "tether::logging_test", "our own trace line");

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
        !text.contains(&app.admin_key[3..51]),
        "the API key's secret part is never logged"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert!(
        lines.iter().any(|l| l["target"] == "tether::logging_test"),
        "our TRACE lines are written"
    );
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
    assert_eq!(refused["error"], "invalid_credentials", "the body's code");
    assert!(patch.get("error").is_none(), "{patch}");
    assert!(refused.get("organization_id").is_none());

    // An SSO sign-in at TRACE: nothing of the flow is written — not the
    // client secret, the state, nonce or verifier, the provider's code, the
    // id_token, the cookie, the tsc_ code or the access token.
    let op = tether_tests::oidc::OidcProvider::start("g1").await;
    let provider = tether_tests::sso::connect(&app, &op, "rs256-basic", "create").await;
    let mut browser = tether_tests::sso::Browser::new(&app, "198.51.100.7");
    let query = format!(
        "identity_provider_id={}&redirect_uri={}&state=app-state-91f2",
        provider["id"].as_str().unwrap(),
        tether_tests::sso::encode(tether_tests::sso::APP)
    );
    let res = browser.authorize(&query).await;
    let location = res.header("location").unwrap().to_owned();
    let sent = tether_tests::sso::query_of(&location);
    let back = browser.at_provider(&op, &location, "ada", false).await;
    let provider_code = tether_tests::sso::query_of(back.as_str())["code"].clone();
    let res = browser.callback(&back).await;
    assert_eq!(res.status, 302, "{}", res.text);
    let code = tether_tests::sso::query_of(res.header("location").unwrap())["code"].clone();
    let token = tether_tests::sso::exchange(&app, &code).await;
    assert_eq!(token.status, 200, "{}", token.text);
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let cookie = browser.cookie.clone().unwrap();
    for secret in [
        sent["state"].as_str(),
        sent["nonce"].as_str(),
        sent["code_challenge"].as_str(),
        provider_code.as_str(),
        code.as_str(),
        cookie.split_once('=').unwrap().1,
        token.body["access_token"].as_str().unwrap(),
        tether_tests::sso::client_secret(&op, "rs256-basic"),
        "app-state-91f2",
    ] {
        assert!(!text.contains(secret), "{secret} was logged");
    }
    assert!(!text.contains("eyJ"), "a JWT was logged");
    assert!(
        text.lines()
            .any(|l| l.contains("\"tether::sso\"") && l.contains("succeeded")),
        "the sign-in's own line is written"
    );
}
