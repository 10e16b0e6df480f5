//! Who is calling: the credential each endpoint takes, and the bucket a
//! request is charged to when it has none that is valid.

use super::Trace;
use super::context::Authenticated;
use crate::app::App;
use crate::auth;
use crate::endpoint::{Credential, Endpoint};
use crate::error::ApiError;
use crate::external_services;
use crate::ids::OrganizationId;
use crate::organizations::{self, Organization};
use lambda_http::http::HeaderMap;
use lambda_http::request::RequestContext;

/// Charges a request refused for its path before authentication: to the
/// owner of its credential when that is valid, else to its source IP.
pub(super) async fn charge_malformed(
    app: &App,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    source_ip: &str,
    trace: &mut Trace,
) -> Result<(), ApiError> {
    let identified = identify(app, endpoint.credential, headers).await;
    let authenticated = match charge_caller(app, identified, source_ip, trace).await {
        Ok(authenticated) => authenticated,
        // Already charged to the source IP; the path's 400 is the answer.
        Err(err) if err.is_credential_failure() => None,
        Err(err) => return Err(err),
    };
    match authenticated {
        Some(Authenticated::ExternalService(service)) => {
            trace
                .metering
                .charge_external_service(app, service.id)
                .await
        }
        Some(authenticated) => {
            let id = authenticated
                .organization_id()
                .ok_or_else(|| ApiError::internal("no organization"))?;
            let organization = load_organization(app, id).await?;
            trace.metering.charge_organization(app, &organization).await
        }
        None => Ok(()),
    }
}

/// Charges the source IP for a request without valid credentials — a public
/// endpoint's, or one whose credential failed (guessing costs the guesser) —
/// and passes the identification on.
pub(super) async fn charge_caller(
    app: &App,
    identified: Result<Option<Authenticated>, ApiError>,
    source_ip: &str,
    trace: &mut Trace,
) -> Result<Option<Authenticated>, ApiError> {
    if matches!(identified, Ok(None))
        || identified
            .as_ref()
            .is_err_and(ApiError::is_credential_failure)
    {
        trace
            .metering
            .charge_source_ip(app, source_ip.to_owned())
            .await?;
    }
    identified
}

/// Authenticates the credential the endpoint takes (`None` for public
/// endpoints).
pub(super) async fn identify(
    app: &App,
    credential: Credential,
    headers: &HeaderMap,
) -> Result<Option<Authenticated>, ApiError> {
    match credential {
        Credential::None => Ok(None),
        Credential::ServiceToken => {
            external_services::authenticate(&app.store, &app.service_tokens, bearer(headers))
                .await
                .map(|service| Some(Authenticated::ExternalService(service)))
        }
        credential => authenticate(app, credential, headers).await.map(Some),
    }
}

/// The organization of an authenticated key, from the warm cache or the table.
/// A key whose organization is gone is not a valid credential.
pub(super) async fn load_organization(
    app: &App,
    id: OrganizationId,
) -> Result<Organization, ApiError> {
    if let Some(org) = app.orgs.get(&id) {
        return Ok(org);
    }
    let org = organizations::get_organization(&app.store, id)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    app.orgs.put(id, org.clone());
    Ok(org)
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
pub(super) fn source_ip(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV2(v2) => v2.http.source_ip.clone(),
        #[allow(
            unreachable_patterns,
            reason = "other event sources when their features are enabled"
        )]
        _ => None,
    }
}

/// Authenticates an API key or an access token.
async fn authenticate(
    app: &App,
    credential: Credential,
    headers: &HeaderMap,
) -> Result<Authenticated, ApiError> {
    match credential {
        Credential::ApiKey => {
            let key = match Header::of(headers, "x-api-key") {
                Header::Absent => return Err(ApiError::MissingCredentials),
                Header::Unusable => return Err(ApiError::InvalidCredentials),
                Header::One(key) => key,
            };
            let tenant = match Header::of(headers, "x-tenant-id") {
                Header::Absent => None,
                Header::Unusable => return Err(ApiError::TenantMismatch),
                Header::One(tenant) => Some(tenant),
            };
            auth::authenticate_api_key(&app.store, &app.keys, key, tenant)
                .await
                .map(Authenticated::ApiKey)
        }
        Credential::UserToken => {
            let keys = app
                .tokens
                .as_ref()
                .ok_or_else(|| ApiError::internal("this function has no token key"))?;
            let token = bearer(headers).ok_or(ApiError::MissingCredentials)?;
            let now = app.clock.now().unix_timestamp();
            let claims = keys
                .verify(token, now)
                .ok_or(ApiError::InvalidCredentials)?;
            Ok(Authenticated::EndUser {
                user: claims.sub,
                organization: claims.org,
            })
        }
        Credential::ServiceToken | Credential::None => {
            Err(ApiError::internal("not authenticated here"))
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let Header::One(value) = Header::of(headers, "authorization") else {
        return None;
    };
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A request header as the pipeline reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent (or sent with a value that is not text).
    Absent,
    /// Sent once, as text.
    One(&'a str),
    /// Sent more than once: no one value can be trusted.
    Unusable,
}

impl<'a> Header<'a> {
    /// Reads `name` from `headers`.
    pub fn of(headers: &'a HeaderMap, name: &str) -> Self {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().map_or(Self::Absent, Self::One),
            (Some(_), Some(_)) => Self::Unusable,
            _ => Self::Absent,
        }
    }
}
