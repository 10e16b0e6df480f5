//! The SSM SecureStrings a function reads at its cold start (the token
//! signing key, the webhook key: `tether::ssm`, through `aws-sdk-ssm`),
//! against moto's SSM with its request authentication on: moto recomputes
//! each request's SigV4 signature with botocore and evaluates the caller's
//! IAM policy, so an answer proves the request was signed as AWS checks it.
//! The retries are checked against a scripted receiver.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value;
use tether::ssm::{SsmError, secure_parameter};
use tether::tokens::TokenKeys;
use tether_tests::receiver::Receiver;

/// The SecureString the allowed user reads.
const PARAMETER: &str = "/tether/token-signing-key";
const VALUE: &str = "dGV0aGVyIHNzbSB0ZXN0IHNlZWQsIDMyIGJ5dGVzISE="; // 32 bytes: an Ed25519 seed

/// A moto server of this test's own, which authenticates every request once
/// the setup is done; stopped when dropped.
struct AuthenticatingMoto {
    pid: String,
    url: String,
    /// The access keys of a user allowed `ssm:GetParameter` and of one with
    /// no policy.
    allowed: (String, String),
    denied: (String, String),
}

impl Drop for AuthenticatingMoto {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// The setup, through boto3 (moto's own client library), while moto still
/// takes requests unauthenticated; then `/moto-api/reset-auth` turns its
/// checks on for every request that follows.
const SETUP: &str = r#"
import boto3, json, sys
url, name, value = sys.argv[1:4]
kw = dict(endpoint_url=url, region_name="us-east-1",
          aws_access_key_id="setup", aws_secret_access_key="setup")
iam, ssm = boto3.client("iam", **kw), boto3.client("ssm", **kw)
keys = {}
for user in ("allowed", "denied"):
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    keys[user] = [key["AccessKeyId"], key["SecretAccessKey"]]
iam.put_user_policy(UserName="allowed", PolicyName="read-parameters", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}]}))
ssm.put_parameter(Name=name, Value=value, Type="SecureString")
ssm.put_parameter(Name="/tether/plain", Value="plain", Type="String")
ssm.put_parameter(Name="/tether/prod/own-hostnames", Type="String",
                  Value="abc123.execute-api.us-east-1.amazonaws.com,Def456.execute-api.us-east-1.amazonaws.com,")
import urllib.request
urllib.request.urlopen(urllib.request.Request(
    url + "/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}))
print(json.dumps(keys))
"#;

impl AuthenticatingMoto {
    fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let printed = stdout_of(
            Command::new(root.join("scripts/moto.sh")),
            "scripts/moto.sh",
        );
        let printed = String::from_utf8(printed).expect("PID PORT");
        let (pid, port) = printed.trim().split_once(' ').expect("PID PORT");
        // Stopped by its drop from here on, even when the setup fails.
        let mut moto = Self {
            pid: pid.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            allowed: Default::default(),
            denied: Default::default(),
        };
        let mut setup = Command::new(root.join(".venv/bin/python"));
        setup.args(["-c", SETUP, &moto.url, PARAMETER, VALUE]);
        let keys: Value =
            serde_json::from_slice(&stdout_of(setup, "the setup")).expect("the keys as JSON");
        moto.allowed = pair(&keys["allowed"]);
        moto.denied = pair(&keys["denied"]);
        moto
    }

    /// A configuration reaching this server with `keys`.
    fn config(&self, keys: &(String, String)) -> SdkConfig {
        config(&self.url, keys, None)
    }
}

/// What `command` printed, once it exited successfully.
fn stdout_of(mut command: Command, what: &str) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn pair(keys: &Value) -> (String, String) {
    (
        keys[0].as_str().expect("key id").to_owned(),
        keys[1].as_str().expect("secret").to_owned(),
    )
}

/// A configuration reaching `url` with `keys`, and `token` as the session
/// token (a function's credentials in Lambda always have one).
fn config(url: &str, (id, secret): &(String, String), token: Option<&str>) -> SdkConfig {
    // The SDK's standard retries, their backoff shortened for the test.
    let retries =
        aws_config::retry::RetryConfig::standard().with_initial_backoff(Duration::from_millis(100));
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .retry_config(retries)
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            id,
            secret,
            token.map(str::to_owned),
            None,
            "test",
        )))
        .build()
}

