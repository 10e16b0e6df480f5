//! One SSM SecureString, decrypted, read at a cold start (the token signing
//! key, the webhook sealing key): `GetParameter` as a SigV4-signed request,
//! signed by the SDK's own signer (`aws-sigv4`) with the credentials of the
//! `SdkConfig`, sent with reqwest.
//!
//! Why not `aws-sdk-ssm`: for this one call it was 107 s of a cold debug
//! build's CPU, on the build's critical path (docs/decisions.md, "CI time").
//! What the SDK client gave that this keeps: the endpoint of
//! `AWS_ENDPOINT_URL_SSM` or `AWS_ENDPOINT_URL`, FIPS endpoints, the
//! configuration's attempt timeout, and retries with jittered backoff on
//! throttling, 5xx and transport errors. Checked against moto's SSM with
//! signature checking and IAM on (tests/api/ssm.rs).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::config::TlsRoots;

/// The attempts when the configuration sets none (the SDK's standard mode).
const DEFAULT_ATTEMPTS: u32 = 3;
/// The longest one attempt may take when the configuration sets no limit.
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first retry's backoff ceiling; it doubles with each attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// Why a parameter could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsmError {
    /// The configuration has no region.
    #[error("no AWS region is configured")]
    NoRegion,
    /// The configuration has no credentials provider.
    #[error("no AWS credentials are configured")]
    NoCredentials,
    /// The credentials provider failed.
    #[error("the AWS credentials could not be loaded")]
    Credentials(#[source] aws_credential_types::provider::error::CredentialsError),
    /// The endpoint is not a URL, or the request could not be signed.
    #[error("the SSM request could not be built: {0}")]
    Request(String),
    /// SSM could not be reached (after the retries).
    #[error("SSM could not be reached")]
    Transport(#[source] reqwest::Error),
    /// SSM refused the call: its status and error type (`ParameterNotFound`,
    /// `AccessDeniedException`, …).
    #[error("SSM answered {status} {kind}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `__type` of the error, without its namespace.
        kind: String,
    },
    /// SSM's answer has no parameter value.
    #[error("SSM's answer holds no parameter value")]
    Malformed,
}

impl SsmError {
    /// Whether another attempt may succeed: throttling, SSM's own failures,
    /// and requests that never got an answer.
    fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Refused { status, kind } => {
                *status >= 500
                    || matches!(
                        kind.as_str(),
                        "ThrottlingException" | "TooManyUpdates" | "RequestLimitExceeded"
                    )
            }
            _ => false,
        }
    }
}

/// Reads the SecureString `name`, decrypted, with the region, credentials,
/// timeout and retry settings of `sdk`, trusting `roots` for HTTPS.
pub async fn secure_parameter(
    sdk: &aws_config::SdkConfig,
    roots: TlsRoots,
    name: &str,
) -> Result<String, SsmError> {
    Parameters::new(sdk, roots)?.secure_string(name).await
}

/// A reader of SecureStrings: one HTTPS client, so that the parameters a
/// cold start reads one after another (a key, then its rotation's others)
/// share one connection, as they did through the SDK's client.
#[derive(Debug)]
pub struct Parameters {
    http: reqwest::Client,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    endpoint: url::Url,
    region: String,
    attempts: u32,
    timeout: Duration,
}

