//! The two wire formats of an error (SPEC §4).

use crate::wire::{Details, RequestIdSchema};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// An error as one surface renders it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Envelope<'a> {
    /// `{code, message, details, notices, requestId}`.
    Organization(ErrorBody<'a>),
    /// `{error: {type, message, issues, requestId}}`.
    ExternalService(ServiceError<'a>),
    /// `{schemas, status, scimType, detail}` (RFC 7644 §3.12).
    Scim(ScimErrorBody),
}

/// The URN of a SCIM error message.
pub const SCIM_ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The error envelope of the SCIM surface (RFC 7644 §3.12).
#[derive(Debug, Serialize)]
pub struct ScimErrorBody {
    /// The error message's URN.
    pub schemas: [&'static str; 1],
    /// The HTTP status, as a string (the RFC's type).
    pub status: String,
    /// The RFC's error keyword, for a 400 or 409.
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<&'static str>,
    /// For people, ending with the request's id.
    pub detail: String,
}

/// The error envelope of the organization and user APIs.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Error")]
pub struct ErrorBody<'a> {
    /// The machine-readable code.
    pub code: &'a str,
    /// For people; may change.
    pub message: String,
    /// Context: `fields` for validation, `resource` for 404, `reason` for invalid_id_token, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Details")]
    pub details: Option<Value>,
    /// `@notice` annotations of the Cedar policies that decided a denial.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notices: &'a [String],
    /// The request's id.
    #[serde(rename = "requestId")]
    #[schemars(with = "RequestIdSchema")]
    pub request_id: &'a str,
}

/// The error envelope of the external-service API.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ServiceError")]
pub struct ServiceError<'a> {
    /// The error.
    pub error: ServiceErrorBody<'a>,
}

/// The `error` member of the external-service error envelope.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ServiceErrorBody")]
pub struct ServiceErrorBody<'a> {
    /// The machine-readable type.
    #[serde(rename = "type")]
    pub error_type: &'a str,
    /// For people; may change.
    pub message: String,
    /// For `invalid_schema` only: each problem and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issues: Option<Vec<ValidationIssue>>,
    /// The request's id.
    #[serde(rename = "requestId")]
    #[schemars(with = "RequestIdSchema")]
    pub request_id: &'a str,
}

/// One problem with a request, on the external-service API.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidationIssue {
    /// Where: the field's path.
    pub path: Vec<String>,
    /// What is wrong.
    pub message: String,
}