fn refusal(result: Result<String, SsmError>) -> (u16, String) {
    match result {
        Err(SsmError::Refused { status, kind }) => (status, kind),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_secure_string_is_read_decrypted_with_a_signature_aws_accepts() {
    let moto = AuthenticatingMoto::start();
    let allowed = moto.config(&moto.allowed);
    // Decrypted: without WithDecryption, moto answers the KMS-prefixed text.
    assert_eq!(secure_parameter(&allowed, PARAMETER).await.unwrap(), VALUE);
    assert_eq!(
        secure_parameter(&allowed, "/tether/plain").await.unwrap(),
        "plain"
    );

    // moto does check: the same request signed with a wrong secret, and by a
    // user without the permission, are refused — and neither is retried.
    // (moto answers these in its XML envelope, 403 `SignatureDoesNotMatch`
    // and `AccessDenied`, which the SDK reads as an answer without a code;
    // AWS's SSM in JSON, 400 `InvalidSignatureException` and
    // `AccessDeniedException`.)
    let forged = (moto.allowed.0.clone(), "not-the-secret".to_owned());
    let (status, _) = refusal(secure_parameter(&moto.config(&forged), PARAMETER).await);
    assert_eq!(status, 403);
    let (status, _) = refusal(secure_parameter(&moto.config(&moto.denied), PARAMETER).await);
    assert_eq!(status, 403);

    // A name that holds nothing is SSM's own answer, not a panic or a retry.
    let (status, kind) = refusal(secure_parameter(&allowed, "/tether/none").await);
    assert_eq!((status, kind.as_str()), (400, "ParameterNotFound"));
}

/// SPEC §16: the API's own host names come from the parameter the template
/// writes (both APIs' execute-api names), and are refused as URL hosts.
#[tokio::test]
async fn the_own_host_names_come_from_the_parameter_the_template_writes() {
    let moto = AuthenticatingMoto::start();
    let allowed = moto.config(&moto.allowed);
    let vars = |name: &str| match name {
        "TETHER_OWN_HOSTNAMES_PARAMETER" => Some("/tether/prod/own-hostnames".to_owned()),
        _ => None,
    };
    let mut config = tether::config::Config::from_lookup(|name| match name {
        "TETHER_OWN_HOSTNAMES" => Some("api.acme.example".to_owned()),
        _ => None,
    })
    .unwrap();
    tether::app::load_own_hostnames(&allowed, &mut config, &vars)
        .await
        .unwrap();
    assert_eq!(
        config.outbound.own_hosts,
        [
            "api.acme.example",
            "abc123.execute-api.us-east-1.amazonaws.com",
            "def456.execute-api.us-east-1.amazonaws.com"
        ]
    );
    for url in [
        "https://abc123.execute-api.us-east-1.amazonaws.com/hooks",
        "https://DEF456.execute-api.us-east-1.amazonaws.com./v1/end-users",
    ] {
        assert_eq!(
            config.outbound.parse(url),
            Err(tether::outbound::UrlRefused::Host),
            "{url}"
        );
    }
    // Unreadable: the function does not start.
    let denied = moto.config(&moto.denied);
    assert!(
        tether::app::load_own_hostnames(&denied, &mut config, &vars)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_token_signing_key_comes_from_the_parameter_its_variable_names() {
    let moto = AuthenticatingMoto::start();
    let allowed = moto.config(&moto.allowed);
    let vars = |name: &str| match name {
        "TETHER_TOKEN_SIGNING_KEY_PARAMETER" => Some(PARAMETER.to_owned()),
        _ => None,
    };
    let loaded = TokenKeys::load_with(&allowed, &vars).await.unwrap();
    let expected = TokenKeys::parse(VALUE, "tether").unwrap();
    assert_eq!(loaded.kid(), expected.kid());
    assert_eq!(loaded.jwks(), expected.jwks());

    // A variable set in the environment wins; an unreadable parameter is an
    // error at the start, not a key.
    let denied = moto.config(&moto.denied);
    assert!(matches!(
        TokenKeys::load_with(&denied, &vars).await,
        Err(tether::tokens::KeyError::Ssm(SsmError::Refused { .. }))
    ));
    let direct = |name: &str| match name {
        "TETHER_TOKEN_SIGNING_KEY" => Some(VALUE.to_owned()),
        "TETHER_TOKEN_SIGNING_KEY_PARAMETER" => Some("/tether/none".to_owned()),
        _ => None,
    };
    let loaded = TokenKeys::load_with(&denied, &direct).await.unwrap();
    assert_eq!(loaded.kid(), expected.kid());
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_within_the_configured_attempts() {
    let keys = ("AKIDEXAMPLE".to_owned(), "secret".to_owned());
    // Two failures, then a refusal that no retry can change: three requests.
    let receiver = Receiver::start(&[503, 500, 400]).await;
    let with_token = config(&receiver.url, &keys, Some("session-token"));
    let (status, _) = refusal(secure_parameter(&with_token, PARAMETER).await);
    assert_eq!(status, 400);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.headers["x-amz-target"], "AmazonSSM.GetParameter");
        assert!(
            request.headers["authorization"]
                .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{:?}",
            request.headers
        );
        assert!(
            request.headers["authorization"].contains("/us-east-1/ssm/aws4_request"),
            "{:?}",
            request.headers
        );
        // The session token is sent and signed.
        assert_eq!(request.headers["x-amz-security-token"], "session-token");
        assert!(
            request.headers["authorization"].contains("x-amz-security-token"),
            "{:?}",
            request.headers
        );
        assert_eq!(
            request.json(),
            serde_json::json!({"Name": PARAMETER, "WithDecryption": true})
        );
    }

    // Failing on every attempt: the configuration's attempts, then the error.
    let receiver = Receiver::start(&[503; 10]).await;
    let started = std::time::Instant::now();
    let (status, _) =
        refusal(secure_parameter(&config(&receiver.url, &keys, None), PARAMETER).await);
    assert_eq!(status, 503);
    assert_eq!(receiver.received().len(), 3, "the SDK's standard attempts");
    // Two backoffs of at most 100 and 200 ms.
    assert!(started.elapsed() < Duration::from_secs(2));
}
