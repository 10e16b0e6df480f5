//! One SSM SecureString, decrypted, read at a cold start (the token signing
//! key, the webhook key, the idempotency key, the deployment's own host
//! names): `GetParameter` through `aws-sdk-ssm`, with the function's
//! `SdkConfig` — its region, credentials, HTTPS client (trusting the
//! configured roots), endpoint (`AWS_ENDPOINT_URL_SSM`), timeouts and retries.

use aws_sdk_ssm::error::ProvideErrorMetadata;

/// Why a parameter could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsmError {
    /// SSM refused the call (after the SDK's retries): its HTTP status and
    /// error code (`ParameterNotFound`, `AccessDeniedException`, …).
    #[error("SSM answered {status} {kind}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error's code, as far as the answer names one.
        kind: String,
    },
    /// SSM could not be reached, or its answer not read.
    #[error("SSM could not be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// SSM's answer has no parameter value.
    #[error("SSM's answer holds no parameter value")]
    Malformed,
}

/// Reads the SecureString `name`, decrypted, with the settings of `sdk`.
pub async fn secure_parameter(sdk: &aws_config::SdkConfig, name: &str) -> Result<String, SsmError> {
    Parameters::new(sdk).secure_string(name).await
}

/// A reader of SecureStrings: one client, so that the parameters a cold start
/// reads one after another (a key, then its rotation's others) share one
/// connection.
#[derive(Debug, Clone)]
pub struct Parameters {
    client: aws_sdk_ssm::Client,
}

impl Parameters {
    /// A reader with the settings of `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_ssm::Client::new(sdk),
        }
    }

    /// The SecureString `name`, decrypted.
    pub async fn secure_string(&self, name: &str) -> Result<String, SsmError> {
        let answer = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await;
        match answer {
            Ok(out) => out
                .parameter
                .and_then(|parameter| parameter.value)
                .ok_or(SsmError::Malformed),
            Err(aws_sdk_ssm::error::SdkError::ServiceError(refused)) => Err(SsmError::Refused {
                status: refused.raw().status().as_u16(),
                kind: refused.err().code().unwrap_or("unnamed").to_owned(),
            }),
            // An answer that is not SSM's JSON (a proxy's, an emulator's XML).
            Err(aws_sdk_ssm::error::SdkError::ResponseError(answer)) => Err(SsmError::Refused {
                status: answer.raw().status().as_u16(),
                kind: "unreadable".to_owned(),
            }),
            Err(err) => Err(SsmError::Unreachable(Box::new(err))),
        }
    }
}
