//! The error catalogue: on which surface each error can be answered, a
//! sample of every variant, and the (status, code) table the OpenAPI
//! document is built from.

use super::{ApiError, FieldErrors, Surface};

impl ApiError {
    /// On which surfaces the variant can be answered. An exhaustive match:
    /// a new variant does not compile until it says where it appears, and
    /// [`ApiError::catalogue`] then needs a sample of it (a unit test).
    pub fn surfaces(&self) -> &'static [Surface] {
        const ALL: &[Surface] = &[
            Surface::Organization,
            Surface::ExternalService,
            Surface::Scim,
        ];
        const ORGANIZATION_AND_SCIM: &[Surface] = &[Surface::Organization, Surface::Scim];
        const ORGANIZATION: &[Surface] = &[Surface::Organization];
        const SERVICE: &[Surface] = &[Surface::ExternalService];
        const SCIM: &[Surface] = &[Surface::Scim];
        match self {
            Self::InvalidJson(_)
            | Self::InvalidPathParameter(_)
            | Self::InvalidQueryParameter { .. }
            | Self::MissingCredentials
            | Self::InvalidCredentials
            | Self::InsufficientScope { .. }
            | Self::PolicyDenied { .. }
            | Self::NotFound { .. }
            | Self::PayloadTooLarge { .. }
            | Self::ConnectTokenUnusable
            | Self::IdempotencyKeyReused
            | Self::IdempotencyInProgress
            | Self::RateLimited { .. }
            | Self::RelationshipQuotaExceeded { .. }
            | Self::Validation(_)
            | Self::ServiceUnavailable(_)
            | Self::Internal(_) => ALL,
            Self::TenantMismatch
            | Self::UserDeleting
            | Self::UserSuspended
            | Self::CsrfRejected
            | Self::LastAdminKey
            | Self::IdentityProviderInUse
            | Self::IdentityAlreadyLinked
            | Self::UnknownIdentityProvider
            | Self::InvalidIdToken { .. }
            | Self::InvalidGrant { .. }
            | Self::InvalidLoginAttempt { .. }
            | Self::NoLoginConnection { .. }
            | Self::IdentityProviderUnreachable { .. }
            | Self::InvalidUrl { .. } => ORGANIZATION,
            // The catch-all 404 answers in the organization envelope (SPEC
            // §4), and in SCIM's under `/scim/` (`Endpoint::surface_for`).
            Self::RouteNotFound { .. }
            | Self::PreconditionFailed
            | Self::LimitReached { .. }
            | Self::TurnQuotaExhausted { .. } => ORGANIZATION_AND_SCIM,
            Self::ScimInvalid { .. }
            | Self::ScimUniqueness { .. }
            | Self::MethodNotAllowed { .. }
            | Self::NotImplemented => SCIM,
            Self::ExternalServiceAccessDenied
            | Self::OrganizationAccessDenied
            | Self::MalformedConnectToken
            | Self::ConnectTokenNotFound
            | Self::ExpiredConnectToken
            | Self::ExternalOrganizationIdMismatch
            | Self::ExternalOrganizationIdAlreadyInUse => SERVICE,
        }
    }

    /// One sample of every variant: what the OpenAPI document's error
    /// catalogue is built from ([`ApiError::codes`]).
    pub fn catalogue() -> Vec<ApiError> {
        vec![
            Self::InvalidJson("sample"),
            Self::InvalidPathParameter("sample"),
            Self::InvalidQueryParameter {
                name: "sample".into(),
                problem: "sample",
            },
            Self::MissingCredentials,
            Self::InvalidCredentials,
            Self::TenantMismatch,
            Self::InsufficientScope {
                required: "admin",
                notices: Vec::new(),
            },
            Self::PolicyDenied {
                notices: Vec::new(),
            },
            Self::RouteNotFound {
                method: "GET".into(),
                path: "/".into(),
            },
            Self::NotFound { resource: "sample" },
            Self::UserDeleting,
            Self::UserSuspended,
            Self::CsrfRejected,
            Self::LastAdminKey,
            Self::LimitReached {
                limit: "webhook_endpoints",
                max: 20,
            },
            Self::IdentityProviderInUse,
            Self::IdentityAlreadyLinked,
            Self::UnknownIdentityProvider,
            Self::InvalidIdToken { reason: "sample" },
            Self::InvalidGrant { reason: "reused" },
            Self::InvalidLoginAttempt { reason: "unknown" },
            Self::NoLoginConnection { reason: "none" },
            Self::IdentityProviderUnreachable {
                reason: "timeout",
                url: "https://issuer.example/jwks".into(),
            },
            Self::InvalidUrl {
                field: "jwks_uri",
                problem: "must be an https:// URL".into(),
            },
            Self::PreconditionFailed,
            Self::ScimInvalid {
                scim_type: "invalidFilter",
                detail: "sample".into(),
            },
            Self::ScimUniqueness {
                attribute: "userName",
            },
            Self::MethodNotAllowed { allow: "GET" },
            Self::NotImplemented,
            Self::PayloadTooLarge { limit: 1 },
            Self::ExternalServiceAccessDenied,
            Self::OrganizationAccessDenied,
            Self::MalformedConnectToken,
            Self::ConnectTokenNotFound,
            Self::ConnectTokenUnusable,
            Self::ExpiredConnectToken,
            Self::ExternalOrganizationIdMismatch,
            Self::ExternalOrganizationIdAlreadyInUse,
            Self::IdempotencyKeyReused,
            Self::IdempotencyInProgress,
            Self::RateLimited { retry_after: 1 },
            Self::TurnQuotaExhausted { retry_after: 1 },
            Self::RelationshipQuotaExceeded {
                active: 1,
                limit: 1,
            },
            Self::Validation(FieldErrors::new()),
            Self::ServiceUnavailable("sample".into()),
            Self::internal("sample"),
        ]
    }

    /// The RFC 7644 §3.12 `scimType` of the error, when it has one.
    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            Self::ScimInvalid { scim_type, .. } => Some(scim_type),
            Self::ScimUniqueness { .. } => Some("uniqueness"),
            Self::InvalidJson(_) => Some("invalidSyntax"),
            Self::Validation(_) | Self::InvalidQueryParameter { .. } => Some("invalidValue"),
            _ => None,
        }
    }

    /// Every (status, code) a surface can answer with, by status, each once.
    pub fn codes(surface: Surface) -> Vec<(u16, &'static str)> {
        let mut codes: Vec<(u16, &'static str)> = Vec::new();
        for err in Self::catalogue() {
            if !err.surfaces().contains(&surface) {
                continue;
            }
            let code = err.code_on(surface);
            let entry = (err.status_on(surface).as_u16(), code);
            if !codes.contains(&entry) {
                codes.push(entry);
            }
        }
        // Stable: by status, then in catalogue order.
        codes.sort_by_key(|(status, _)| *status);
        codes
    }
}