impl Parameters {
    /// A reader with the region, credentials, endpoint, timeout and retry
    /// settings of `sdk`, trusting `roots` for HTTPS.
    pub fn new(sdk: &aws_config::SdkConfig, roots: TlsRoots) -> Result<Self, SsmError> {
        let region = sdk.region().ok_or(SsmError::NoRegion)?.as_ref().to_owned();
        let endpoint = endpoint(
            sdk,
            &region,
            std::env::var("AWS_ENDPOINT_URL_SSM").ok().as_deref(),
        )?;
        Ok(Self {
            http: client(roots)?,
            credentials: sdk.credentials_provider(),
            endpoint,
            region,
            attempts: sdk
                .retry_config()
                .map_or(DEFAULT_ATTEMPTS, |r| r.max_attempts())
                .max(1),
            timeout: sdk
                .timeout_config()
                .and_then(|t| t.operation_attempt_timeout())
                .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT),
        })
    }

    /// The SecureString `name`, decrypted, retried as the SDK's standard
    /// mode retries.
    pub async fn secure_string(&self, name: &str) -> Result<String, SsmError> {
        let body = serde_json::json!({ "Name": name, "WithDecryption": true }).to_string();
        let mut attempt = 1;
        loop {
            match self.get_parameter(&body).await {
                Err(err) if err.retryable() && attempt < self.attempts => {
                    tracing::info!(error = %err, attempt, "SSM GetParameter failed; trying again");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One signed `GetParameter`.
    async fn get_parameter(&self, body: &str) -> Result<String, SsmError> {
        // Fetched per attempt: a provider refreshes credentials that expire.
        let credentials = self
            .credentials
            .as_ref()
            .ok_or(SsmError::NoCredentials)?
            .provide_credentials()
            .await
            .map_err(SsmError::Credentials)?;
        let identity = credentials.into();
        const HEADERS: [(&str, &str); 2] = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.GetParameter"),
        ];
        let signable = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            HEADERS.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| SsmError::Request(e.to_string()))?;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ssm")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SsmError::Request(e.to_string()))?
            .into();
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SsmError::Request(e.to_string()))?
            .into_parts();
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .body(body.to_owned());
        for (name, value) in HEADERS.into_iter().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(SsmError::Transport)?;
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(SsmError::Transport)?;
        if status >= 300 {
            return Err(refused(status, error_type.as_deref(), &bytes));
        }
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|_| SsmError::Malformed)?["Parameter"]["Value"]
            .as_str()
            .map(str::to_owned)
            .ok_or(SsmError::Malformed)
    }
}

/// An error answer's type: the `x-amzn-ErrorType` header, else the JSON
/// body's `__type` (both without namespace or suffix), else an XML body's
/// `<Code>` (the query protocol's envelope, which an authentication failure
/// may come in); empty when none is there.
fn refused(status: u16, header: Option<&str>, body: &[u8]) -> SsmError {
    let from_json = || {
        let answer = serde_json::from_slice::<serde_json::Value>(body).ok()?;
        answer["__type"].as_str().map(str::to_owned)
    };
    let from_xml = || {
        let text = std::str::from_utf8(body).ok()?;
        let start = text.find("<Code>")? + "<Code>".len();
        let end = start + text[start..].find("</Code>")?;
        Some(text[start..end].to_owned())
    };
    let kind = header
        .map(str::to_owned)
        .or_else(from_json)
        .or_else(from_xml)
        .unwrap_or_default();
    // `ParameterNotFound:http://internal.amazon.com/…`, `com.amazonaws.ssm#ParameterNotFound`.
    let kind = kind.split(':').next().unwrap_or_default();
    let kind = kind.rsplit('#').next().unwrap_or_default().to_owned();
    SsmError::Refused { status, kind }
}

/// SSM's endpoint: `for_ssm` (`AWS_ENDPOINT_URL_SSM`), else the
/// configuration's (`AWS_ENDPOINT_URL`), else the region's public one in its
/// partition, FIPS when the configuration asks for it.
fn endpoint(
    sdk: &aws_config::SdkConfig,
    region: &str,
    for_ssm: Option<&str>,
) -> Result<url::Url, SsmError> {
    let configured = for_ssm
        .map(str::to_owned)
        .or_else(|| sdk.endpoint_url().map(str::to_owned));
    let text = configured.unwrap_or_else(|| {
        let host = if sdk.use_fips() == Some(true) {
            "ssm-fips"
        } else {
            "ssm"
        };
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{host}.{region}.{suffix}/")
    });
    url::Url::parse(&text).map_err(|e| SsmError::Request(format!("endpoint {text:?}: {e}")))
}

