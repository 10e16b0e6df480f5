//! The one error model of the API (SPEC §4) and its two wire formats.

mod catalogue;
mod envelope;

pub use envelope::{
    Envelope, ErrorBody, ScimErrorBody, ServiceError, ServiceErrorBody, ValidationIssue,
};

use crate::store::StoreError;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

/// One problem with one field of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name (a dotted path for nested fields).
    pub field: String,
    /// What is wrong, in a few words.
    pub problem: String,
}

/// The problems found in a request body, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field`.
    pub fn push(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            problem: problem.into(),
        });
    }

    /// One problem with `field`.
    pub fn one(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.push(field, problem);
        errors
    }

    /// Whether any problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems.
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was recorded, else the validation error.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(ApiError::Validation(self))
        }
    }
}

/// Which wire format an error takes (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/v1/...` and public endpoints: `{code, message, details, notices, requestId}`.
    Organization,
    /// `/api/v1/...`: `{"error": {type, message, issues, requestId}}`.
    ExternalService,
    /// `/scim/v2/...`: RFC 7644 §3.12, `{schemas, status, scimType, detail}`.
    Scim,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a request can fail with. Each variant has one status and one
/// code; the cause of a 5xx is logged, never sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not JSON, not an object, or not declared as JSON.
    #[error("{0}")]
    InvalidJson(&'static str),
    /// A path segment that must be an id is not one.
    #[error("path parameter `{0}` is not a valid id")]
    InvalidPathParameter(&'static str),
    /// A query parameter is malformed, duplicated or unknown.
    #[error("query parameter `{name}` {problem}")]
    InvalidQueryParameter {
        /// The parameter.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// No credential was sent.
    #[error("no API key was provided; send it in the X-API-Key header")]
    MissingCredentials,
    /// The credential is unknown, malformed, revoked or expired.
    #[error("the API key is invalid, revoked or expired")]
    InvalidCredentials,
    /// `X-Tenant-ID` names another organization than the key's.
    #[error("X-Tenant-ID does not match the organization of the API key")]
    TenantMismatch,
    /// The credential lacks the scope the operation needs.
    #[error("this operation requires the `{required}` scope")]
    InsufficientScope {
        /// The scope that would allow it.
        required: &'static str,
        /// `@notice` annotations of the built-in policies that decided.
        notices: Vec<String>,
    },
    /// An organization's Cedar policy forbids the operation.
    #[error("a policy of the organization forbids this operation")]
    PolicyDenied {
        /// `@notice` annotations of the determining policies, sorted.
        notices: Vec<String>,
    },
    /// No route matches the method and path.
    #[error("no route matches {method} {path}")]
    RouteNotFound {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The resource does not exist in the caller's organization.
    #[error("{resource} not found")]
    NotFound {
        /// The kind of resource (`end_user`, ...).
        resource: &'static str,
    },
    /// The end user is being deleted.
    #[error("the end user is being deleted")]
    UserDeleting,
    /// The end user's directory suspends it (SCIM `active: false`).
    #[error("the end user is suspended by its directory")]
    UserSuspended,
    /// An admin-portal form without its session's CSRF token, or sent from
    /// another origin.
    #[error(
        "this form was not sent by a page of your portal session; reload the page and try again"
    )]
    CsrfRejected,
    /// Deleting an identity provider that identities still use.
    #[error("identities still use this identity provider; unlink them first")]
    IdentityProviderInUse,
    /// Revoking the organization's last non-expiring admin key.
    #[error("this is the organization's last non-expiring admin key; create or roll another first")]
    LastAdminKey,
    /// The external identity belongs to a different end user (not disclosed).
    #[error("this external identity is already linked to a different end user")]
    IdentityAlreadyLinked,
    /// The body names an identity provider the organization does not have.
    #[error("the organization has no identity provider with this id")]
    UnknownIdentityProvider,
    /// An SSO login code could not be exchanged (SPEC §17).
    #[error("the login code cannot be exchanged: {reason}")]
    InvalidGrant {
        /// `unknown`, `expired`, `reused`, `pkce` or `user_not_found`.
        reason: &'static str,
    },
    /// The SSO callback names no attempt this browser may complete.
    #[error("this sign-in cannot be completed: {reason}")]
    InvalidLoginAttempt {
        /// `malformed`, `unknown`, `browser_mismatch`, `redirect_uri_removed`
        /// or `connection_changed` (the connection was disabled, removed or
        /// lost the app's URL during the sign-in: the browser goes nowhere).
        reason: &'static str,
    },
    /// `organization_id` names an organization without exactly one login
    /// connection (SPEC §17).
    #[error("the organization has no single login connection: {reason}")]
    NoLoginConnection {
        /// `none` or `several`.
        reason: &'static str,
    },
    /// The SSO id_token failed verification.
    #[error("the id_token could not be verified: {reason}")]
    InvalidIdToken {
        /// `signature`, `expired`, `issuer`, `audience`, `malformed` or `unknown_key`.
        reason: &'static str,
    },
    /// Discovery or the key-set fetch failed, or returned an invalid document.
    #[error("the identity provider's keys could not be fetched ({reason})")]
    IdentityProviderUnreachable {
        /// `timeout`, `connection_failed`, `http_status`, `too_large`,
        /// `invalid_document`, `issuer_mismatch` or `url_not_allowed`.
        reason: &'static str,
        /// The URL that failed.
        url: String,
    },
    /// A URL the caller gave may not be fetched (SPEC §16).
    #[error("`{field}` {problem}")]
    InvalidUrl {
        /// The body member that holds it.
        field: &'static str,
        /// Why it is refused.
        problem: String,
    },
    /// A SCIM path served for other methods (RFC 9110 §15.5.6).
    #[error("this path does not serve this method; it serves {allow}")]
    MethodNotAllowed {
        /// The methods it serves, for `Allow`.
        allow: &'static str,
    },
    /// A SCIM operation the service provider does not support (`/.search`,
    /// `/Bulk`: RFC 7644 §3.12).
    #[error("this SCIM operation is not supported here")]
    NotImplemented,
    /// A SCIM request the protocol refuses (RFC 7644 §3.12).
    #[error("{detail}")]
    ScimInvalid {
        /// The RFC's `scimType`: `invalidSyntax`, `invalidFilter`,
        /// `invalidPath`, `noTarget`, `invalidValue`, `mutability`, `tooMany`.
        scim_type: &'static str,
        /// What is wrong, for people.
        detail: String,
    },
    /// A SCIM resource's unique attribute is taken in its directory.
    #[error("{attribute} is already taken in this directory")]
    ScimUniqueness {
        /// `userName`, `externalId` or `displayName`.
        attribute: &'static str,
    },
    /// `If-Match` does not match the current ETag.
    #[error("If-Match does not match the current ETag of the resource")]
    PreconditionFailed,
    /// The body is larger than the API accepts.
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A service token used on another external service's path.
    #[error("the token does not belong to this external service")]
    ExternalServiceAccessDenied,
    /// The external service has no relation with (or is forbidden by) the organization.
    #[error("the external service is not granted access to this organization")]
    OrganizationAccessDenied,
    /// A connect token that is not of the `tct_` form.
    #[error("the connect token is malformed")]
    MalformedConnectToken,
    /// No such connect token for this external service.
    #[error("the connect token was not found")]
    ConnectTokenNotFound,
    /// The connect token is claimed, cancelled or consumed.
    #[error("the connect token is already claimed, cancelled or consumed")]
    ConnectTokenUnusable,
    /// The connect token expired.
    #[error("the connect token has expired")]
    ExpiredConnectToken,
    /// A relation exists with another external organization id.
    #[error("the organization relation exists with a different externalOrganizationId")]
    ExternalOrganizationIdMismatch,
    /// The external organization id is linked to another organization.
    #[error("the externalOrganizationId is already linked to a different organization")]
    ExternalOrganizationIdAlreadyInUse,
    /// The `Idempotency-Key` was used for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// A request with the same `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is still in progress; retry later")]
    IdempotencyInProgress,
    /// The caller's bucket is empty.
    #[error("too many requests; retry after {retry_after} s")]
    RateLimited {
        /// Whole seconds to wait.
        retry_after: u64,
    },
    /// The organization used up this billing period's turns.
    #[error("the organization's turns for this billing period are used up")]
    TurnQuotaExhausted {
        /// Whole seconds until the period resets.
        retry_after: u64,
    },
    /// Creating another end user would exceed the plan's relationships.
    #[error("the organization has reached its plan's {limit} active end users")]
    RelationshipQuotaExceeded {
        /// End users counted now.
        active: u64,
        /// The ceiling.
        limit: u64,
    },
    /// A per-organization cap (SPEC §4): webhook endpoints, identity
    /// providers, policies.
    #[error("the organization has reached its limit of {max} {limit}")]
    LimitReached {
        /// What is capped (`webhook_endpoints`, `identity_providers`, `policies`).
        limit: &'static str,
        /// The organization's cap.
        max: u64,
    },
    /// Well-formed JSON that breaks the schema.
    #[error("the request body is invalid")]
    Validation(FieldErrors),
    /// DynamoDB throttled us or could not be reached, after retries.
    #[error("the service is temporarily unavailable; retry with backoff")]
    ServiceUnavailable(#[source] BoxError),
    /// Anything unexpected.
    #[error("an internal error occurred")]
    Internal(#[source] BoxError),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_transient() {
            Self::ServiceUnavailable(Box::new(err))
        } else {
            Self::Internal(Box::new(err))
        }
    }
}

impl ApiError {
    /// Whether the credential itself failed (missing, unknown, other tenant):
    /// such requests are charged to the source IP's bucket.
    pub fn is_credential_failure(&self) -> bool {
        matches!(
            self,
            Self::MissingCredentials | Self::InvalidCredentials | Self::TenantMismatch
        )
    }

    /// Wraps an unexpected failure; its cause is logged, not sent.
    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }

    /// The HTTP status on `surface`: the external-service API answers schema
    /// problems with 400 `invalid_schema` where the others use 422.
    pub fn status_on(&self, surface: Surface) -> StatusCode {
        match (surface, self) {
            (Surface::ExternalService, Self::Validation(_) | Self::InvalidPathParameter(_)) => {
                StatusCode::BAD_REQUEST
            }
            // SCIM clients probe with ids that are no UUIDs and expect 404;
            // every malformed request is a 400 (RFC 7644 §3.12).
            (Surface::Scim, Self::InvalidPathParameter(_)) => StatusCode::NOT_FOUND,
            (Surface::Scim, Self::Validation(_)) => StatusCode::BAD_REQUEST,
            _ => self.status(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedConnectToken => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyInProgress => StatusCode::CONFLICT,
            Self::ExternalServiceAccessDenied | Self::OrganizationAccessDenied => {
                StatusCode::FORBIDDEN
            }
            Self::ConnectTokenNotFound => StatusCode::NOT_FOUND,
            Self::ConnectTokenUnusable
            | Self::ExternalOrganizationIdMismatch
            | Self::ExternalOrganizationIdAlreadyInUse => StatusCode::CONFLICT,
            Self::ExpiredConnectToken => StatusCode::GONE,
            Self::InvalidJson(_)
            | Self::InvalidPathParameter(_)
            | Self::InvalidQueryParameter { .. } => StatusCode::BAD_REQUEST,
            Self::MissingCredentials | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::TenantMismatch
            | Self::InsufficientScope { .. }
            | Self::PolicyDenied { .. }
            | Self::CsrfRejected
            | Self::RelationshipQuotaExceeded { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::TurnQuotaExhausted { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::RouteNotFound { .. } | Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::UserDeleting
            | Self::UserSuspended
            | Self::IdentityAlreadyLinked
            | Self::LastAdminKey
            | Self::IdentityProviderInUse
            | Self::LimitReached { .. } => StatusCode::CONFLICT,
            Self::InvalidLoginAttempt { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownIdentityProvider
            | Self::InvalidGrant { .. }
            | Self::NoLoginConnection { .. }
            | Self::InvalidIdToken { .. }
            | Self::IdentityProviderUnreachable { .. }
            | Self::InvalidUrl { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::ScimInvalid { .. } => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::ScimUniqueness { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code the response on `surface` carries (`code`, or the external
    /// service API's `type`).
    pub fn code_on(&self, surface: Surface) -> &'static str {
        match surface {
            Surface::Organization | Surface::Scim => self.code(),
            Surface::ExternalService => self.external_type(),
        }
    }

    /// The machine-readable code on the organization/user surface.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyInProgress => "idempotency_in_progress",
            Self::ExternalServiceAccessDenied => "external_service_access_denied",
            Self::OrganizationAccessDenied => "organization_access_denied",
            Self::MalformedConnectToken => "malformed_connect_token",
            Self::ConnectTokenNotFound => "connect_token_not_found",
            Self::ConnectTokenUnusable => "connect_token_unusable",
            Self::ExpiredConnectToken => "expired_connect_token",
            Self::ExternalOrganizationIdMismatch => "external_organization_id_mismatch",
            Self::ExternalOrganizationIdAlreadyInUse => "external_organization_id_already_in_use",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidPathParameter(_) => "invalid_path_parameter",
            Self::InvalidQueryParameter { .. } => "invalid_query_parameter",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TenantMismatch => "tenant_mismatch",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::PolicyDenied { .. } => "policy_denied",
            Self::RouteNotFound { .. } | Self::NotFound { .. } => "not_found",
            Self::UserDeleting => "user_deleting",
            Self::UserSuspended => "user_suspended",
            Self::CsrfRejected => "csrf_rejected",
            Self::LastAdminKey => "last_admin_key",
            Self::LimitReached { .. } => "limit_reached",
            Self::IdentityProviderInUse => "identity_provider_in_use",
            Self::IdentityAlreadyLinked => "identity_already_linked",
            Self::UnknownIdentityProvider => "unknown_identity_provider",
            Self::InvalidIdToken { .. } => "invalid_id_token",
            Self::InvalidGrant { .. } => "invalid_grant",
            Self::InvalidLoginAttempt { .. } => "invalid_login_attempt",
            Self::NoLoginConnection { .. } => "no_login_connection",
            Self::IdentityProviderUnreachable { .. } => "identity_provider_unreachable",
            Self::InvalidUrl { .. } => "invalid_url",
            Self::PreconditionFailed => "precondition_failed",
            Self::ScimInvalid { .. } => "scim_invalid",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::NotImplemented => "not_implemented",
            Self::ScimUniqueness { .. } => "uniqueness",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::TurnQuotaExhausted { .. } => "turn_quota_exhausted",
            Self::RelationshipQuotaExceeded { .. } => "relationship_quota_exceeded",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The code on the external-service surface, where its seed names differ.
    pub fn external_type(&self) -> &'static str {
        match self {
            Self::InvalidJson(_)
            | Self::Validation(_)
            | Self::InvalidPathParameter(_)
            | Self::InvalidQueryParameter { .. } => "invalid_schema",
            // An organization's policy forbidding a service is, to the
            // service, an organization that did not grant it access.
            Self::PolicyDenied { .. } => "organization_access_denied",
            Self::MissingCredentials => "missing_api_token",
            Self::InvalidCredentials => "invalid_api_token",
            Self::InsufficientScope { .. } => "scope_permission_denied",
            other => other.code(),
        }
    }

    /// Context for the `details` member, when there is any.
    fn details(&self) -> Option<Value> {
        match self {
            Self::Validation(fields) => Some(json!({
                "fields": fields.iter().map(|f| json!({"field": f.field, "problem": f.problem})).collect::<Vec<_>>()
            })),
            Self::NotFound { resource } => Some(json!({ "resource": resource })),
            Self::RouteNotFound { .. } => Some(json!({ "resource": "route" })),
            Self::InvalidIdToken { reason }
            | Self::InvalidGrant { reason }
            | Self::InvalidLoginAttempt { reason }
            | Self::NoLoginConnection { reason } => Some(json!({ "reason": reason })),
            Self::IdentityProviderUnreachable { reason, url } => {
                Some(json!({ "reason": reason, "url": url }))
            }
            Self::InvalidUrl { field, problem } => {
                Some(json!({ "fields": [{ "field": field, "problem": problem }] }))
            }
            Self::InvalidPathParameter(name) => Some(json!({ "parameter": name })),
            Self::InvalidQueryParameter { name, .. } => Some(json!({ "parameter": name })),
            Self::InsufficientScope { required, .. } => Some(json!({ "required_scope": required })),
            Self::PayloadTooLarge { limit } => Some(json!({ "limit_bytes": limit })),
            Self::RateLimited { retry_after } | Self::TurnQuotaExhausted { retry_after } => {
                Some(json!({ "retry_after_seconds": retry_after }))
            }
            Self::RelationshipQuotaExceeded { active, limit } => {
                Some(json!({ "active": active, "limit": limit }))
            }
            Self::LimitReached { limit, max } => Some(json!({ "limit": limit, "max": max })),
            _ => None,
        }
    }

    /// The error body for `surface`, stamped with `request_id`, as the JSON
    /// text a response carries (serialized once, straight from the envelope).
    pub fn body_text(&self, surface: Surface, request_id: &str) -> String {
        serde_json::to_string(&self.envelope(surface, request_id)).unwrap_or_else(|_| {
            json!({ "code": "internal_error", "requestId": request_id }).to_string()
        })
    }

    /// The error body as a JSON value.
    pub fn body(&self, surface: Surface, request_id: &str) -> Value {
        serde_json::from_str(&self.body_text(surface, request_id)).unwrap_or_default()
    }

    /// The error's envelope on `surface`.
    pub fn envelope<'a>(&'a self, surface: Surface, request_id: &'a str) -> Envelope<'a> {
        let message = self.to_string();
        match surface {
            Surface::Organization => {
                let notices = match self {
                    Self::InsufficientScope { notices, .. } | Self::PolicyDenied { notices } => {
                        notices.as_slice()
                    }
                    _ => &[],
                };
                Envelope::Organization(ErrorBody {
                    code: self.code(),
                    message,
                    details: self.details(),
                    notices,
                    request_id,
                })
            }
            Surface::ExternalService => {
                let issue = |path: Vec<&'_ str>, message: &'_ str| ValidationIssue {
                    path: path.into_iter().map(str::to_owned).collect(),
                    message: message.to_owned(),
                };
                let issues = match self {
                    Self::InvalidPathParameter(name) => {
                        Some(vec![issue(vec![name], "must be a UUID")])
                    }
                    Self::InvalidQueryParameter { name, problem } => {
                        Some(vec![issue(vec![name], problem)])
                    }
                    Self::Validation(fields) => Some(
                        fields
                            .iter()
                            .map(|f| issue(f.field.split('.').collect(), &f.problem))
                            .collect(),
                    ),
                    _ => None,
                };
                Envelope::ExternalService(ServiceError {
                    error: ServiceErrorBody {
                        error_type: self.external_type(),
                        message,
                        issues,
                        request_id,
                    },
                })
            }
            Surface::Scim => {
                // The request id goes into `detail`: SCIM clients built on
                // strict models refuse members the RFC does not name.
                let detail = match self {
                    Self::Validation(fields) => fields
                        .iter()
                        .map(|f| format!("{} {}", f.field, f.problem))
                        .collect::<Vec<_>>()
                        .join("; "),
                    Self::InsufficientScope { notices, .. } | Self::PolicyDenied { notices }
                        if !notices.is_empty() =>
                    {
                        format!("{message}: {}", notices.join("; "))
                    }
                    _ => message,
                };
                Envelope::Scim(ScimErrorBody {
                    schemas: [crate::error::envelope::SCIM_ERROR_URN],
                    status: self.status_on(surface).as_u16().to_string(),
                    scim_type: self.scim_type(),
                    detail: format!("{detail} (request {request_id})"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