/// The HTTPS client: the Amazon roots compiled in (as the SDK's), or the
/// system's. Its time limit is set per request (the attempt timeout).
fn client(roots: TlsRoots) -> Result<reqwest::Client, SsmError> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Tether/", env!("CARGO_PKG_VERSION")));
    let builder = match roots {
        TlsRoots::Amazon => builder.tls_certs_only(
            reqwest::Certificate::from_pem_bundle(crate::store::AMAZON_ROOTS_PEM)
                .map_err(|e| SsmError::Request(e.to_string()))?,
        ),
        TlsRoots::System => builder,
    };
    builder
        .build()
        .map_err(|e| SsmError::Request(e.to_string()))
}

/// The pause before attempt `attempt + 1`: full jitter under a ceiling that
/// doubles each time (100, 200, 400 ms…), as the SDK's standard retries.
/// Random bits from a ULID, as the store's transaction retries take theirs.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    let random = ulid::Ulid::generate().random() as u32;
    ceiling.mul_f64(f64::from(random) / f64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_a_doubling_ceiling() {
        for attempt in 1..10 {
            let ceiling = BACKOFF_BASE * (1 << (attempt - 1).min(6));
            assert!(backoff(attempt) <= ceiling, "attempt {attempt}");
        }
    }

    #[test]
    fn throttling_and_server_errors_are_retried_and_refusals_are_not() {
        let refused = |status, kind: &str| SsmError::Refused {
            status,
            kind: kind.to_owned(),
        };
        assert!(refused(400, "ThrottlingException").retryable());
        assert!(refused(500, "InternalServerError").retryable());
        assert!(refused(503, "").retryable());
        assert!(!refused(400, "ParameterNotFound").retryable());
        assert!(!refused(400, "AccessDeniedException").retryable());
        assert!(!refused(403, "SignatureDoesNotMatch").retryable());
        assert!(!SsmError::Malformed.retryable());
    }

    #[test]
    fn the_endpoint_is_the_override_else_the_configurations_else_the_regions() {
        let sdk = |fips: bool, url: Option<&str>| {
            let mut builder = aws_config::SdkConfig::builder().use_fips(fips);
            if let Some(url) = url {
                builder = builder.endpoint_url(url);
            }
            builder.build()
        };
        let at = |sdk: &aws_config::SdkConfig, region, for_ssm| {
            endpoint(sdk, region, for_ssm).unwrap().to_string()
        };
        let plain = sdk(false, None);
        assert_eq!(
            at(&plain, "eu-west-1", None),
            "https://ssm.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            at(&plain, "cn-north-1", None),
            "https://ssm.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            at(&sdk(true, None), "us-gov-west-1", None),
            "https://ssm-fips.us-gov-west-1.amazonaws.com/"
        );
        let configured = sdk(false, Some("http://127.0.0.1:4566"));
        assert_eq!(at(&configured, "us-east-1", None), "http://127.0.0.1:4566/");
        assert_eq!(
            at(&configured, "us-east-1", Some("https://ssm.example")),
            "https://ssm.example/"
        );
        assert!(matches!(
            endpoint(&plain, "us-east-1", Some("not a url")),
            Err(SsmError::Request(_))
        ));
    }

    #[test]
    fn an_error_type_is_read_from_the_header_json_or_xml_without_decoration() {
        let kind = |header, body: &str| match refused(400, header, body.as_bytes()) {
            SsmError::Refused { kind, .. } => kind,
            other => panic!("a refusal, not {other:?}"),
        };
        let json = r#"{"__type": "com.amazonaws.ssm#ParameterNotFound"}"#;
        assert_eq!(kind(None, json), "ParameterNotFound");
        assert_eq!(
            kind(
                Some("ThrottlingException:http://internal.amazon.com/coral/"),
                json
            ),
            "ThrottlingException"
        );
        let xml = "<ErrorResponse><Errors><Error><Code>AccessDenied</Code></Error></Errors></ErrorResponse>";
        assert_eq!(kind(None, xml), "AccessDenied");
        assert_eq!(kind(None, ""), "");
    }
}
